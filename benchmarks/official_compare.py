"""Train-step time of rrm_jax against the official PyTorch TRM and HRM code, side by side.

    python benchmarks/official_compare.py --trm_dir=PATH --hrm_dir=PATH
    python benchmarks/official_compare.py --trm_dir=PATH --shapes=width512 --torch_compile

Needs torch in the running interpreter (`pip install -e '.[convert]'`, plus the official code's
own imports, pydantic and einops) and a checkout of each official repository; the official code
is imported from there, never copied into this one:
  --trm_dir  a checkout of the official TRM repository
             (git clone https://github.com/SamsungSAILMontreal/TinyRecursiveModels)
  --hrm_dir  a checkout of the official HRM repository (git clone https://github.com/sapientinc/HRM)
A model family whose checkout is not given is skipped, with a note.

Shapes (each built from benchmarks/step_time.py's `shape_config`, so both sides get its config):
  reference      TRM-Att, hidden 128, 8 heads, batch 32, 81 + 16 tokens, T=3, n=6, fp32,
                 gradient through the last recursion
  reference_mlp  the same as TRM-MLP (token-mixing SwiGLU, no positional encoding)
  hrm_reference  HRM at the same width and batch: two 4-block modules, 81 + 1 tokens, T=n=2,
                 1-step gradient and the Q-learning target's extra forward pass
  width512, width512_mlp, hrm_width512
                 the paper's width: the shape above at hidden 512 (puzzle embedding 512), batch 64

What is timed, per side: one full training step on the CPU, after `--warmup` untimed steps.
  ours      one call of the jitted, donated rrm_jax train step (refill, forward, backward,
            AdamATan2, sparse SignSGD, EMA, halting), blocked on its metrics.
  official  the body of the official pretrain.py `train_batch`: the carry from `initial_carry` on
            the first call, the ACTLossHead forward (stablemax cross-entropy), backward of
            (1/B) * loss, each optimizer's step and zero_grad, the EMA update where the config has
            EMA (TRM's own EMAHelper), and the metrics stacked and copied out to NumPy.
Both sides get the same random batch each round (inputs and labels in 1..vocab-1, puzzle ids in
0..num_puzzle_identifiers-1), and the rounds interleave: ours, then official (then the official
step under torch.compile with `--torch_compile`). The table gives the median and [min, max] ms
of `--rounds` rounds, official median / ours median, GFLOP/step (step_time.py's analytic count,
the same for both sides) and the GFLOP/s each achieves; above it, the fp32 rate of a 2048^3
matmul in JAX and in torch on the same threads, as a ceiling for both.

Stand-ins on the official side, where its code needs a GPU:
  - AdamATan2 (a CUDA extension) is replaced by torch.optim.AdamW with the same lr, betas and
    weight decay: same FLOP class (a few element-wise ops per parameter) as our AdamATan2.
  - HRM's `flash_attn_func` (from `flash_attn_interface`, or `flash_attn` as its fallback) is a
    module this script registers at import time, computing torch's scaled_dot_product_attention
    on the [B, S, H, D] inputs transposed to [B, H, S, D] and back.
  - CastedSparseEmbeddingSignSGD_Distributed runs with world_size=1 (no collectives).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import statistics
import sys
import time
import types

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.step_time import shape_config, step_gflop  # noqa: E402
from rrm_jax import act, models  # noqa: E402
from rrm_jax.train import state as state_lib  # noqa: E402
from rrm_jax.train.step import make_optimizer, make_train_step  # noqa: E402

SHAPES = ("reference", "reference_mlp", "hrm_reference", "width512", "width512_mlp", "hrm_width512")
OFFICIAL_MODEL = {  # family: (module in the official repository, ACT model class)
    "trm": ("models.recursive_reasoning.trm", "TinyRecursiveReasoningModel_ACTV1"),
    "hrm": ("models.hrm.hrm_act_v1", "HierarchicalReasoningModel_ACTV1"),
}


def import_torch():
    try:
        import torch
    except ImportError as e:
        raise SystemExit(
            f"official_compare needs torch in this interpreter ({e}); install it "
            "with `pip install -e '.[convert]'`"
        ) from e
    return torch


def family(shape: str) -> str:
    return "hrm" if shape.startswith("hrm_") else "trm"


def compare_config(shape: str):
    """step_time.py's config for `shape`, with the MLP mixer and the paper's width applied."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; one of {', '.join(SHAPES)}")
    c = shape_config("hrm_reference" if family(shape) == "hrm" else "reference")
    if shape.endswith("_mlp"):
        c.model.update(dict(mixer="mlp", pos_encodings="none"))
    if "width512" in shape:
        c.model.update(dict(hidden_size=512, puzzle_emb_ndim=512))
        c.train.global_batch_size = 64
    return c


