"""The experiment config schema: every key with its default, and validation before compilation.

Experiment files (`experiments/*.py`) start from `base_config()` and override fields; the trainer
calls `validate()` before building anything, so an unknown key or an impossible combination stops
the run with a message instead of a compile error minutes later.
"""

from __future__ import annotations

import ml_collections

from rrm_jax.layers import ATTENTION_IMPLS
from rrm_jax.recursion import FIXED_POINT_RULES, GRADIENT_RULES, REMAT_POLICIES

DTYPES = ("float32", "bfloat16")
MIXERS = ("attention", "mlp")
POS_ENCODINGS = ("rope", "learned", "none")
LOSSES = ("stablemax", "softmax")
DATA_SOURCES = ("official", "sudoku", "tfds")
AUGMENTATIONS = ("none", "sudoku", "dihedral")
TFDS_NAMES = (
    "sudoku_extreme",
    "maze_hard",
    "sudoku_generated",
    "arc_agi",
    "n_queens",
    "graph_coloring",
    "snowflake_sudoku",
)
HALT_RULES = ("q_halt", "q_halt_vs_continue")
SELECTIONS = ("best_q", "mode", "value", "pass")


def base_config() -> ml_collections.ConfigDict:
    """All keys with their defaults (the official TRM defaults where the reference has one)."""
    c = ml_collections.ConfigDict()

    c.data = dict(
        # "official": the HRM/TRM numpy format at `path`; "sudoku": generated in memory;
        # "tfds": a builder of `datasets/` (`name`, `config`), prepared into `data_dir` from
        # `source_dir` (raw files; "": the builder's own default) the first time.
        source="official",
        path="",  # official format: folder holding train/ and test/
        name="",  # tfds: sudoku_extreme, maze_hard, sudoku_generated, arc_agi, n_queens, ...
        config="",  # tfds: the builder config ("": its default)
        data_dir="~/tensorflow_datasets",  # tfds: where prepared datasets live
        source_dir="",  # tfds: raw files (CSVs, official numpy folders, ARC JSON) to build from
        conceptarc_dir="",  # arc_agi configs arc1/arc2: ConceptARC's corpus folder
        train_split="train",
        test_split="test",
        set_name="all",
        # On-the-fly augmentation of train examples: "sudoku" (digits, bands/stacks, transpose),
        # "dihedral" (the 8 symmetries of a square grid; num_aug=7 gives the official Maze set).
        augmentation="none",
        # Variants per original puzzle besides the original (official builds use 1000); for
        # arc_agi the number of de-duplicated augmentations its builder stores per task.
        num_aug=0,
        epochs_per_iter=1,  # epochs concatenated before the last partial batch is dropped
        prefetch=2,  # batches prepared ahead on a background thread (0: none)
        board="3x3",  # generated Sudoku: box rows x box cols ("2x2" 4x4, "2x3" 6x6, "3x3" 9x9)
        num_train=1000,
        num_test=1000,
        min_givens=0,  # generated Sudoku: stop removing clues here (0: until minimal)
        seed=0,  # generator seed (train and test puzzles are disjoint by construction)
        # "solve" the puzzles, or "generate" (GRAM App. D.5, Sudoku only): learn the distinct
        # solutions as labels of an empty board; `generate_boards` keeps the first N (0: all).
        task="solve",
        generate_boards=0,
    )

    c.model = dict(
        name="trm",
        hidden_size=512,
        num_heads=8,
        expansion=4.0,
        num_layers=2,  # layers of the latent (f_L) net, or of TRM's one net
        h_layers=0,  # layers of the answer (f_H) net when there are two (0: num_layers)
        separate_nets=False,  # TRM: two nets instead of one (the paper's ablation); HRM: always
        mixer="attention",  # "mlp" is TRM-MLP (token-mixing SwiGLU, no attention)
        # Attention kernel, same math (layers.Attention): "explicit" (hand-written VJP, keeps the
        # [S, S] probabilities for the backward pass; fastest on CPU), "recompute" (keeps the
        # logsumexp, recomputes them: memory O(S)), "xla" or "cudnn" (jax.nn.dot_product_attention;
        # cuDNN's fused flash attention on GPUs in bf16; even sequence lengths only), "auto"
        # (cudnn on a GPU in bf16/fp16, recompute there for odd lengths, else explicit). ARC's and
        # Maze's 916 tokens at batch 768 need cudnn or recompute.
        attention="auto",
        # Run each net application on this many independent slices of the batch, and the
        # explicit/recompute attention core on this many slices of each (same math per example:
        # XLA:CPU overlaps the slices' single-threaded work, ~10% of a CPU step). 0: auto, 2 on a
        # CPU and 1 on accelerators.
        batch_chunks=0,
        attention_chunks=0,
        pos_encodings="rope",
        rope_theta=10000.0,
        rms_norm_eps=1e-5,
        puzzle_emb_ndim=512,
        puzzle_emb_len=16,
        dtype="bfloat16",  # compute dtype; params are always fp32
        # GRAM's stochastic TRM baselines (`models/stochastic.py`): each trajectory starts from
        # its own N(0, I) draw (`init_noise`), or test-time answers are "sample"d from the
        # output distribution instead of its "argmax" (`decoder`).
        init_noise=False,
        decoder="argmax",
        # Filled from the data when 0:
        vocab_size=0,
        seq_len=0,
        num_puzzle_identifiers=0,
    )

    c.recursion = dict(
        cycles=3,  # T (the reference's H_cycles)
        latent_steps=6,  # n (the reference's L_cycles)
        gradient="last_recursion",
        remat=False,  # jax.checkpoint on each differentiated update (memory for compute)
        remat_policy="nothing",  # under remat: "nothing" saved, or the matmul outputs ("dots")
        neumann_terms=2,  # k of gradient="neumann" (0 is "one_step")
        implicit_tol=1e-4,  # gradient="implicit": GMRES stops at this relative residual
        implicit_max_iters=30,  # ... or after this many iterations (one VJP each)
    )

    c.act = dict(
        max_steps=16,  # N_sup, the reference's halt_max_steps
        exploration_prob=0.1,
        # "q_halt" (TRM): halt when q_halt > 0, no continue loss. "q_halt_vs_continue" (HRM's
        # Q-learning): halt when q_halt > q_continue and train q_continue on the bootstrapped
        # target from an extra, gradient-free forward pass.
        halt_rule="q_halt",
    )

    c.loss = dict(
        type="stablemax",
        q_weight=0.5,  # total = lm_weight * lm + q_weight * (q_halt [+ q_continue])
        lm_weight=1.0,  # 0 for models whose Outputs.losses replace the answer's cross-entropy
    )

    c.optim = dict(
        # "adam_atan2" (HRM/TRM's AdamATan2) or "adamw" (PyTorch's AdamW: GRAM), with
        # `grad_clip` > 0 clipping the dense gradients' global norm first (GRAM: 1.0).
        optimizer="adam_atan2",
        grad_clip=0.0,
        adam_eps=1e-8,  # adamw only (PyTorch's default)
        lr=1e-4,
        lr_min_ratio=1.0,  # 1.0: constant after warmup (the reference's default)
        warmup_steps=2000,
        beta1=0.9,
        beta2=0.95,
        weight_decay=0.1,
        puzzle_emb_lr=1e-2,
        puzzle_emb_weight_decay=0.1,
        ema=True,
        ema_rate=0.999,
    )

    c.train = dict(
        global_batch_size=768,
        epochs=100000,
        steps=0,  # optimizer steps; 0 derives them from epochs as the reference does
        eval_interval_epochs=10000,  # the reference's eval_interval
        eval_every=0,  # in steps; 0 derives it from eval_interval_epochs
        log_every=50,
        checkpoint_every=0,  # in steps; 0 checkpoints at every evaluation
        keep_checkpoints=3,
        seed=0,
        progress=True,
        # Each step's forward/backward runs on this many interleaved slices of the batch with
        # the gradients summed: the same math in less activation memory (gradient accumulation,
        # e.g. the 916-token rows at batch 768 on one accelerator).
        microbatches=1,
    )

    c.eval = dict(
        batch_size=0,  # 0: the training batch size
        max_examples=0,  # 0: the whole test split
        use_ema=True,
        plot=True,  # exact accuracy against supervision segments, written to the workdir
    )

    c.ptrm = dict(
        # PTRM (arXiv 2605.19943), test-time only on the trained model (`models/ptrm.py`):
        # before every supervision step add sigma * N(0, I) to `target`.
        sigma=0.0,  # 0: off, the deterministic model
        target="z",  # "z": the reasoning latent (the paper's Algorithm 1); "y": the answer state
        positions="all",  # "all" (the puzzle prefix too) or "content"
    )

    c.sampling = dict(
        # Test-time width for stochastic models (PTRM's noise, GRAM's prior): run `rollouts`
        # (K) rollouts of `steps` (D) supervision steps each and select one (`eval/selection.py`,
        # `eval/scaling.py`), after the usual evaluation. Reported as "<ptrm|gram>/<rule>".
        rollouts=1,  # K
        steps=0,  # D (0: act.max_steps)
        # The headline rule: "best_q" (argmax of the halt logit), "mode" (most frequent
        # answer), "value" (GRAM's LPRM) or "pass" (oracle: any rollout right). All the rules
        # the model supports are always reported.
        selection="best_q",
        rollout_chunk=0,  # rollouts run at once, bounding memory (0: all K; must divide K)
        batch_size=0,  # puzzles per rollout batch (0: eval.batch_size); rows = this x chunk
        seed=0,  # the noise key
        # Depth by ACT with `steps` as the maximum (GRAM): a rollout keeps the answer of its
        # first step with q_halt > 0. False: every rollout runs all `steps` (PTRM).
        act_halt=False,
    )

    c.gram = dict(
        # GRAM (arXiv 2605.19376, `models/gram.py`): the variational objective and the choices
        # the paper leaves open (each documented in models/gram.py).
        kl_beta=0.1,  # beta: Sudoku 0.1, ARC-1 0.04, ARC-2 0.1, N-Queens 0.07/0.045, GC 0.5/0.45
        kl_balance=0.8,  # alpha of the DreamerV2 KL balancing
        # KL summed over D and over positions ("sum"), or averaged over positions ("token_mean":
        # on the tiny N-Queens run the posterior then leaks the answer, see models/gram.py)
        kl_reduce="sum",
        noise_head="swiglu",  # "swiglu" MLP or "linear", then a zero-init linear to (mu, std)
        std_param="softplus",  # "softplus" or "exp"
        init_std=0.1,  # the noise std at init (prior = posterior then)
        min_std=1e-3,
        halt_weight=0.5,  # the halting head's BCE, on the prior rollout
        value_weight=1.0,  # the LPRM's squared error, on the prior rollout
        lprm_target="token",  # "token" accuracy or "exact" correctness of the prior's answer
        head_rollout="prior",  # fit halting and LPRM on a separate "prior" rollout, or "posterior"
        temperature=1.0,  # test time: scale of the prior's std (1: the prior itself)
        # Table 3(b)'s noise ablations: "learned" N(mu, sigma^2), "none", "std_only" N(0, s^2),
        # "mean_only" N(mu, 0) (see models/gram.py).
        guidance="learned",
        # Table 3's other ablations (see models/gram.py): no low-level state ("without HR"),
        # the noise head predicting the state itself ("direct prediction"), and the KL of
        # "all" transitions of a step instead of the "last" (rows without deep supervision).
        hierarchy=True,
        residual=True,
        kl_transitions="last",
    )

    c.sotaku = dict(
        # Sotaku (github chenglou/sotaku, `models/sotaku.py`): a 4-layer pre-LN transformer
        # iterated recursion.cycles times (gradient "full"), its answer fed back as softmax
        # probabilities.
        dropout=0.1,  # attention weights, after the attention output, the ReLU and the MLP
        layer_norm_eps=1e-5,  # PyTorch's nn.LayerNorm default
        # Iterations when evaluating (0: recursion.cycles): the test-time count, no retraining.
        eval_iterations=0,
        # "batch_tokens": blank-cell CE summed over the batch / its blank cells (the reference);
        # "row": per-row mean over its blank cells (the trainer's lm-loss convention).
        loss_norm="batch_tokens",
        # The reference's data protocol (`rrm_jax/data/sotaku.py`; TFDS Sudoku-Extreme):
        train_first=0,  # train on the first N rows of the train split (0: all; 2,700,000)
        # Reverse curriculum by rating, "step:threshold,..." ("": the usual sampler): from each
        # step on, draw from the rating buckets whose lower bound is >= threshold.
        curriculum="",
        test_subset="",  # "stratified": at most test_per_bucket puzzles per rating bucket
        test_per_bucket=5000,
        test_seed=42,  # Python's random.seed of the reference's subset draw
    )

    c.ldt = dict(
        # LDT (arXiv 2605.08605, `models/ldt.py`, solver `eval/ldt_solver.py`); defaults are the
        # official Sudoku run (`experiments/sudoku/run.py`). The width, heads, layers and FFN
        # ratio are model.hidden_size / num_heads / num_layers / expansion; model.pos_encodings
        # "learned" adds row + column embeddings at every loop, "rope" is 2D RoPE (Maze).
        domain="sudoku",  # how tokens map to candidates: "sudoku", "maze" or "snowflake"
        grid_rows=0,  # 0: a square grid of seq_len cells
        grid_cols=0,
        num_loops=16,
        dropout=0.1,  # training dropout: attention probabilities, attention output, FFN output
        # Loss: weighted BCE on the keep logits (w+ / w-) + ce_weight x digit CE + conflict_weight
        # x conflict BCE, averaged over the loops (the last only with final_only). The CLS token
        # and the conflict head exist only when conflict_weight > 0 (official run.py).
        bce_pos_weight=4.0,
        bce_neg_weight=0.5,
        ce_weight=0.2,
        conflict_weight=0.1,
        final_only=False,
        # Fresh-sample mix of the pool (official data/sudoku_extreme.py): zero-hint,
        # correct-hint (fill fraction ~ U(correct_fill) of the blanks), error-hint = UNSAT
        # (fill ~ U(error_fill), corrupted fraction ~ U(error_rate), target bottom).
        zero_hint=0.2,
        correct_hint=0.55,
        error_hint=0.25,
        correct_fill=(0.0, 1.0),
        error_fill=(0.1, 1.0),
        error_rate=(0.01, 0.3),
        # Solutions per puzzle the targets are computed from (the official maze `k_solutions`):
        # 1 = the label only; K > 1 (domain "maze" only) = the label plus K - 1 shortest paths
        # drawn uniformly from the maze's all-shortest-paths DAG, alpha = the union of those
        # still consistent with the state (`models/ldt_lattice.py`, `data/maze_paths.py`). The
        # paper's Maze-Hard row uses 512.
        num_solutions=1,
        # A fresh random symmetry at every forward, in training and in the solver: a channel
        # permutation (not for domain "maze") and a grid symmetry, "d4" (the official D4 on a
        # square grid), "flips" (mirrors and the half turn: 6x6 Sudoku's 2x3 boxes) or "none".
        augment=True,
        symmetries="d4",
        # The step operator: kill a candidate when sigmoid(keep) < threshold; conflict when
        # sigmoid(conflict) > train_cls_threshold (training) / cls_threshold (solver); branch
        # digits sampled at `temperature`.
        threshold=0.1,
        train_cls_threshold=0.5,
        cls_threshold=0.6,
        temperature=1.5,
        # Solver: `chains` chains per puzzle, restarted from the puzzle on conflict, the first
        # chain that declares itself solved is accepted, abstention after `rounds` rounds.
        # The authors keep dropout on at evaluation (p=0.05, model in train mode; 0 for Maze).
        chains=64,
        rounds=1000,
        eval_dropout=0.05,
        solver_puzzles=8,  # puzzles solved at once (slots; the official 512-row batch / 64)
        rounds_per_call=8,  # solver rounds per jitted call between slot refills
        solver_seed=0,
    )

    c.scaling = dict(
        # The test-time scaling harness (`eval/scaling.py`): accuracy over the grid of widths
        # (rollouts) x depths (supervision steps); () derives powers of two up to
        # sampling.rollouts and sampling.steps. LDT: widths are chains per puzzle and depths
        # round budgets of its solver, () up to ldt.chains and ldt.rounds.
        widths=(),
        depths=(),
    )

    c.mesh = dict(
        data=-1,  # devices on the data axis; -1: all devices
        # The puzzle-embedding table: "replicated" on every device, "rows" split by rows over
        # `data`, or "auto": rows when the fp32 table is over puzzle_emb_rows_above_mb (ARC's
        # 876k x 512 table is 1.8 GB). A row-sharded table gets its rows padded to a multiple of
        # puzzle_emb_row_multiple (never-used rows), so its shape, and the checkpoint, are the
        # same on any mesh whose size divides that multiple.
        puzzle_emb="auto",
        puzzle_emb_rows_above_mb=256,
        puzzle_emb_row_multiple=1024,
    )

    c.paper = dict(
        arxiv="",
        table="",
        row="",
        metric="",
        reported=-1.0,  # the paper's number for this row (-1: none)
        hardware="",
        notes="",
    )
    return c


