"""Train-step time of rrm_jax's Sotaku against the author's PyTorch code, side by side.

    python benchmarks/sotaku_compare.py --reference=DIR
    python benchmarks/sotaku_compare.py --reference=DIR --shapes=paper_small,paper_b128 \\
        --rounds=5 --warmup=2 [--torch_compile]

Needs torch in the running interpreter (`pip install -e '.[convert]'`) and `--reference`, a
folder holding `exp_baseline_lr2e3.py` of github chenglou/sotaku (commit 1bbdc32, file
`iters/exp_baseline_lr2e3.py`, MIT), unmodified and outside this repository. That module is
imported from there, never copied: it imports `datasets` (Hugging Face) and `checkpoint_utils`
at the top but uses them only inside its `train()`, so empty stand-ins are registered for both
(as `tests/fixtures/sotaku/make_fixture.py` does), and its `SudokuTransformer`, `encode_puzzles`,
`encode_solutions` and `get_lr` are called.

Shapes (`--shapes`, comma list): the model of experiments/sotaku.py:sudoku_extreme (the 98.9%
model: d=128, 4 heads of 32, 4 layers, d_ff 512, 16 training iterations, 796,937 parameters) at
CPU-sized batches, fp32 on both sides:
  paper_small   batch 32
  paper_b128    batch 128
  half          d=64, 2 heads (of 32), 2 layers, 16 iterations, batch 32 (the parity fixture's
                size; the author's 2-D RoPE tables are built at import for head_dim 32, so every
                shape keeps head_dim 32)
The reference module reads its sizes from module globals (`d_model`, `n_heads`, `d_ff`,
`n_layers` when the model is built, `n_iterations` at every forward): they are set per shape.

What is timed, per side: one full fp32 training step on the CPU, after `--warmup` untimed steps.
  ours      one call of the jitted, donated rrm_jax train step of the `sotaku` model, built by
            `rrm_jax.train.timing.build_step` as benchmarks/step_time.py does: the 16-iteration
            forward with dropout 0.1 (attention weights and the three residual-branch sites,
            masks drawn from the step's JAX key), the blank-cell cross-entropy of every
            iteration, the backward pass through all iterations, optax AdamW (0.9, 0.95, eps
            1e-8, weight decay 0.01, warm-up/cosine lr) and the trainer's bookkeeping around
            them (ACT refill and halting with max_steps=1, a SignSGD update of the 1-row dummy
            puzzle table, the metrics), blocked on the metrics. The batch is already on the
            device (the copy is not timed).
  author's  the body of the author's training loop (`train()`): the lr of `get_lr(step)` set on
            the param groups, `model.train()`, `optimizer.zero_grad()`, his `compute_loss`
            (restated here: it is a closure inside `train()`; the model's forward over all
            iterations with `return_all=True`, per iteration the blank-cell cross-entropy summed
            over the batch divided by the batch's blank cells, the mean over iterations),
            `loss.backward()`, `optimizer.step()` with his optimizer, torch.optim.AdamW(lr,
            betas=(0.9, 0.95)) (PyTorch's defaults otherwise: weight decay 0.01, eps 1e-8; on
            CPU tensors its per-tensor for-loop implementation). No gradient clipping (his loop
            has none), no autocast (his loop's bf16 autocast is CUDA-only: fp32 here), no
            torch.compile unless `--torch_compile` (his `train()` does compile the model; that
            variant is a third column). The encoded tensors exist before the clock starts.
Both sides get the same random boards each round (digits 1-9 at random, each cell blank with
probability 0.6 and cell 0 always blank; the step's cost does not depend on validity): the
author's side as `encode_puzzles` / `encode_solutions` of the strings, ours as this package's
tokens (1 blank, 2..10 digits). The rounds interleave: ours, then the author's (then his
under torch.compile). The table gives the median and [min, max] ms of `--rounds` rounds, author's
median / ours median, GFLOP/step (`step_gflop` below, the same for both sides) and the GFLOP/s
each achieves; above it, the fp32 rate of a 2048^3 matmul in JAX and in torch on the same threads,
as a ceiling for both.

Before the timing, per shape: both sides' parameter counts (796,937 at d=128), and the same
function: the author's initial weights converted by `sotaku.from_torch_state_dict` give our
model the author's dropout-free loss on the first batch (the difference is printed).

Threads: torch.set_num_threads(`--torch_threads`, default os.cpu_count()); XLA:CPU uses its
default, all cores. Importing the author's module calls torch.set_float32_matmul_precision('high')
(for CUDA TF32; on CPU it sets oneDNN's fp32 matmul precision to tf32): it is set back to
'highest' after the import, so both sides compute IEEE fp32 (`--keep_precision` leaves it).
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import types

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.official_compare import (  # noqa: E402
    import_torch,
    matmul_gflops,
    ms_cell,
    seconds,
    timing_arguments,
)
from rrm_jax import act, models  # noqa: E402
from rrm_jax.models import sotaku  # noqa: E402
from rrm_jax.train import timing  # noqa: E402

REFERENCE_MODULE = "exp_baseline_lr2e3"
# name: (d_model, heads, layers, iterations, batch)
SHAPES = {
    "paper_small": (128, 4, 4, 16, 32),
    "paper_b128": (128, 4, 4, 16, 128),
    "half": (64, 2, 2, 16, 32),
}
SIDE, DIGITS = 9, 9  # 9x9 Sudoku: 81 cells; the reference's code is fixed to it
BLANK_PROB = 0.6


def compare_config(shape: str):
    """experiments/sotaku.py:sudoku_extreme at the shape's size and batch, fp32, data fields
    filled (vocab PAD + blank + 9 digits, 81 cells, one puzzle id)."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; one of {', '.join(SHAPES)}")
    from experiments.sotaku import get_config

    d, heads, layers, iters, batch = SHAPES[shape]
    c = get_config("sudoku_extreme")
    c.model.update(
        dict(
            hidden_size=d,
            num_heads=heads,
            num_layers=layers,
            dtype="float32",
            vocab_size=DIGITS + 2,
            seq_len=SIDE * SIDE,
            num_puzzle_identifiers=1,
        )
    )
    c.recursion.cycles = iters
    c.train.global_batch_size = batch
    return c


