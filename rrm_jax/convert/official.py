"""Official (PyTorch) HRM/TRM weights <-> this package's params: the shared name/shape table.

Both official codes (sapientinc/HRM @ 42410daa `models/hrm/hrm_act_v1.py`, and
SamsungSAILMontreal/TinyRecursiveModels @ e7b68717 `models/recursive_reasoning/trm.py`) build
their model from the same layers (`models/layers.py`, `models/sparse_embedding.py`) and name
them alike in `torch.save(model.state_dict())`:

    official name (torch Linear weights are [out, in])    ours
    inner.embed_tokens.embedding_weight  [V, D]           dense/embed/embed_tokens
    inner.embed_pos.embedding_weight     [S, D]           dense/embed/embed_pos ("learned" only)
    {L}.self_attn.qkv_proj.weight        [3D, D]          {N}/self_attn/qkv_proj/kernel (T)
    {L}.self_attn.o_proj.weight          [D, D]           {N}/self_attn/o_proj/kernel (T)
    {L}.mlp.gate_up_proj.weight          [2I, D]          {N}/mlp/gate_up_proj/kernel (T)
    {L}.mlp.down_proj.weight             [D, I]           {N}/mlp/down_proj/kernel (T)
    {L}.mlp_t.gate_up_proj.weight        [2I_t, S]        {N}/mlp_t/gate_up_proj/kernel (T)
    {L}.mlp_t.down_proj.weight           [S, I_t]         {N}/mlp_t/down_proj/kernel (T)
    inner.lm_head.weight                 [V, D]           dense/heads/lm_head/kernel (T)
    inner.q_head.weight, .bias           [2, D], [2]      dense/heads/q_head/kernel (T), bias
    inner.puzzle_emb.weights             [N_ids, Dp]      puzzle_emb
    inner.H_init, inner.L_init           [D]              const/<answer>_init, const/<latent>_init

where (T) = transposed, S = seq_len + P (the puzzle prefix), I and I_t the SwiGLU widths, and
the model-specific parts ({L} -> {N} for each reasoning module, the names of the initial
latents) come from `trm.py` and `hrm.py` in this package:

    TRM: inner.L_level.layers.{i} -> dense/net/layers_{i};      H_init/L_init -> y_init/z_init
    HRM: inner.H_level.layers.{i} -> dense/net_H/layers_{i},
         inner.L_level.layers.{i} -> dense/net_L/layers_{i};   H_init/L_init -> z_H_init/z_L_init

Every layout convention the codes share (the [q | k | v] head split of qkv_proj, gate = first
half of gate_up_proj, rotate-half RoPE, the prefix positions) is the same on both sides, so
conversion is renaming and transposing. Checkpoints of the official training scripts prefix the
names with `model.` (the loss-head wrapper) and `_orig_mod.` (torch.compile); both are stripped.
Non-persistent buffers (the RoPE tables, the sparse embedding's per-batch
`local_weights`/`local_ids`) are accepted and dropped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np

from rrm_jax.convert import hrm, trm
from rrm_jax.convert.params_io import save_params
from rrm_jax.layers import swiglu_width
from rrm_jax.models.embed import prefix_length

# Model name -> the module with its official names (`nets`, `CONST`, `official_config`).
MODELS = {"trm": trm, "hrm": hrm}

# Wrappers the official training scripts put around the model, outermost first in real files.
PREFIXES = ("_orig_mod.", "model.")

# Buffers that are not part of a checkpoint but show up in `named_buffers()`.
NON_PERSISTENT = (
    "inner.rotary_emb.cos_cached",
    "inner.rotary_emb.sin_cached",
    "inner.puzzle_emb.local_weights",
    "inner.puzzle_emb.local_ids",
)

Layout = dict[str, tuple[tuple[int, ...], tuple[str, ...], bool]]


def strip_prefixes(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Removes leading `_orig_mod.` / `model.` wrappers from every key (in any order)."""
    out: dict[str, Any] = {}
    for key, value in state_dict.items():
        name = key
        while name.startswith(PREFIXES):
            name = name.split(".", 1)[1]
        if name in out:
            raise ValueError(
                f"checkpoint key {key!r} duplicates {name!r} once wrappers are removed"
            )
        out[name] = value
    return out


def _model_module(config):
    name = config.model.name
    if name not in MODELS:
        raise ValueError(
            f"model.name={name!r} has no official checkpoint format; expected one of "
            f"{sorted(MODELS)}"
        )
    return MODELS[name]


