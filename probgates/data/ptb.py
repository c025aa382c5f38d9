"""Penn Treebank language modelling (Mikolov's preprocessing), word and character level.

* Word level (``ptb_word/ptb.{train,valid,test}.txt``): one sentence per line; every line
  becomes its tokens plus ``<eos>``. The vocabulary is built on train (10,000 words including
  ``<unk>`` and ``<eos>``); valid/test must not contain other words.
* Character level (``ptb_char/ptb.char.{train,valid,test}.txt``): characters separated by single
  spaces, ``_`` marks word boundaries, ``<unk>`` is spelled ``< u n k >``; every line end becomes
  ``<eos>`` (50 symbols). When ``ptb.char.train.txt`` is absent it is derived from the word-level
  train file with the rule that reproduces the original valid/test files byte for byte
  (:func:`word_to_char_text`).

Each split is one long token stream. :func:`ptb_dataset` cuts each stream into consecutive chunks
of ``seq_len`` inputs with next-token targets (a :class:`SequenceDataset`, shuffled by the trainer,
every chunk from a zero state) and keeps the streams in ``info["streams"]``. With
``stateful=True`` each split is a :class:`StreamDataset` instead: its batches are the consecutive
truncated-BPTT windows of ``batch_size`` parallel streams (:func:`batchify`, :func:`bptt_batches`),
and the trainer carries the recurrent state from one batch to the next (reference §7, word-PTB).
With ``random_offset=True`` the training split is an :class:`OffsetChunks` instead: every
shuffled epoch re-cuts the training stream into non-overlapping chunks from a random offset drawn
from the epoch's generator, and shuffles them (reference §7, char-PTB, as in the paper code);
valid and test keep the chunks from offset 0. ``random_offset`` and ``stateful`` exclude each other.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from probgates.data.batching import DatasetSplits, SequenceBatch, SequenceDataset
from probgates.data.errors import DataError
from probgates.data.paths import data_root, locate, read_bytes
from probgates.data.vocab import EOS, UNK, Vocabulary, split_tokens

SPLITS = ("train", "valid", "test")
WORD_FILES = {"train": "ptb.train.txt", "valid": "ptb.valid.txt", "test": "ptb.test.txt"}
CHAR_FILES = {"train": "ptb.char.train.txt", "valid": "ptb.char.valid.txt", "test": "ptb.char.test.txt"}
DEFAULT_SEQ_LEN = {"word": 35, "char": 99}


def _read_text(path: Path) -> str:
    raw = read_bytes(path, "file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text ({e})", path) from e


def _lines(text: str) -> list[str]:
    """Split on ``\\n`` only; a final whitespace-only piece after the last newline is dropped."""
    lines = text.split("\n")
    if lines and not lines[-1].strip():
        lines.pop()
    return lines


def read_ptb_words(path: str | os.PathLike) -> list[list[str]]:
    """Token lists of a word-level PTB file, each line's tokens followed by ``<eos>``."""
    path = Path(path)
    out = []
    for n, line in enumerate(_lines(_read_text(path)), 1):
        toks = split_tokens(line)
        if not toks:
            raise DataError(f"line {n} is empty", path)
        toks.append(EOS)
        out.append(toks)
    if not out:
        raise DataError("file holds no text", path)
    return out


def _char_lines(text: str, path) -> list[str]:
    """The characters of each line of a char-level file (spaces removed), format-checked."""
    out = []
    for n, line in enumerate(_lines(text), 1):
        s = line.strip(" ")
        if not s:
            raise DataError(f"line {n} is empty", path)
        chars = s[0::2]
        if s[1::2].strip(" ") or " " in chars or any(c in "\t\r\f\v" for c in chars):
            raise DataError(f"line {n}: expected single characters separated by single spaces", path)
        out.append(chars)
    if not out:
        raise DataError("file holds no text", path)
    return out


def read_ptb_chars(path: str | os.PathLike) -> list[list[str]]:
    """Character lists of a char-level PTB file, each line followed by ``<eos>``."""
    path = Path(path)
    return [[*chars, EOS] for chars in _char_lines(_read_text(path), path)]


