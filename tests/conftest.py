"""Test-suite set-up: a compilation cache shared by every test of the session.

JAX compiles slowly on CPU; several end-to-end tests compile the same train step (a run, then its
resumption), so a persistent cache in a session-scoped temporary folder saves most of that.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile

import jax

_CACHE = tempfile.mkdtemp(prefix="rrm_jax_test_cache_")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