def _block(m, src: str, dst: tuple[str, ...], seq: int) -> Layout:
    """One post-norm block of an official reasoning module (the norms have no weights)."""
    d = m.hidden_size
    inter = swiglu_width(d, m.expansion)
    out: Layout = {}
    if m.mixer == "mlp":
        inter_t = swiglu_width(seq, m.expansion)
        out[src + "mlp_t.gate_up_proj.weight"] = (
            (2 * inter_t, seq),
            dst + ("mlp_t", "gate_up_proj", "kernel"),
            True,
        )
        out[src + "mlp_t.down_proj.weight"] = (
            (seq, inter_t),
            dst + ("mlp_t", "down_proj", "kernel"),
            True,
        )
    else:
        inner_width = (d // m.num_heads) * m.num_heads
        out[src + "self_attn.qkv_proj.weight"] = (
            (3 * inner_width, d),
            dst + ("self_attn", "qkv_proj", "kernel"),
            True,
        )
        out[src + "self_attn.o_proj.weight"] = (
            (d, inner_width),
            dst + ("self_attn", "o_proj", "kernel"),
            True,
        )
    out[src + "mlp.gate_up_proj.weight"] = (
        (2 * inter, d),
        dst + ("mlp", "gate_up_proj", "kernel"),
        True,
    )
    out[src + "mlp.down_proj.weight"] = ((d, inter), dst + ("mlp", "down_proj", "kernel"), True)
    return out


def layout(config) -> Layout:
    """official name -> (official shape, our path, transposed) for `config`.

    Raises ValueError for configs the official code cannot express (see `trm.nets`, `hrm.nets`).
    """
    module = _model_module(config)
    m = config.model
    nets = module.nets(config)  # validates the config against the official model
    d, v = m.hidden_size, m.vocab_size
    prefix = prefix_length(m.puzzle_emb_ndim, d, m.puzzle_emb_len)
    seq = m.seq_len + prefix
    out: Layout = {
        "inner.embed_tokens.embedding_weight": ((v, d), ("dense", "embed", "embed_tokens"), False),
        "inner.lm_head.weight": ((v, d), ("dense", "heads", "lm_head", "kernel"), True),
        "inner.q_head.weight": ((2, d), ("dense", "heads", "q_head", "kernel"), True),
        "inner.q_head.bias": ((2,), ("dense", "heads", "q_head", "bias"), False),
    }
    for name, ours in module.CONST.items():
        out[name] = ((d,), ("const", ours), False)
    if m.pos_encodings == "learned":
        out["inner.embed_pos.embedding_weight"] = ((seq, d), ("dense", "embed", "embed_pos"), False)
    if m.puzzle_emb_ndim > 0:
        out["inner.puzzle_emb.weights"] = (
            (m.num_puzzle_identifiers, m.puzzle_emb_ndim),
            ("puzzle_emb",),
            False,
        )
    for src, dst, layers in nets:
        for i in range(layers):
            out.update(_block(m, f"{src}.{i}.", dst + (f"layers_{i}",), seq))
    return out


def _set(tree: dict, path: tuple[str, ...], value) -> None:
    for p in path[:-1]:
        tree = tree.setdefault(p, {})
    tree[path[-1]] = value


def _get(tree: Mapping, path: tuple[str, ...]):
    for p in path:
        if not isinstance(tree, Mapping) or p not in tree:
            raise ValueError(f"params have no entry {'/'.join(path)!r}")
        tree = tree[p]
    return tree


def _unexpected(name: str, config) -> ValueError:
    m = config.model
    hint = ""
    if name.startswith("inner.H_level.") and m.name != "hrm":
        hint = " (it looks like an HRM checkpoint: set model.name='hrm')"
    elif ".mlp_t." in name and m.mixer != "mlp":
        hint = " (a TRM-MLP checkpoint: set model.mixer='mlp', pos_encodings='none')"
    elif ".self_attn." in name and m.mixer == "mlp":
        hint = " (an attention checkpoint: set model.mixer='attention')"
    elif name == "inner.embed_pos.embedding_weight":
        hint = " (learned positions: set model.pos_encodings='learned')"
    elif name == "inner.puzzle_emb.weights":
        hint = " (the checkpoint has a puzzle embedding: set model.puzzle_emb_ndim)"
    layers = f"num_layers={m.num_layers}"
    if m.name == "hrm":
        layers += f", h_layers={m.h_layers or m.num_layers}"
    return ValueError(
        f"unexpected key {name!r} in the official state dict for this config "
        f"(model.name={m.name!r}, mixer={m.mixer!r}, pos_encodings={m.pos_encodings!r}, "
        f"{layers}, puzzle_emb_ndim={m.puzzle_emb_ndim}){hint}"
    )


def from_official(state_dict: Mapping[str, Any], config) -> dict:
    """Our params from an official state dict (name -> array), checked against `config`.

    Dispatches on `config.model.name` ("trm" or "hrm"). Arrays may be numpy arrays or anything
    `np.asarray` takes (CPU torch tensors in fp32). Dense weights come back as fp32, the initial
    latents in the compute dtype (`config.model.dtype`), as `model.init` makes them. Raises
    ValueError naming the first missing, misshaped or unexpected key, or the config field the
    official model cannot express.
    """
    lay = layout(config)
    sd = strip_prefixes(state_dict)
    for name in sd:
        if name not in lay and name not in NON_PERSISTENT:
            raise _unexpected(name, config)
    m = config.model
    params: dict = {}
    for name, (shape, path, transpose) in lay.items():
        if name not in sd:
            raise ValueError(f"missing key {name!r} in the official state dict")
        a = np.asarray(sd[name])
        if a.shape != shape:
            raise ValueError(f"key {name!r} has shape {a.shape}, expected {shape} for this config")
        a = a.astype(np.float32)
        if transpose:
            a = a.T
        if path[0] == "const":
            a = a.astype(jnp.dtype(m.dtype))
        _set(params, path, np.ascontiguousarray(a))
    if m.puzzle_emb_ndim <= 0:  # as model.init: an empty table
        params["puzzle_emb"] = np.zeros((max(m.num_puzzle_identifiers, 1), 0), np.float32)
    return params


def to_official(params: Mapping, config) -> dict[str, np.ndarray]:
    """The inverse of `from_official`: official (unprefixed) names -> numpy arrays.

    Dense weights come back in their stored dtype (fp32), the initial latents in theirs.
    """
    out = {}
    for name, (shape, path, transpose) in layout(config).items():
        a = np.asarray(_get(params, path))
        if transpose:
            a = a.T
        if a.shape != shape:
            raise ValueError(
                f"params entry {'/'.join(path)!r} maps to {name!r} with shape "
                f"{a.shape}, expected {shape}"
            )
        out[name] = np.ascontiguousarray(a)
    return out


def official_model_name(official: Mapping[str, Any]) -> str:
    """The model ("hrm" or "trm") of an official config dict (all_config.yaml's `arch`).

    Uses the `name` entry when present (`hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1`,
    `recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1`); otherwise a dict with any of
    TRM's own fields (`mlp_t`, `puzzle_emb_len`, `no_ACT_continue`) or without a positive
    `H_layers` is TRM, and the rest HRM.
    """
    name = str(official.get("name", ""))
    if name:
        cls = name.split("@")[-1]
        if cls.startswith("HierarchicalReasoningModel"):
            return "hrm"
        if cls.startswith("TinyRecursiveReasoningModel"):
            return "trm"
        raise ValueError(f"official model {name!r} is neither HRM nor TRM")
    if any(k in official for k in ("mlp_t", "puzzle_emb_len", "no_ACT_continue")):
        return "trm"
    return "hrm" if int(official.get("H_layers", 0)) > 0 else "trm"


def config_from_official(official: Mapping[str, Any], config=None, *, model: str | None = None):
    """Our experiment config with the model fields of an official HRM or TRM config dict.

    `official` holds the reference's model config fields (the `arch` block, plus vocab_size,
    seq_len and num_puzzle_identifiers where known; missing ones keep their values in `config`,
    0 by default, for `complete_config` to fill from a state dict). The model is `model` if
    given, else recognised by `official_model_name`. Other blocks keep their values from
    `config` (default `base_config()`).
    """
    if config is None:
        from rrm_jax.config import base_config

        config = base_config()
    else:
        config = config.copy_and_resolve_references()
    o = dict(official)
    name = model or official_model_name(o)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    m = config.model
    model_fields, recursion_fields, act_fields = MODELS[name].official_config(o)
    config.model.update(
        dict(
            name=name,
            hidden_size=int(o["hidden_size"]),
            num_heads=int(o["num_heads"]),
            expansion=float(o["expansion"]),
            num_layers=int(o["L_layers"]),
            pos_encodings=o["pos_encodings"],
            rope_theta=float(o.get("rope_theta", 10000.0)),
            rms_norm_eps=float(o.get("rms_norm_eps", 1e-5)),
            puzzle_emb_ndim=int(o.get("puzzle_emb_ndim", 0)),
            dtype=o.get("forward_dtype", "bfloat16"),
            vocab_size=int(o.get("vocab_size", m.vocab_size)),
            seq_len=int(o.get("seq_len", m.seq_len)),
            num_puzzle_identifiers=int(o.get("num_puzzle_identifiers", m.num_puzzle_identifiers)),
            **model_fields,
        )
    )
    config.recursion.update(
        dict(cycles=int(o["H_cycles"]), latent_steps=int(o["L_cycles"]), **recursion_fields)
    )
    config.act.update(
        dict(
            max_steps=int(o["halt_max_steps"]),
            exploration_prob=float(o["halt_exploration_prob"]),
            **act_fields,
        )
    )
    return config


def complete_config(state_dict: Mapping[str, Any], config):
    """`config` with model.vocab_size, num_puzzle_identifiers and seq_len filled where 0.

    vocab_size is read from the token embedding's rows, num_puzzle_identifiers from the puzzle
    table's; seq_len from the learned position table or TRM-MLP's token mixer when there is one.
    An attention model with RoPE stores nothing of the sequence length: then seq_len must be set
    (ValueError naming the flag). Values already set are left for `from_official` to check.
    """
    config = config.copy_and_resolve_references()
    m = config.model
    sd = strip_prefixes(state_dict)

    def rows(name):
        if name not in sd:
            raise ValueError(f"missing key {name!r} in the official state dict")
        return int(np.shape(sd[name])[0])

    if m.vocab_size <= 0:
        m.vocab_size = rows("inner.embed_tokens.embedding_weight")
    if m.num_puzzle_identifiers <= 0 and m.puzzle_emb_ndim > 0:
        m.num_puzzle_identifiers = rows("inner.puzzle_emb.weights")
    if m.seq_len <= 0:
        prefix = prefix_length(m.puzzle_emb_ndim, m.hidden_size, m.puzzle_emb_len)
        if m.pos_encodings == "learned":
            m.seq_len = rows("inner.embed_pos.embedding_weight") - prefix
        elif m.mixer == "mlp":
            m.seq_len = rows("inner.L_level.layers.0.mlp_t.down_proj.weight") - prefix
        else:
            raise ValueError(
                "model.seq_len is 0 and cannot be read from the checkpoint (an attention model "
                f"with pos_encodings={m.pos_encodings!r} stores nothing of the sequence length); "
                "set it, e.g. --config.model.seq_len=81 for Sudoku, 900 for Maze and ARC"
            )
        if m.seq_len <= 0:
            raise ValueError(f"the checkpoint's sequence length {m.seq_len} is not positive")
    return config


def convert_state_dict(state_dict: Mapping[str, Any], config):
    """(params, config): `complete_config`, then `from_official`, in one call."""
    config = complete_config(state_dict, config)
    return from_official(state_dict, config), config


def read_official_state_dict(path) -> dict[str, np.ndarray]:
    """An official state dict as numpy arrays, from a `torch.save` file (needs torch) or `.npz`.

    A `.npz` (numpy's zip format, recognised by its content) holds official names -> arrays, as
    `numpy.savez(path, **state_dict)` writes them; torch is only imported for other files.
    Floating tensors come back as fp32 (bf16 -> fp32 is exact).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint file {path!r}")
    with open(path, "rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"
    if is_zip and _is_npz(path):
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    try:
        import torch
    except ImportError as e:  # torch is not a dependency of this package
        raise ImportError(
            "reading an official checkpoint (a torch.save file) needs PyTorch "
            "(pip install torch); or save its state dict with numpy.savez and pass the .npz, "
            "or convert a state dict you loaded elsewhere with from_official()"
        ) from e
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state dict")
    arrays = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"checkpoint entry {key!r} is a {type(value).__name__}, not a tensor")
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()  # numpy has no bfloat16; bf16 -> fp32 is exact
        arrays[key] = value.numpy()
    return arrays


def _is_npz(path: str) -> bool:
    # torch.save files are zip archives too; theirs hold `<name>/data.pkl`, numpy's `*.npy`.
    import zipfile

    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    return bool(names) and all(n.endswith(".npy") for n in names)


def load_official_checkpoint(path, config) -> dict:
    """Reads an official checkpoint (`read_official_state_dict`) and converts it with `config`."""
    return from_official(read_official_state_dict(path), config)


def convert_checkpoint_file(checkpoint, config, out) -> dict:
    """Reads `checkpoint`, converts it under `config` (`convert_state_dict`) and writes the
    params to `out` (`save_params`, with the completed config as metadata "config").

    Returns a summary: model, vocab_size, seq_len, num_puzzle_identifiers, dense_params, out.
    """
    from rrm_jax.models import count_params

    params, config = convert_state_dict(read_official_state_dict(checkpoint), config)
    save_params(out, params, metadata={"config": json.loads(config.to_json())})
    m = config.model
    return {
        "model": m.name,
        "vocab_size": m.vocab_size,
        "seq_len": m.seq_len,
        "num_puzzle_identifiers": m.num_puzzle_identifiers,
        "dense_params": count_params(params["dense"]),
        "out": os.fspath(out),
    }