class ConfigError(ValueError):
    """An experiment config that cannot run."""


def _check_keys(config: ml_collections.ConfigDict, schema: ml_collections.ConfigDict, path=""):
    for key in config.keys():
        where = f"{path}{key}"
        if key not in schema:
            raise ConfigError(f"unknown config key {where!r}")
        if isinstance(schema[key], ml_collections.ConfigDict):
            if not isinstance(config[key], ml_collections.ConfigDict):
                raise ConfigError(f"config key {where!r} must be a block")
            _check_keys(config[key], schema[key], where + ".")


def _one_of(value, allowed, name):
    if value not in allowed:
        raise ConfigError(f"{name}={value!r}; expected one of {allowed}")


def validate(config: ml_collections.ConfigDict, num_devices: int = 1) -> None:
    """Rejects unknown keys and impossible combinations; raises ConfigError naming the field."""
    _check_keys(config, base_config())
    d, m, r, a = config.data, config.model, config.recursion, config.act
    o, t, e = config.optim, config.train, config.eval

    _one_of(d.source, DATA_SOURCES, "data.source")
    _one_of(d.augmentation, AUGMENTATIONS, "data.augmentation")
    if d.source == "official" and not d.path:
        raise ConfigError("data.source='official' needs data.path (a folder with train/ and test/)")
    if d.num_aug < 0:
        raise ConfigError("data.num_aug must be >= 0")
    if d.augmentation != "none" and d.num_aug < 1:
        raise ConfigError("data.augmentation is set but data.num_aug < 1")
    if d.augmentation == "dihedral" and d.num_aug > 7:
        raise ConfigError("data.augmentation='dihedral' has 8 variants: data.num_aug <= 7")
    if d.source == "tfds":
        _one_of(d.name, TFDS_NAMES, "data.name")
        if d.name == "arc_agi" and d.augmentation != "none":
            raise ConfigError(
                "arc_agi's augmentations are its stored variants: "
                "data.augmentation must be 'none' (data.num_aug sets how many)"
            )
        # A grid transform of a graph-colouring sequence would scramble it; the 8 symmetries
        # of the board map N-Queens puzzles and solutions to puzzles and solutions.
        # Snowflake Sudoku's 15x10 grid has neither the Sudoku nor the square symmetries.
        csp_augmentations = {
            "n_queens": ("none", "dihedral"),
            "graph_coloring": ("none",),
            "snowflake_sudoku": ("none",),
        }
        if d.augmentation not in csp_augmentations.get(d.name, AUGMENTATIONS):
            raise ConfigError(
                f"data.name={d.name!r} takes data.augmentation in {csp_augmentations[d.name]}, "
                f"got {d.augmentation!r}"
            )
    _one_of(d.task, ("solve", "generate"), "data.task")
    if d.generate_boards < 0:
        raise ConfigError("data.generate_boards must be >= 0")
    if d.source == "sudoku" and (d.num_train < 1 or d.num_test < 1):
        raise ConfigError("data.num_train and data.num_test must be >= 1")
    if d.epochs_per_iter < 1 or d.prefetch < 0:
        raise ConfigError("data.epochs_per_iter must be >= 1 and data.prefetch >= 0")

    _one_of(m.dtype, DTYPES, "model.dtype")
    _one_of(m.mixer, MIXERS, "model.mixer")
    _one_of(m.attention, ATTENTION_IMPLS, "model.attention")
    _one_of(m.pos_encodings, POS_ENCODINGS, "model.pos_encodings")
    if m.hidden_size < 1 or m.num_layers < 1:
        raise ConfigError("model.hidden_size and model.num_layers must be >= 1")
    if m.mixer == "attention":
        if m.num_heads < 1 or m.hidden_size % m.num_heads:
            raise ConfigError(
                f"model.hidden_size={m.hidden_size} is not divisible by model.num_heads="
                f"{m.num_heads}"
            )
        if m.pos_encodings == "rope" and (m.hidden_size // m.num_heads) % 2:
            raise ConfigError("RoPE needs an even head dimension (hidden_size / num_heads)")
    elif m.pos_encodings == "rope":
        raise ConfigError(
            "model.mixer='mlp' has no attention, so RoPE would do nothing; the reference pairs "
            "TRM-MLP with pos_encodings='none'"
        )
    if m.puzzle_emb_ndim < 0 or m.puzzle_emb_len < 0:
        raise ConfigError("model.puzzle_emb_ndim and model.puzzle_emb_len must be >= 0")
    if m.puzzle_emb_len > 0 and m.puzzle_emb_ndim > m.puzzle_emb_len * m.hidden_size:
        raise ConfigError(
            f"model.puzzle_emb_ndim={m.puzzle_emb_ndim} does not fit in puzzle_emb_len="
            f"{m.puzzle_emb_len} prefix tokens of hidden_size={m.hidden_size}"
        )
    if m.expansion <= 0:
        raise ConfigError("model.expansion must be > 0")

    if m.batch_chunks < 0 or m.attention_chunks < 0:
        raise ConfigError("model.batch_chunks and model.attention_chunks must be >= 0 (0: auto)")
    _one_of(r.gradient, GRADIENT_RULES, "recursion.gradient")
    _one_of(r.remat_policy, tuple(REMAT_POLICIES), "recursion.remat_policy")
    if r.cycles < 1 or r.latent_steps < 0:
        raise ConfigError("recursion.cycles must be >= 1 and recursion.latent_steps >= 0")
    if r.gradient in FIXED_POINT_RULES and r.latent_steps < 1:
        raise ConfigError(f"recursion.gradient={r.gradient!r} needs recursion.latent_steps >= 1")
    if r.neumann_terms < 0 or r.implicit_max_iters < 1 or r.implicit_tol <= 0:
        raise ConfigError(
            "recursion.neumann_terms >= 0, implicit_max_iters >= 1 and "
            "implicit_tol > 0 are required"
        )
    if m.h_layers < 0:
        raise ConfigError("model.h_layers must be >= 0")

    _one_of(a.halt_rule, HALT_RULES, "act.halt_rule")
    _one_of(m.name, ("trm", "hrm", "gram", "sotaku", "ldt"), "model.name")
    if m.name == "ldt":
        from rrm_jax.models.ldt import check_config as check_ldt

        try:
            check_ldt(config)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    if m.name == "sotaku":
        from rrm_jax.models.sotaku import check_config

        try:
            check_config(config)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    _one_of(m.decoder, ("argmax", "sample"), "model.decoder")
    if (m.init_noise or m.decoder == "sample") and m.name == "gram":
        raise ConfigError("model.init_noise and model.decoder='sample' are TRM/HRM baselines")
    if m.name == "gram":
        gr = config.gram
        _one_of(gr.noise_head, ("swiglu", "linear"), "gram.noise_head")
        _one_of(gr.std_param, ("softplus", "exp"), "gram.std_param")
        _one_of(gr.kl_reduce, ("token_mean", "sum"), "gram.kl_reduce")
        _one_of(gr.lprm_target, ("token", "exact"), "gram.lprm_target")
        _one_of(gr.head_rollout, ("prior", "posterior"), "gram.head_rollout")
        _one_of(gr.guidance, ("learned", "none", "std_only", "mean_only"), "gram.guidance")
        _one_of(gr.kl_transitions, ("last", "all"), "gram.kl_transitions")
        if not 0.0 <= gr.kl_balance <= 1.0 or gr.kl_beta < 0:
            raise ConfigError("gram.kl_balance must be in [0, 1] and gram.kl_beta >= 0")
        if not 0 < gr.min_std < gr.init_std:
            raise ConfigError("need 0 < gram.min_std < gram.init_std")
        if config.loss.q_weight != 0:
            raise ConfigError(
                "GRAM fits its halting head on the prior rollout (gram.halt_weight): set "
                "loss.q_weight=0 (the trainer's halting loss would pair the prior's q_halt with "
                "the posterior's answer)"
            )
        if config.ptrm.sigma > 0:
            raise ConfigError("GRAM samples from its own prior; ptrm.sigma must be 0")
    if a.max_steps < 1:
        raise ConfigError("act.max_steps must be >= 1")
    if not 0.0 <= a.exploration_prob <= 1.0:
        raise ConfigError("act.exploration_prob must be in [0, 1]")

    _one_of(config.loss.type, LOSSES, "loss.type")

    _one_of(config.ptrm.target, ("z", "y"), "ptrm.target")
    _one_of(config.ptrm.positions, ("all", "content"), "ptrm.positions")
    if config.ptrm.sigma < 0:
        raise ConfigError("ptrm.sigma must be >= 0")
    p = config.sampling
    _one_of(p.selection, SELECTIONS, "sampling.selection")
    if p.selection == "value" and m.name != "gram":
        raise ConfigError("sampling.selection='value' needs a value head (model.name='gram')")
    if p.rollouts < 1 or p.steps < 0 or p.rollout_chunk < 0 or p.batch_size < 0:
        raise ConfigError(
            "sampling.rollouts must be >= 1; sampling.steps, rollout_chunk and batch_size >= 0"
        )
    if p.rollout_chunk and p.rollouts % p.rollout_chunk:
        raise ConfigError(
            f"sampling.rollout_chunk={p.rollout_chunk} does not divide "
            f"sampling.rollouts={p.rollouts}"
        )
    for name in ("widths", "depths"):
        values = tuple(config.scaling[name])
        if any(int(v) < 1 for v in values) or len(set(values)) != len(values):
            raise ConfigError(f"scaling.{name} must be distinct integers >= 1, got {values}")

    _one_of(o.optimizer, ("adam_atan2", "adamw"), "optim.optimizer")
    if o.grad_clip < 0 or o.adam_eps <= 0:
        raise ConfigError("optim.grad_clip must be >= 0 and optim.adam_eps > 0")
    if o.lr <= 0 or o.puzzle_emb_lr < 0 or o.warmup_steps < 0:
        raise ConfigError("optim.lr must be > 0, optim.puzzle_emb_lr and warmup_steps >= 0")
    if not 0.0 <= o.lr_min_ratio <= 1.0:
        raise ConfigError("optim.lr_min_ratio must be in [0, 1]")
    if not 0.0 <= o.ema_rate < 1.0:
        raise ConfigError("optim.ema_rate must be in [0, 1)")
    if e.use_ema and not o.ema:
        raise ConfigError("eval.use_ema needs optim.ema")

    if t.global_batch_size < 1:
        raise ConfigError("train.global_batch_size must be >= 1")
    if t.steps <= 0 and t.epochs <= 0:
        raise ConfigError("set train.steps or train.epochs")
    if t.eval_every < 0 or t.checkpoint_every < 0 or t.log_every < 1:
        raise ConfigError("train.eval_every/checkpoint_every must be >= 0, log_every >= 1")
    if t.eval_every == 0 and t.eval_interval_epochs <= 0:
        raise ConfigError("set train.eval_every or train.eval_interval_epochs")
    if t.microbatches < 1 or t.global_batch_size % t.microbatches:
        raise ConfigError("train.microbatches must be >= 1 and divide train.global_batch_size")
    if t.keep_checkpoints < 1:
        raise ConfigError("train.keep_checkpoints must be >= 1")

    devices = num_devices if config.mesh.data == -1 else config.mesh.data
    if config.mesh.data not in (-1,) and not 1 <= config.mesh.data <= num_devices:
        raise ConfigError(f"mesh.data={config.mesh.data} but {num_devices} devices are present")
    if config.mesh.puzzle_emb not in ("auto", "replicated", "rows"):
        raise ConfigError(
            f"mesh.puzzle_emb={config.mesh.puzzle_emb!r}; expected auto, replicated or rows"
        )
    if config.mesh.puzzle_emb_row_multiple < 1 or config.mesh.puzzle_emb_rows_above_mb < 0:
        raise ConfigError("mesh.puzzle_emb_row_multiple must be >= 1, rows_above_mb >= 0")
    if config.mesh.puzzle_emb == "rows" and config.mesh.puzzle_emb_row_multiple % devices:
        raise ConfigError(
            f"mesh.puzzle_emb_row_multiple={config.mesh.puzzle_emb_row_multiple} is not divisible "
            f"by the {devices} data devices (a row-sharded puzzle table needs it)"
        )
    eval_batch = e.batch_size or t.global_batch_size
    for name, size in (
        ("train.global_batch_size", t.global_batch_size),
        ("eval.batch_size", eval_batch),
        ("sampling.batch_size", p.batch_size or eval_batch),
    ):
        if size % devices:
            raise ConfigError(f"{name}={size} is not divisible by the {devices} data devices")


def parse_arg(arg: str | None, default: str) -> tuple[str, dict[str, str]]:
    """Splits an experiment argument "row[,key=value...]" into (row, {key: value})."""
    parts = [p.strip() for p in (arg or default).split(",") if p.strip()]
    if not parts:
        raise ValueError("empty experiment argument")
    options = {}
    for part in parts[1:]:
        if "=" not in part:
            raise ValueError(f"expected key=value after the row name, got {part!r}")
        key, value = part.split("=", 1)
        options[key.strip()] = value.strip()
    return parts[0], options


def parse_row(
    arg: str | None,
    rows,
    ablations,
    *,
    default: str,
    ablation_rows: tuple[str, ...],
) -> tuple[str, str | None]:
    """`row[,ablation=NAME]` of an experiment file, checked: (row, ablation name or None).

    `rows` and `ablations` are the file's tables; `ablation_rows` the rows the paper ablates."""
    row, options = parse_arg(arg, default)
    if row not in rows:
        raise ValueError(f"unknown row {row!r}; expected one of {sorted(rows)}")
    unknown = set(options) - {"ablation"}
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)}; only ablation=NAME")
    name = options.get("ablation")
    if name is not None:
        if row not in ablation_rows:
            raise ValueError(f"the paper's ablations are of {' and '.join(ablation_rows)}")
        if name not in ablations:
            raise ValueError(f"unknown ablation {name!r}; expected one of {sorted(ablations)}")
    return row, name