def random_batch(rng: np.random.Generator, c) -> dict:
    b, m = c.train.global_batch_size, c.model
    return {
        "inputs": rng.integers(1, m.vocab_size, (b, m.seq_len)).astype(np.int32),
        "labels": rng.integers(1, m.vocab_size, (b, m.seq_len)).astype(np.int32),
        "puzzle_identifiers": rng.integers(0, m.num_puzzle_identifiers, (b,)).astype(np.int32),
    }


def build_ours(c, first: dict):
    """One rrm_jax train step as a function of a NumPy batch, built as step_time.py does."""
    model = models.build(c)
    tx, schedules = make_optimizer(c, 100_000)
    state = state_lib.create(model, tx, jax.random.PRNGKey(0), first, ema=c.optim.ema)
    carry = act.initial_carry(model, first)
    train_step = jax.jit(make_train_step(model, c, tx, schedules), donate_argnums=(0, 1))

    def step(batch):
        nonlocal state, carry
        state, carry, metrics = train_step(state, carry, batch)
        return jax.block_until_ready(metrics)

    return step


def flash_attn_stand_in(torch) -> types.ModuleType:
    """A module with FlashAttention's `flash_attn_func`, computed by torch's SDPA."""
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def flash_attn_func(q, k, v, causal=False):
        # [B, S, H, D] in and out (contiguous: the caller .view()s it); SDPA wants [B, H, S, D].
        out = sdpa(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=causal)
        return out.transpose(1, 2).contiguous()

    module = types.ModuleType("flash_attn_interface")
    module.flash_attn_func = flash_attn_func
    return module


@contextlib.contextmanager
def official_code(torch, fam: str, repo_dir: str):
    """The official ACT model class, loss head, sparse-embedding optimizer and EMA helper.

    Both official repositories name their package `models`, and torch.compile looks the
    modules up again by name, so `repo_dir` stays on sys.path and its `models` (with HRM's
    FlashAttention stand-in) in sys.modules while the context is open; any other `models` is
    forgotten on the way in and this one on the way out.
    """
    stand_ins = {}
    if fam == "hrm":
        flash = flash_attn_stand_in(torch)
        stand_ins = {"flash_attn_interface": flash, "flash_attn": flash}

    def forget_models():
        for name in [n for n in sys.modules if n == "models" or n.startswith("models.")]:
            del sys.modules[name]

    saved = {name: sys.modules.get(name) for name in stand_ins}
    forget_models()
    sys.modules.update(stand_ins)
    sys.path.insert(0, repo_dir)
    try:
        module_name, class_name = OFFICIAL_MODEL[fam]
        model_module = importlib.import_module(module_name)
        losses = importlib.import_module("models.losses")
        sparse = importlib.import_module("models.sparse_embedding")
        ema = (
            importlib.import_module("models.ema")
            if os.path.exists(os.path.join(repo_dir, "models", "ema.py"))
            else None
        )
        yield types.SimpleNamespace(
            model=getattr(model_module, class_name),
            loss_head=losses.ACTLossHead,
            sign_sgd=sparse.CastedSparseEmbeddingSignSGD_Distributed,
            ema_helper=ema.EMAHelper if ema else None,
        )
    finally:
        sys.path.remove(repo_dir)
        forget_models()
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def official_config(c) -> dict:
    """The official model config (the arch keys of its YAML files) for our config `c`."""
    m, r, a = c.model, c.recursion, c.act
    cfg = dict(
        batch_size=c.train.global_batch_size,
        seq_len=m.seq_len,
        vocab_size=m.vocab_size,
        num_puzzle_identifiers=m.num_puzzle_identifiers,
        puzzle_emb_ndim=m.puzzle_emb_ndim,
        H_cycles=r.cycles,
        L_cycles=r.latent_steps,
        hidden_size=m.hidden_size,
        expansion=m.expansion,
        num_heads=m.num_heads,
        pos_encodings=m.pos_encodings,
        rope_theta=m.rope_theta,
        rms_norm_eps=m.rms_norm_eps,
        halt_max_steps=a.max_steps,
        halt_exploration_prob=a.exploration_prob,
        forward_dtype=m.dtype,
        causal=False,
    )
    if m.name == "hrm":
        cfg.update(H_layers=m.h_layers or m.num_layers, L_layers=m.num_layers)
    else:
        cfg.update(
            H_layers=0,
            L_layers=m.num_layers,
            mlp_t=m.mixer == "mlp",
            puzzle_emb_len=m.puzzle_emb_len,
            no_ACT_continue=a.halt_rule == "q_halt",
        )
    return cfg