def reference_sizes(c) -> dict:
    """The reference module's globals for config `c`."""
    m = c.model
    return dict(
        d_model=m.hidden_size,
        n_heads=m.num_heads,
        d_ff=int(round(m.expansion * m.hidden_size)),
        n_layers=m.num_layers,
        n_iterations=c.recursion.cycles,
    )


def step_gflop(c) -> float:
    """Analytic GFLOP of one Sotaku train step (matmuls only, 2 FLOP per multiply-add).

    Per layer application 2BS(4D^2 + 2DF) [q, k, v, o, ReLU MLP] + 4BS^2D [QK^T, PV]; per
    iteration L layers plus the feedback projection and the output head, 2 * 2BSDN; once the
    one-hot encoder 2BS(N+1)D. The step is 3x the forward (backward through every iteration:
    input and weight gradients; the encoder's unneeded input gradient is counted, < 0.1%)."""
    m = c.model
    b, s, d = c.train.global_batch_size, m.seq_len, m.hidden_size
    f, n = int(round(m.expansion * d)), m.vocab_size - sotaku.FIRST_DIGIT
    layer = 2 * b * s * (4 * d * d + 2 * d * f) + 4 * b * s * s * d
    iteration = m.num_layers * layer + 2 * (2 * b * s * d * n)
    forward = c.recursion.cycles * iteration + 2 * b * s * (n + 1) * d
    return 3 * forward / 1e9


def random_boards(rng: np.random.Generator, b: int) -> tuple[list[str], list[str], dict]:
    """`b` random boards as the reference's strings (puzzles, solutions) and our batch."""
    digits = rng.integers(1, DIGITS + 1, (b, SIDE * SIDE))
    blank = rng.random((b, SIDE * SIDE)) < BLANK_PROB
    blank[:, 0] = True  # every row has a blank cell
    chars = np.where(blank, ".", digits.astype(str))
    puzzles = ["".join(row) for row in chars]
    solutions = ["".join(row) for row in digits.astype(str)]
    first = sotaku.FIRST_DIGIT - 1  # digit d -> token d + 1
    batch = {
        "inputs": np.where(blank, sotaku.BLANK, digits + first).astype(np.int32),
        "labels": (digits + first).astype(np.int32),
        "puzzle_identifiers": np.zeros((b,), np.int32),
    }
    return puzzles, solutions, batch


