"""Weights of the official TRM code <-> this package's TRM params.

Matches the parameter and buffer names of `models/recursive_reasoning/trm.py` (and the layers of
`models/layers.py` and `models/sparse_embedding.py`) in SamsungSAILMontreal/TinyRecursiveModels
@ e7b68717, as written by `torch.save(model.state_dict())`:

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
    inner.H_init, inner.L_init           [D]              const/y_init, const/z_init

with {L} = inner.L_level.layers.{i}, {N} = dense/net/layers_{i}, (T) = transposed,
S = seq_len + P (the puzzle prefix) and I, I_t the SwiGLU widths. Every layout convention the
two codes share (the [q | k | v] head split of qkv_proj, gate = first half of gate_up_proj,
rotate-half RoPE, the prefix positions) is the same on both sides, so conversion is renaming
and transposing. Checkpoints of the official training script prefix the names with `model.`
(the loss-head wrapper) and `_orig_mod.` (torch.compile); both are stripped. Non-persistent
buffers (the RoPE tables, the sparse embedding's per-batch `local_weights`/`local_ids`) are
accepted and dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np

from rrm_jax.layers import swiglu_width
from rrm_jax.models.embed import prefix_length

# Wrappers the official training script puts around the model, outermost first in real files.
PREFIXES = ("_orig_mod.", "model.")

# Buffers that are not part of a checkpoint but show up in `named_buffers()`.
NON_PERSISTENT = (
    "inner.rotary_emb.cos_cached",
    "inner.rotary_emb.sin_cached",
    "inner.puzzle_emb.local_weights",
    "inner.puzzle_emb.local_ids",
)


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


def _layout(config) -> dict[str, tuple[tuple[int, ...], tuple[str, ...], bool]]:
    """official name -> (official shape, our path, transposed) for `config`."""
    m = config.model
    d, v = m.hidden_size, m.vocab_size
    prefix = prefix_length(m.puzzle_emb_ndim, d, m.puzzle_emb_len)
    seq = m.seq_len + prefix
    inter = swiglu_width(d, m.expansion)
    out = {
        "inner.embed_tokens.embedding_weight": ((v, d), ("dense", "embed", "embed_tokens"), False),
        "inner.lm_head.weight": ((v, d), ("dense", "heads", "lm_head", "kernel"), True),
        "inner.q_head.weight": ((2, d), ("dense", "heads", "q_head", "kernel"), True),
        "inner.q_head.bias": ((2,), ("dense", "heads", "q_head", "bias"), False),
        "inner.H_init": ((d,), ("const", "y_init"), False),
        "inner.L_init": ((d,), ("const", "z_init"), False),
    }
    if m.pos_encodings == "learned":
        out["inner.embed_pos.embedding_weight"] = ((seq, d), ("dense", "embed", "embed_pos"), False)
    if m.puzzle_emb_ndim > 0:
        out["inner.puzzle_emb.weights"] = (
            (m.num_puzzle_identifiers, m.puzzle_emb_ndim),
            ("puzzle_emb",),
            False,
        )
    for i in range(m.num_layers):
        src, dst = f"inner.L_level.layers.{i}.", ("dense", "net", f"layers_{i}")
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


def from_official(state_dict: Mapping[str, Any], config) -> dict:
    """Our TRM params from an official state dict (name -> array), checked against `config`.

    Arrays may be numpy arrays or anything `np.asarray` takes (CPU torch tensors in fp32). Dense
    weights come back as fp32, the initial latents in the compute dtype (`config.model.dtype`),
    as `model.init` makes them. Raises ValueError naming the first missing, misshaped or
    unexpected key.
    """
    sd = strip_prefixes(state_dict)
    layout = _layout(config)
    for name in sd:
        if name not in layout and name not in NON_PERSISTENT:
            raise ValueError(
                f"unexpected key {name!r} in the official state dict for this config "
                f"(mixer={config.model.mixer!r}, pos_encodings={config.model.pos_encodings!r}, "
                f"num_layers={config.model.num_layers}, puzzle_emb_ndim="
                f"{config.model.puzzle_emb_ndim})"
            )
    m = config.model
    params: dict = {}
    for name, (shape, path, transpose) in layout.items():
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
    for name, (shape, path, transpose) in _layout(config).items():
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


def config_from_official(official: Mapping[str, Any], config=None):
    """Our experiment config with the model fields of an official TRM config dict.

    `official` holds the reference's `TinyRecursiveReasoningModel_ACTV1Config` fields (the
    `arch` block plus vocab_size, seq_len, num_puzzle_identifiers). Other blocks keep their
    values from `config` (default `base_config()`).
    """
    if config is None:
        from rrm_jax.config import base_config

        config = base_config()
    else:
        config = config.copy_and_resolve_references()
    o = dict(official)
    if not o.get("no_ACT_continue", True):
        raise ValueError("no_ACT_continue=False (Q-continue bootstrapping) is not supported")
    config.model.update(
        dict(
            name="trm",
            hidden_size=int(o["hidden_size"]),
            num_heads=int(o["num_heads"]),
            expansion=float(o["expansion"]),
            num_layers=int(o["L_layers"]),
            mixer="mlp" if o.get("mlp_t", False) else "attention",
            pos_encodings=o["pos_encodings"],
            rope_theta=float(o.get("rope_theta", 10000.0)),
            rms_norm_eps=float(o.get("rms_norm_eps", 1e-5)),
            puzzle_emb_ndim=int(o.get("puzzle_emb_ndim", 0)),
            puzzle_emb_len=int(o.get("puzzle_emb_len", 16)),
            dtype=o.get("forward_dtype", "bfloat16"),
            vocab_size=int(o["vocab_size"]),
            seq_len=int(o["seq_len"]),
            num_puzzle_identifiers=int(o["num_puzzle_identifiers"]),
        )
    )
    config.recursion.update(dict(cycles=int(o["H_cycles"]), latent_steps=int(o["L_cycles"])))
    config.act.update(
        dict(
            max_steps=int(o["halt_max_steps"]),
            exploration_prob=float(o["halt_exploration_prob"]),
            halt_rule="q_halt",
        )
    )
    return config


def load_official_checkpoint(path, config) -> dict:
    """Reads an official `torch.save` state dict (needs torch) and converts it with `config`."""
    try:
        import torch
    except ImportError as e:  # torch is not a dependency of this package
        raise ImportError(
            "reading an official TRM checkpoint needs PyTorch (pip install torch); "
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
    return from_official(arrays, config)