def _char_codes(lines: list[str]) -> np.ndarray:
    """Unicode code points of the lines, each line followed by a newline (the ``<eos>`` code)."""
    text = "\n".join(lines) + "\n"
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def _encode_chars(vocab: Vocabulary, codes: np.ndarray, path) -> Tensor:
    table = np.full(int(codes.max()) + 1, -1, dtype=np.int64)
    for tok, i in vocab.stoi.items():
        c = ord("\n") if tok == EOS else ord(tok)
        if c < len(table):
            table[c] = i
    ids = table[codes]
    if (ids < 0).any():
        bad = chr(int(codes[np.argmax(ids < 0)]))
        raise DataError(f"character {bad!r} is not in the vocabulary built on the training file", path)
    return torch.from_numpy(ids)


def word_to_char_text(word_text: str) -> str:
    """Mikolov's char-level text from word-level text.

    Each line's tokens are joined with ``_`` and followed by a newline; then every character of
    the result (newlines included) is joined with a single space, plus one trailing space.
    """
    joined = "".join("_".join(line.split()) + "\n" for line in _lines(word_text))
    return " ".join(joined) + " "


def _char_path(split: str, root, download: bool, derive: bool) -> Path:
    path = data_root(root) / "ptb_char" / CHAR_FILES[split]
    if path.is_file():
        return path
    word = data_root(root) / "ptb_word" / WORD_FILES[split]
    if derive and word.is_file():
        return word  # caller converts
    return locate("ptb_char", CHAR_FILES[split], root, download=download)


def load_ptb(
    level: str = "word",
    root: str | os.PathLike | None = None,
    *,
    download: bool = False,
    derive_char_from_word: bool = True,
) -> tuple[dict[str, Tensor], Vocabulary]:
    """Token-id streams ``{"train"|"valid"|"test": [N] long}`` and the vocabulary (built on train).

    Args:
        level: ``"word"`` or ``"char"``.
        root: the data root; files are read from ``<root>/ptb_word/`` or ``<root>/ptb_char/``.
        download: fetch absent files from their public locations.
        derive_char_from_word: for ``level="char"``, derive a missing char file from the word
            file of the same split (``<root>/ptb_word/``).
    """
    if level not in ("word", "char"):
        raise DataError(f"unknown PTB level {level!r}; valid levels: word, char")
    paths: dict[str, Path] = {}
    if level == "word":
        lines: dict[str, list[list[str]]] = {}
        for split in SPLITS:
            paths[split] = locate("ptb_word", WORD_FILES[split], root, download=download)
            lines[split] = read_ptb_words(paths[split])
        vocab = Vocabulary.build(lines["train"], pad_token=None, unk_token=UNK)
        streams = {s: vocab.encode((t for line in lines[s] for t in line), path=paths[s]) for s in SPLITS}
        return streams, vocab
    codes: dict[str, np.ndarray] = {}
    for split in SPLITS:
        p = _char_path(split, root, download, derive_char_from_word)
        text = _read_text(p)
        if p.name == WORD_FILES[split]:  # derived from the word-level file
            text = word_to_char_text(text)
        codes[split] = _char_codes(_char_lines(text, p))
        paths[split] = p
    values, counts = np.unique(codes["train"], return_counts=True)
    tokens = [EOS if v == ord("\n") else chr(v) for v in values.tolist()]
    vocab = Vocabulary.from_counts(
        dict(zip(tokens, counts.tolist(), strict=True)), pad_token=None, unk_token=None
    )
    streams = {s: _encode_chars(vocab, codes[s], paths[s]) for s in SPLITS}
    return streams, vocab