def build_official(torch, lib: types.SimpleNamespace, c, compile_model: bool = False):
    """One official train step (pretrain.py's `train_batch` body) as a function of a batch."""
    torch.manual_seed(0)
    b, o = c.train.global_batch_size, c.optim
    head = lib.loss_head(lib.model(official_config(c)), loss_type=f"{c.loss.type}_cross_entropy")
    head.train()
    optimizers = [
        lib.sign_sgd(
            head.model.puzzle_emb.buffers(),
            lr=o.puzzle_emb_lr,
            weight_decay=o.puzzle_emb_weight_decay,
            world_size=1,
        ),
        # Stand-in for the official AdamATan2, a CUDA extension.
        torch.optim.AdamW(
            head.parameters(), lr=o.lr, weight_decay=o.weight_decay, betas=(o.beta1, o.beta2)
        ),
    ]
    model = head
    if compile_model:  # as each official pretrain.py compiles its loss head
        model = torch.compile(head, **({"dynamic": False} if c.model.name == "hrm" else {}))
    ema = None
    if c.optim.ema and lib.ema_helper is not None:
        ema = lib.ema_helper(mu=c.optim.ema_rate)
        ema.register(model)
    carry = None

    def step(batch):
        nonlocal carry
        batch = {k: torch.from_numpy(v) for k, v in batch.items()}
        if carry is None:
            carry = model.initial_carry(batch)
        carry, loss, metrics, _, _ = model(carry=carry, batch=batch, return_keys=[])
        ((1 / b) * loss).backward()
        for opt in optimizers:
            opt.step()
            opt.zero_grad()
        if ema is not None:
            ema.update(model)
        return torch.stack([metrics[k] for k in sorted(metrics)]).cpu().numpy()

    return step