def sibling_row(experiment_file: str, name: str, row: str) -> ml_collections.ConfigDict:
    """`get_config(row)` of the experiment file `name` (e.g. "trm.py") in the folder of
    `experiment_file`, loaded by path: a paper that builds on another's rows (PTRM and GRAM
    on TRM's) starts from them."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.abspath(experiment_file)), name)
    spec = importlib.util.spec_from_file_location(f"_rrm_experiments_{name[:-3]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(row)


def set_paper(c: ml_collections.ConfigDict, **fields) -> None:
    """Fills the `paper` block (arxiv, table, row, metric, reported, hardware, notes)."""
    unknown = set(fields) - set(c.paper.keys())
    if unknown:
        raise ConfigError(f"unknown paper fields {sorted(unknown)}")
    c.paper.update(fields)


def cpu_sudoku(c: ml_collections.ConfigDict) -> None:
    """The CPU-sized task every paper's `tiny` row trains on, for a 10-minute 2-core budget.

    3,000 generated minimal 6x6 Sudoku puzzles (2x3 boxes, official augmentation on the fly),
    500 held out; a width-64 model in fp32 (bf16 is slower on CPUs without bf16 units), lr 3e-3
    with 100 warm-up steps, 8 supervision segments, batch 64, 1200 steps. The rows then set
    their architecture.
    """
    # The `sudoku_generated` TFDS builder (config 2x3: 3000 + 500 puzzles, seed 0), the same
    # path as the real benchmarks; data.source="sudoku" generates the same puzzles in memory.
    c.data.update(
        dict(
            source="tfds",
            name="sudoku_generated",
            config="2x3",
            board="2x3",
            num_train=3000,
            num_test=500,
            seed=0,
            augmentation="sudoku",
            num_aug=1000,
        )
    )
    c.model.update(dict(hidden_size=64, num_heads=4, puzzle_emb_ndim=64, dtype="float32"))
    c.act.update(dict(max_steps=8))
    c.optim.update(
        dict(
            lr=3e-3,
            puzzle_emb_lr=3e-3,
            weight_decay=0.1,
            warmup_steps=100,
            puzzle_emb_weight_decay=0.1,
        )
    )
    c.train.update(dict(global_batch_size=64, steps=1200, eval_every=400, log_every=20))
    c.eval.update(dict(batch_size=250))
    set_paper(
        c,
        table="",
        metric="exact accuracy (%)",
        reported=-1.0,
        hardware="2-core CPU",
        notes="not a paper row: 6x6 Sudoku generated offline, held-out test puzzles",
    )
