"""Output heads shared by HRM and TRM: the LM head and the Q (halting) head."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from rrm_jax.layers import dense


class OutputHeads(nn.Module):
    """lm_head over the sequence (prefix dropped) and q_head on position 0.

    q_head has a bias; weight zero and bias -5 at init ("init Q to (almost) zero for faster
    learning during bootstrapping" in the reference), so nothing halts early at the start.
    """

    vocab_size: int
    prefix_len: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, h_BSD: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        logits = dense(self.vocab_size, self.dtype, "lm_head")(h_BSD)[:, self.prefix_len :]
        q_head = dense(
            2,
            self.dtype,
            "q_head",
            use_bias=True,
            kernel_init=nn.initializers.zeros,
            bias_init=nn.initializers.constant(-5.0),
        )
        q = q_head(h_BSD[:, 0]).astype(jnp.float32)
        return logits, q[..., 0], q[..., 1]
