"""Word vectors from a text file (GloVe / word2vec text format) for a model's embedding.

Each line is ``token v_1 ... v_d``; an optional first line ``count dim`` (word2vec text) is
skipped. Only the tokens of the vocabulary are kept; the others are skipped while reading, so
a large file costs one pass and little memory.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from probgates.data.errors import DataError
from probgates.data.vocab import Vocabulary


def read_word_vectors(
    path: str | os.PathLike, vocab: Vocabulary, dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The vectors of ``vocab``'s tokens found in ``path``: ``(vectors [V, dim], found [V] bool)``.

    Rows of tokens not in the file are zero. A line with the wrong number of values, a value that
    is not a number, or a file without any vocabulary token is a :class:`DataError`.
    """
    path = Path(path)
    vectors = torch.zeros(len(vocab), dim)
    found = torch.zeros(len(vocab), dtype=torch.bool)
    try:
        with open(path, encoding="utf-8", errors="strict") as f:
            for number, line in enumerate(f, start=1):
                parts = line.rstrip("\n").rstrip().split(" ")
                if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    continue  # word2vec header
                token = parts[0]
                if token not in vocab:
                    continue
                if len(parts) != dim + 1:
                    raise DataError(
                        f"line {number}: {len(parts) - 1} values for {token!r}, expected {dim}", path
                    )
                try:
                    values = [float(v) for v in parts[1:]]
                except ValueError as e:
                    raise DataError(f"line {number}: not a number ({e})", path) from None
                vectors[vocab[token]] = torch.tensor(values)
                found[vocab[token]] = True
    except FileNotFoundError:
        raise DataError("word-vector file not found", path) from None
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text ({e})", path) from None
    if not found.any():
        raise DataError("no token of the vocabulary has a vector in this file", path)
    return vectors, found
