"""Params as one flat `.npz`: "dense/net_L/layers_0/mlp/down_proj/kernel" -> array.

Any numpy can read the file (`numpy.load`); `load_params` rebuilds the nested dict. Arrays of
dtypes numpy does not know natively (bfloat16, as the initial latents of a bf16 model) are
stored as fp32, which is exact, and cast back on loading. An optional JSON string of metadata
(e.g. the config the params belong to) rides along under the reserved key `__meta__`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np

META_KEY = "__meta__"
_NATIVE_KINDS = "biufc"  # bool, ints, floats, complex: what .npy stores without pickling


def flatten(params: Mapping, prefix: str = "") -> dict[str, Any]:
    """Nested dict -> {"a/b/c": leaf}. Keys must be non-empty strings without "/"."""
    out = {}
    for key, value in params.items():
        if not isinstance(key, str) or not key or "/" in key or key.startswith("__"):
            raise ValueError(f"params key {prefix + str(key)!r} cannot be stored")
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}/"))
        else:
            out[prefix + key] = value
    return out


def unflatten(flat: Mapping[str, Any]) -> dict:
    """{"a/b/c": leaf} -> nested dict (the inverse of `flatten`)."""
    out: dict = {}
    for key, value in flat.items():
        *parents, leaf = key.split("/")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"key {key!r} nests under a leaf")
        if leaf in node:
            raise ValueError(f"key {key!r} collides with a subtree")
        node[leaf] = value
    return out


def save_params(path, params: Mapping, *, metadata: Mapping[str, Any] | None = None) -> None:
    """Writes `params` (a nested dict of arrays) to `path` as an uncompressed `.npz`.

    The file is written under a temporary name and renamed, so it is complete or absent. The
    name is used as given (numpy would otherwise append ".npz").
    """
    arrays, dtypes = {}, {}
    for key, value in flatten(params).items():
        a = np.asarray(value)
        if a.dtype.kind not in _NATIVE_KINDS:
            dtypes[key] = a.dtype.name
            a = a.astype(np.float32)
        arrays[key] = a
    meta = {"dtypes": dtypes, "metadata": dict(metadata or {})}
    arrays[META_KEY] = np.array(json.dumps(meta, sort_keys=True))
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".params-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as open() would create it (mkstemp makes it private)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _read(path) -> tuple[dict[str, np.ndarray], dict]:
    with np.load(os.fspath(path), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays.pop(META_KEY))) if META_KEY in arrays else {}
    return arrays, meta


def load_params(path) -> dict:
    """The nested params `save_params` wrote (numpy arrays, in their saved dtypes)."""
    arrays, meta = _read(path)
    for key, name in meta.get("dtypes", {}).items():
        arrays[key] = arrays[key].astype(jnp.dtype(name))
    return unflatten(arrays)


def load_metadata(path) -> dict:
    """The `metadata` mapping `save_params` wrote with the params ({} if none)."""
    return dict(_read(path)[1].get("metadata", {}))