def import_reference(reference_dir: str) -> types.ModuleType:
    """The author's module from `reference_dir`, with stand-ins for its two unused imports."""
    path = os.path.join(reference_dir, REFERENCE_MODULE + ".py")
    if not os.path.isfile(path):
        raise SystemExit(f"--reference={reference_dir} holds no {REFERENCE_MODULE}.py")
    sys.modules.setdefault("datasets", types.SimpleNamespace(load_dataset=None))
    sys.modules.setdefault(
        "checkpoint_utils",
        types.SimpleNamespace(find_latest_checkpoint=None, load_checkpoint=None),
    )
    sys.path.insert(0, reference_dir)
    try:
        return importlib.import_module(REFERENCE_MODULE)
    finally:
        sys.path.remove(reference_dir)


def reference_loss(torch, all_logits, x, t):
    """The author's `compute_loss` (a closure in his `train()`), restated: per iteration the
    blank-cell cross-entropy summed over the batch / the batch's blank cells; the mean."""
    F = torch.nn.functional
    mask = x[:, :, 0].to(dtype=torch.float32)
    t = t.to(dtype=torch.long)
    loss = 0
    for logits in all_logits:
        per_cell = F.cross_entropy(logits.reshape(-1, 9), t.reshape(-1), reduction="none")
        per_cell = per_cell.view(t.size(0), 81)
        loss = loss + (per_cell * mask).sum() / mask.sum()
    return loss / len(all_logits)


def build_reference(torch, ref, c, compile_model: bool = False):
    """(step(x, t), model): the body of the author's training loop, fp32 on the CPU."""
    for key, value in reference_sizes(c).items():  # module globals his code reads
        setattr(ref, key, value)
    if ref.d_model // ref.n_heads != ref.head_dim:
        raise ValueError(f"the reference's RoPE tables are for head_dim {ref.head_dim}")
    torch.manual_seed(0)
    module = ref.SudokuTransformer()
    model = torch.compile(module) if compile_model else module  # as his train() does
    optimizer = torch.optim.AdamW(model.parameters(), lr=ref.lr, betas=(0.9, 0.95))
    step_index = 0

    def step(x, t):
        nonlocal step_index
        for group in optimizer.param_groups:
            group["lr"] = ref.get_lr(step_index)
        step_index += 1
        model.train()
        optimizer.zero_grad()
        loss = reference_loss(torch, model(x, return_all=True), x, t)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step, module


def build_ours(c, first: dict):
    """(step(batch), model, params): the jitted, donated train step of step_time.py."""
    model, train_step, create = timing.build_step(c)
    state = jax.jit(create)(first)
    carry = jax.jit(lambda b: act.initial_carry(model, b))(first)  # distinct buffers (donated)
    params = jax.tree.map(np.asarray, state.params)  # a copy: the state's buffers are donated

    def step(batch):
        nonlocal state, carry
        state, carry, metrics = train_step(state, carry, batch)
        return jax.block_until_ready(metrics)

    return step, model, params


def check_same_model(torch, c, model, params, module, puzzles, solutions, batch, ref) -> str:
    """Parameter counts of both sides and the dropout-free loss of the author's initial weights
    on both (ours through `from_torch_state_dict`)."""
    ours_n = models.count_params(params["dense"])
    theirs_n = sum(p.numel() for p in module.parameters())
    if ours_n != theirs_n:
        raise SystemExit(f"parameter counts differ: ours {ours_n:,}, author's {theirs_n:,}")
    dense = sotaku.from_torch_state_dict(
        {k: v.detach().numpy() for k, v in module.state_dict().items()}
    )
    converted = {**params, "dense": dense}
    carry = model.initial_carry(batch)

    @jax.jit
    def loss(p, data):
        _, out = model.apply(p, carry, data, rng=None, training=True)  # no key: no dropout
        return out.losses[sotaku.LOSS_NAME].sum() / data["inputs"].shape[0]

    ours = float(loss(converted, batch))
    module.eval()
    with torch.no_grad():
        x, t = ref.encode_puzzles(puzzles), ref.encode_solutions(solutions)
        theirs = float(reference_loss(torch, module(x, return_all=True), x, t))
    module.train()
    return (
        f"d={c.model.hidden_size}: parameters ours {ours_n:,}, author's {theirs_n:,}; "
        f"dropout-free loss at the author's init: ours {ours:.6f}, author's {theirs:.6f}, "
        f"|diff| {abs(ours - theirs):.1e}"
    )


