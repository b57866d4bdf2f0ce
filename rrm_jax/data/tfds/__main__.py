"""`python -m rrm_jax.data.tfds`: see `rrm_jax.data.tfds.cli`."""

from rrm_jax.data.tfds.cli import main

main()
