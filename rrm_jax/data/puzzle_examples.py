"""What the puzzle builders of `datasets/` store: token encodings, example tables, TFDS features.

Every puzzle builder (Sudoku-Extreme, Maze-Hard, generated Sudoku) writes original puzzles only,
one example each, as `array_record` files with the features of `features`: `inputs`, `labels`
(uint8 tokens), `rating`, `index` (the row in the source, which fixes the order) and `source`.
`puzzle_metadata` records what `rrm_jax.data.tfds.load_split` needs to rebuild `PuzzleData`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

FILE_FORMAT = "array_record"


@dataclasses.dataclass(frozen=True)
class Encoding:
    """How one benchmark's 'question'/'answer' strings map to tokens.

    Attributes:
      name: the benchmark, for messages.
      seq_len: characters per string = tokens per example.
      vocab_size: token vocabulary (PAD 0 included).
      token_of: character -> token (several characters may share a token).
      question_chars: characters allowed in a question.
      answer_chars: characters allowed in an answer.
      char_of: token -> the character written back by `to_strings` (the canonical one).
    """

    name: str
    seq_len: int
    vocab_size: int
    token_of: Mapping[str, int]
    question_chars: str
    answer_chars: str
    char_of: Mapping[int, str]

    def table(self, chars: str) -> np.ndarray:
        """Byte -> token look-up, -1 for bytes outside `chars`."""
        table = np.full(256, -1, dtype=np.int16)
        for c in chars:
            table[ord(c)] = self.token_of[c]
        return table

    def tokens(self, chars: str) -> np.ndarray:
        """The sorted token values the characters of `chars` map to."""
        return np.unique([self.token_of[c] for c in chars])

    def to_strings(self, tokens: np.ndarray) -> list[str]:
        """Token rows [N, seq_len] back to strings (vectorised; raises on unknown tokens)."""
        tokens = np.asarray(tokens)
        lut = np.zeros(256, dtype=np.uint8)
        known = np.zeros(256, dtype=bool)
        for t, c in self.char_of.items():
            lut[t] = ord(c)
            known[t] = True
        if tokens.size and (tokens.min() < 0 or tokens.max() > 255 or not known[tokens].all()):
            bad = sorted(set(np.unique(tokens).tolist()) - set(self.char_of))
            raise ValueError(f"{self.name}: tokens {bad} have no character")
        if tokens.ndim != 2 or tokens.shape[1] != self.seq_len:
            raise ValueError(
                f"{self.name}: expected [N, {self.seq_len}] tokens, got {tokens.shape}"
            )
        flat = lut[tokens.astype(np.intp)].tobytes().decode("ascii")
        n = self.seq_len
        return [flat[i * n : (i + 1) * n] for i in range(tokens.shape[0])]

    def to_tokens(self, strings: Sequence[str], chars: str | None = None) -> np.ndarray:
        """Strings back to uint8 tokens [N, seq_len] (ValueError on a bad length or character)."""
        chars = self.question_chars + self.answer_chars if chars is None else chars
        table = self.table("".join(sorted(set(chars))))
        for i, s in enumerate(strings):
            if len(s) != self.seq_len or not s.isascii():
                raise ValueError(f"{self.name}: string {i} has length {len(s)} or non-ASCII text")
        raw = np.frombuffer("".join(strings).encode("ascii"), dtype=np.uint8)
        tokens = table[raw].reshape(len(strings), self.seq_len)
        if tokens.size and tokens.min() < 0:
            i = int(np.flatnonzero(tokens.reshape(-1) < 0)[0])
            raise ValueError(
                f"{self.name}: bad character {chr(raw[i])!r} in string {i // self.seq_len}"
            )
        return tokens.astype(np.uint8)


@dataclasses.dataclass
class Examples:
    """Original puzzles of one split, in source order, ready to be written."""

    inputs: np.ndarray  # uint8 [N, seq_len]
    labels: np.ndarray  # uint8 [N, seq_len]
    rating: np.ndarray  # int32 [N]; -1 where unknown
    index: np.ndarray  # int64 [N]; the row in the source
    source: list[str]  # [N]; "" where unknown

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def take(self, rows: np.ndarray) -> Examples:
        """The examples at `rows` (their `index` is kept)."""
        rows = np.asarray(rows, dtype=np.int64)
        return Examples(
            self.inputs[rows],
            self.labels[rows],
            self.rating[rows],
            self.index[rows],
            [self.source[i] for i in rows.tolist()],
        )

    def generate(self) -> Iterator[tuple[int, dict]]:
        """(key, example) pairs for `_generate_examples`; the key is `index`."""
        for i in range(len(self)):
            index = int(self.index[i])
            yield (
                index,
                {
                    "inputs": self.inputs[i],
                    "labels": self.labels[i],
                    "rating": int(self.rating[i]),
                    "index": index,
                    "source": self.source[i],
                },
            )


def subsample(examples: Examples, size: int | None, seed: int) -> Examples:
    """The official `subsample_size` draw with a recorded seed, kept in source order.

    The official builders call the unseeded `np.random.choice(n, size, replace=False)` when
    `size < n` and keep every row otherwise; this draws the same way from
    `np.random.RandomState(seed)`, so it equals the official subset after `np.random.seed(seed)`.
    """
    n = len(examples)
    if size is None or size >= n:
        return examples
    rows = np.random.RandomState(seed).choice(n, size, replace=False)
    return examples.take(np.sort(rows))


def features(seq_len: int):
    """The feature dict shared by every puzzle builder here."""
    import tensorflow_datasets as tfds

    return tfds.features.FeaturesDict(
        {
            "inputs": tfds.features.Tensor(shape=(seq_len,), dtype=np.uint8),
            "labels": tfds.features.Tensor(shape=(seq_len,), dtype=np.uint8),
            "rating": tfds.features.Scalar(dtype=np.int32),
            "index": tfds.features.Scalar(dtype=np.int64),
            "source": tfds.features.Text(),
        }
    )


def puzzle_metadata(seq_len: int, vocab_size: int):
    """`metadata.json` of a prepared dataset: what `load_split` needs to rebuild `PuzzleData`."""
    import tensorflow_datasets as tfds

    return tfds.core.MetadataDict(
        seq_len=seq_len, vocab_size=vocab_size, pad_id=0, ignore_label_id=0
    )