def batchify(stream: Tensor, batch_size: int, *, name: str = "stream") -> Tensor:
    """Cut a ``[N]`` token stream into ``batch_size`` contiguous rows: ``[batch_size, N // batch_size]``.

    Row b holds tokens ``b*L .. (b+1)*L - 1`` (L = N // batch_size); the remainder is dropped.
    Reading the columns left to right continues each row's text, so a recurrent state can be
    carried from one :func:`bptt_batches` window to the next. A stream too short for two tokens
    per row raises :class:`DataError` naming ``name``.
    """
    if stream.dim() != 1:
        raise ValueError(f"stream must be 1-D, got shape {tuple(stream.shape)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    per_row = len(stream) // batch_size
    if per_row < 2:
        raise DataError(
            f"{name}: a stream of {len(stream)} tokens is too short for batch size {batch_size} "
            f"(each of the {batch_size} rows needs at least 2 tokens; at most {len(stream) // 2} rows)"
        )
    return stream[: per_row * batch_size].reshape(batch_size, per_row)


def bptt_batches(
    data: Tensor,
    seq_len: int,
    *,
    batch_size: int | None = None,
    start: int = 0,
) -> Iterator[SequenceBatch]:
    """Consecutive truncated-BPTT windows over batchified data, for state carried across windows.

    Args:
        data: ``[B, N]`` from :func:`batchify`, or a ``[N]`` stream together with ``batch_size``.
        seq_len: steps per window; the last window may be shorter.
        start: column to start from (a random offset per epoch, as in the char-PTB setup).

    Yields:
        :class:`SequenceBatch` with ``inputs = data[:, i:i+T]`` and next-token targets
        ``data[:, i+1:i+1+T]`` (all steps real, mask all True, ``index`` = row numbers).
    """
    if data.dim() == 1:
        if batch_size is None:
            raise ValueError("a 1-D stream needs batch_size")
        data = batchify(data, batch_size)
    elif batch_size is not None and batch_size != data.shape[0]:
        raise ValueError(f"batch_size {batch_size} disagrees with data of {data.shape[0]} rows")
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    B, N = data.shape
    if not 0 <= start < N - 1:
        raise ValueError(f"start must be in [0, {N - 1}), got {start}")
    index = torch.arange(B)
    for i in range(start, N - 1, seq_len):
        T = min(seq_len, N - 1 - i)
        mask = torch.ones(B, T, dtype=torch.bool)
        yield SequenceBatch(
            data[:, i : i + T], data[:, i + 1 : i + 1 + T], mask, torch.full((B,), T, dtype=torch.long), index
        )


def _windows(stream: Tensor, seq_len: int, name: str) -> tuple[list[Tensor], list[Tensor]]:
    """Inputs and next-token targets of the consecutive non-overlapping windows (views)."""
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    n = len(stream) - 1
    if n < 1:
        raise DataError(f"{name}: a stream of {len(stream)} token(s) has no next-token pairs")
    starts = range(0, n, seq_len)
    inputs = [stream[i : min(i + seq_len, n)] for i in starts]
    targets = [stream[i + 1 : min(i + seq_len, n) + 1] for i in starts]
    return inputs, targets


def chunk_stream(stream: Tensor, seq_len: int, *, name: str) -> SequenceDataset:
    """Consecutive non-overlapping windows of ``seq_len`` inputs with next-token targets (views)."""
    return SequenceDataset(*_windows(stream, seq_len, name), name=name)


class StreamDataset(SequenceDataset):
    """One token stream batched for stateful truncated BPTT (reference §7, word-PTB).

    As a :class:`SequenceDataset` it holds the windows of :func:`chunk_stream` (``len``,
    :meth:`batch` and ``num_steps`` are theirs, so the plate size and the losses per window are the
    same as without state). :meth:`batches` instead cuts the stream into ``batch_size`` parallel
    rows (:func:`batchify`) and yields their consecutive windows of ``seq_len`` steps in order
    (:func:`bptt_batches`): row b of batch i continues row b of batch i - 1. ``stateful = True``
    tells the trainer to carry the recurrent state from one batch to the next.
    """

    stateful = True

    def __init__(self, stream: Tensor, seq_len: int, *, name: str):
        super().__init__(*_windows(stream, seq_len, name), name=name)
        self.stream, self.seq_len = stream, seq_len

    def num_batches(self, batch_size: int, drop_last: bool = False) -> int:
        """Windows per row of :func:`batchify` (``drop_last``: without a shorter last one)."""
        per_row = batchify(self.stream, batch_size, name=self.name).shape[1]
        full, rest = divmod(per_row - 1, self.seq_len)
        return full + (0 if drop_last or rest == 0 else 1)

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> Iterator[SequenceBatch]:
        """The consecutive BPTT windows of ``batch_size`` rows; they cannot be shuffled (``generator``
        is there for the :class:`SequenceDataset` interface)."""
        if shuffle:
            raise ValueError(
                f"{self.name}: stateful batches are consecutive windows of the stream and cannot be shuffled"
            )
        for batch in bptt_batches(batchify(self.stream, batch_size, name=self.name), self.seq_len):
            if drop_last and batch.inputs.shape[1] < self.seq_len:
                return
            yield batch


class OffsetChunks(SequenceDataset):
    """A training stream cut into chunks of ``seq_len`` inputs from a new random offset each epoch.

    Reference §7, char-PTB (the paper code's protocol): every epoch starts the chunks at an offset
    in ``[0, seq_len)``, cuts the stream from there into consecutive non-overlapping windows of
    ``seq_len`` inputs with next-token targets, and shuffles them. As a :class:`SequenceDataset`
    it holds the windows from offset 0 (``len``, :meth:`batch`, ``num_steps`` and
    ``num_batches`` are theirs). Every offset gives the same number of windows, the number of full
    windows at the largest offset, ``(N - seq_len) // seq_len`` for a stream of N tokens; the tail
    after them is dropped, so the ELBO's data size and the batches per epoch do not change.
    """

    def __init__(self, stream: Tensor, seq_len: int, *, name: str):
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        if len(stream) < 2 * seq_len:
            raise DataError(
                f"{name}: a stream of {len(stream)} tokens is too short for random offsets of "
                f"chunks of {seq_len} inputs (it needs at least {2 * seq_len} tokens)"
            )
        self.stream, self.seq_len, self.name = stream, seq_len, name
        super().__init__(*self.windows(0), name=name)

    def windows(self, offset: int) -> tuple[list[Tensor], list[Tensor]]:
        """Inputs and next-token targets of the ``len(self)`` windows starting at ``offset`` (views)."""
        count = (len(self.stream) - self.seq_len) // self.seq_len
        return _windows(self.stream[offset : offset + count * self.seq_len + 1], self.seq_len, self.name)

    def draw_offset(self, generator: torch.Generator) -> int:
        """An offset in ``[0, seq_len)``, the first number drawn from ``generator``."""
        return int(torch.randint(self.seq_len, (1,), generator=generator))

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> Iterator[SequenceBatch]:
        """Padded minibatches of the windows; with ``shuffle`` and a ``generator`` they start at an
        offset drawn from it and are shuffled with it (one epoch is a function of the generator),
        otherwise they start at offset 0."""
        offset = self.draw_offset(generator) if shuffle and generator is not None else 0
        epoch = SequenceDataset(*self.windows(offset), name=self.name)
        return epoch.batches(batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last)


def ptb_dataset(
    level: str = "word",
    root: str | os.PathLike | None = None,
    *,
    seq_len: int | None = None,
    stateful: bool = False,
    random_offset: bool = False,
    download: bool = False,
) -> DatasetSplits:
    """PTB next-token splits; each split is its stream cut into windows of ``seq_len`` inputs.

    ``seq_len`` defaults to 35 (word level, the BPTT length of the reference setup) or 99 (char
    level: chunks of 100 characters give 99 input/target pairs). ``stateful`` makes every split a
    :class:`StreamDataset` (consecutive windows of parallel streams, state carried across
    batches, reference §7 word-PTB) instead of independent windows. ``random_offset`` makes the
    training split an :class:`OffsetChunks`: each shuffled epoch cuts the training stream from a
    random offset drawn from the epoch's generator (reference §7 char-PTB, the paper code's
    protocol; its length stays the same every epoch, the tail past the last full chunk is
    dropped); valid and test keep offset 0. ``stateful`` and ``random_offset`` cannot be
    combined (:class:`DataError`). ``info`` holds ``vocab``, ``vocab_size``,
    ``likelihood="categorical"``, ``task="language_model"``, the full token ``streams`` per split
    (for :func:`batchify`/:func:`bptt_batches`) and ``num_tokens``.
    """
    if stateful and random_offset:
        raise DataError(
            "options stateful = true and random_offset = true cannot be combined: stateful batches "
            "are consecutive windows of each stream, random_offset re-cuts the training stream into "
            "shuffled chunks every epoch; set one of them to false"
        )
    streams, vocab = load_ptb(level, root, download=download)
    seq_len = DEFAULT_SEQ_LEN[level] if seq_len is None else int(seq_len)
    name = f"ptb_{level}"
    make = StreamDataset if stateful else chunk_stream
    make_train = OffsetChunks if random_offset else make
    parts = {
        s: (make_train if s == "train" else make)(streams[s], seq_len, name=f"{name}/{s}") for s in SPLITS
    }
    info = {
        "name": name,
        "task": "language_model",
        "likelihood": "categorical",
        "vocab_size": len(vocab),
        "num_classes": len(vocab),
        "vocab": vocab,
        "eos_id": vocab[EOS],
        "seq_len": seq_len,
        "streams": streams,
        "num_tokens": {s: len(streams[s]) for s in SPLITS},
    }
    return DatasetSplits(parts["train"], parts["valid"], parts["test"], info)