def compare(torch, ref, shape: str, args, notes: list[str]) -> list[str]:
    """Interleaved timing of one shape; the Markdown table rows (and any notes in `notes`)."""
    c = compare_config(shape)
    b = c.train.global_batch_size
    rng = np.random.default_rng(0)

    def boards():
        puzzles, solutions, batch = random_boards(rng, b)
        x, t = ref.encode_puzzles(puzzles), ref.encode_solutions(solutions)
        return (puzzles, solutions), (x, t), jax.block_until_ready(jax.device_put(batch))

    strings, _, first = boards()
    ours, model, params = build_ours(c, first)
    theirs, module = build_reference(torch, ref, c)
    same = check_same_model(torch, c, model, params, module, *strings, first, ref)
    notes.append(f"{shape}: {same}")
    sides = {"ours": lambda data: ours(data[2]), "author's": lambda data: theirs(*data[1])}
    if args.torch_compile:
        compiled, _ = build_reference(torch, ref, c, compile_model=True)
        sides["torch.compile"] = lambda data: compiled(*data[1])
    for name, step in list(sides.items()):
        try:
            for _ in range(max(args.warmup, 1)):  # the first call compiles (JAX, torch.compile)
                step(boards())
        except Exception as e:  # torch.compile can fail without a working C++ toolchain
            if name != "torch.compile":
                raise
            error = " ".join(str(e).split())[:300]
            notes.append(f"note: torch.compile failed for {shape}: {type(e).__name__}: {error}")
            del sides[name]
    times = {name: [] for name in sides}
    for _ in range(args.rounds):
        data = boards()
        for name, step in sides.items():
            times[name].append(seconds(step, data))
    gflop, ours_s = step_gflop(c), statistics.median(times["ours"])
    rows = []
    for name in [n for n in sides if n != "ours"]:
        theirs_s = statistics.median(times[name])
        label = shape if name == "author's" else f"{shape}, author's torch.compile"
        rows.append(
            f"| {label} | {b} | {ms_cell(times['ours'])} | {ms_cell(times[name])} | "
            f"{theirs_s / ours_s:.2f} | {gflop:.1f} | {gflop / ours_s:.1f} | "
            f"{gflop / theirs_s:.1f} |"
        )
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--reference", default="", help=f"a folder holding the author's {REFERENCE_MODULE}.py"
    )
    p.add_argument("--shapes", default="paper_small", help=f"comma list of: {', '.join(SHAPES)}")
    timing_arguments(p, "also time the author's step with his model under torch.compile")
    p.add_argument(
        "--keep_precision",
        action="store_true",
        help="keep the author's torch.set_float32_matmul_precision('high')",
    )
    args = p.parse_args()
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if not args.reference:
        p.error(f"--reference: a folder holding the author's {REFERENCE_MODULE}.py is required")
    shapes = [s for s in args.shapes.split(",") if s]
    for shape in shapes:
        compare_config(shape)  # fail on an unknown shape before any work
    jax.config.update("jax_platforms", "cpu")  # torch runs on the CPU: so does JAX
    torch = import_torch()
    ref = import_reference(args.reference)
    if not args.keep_precision:
        torch.set_float32_matmul_precision("highest")
    torch.set_num_threads(args.torch_threads)

    print(
        f"jax {jax.__version__} ({jax.devices()[0].platform}), torch {torch.__version__}, "
        f"torch threads {torch.get_num_threads()}, os.cpu_count() {os.cpu_count()}, "
        f"torch fp32 matmul precision {torch.get_float32_matmul_precision()!r}"
    )
    jax_rate, torch_rate = matmul_gflops(torch)
    print(f"fp32 2048^3 matmul: JAX {jax_rate:.1f} GFLOP/s, torch {torch_rate:.1f} GFLOP/s")
    print(
        "| shape | batch | ours ms [min, max] | author's ms [min, max] | author's/ours "
        "| GFLOP/step | ours GFLOP/s | author's GFLOP/s |"
    )
    print("|" + "---|" * 8, flush=True)
    notes = []
    for shape in shapes:
        for row in compare(torch, ref, shape, args, notes):
            print(row, flush=True)
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