def seconds(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def matmul_gflops(torch, n: int = 2048, reps: int = 5) -> tuple[float, float]:
    """Median fp32 n x n @ n x n rate, GFLOP/s, of a jitted jnp.dot and of torch.mm."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    dot, x = jax.jit(jnp.dot), jnp.asarray(a)
    t = torch.from_numpy(a)
    jax_step, torch_step = (lambda: dot(x, x).block_until_ready()), (lambda: torch.mm(t, t))
    rates = []
    for fn in (jax_step, torch_step):
        fn()
        rates.append(2 * n**3 / 1e9 / statistics.median(seconds(fn) for _ in range(reps)))
    return rates[0], rates[1]


def ms_cell(times: list[float]) -> str:
    return f"{1e3 * statistics.median(times):.0f} [{1e3 * min(times):.0f}, {1e3 * max(times):.0f}]"


def compare(torch, shape: str, lib, args, notes: list[str]) -> list[str]:
    """Interleaved timing of one shape; the Markdown table rows (and any notes in `notes`)."""
    c = compare_config(shape)
    rng = np.random.default_rng(0)
    sides = {"official": build_official(torch, lib, c)}
    if args.torch_compile:
        sides["torch.compile"] = build_official(torch, lib, c, compile_model=True)
    sides = {"ours": build_ours(c, random_batch(rng, c)), **sides}
    for name, step in list(sides.items()):
        try:
            for _ in range(max(args.warmup, 1)):  # the first call compiles (JAX, torch.compile)
                step(random_batch(rng, c))
        except Exception as e:  # torch.compile can fail without a working C++ toolchain
            if name != "torch.compile":
                raise
            error = " ".join(str(e).split())[:300]
            notes.append(f"note: torch.compile failed for {shape}: {type(e).__name__}: {error}")
            del sides[name]
    times = {name: [] for name in sides}
    for _ in range(args.rounds):
        data = random_batch(rng, c)
        for name, step in sides.items():
            times[name].append(seconds(step, data))
    gflop, ours = step_gflop(c), statistics.median(times["ours"])
    rows = []
    for name in [n for n in sides if n != "ours"]:
        theirs = statistics.median(times[name])
        label = shape if name == "official" else f"{shape}, official torch.compile"
        rows.append(
            f"| {label} | {ms_cell(times['ours'])} | {ms_cell(times[name])} | "
            f"{theirs / ours:.2f} | {gflop:.1f} | {gflop / ours:.1f} | "
            f"{gflop / theirs:.1f} |"
        )
    return rows


def timing_arguments(p: argparse.ArgumentParser, compile_help: str) -> None:
    """The side-by-side options both comparisons take: rounds, warm-up, threads, torch.compile."""
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per side (at least 1)")
    p.add_argument(
        "--torch_threads",
        type=int,
        default=os.cpu_count(),
        help="torch.set_num_threads (default: os.cpu_count(), what JAX uses)",
    )
    p.add_argument("--torch_compile", action="store_true", help=compile_help)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--trm_dir", default="", help="a checkout of the official TRM repository")
    p.add_argument("--hrm_dir", default="", help="a checkout of the official HRM repository")
    p.add_argument(
        "--shapes", default="reference,hrm_reference", help=f"comma list of: {', '.join(SHAPES)}"
    )
    timing_arguments(p, "also time the official step under torch.compile")
    args = p.parse_args()
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    shapes = [s for s in args.shapes.split(",") if s]
    for shape in shapes:
        compare_config(shape)  # fail on an unknown shape before any work
    jax.config.update("jax_platforms", "cpu")  # torch runs on the CPU: so does JAX
    torch = import_torch()
    torch.set_num_threads(args.torch_threads)

    dirs = {"trm": args.trm_dir, "hrm": args.hrm_dir}
    families = list(dict.fromkeys(family(s) for s in shapes))  # in order of first appearance
    for fam in families:
        if not dirs[fam]:
            print(
                f"note: no --{fam}_dir, skipping {', '.join(s for s in shapes if family(s) == fam)}"
            )
        elif not os.path.isdir(os.path.join(dirs[fam], "models")):
            raise SystemExit(
                f"--{fam}_dir={dirs[fam]} has no models/ package: not a checkout of "
                "the official repository"
            )

    print(
        f"jax {jax.__version__} ({jax.devices()[0].platform}), torch {torch.__version__}, "
        f"torch threads {torch.get_num_threads()}, os.cpu_count() {os.cpu_count()}"
    )
    jax_rate, torch_rate = matmul_gflops(torch)
    print(f"fp32 2048^3 matmul: JAX {jax_rate:.1f} GFLOP/s, torch {torch_rate:.1f} GFLOP/s")
    print(
        "| shape | ours ms [min, max] | official ms [min, max] | official/ours | GFLOP/step "
        "| ours GFLOP/s | official GFLOP/s |"
    )
    print("|" + "---|" * 7, flush=True)
    notes = []
    for fam in [f for f in families if dirs[f]]:
        with official_code(torch, fam, dirs[fam]) as lib:
            for shape in [s for s in shapes if family(s) == fam]:
                for row in compare(torch, shape, lib, args, notes):
                    print(row, flush=True)
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
