"""Input embedding with the puzzle-embedding prefix, as in the reference `_input_embeddings`."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from rrm_jax.layers import embed_scale, truncated_normal


def prefix_length(puzzle_emb_ndim: int, hidden_size: int, puzzle_emb_len: int) -> int:
    """Puzzle prefix positions P: `puzzle_emb_len`, or ceil(ndim / hidden) when it is 0 (HRM)."""
    if puzzle_emb_ndim <= 0:
        return 0
    return puzzle_emb_len if puzzle_emb_len > 0 else -(puzzle_emb_ndim // -hidden_size)


class InputEmbedding(nn.Module):
    """Token embedding (std 1/sqrt(D)) with the puzzle prefix prepended, times sqrt(D).

    The puzzle row [Dp] is zero-padded to P*D and reshaped to P prefix tokens: with TRM's P = 16
    and Dp = D only the first prefix token carries the learned embedding, the other 15 are zero
    inputs whose latents still evolve. With "learned" positions the sum is scaled by 1/sqrt(2)
    before the sqrt(D) scale, as the reference.
    """

    vocab_size: int
    hidden_size: int
    prefix_len: int
    seq_len: int  # including the prefix
    pos_encodings: str = "rope"
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, inputs_BL: jax.Array, puzzle_rows_BE: jax.Array | None) -> jax.Array:
        d = self.hidden_size
        std = 1.0 / embed_scale(d)
        table = self.param("embed_tokens", truncated_normal(std), (self.vocab_size, d), jnp.float32)
        emb = jnp.take(table.astype(self.dtype), inputs_BL, axis=0)
        if self.prefix_len > 0:
            b = inputs_BL.shape[0]
            rows = puzzle_rows_BE.astype(self.dtype)
            rows = jnp.pad(rows, ((0, 0), (0, self.prefix_len * d - rows.shape[-1])))
            emb = jnp.concatenate([rows.reshape(b, self.prefix_len, d), emb], axis=1)
        if self.pos_encodings == "learned":
            pos = self.param("embed_pos", truncated_normal(std), (self.seq_len, d), jnp.float32)
            emb = 0.707106781 * (emb + pos.astype(self.dtype))
        return embed_scale(d) * emb


def local_view(params: dict, batch: dict) -> tuple[dict, dict, jax.Array]:
    """The reference's `local_weights` mechanism for the sparse puzzle embedding.

    Returns params whose "puzzle_emb" is the batch-sized copy `table[ids]` and a batch whose ids
    index that copy (0..B-1), plus the original ids. Differentiating through the copy gives a
    [B, Dp] gradient instead of a dense [num_ids, Dp] one (about 900k rows on ARC); the optimizer
    then sums it per id (`optim.sparse_signsgd_update`).
    """
    ids = batch["puzzle_identifiers"]
    local_params = {**params, "puzzle_emb": params["puzzle_emb"][ids]}
    local_batch = {**batch, "puzzle_identifiers": jnp.arange(ids.shape[0], dtype=ids.dtype)}
    return local_params, local_batch, ids
