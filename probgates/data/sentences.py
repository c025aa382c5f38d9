"""Sentence-classification sets in Kim's (2014) ``<label> <text>`` format.

One example per line: an integer label, a single space, then already-tokenised text.

========  =========================================  ====================================
name      files (in ``<root>/<folder>/``)             split
========  =========================================  ====================================
``mr``    ``mr/rt-polarity.all`` (0 neg, 1 pos)       none: seeded 10-fold cross-validation
``subj``  ``subj/subj.all`` (0 subjective, 1 obj.)    none: seeded 10-fold cross-validation
``mpqa``  ``mpqa/mpqa.all`` (0 neg, 1 pos)            none: seeded 10-fold cross-validation
``cr``    ``cr/custrev.all`` (0 neg, 1 pos)           none: seeded 10-fold cross-validation
``trec``  ``trec/TREC.{train,test}.all`` (6 classes)  standard train/test; valid held out of train
``sst1``  ``sst/stsa.fine.{train,dev,test}`` (0-4)    standard train/dev/test
``sst2``  ``sst/stsa.binary.{train,dev,test}`` (0/1)  standard train/dev/test
========  =========================================  ====================================

For the sets without an official split, :func:`sentence_dataset` takes ``fold`` (0..9) and
``split_seed``: a seeded permutation is cut into ``num_folds`` near-equal folds, fold ``fold`` is the
test set and the rest is train (of which ``valid_fraction`` is held out, seeded, as valid).

MR, SUBJ and TREC contain Latin-1 bytes (and ``\\x85`` inside lines), so those files are decoded
as Latin-1 and split on ``\\n`` only; SST is UTF-8. MPQA's ``mpqa.all`` holds three lines with a
label and no text (they are blank lines in the source ``mpqa.neg``/``mpqa.pos``); MPQA skips
empty texts by default (``info["skipped_lines"]``), every other set treats them as errors.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from probgates.data.batching import DatasetSplits, SequenceDataset
from probgates.data.errors import DataError
from probgates.data.paths import locate, read_bytes
from probgates.data.vocab import Vocabulary, split_tokens


@dataclass(frozen=True)
class SentenceSet:
    """How one sentence set is stored: registry name, files per split, labels, text encoding."""

    registry: str
    files: dict[str, str]  # "all" for cross-validation sets, else "train"/"valid"/"test"
    label_names: tuple[str, ...]
    encoding: str = "latin-1"
    skip_empty_texts: bool = False

    @property
    def cross_validation(self) -> bool:
        return "all" in self.files

    @property
    def num_classes(self) -> int:
        return len(self.label_names)


SENTENCE_SETS: dict[str, SentenceSet] = {
    "mr": SentenceSet("mr", {"all": "rt-polarity.all"}, ("negative", "positive")),
    "subj": SentenceSet("subj", {"all": "subj.all"}, ("subjective", "objective")),
    "mpqa": SentenceSet("mpqa", {"all": "mpqa.all"}, ("negative", "positive"), skip_empty_texts=True),
    "cr": SentenceSet("cr", {"all": "custrev.all"}, ("negative", "positive")),
    "trec": SentenceSet(
        "trec",
        {"train": "TREC.train.all", "test": "TREC.test.all"},
        ("DESC", "ENTY", "ABBR", "HUM", "LOC", "NUM"),
    ),
    "sst1": SentenceSet(
        "sst",
        {"train": "stsa.fine.train", "valid": "stsa.fine.dev", "test": "stsa.fine.test"},
        ("very negative", "negative", "neutral", "positive", "very positive"),
        encoding="utf-8",
    ),
    "sst2": SentenceSet(
        "sst",
        {"train": "stsa.binary.train", "valid": "stsa.binary.dev", "test": "stsa.binary.test"},
        ("negative", "positive"),
        encoding="utf-8",
    ),
}
SENTENCE_NAMES = tuple(SENTENCE_SETS)
_LABEL = re.compile(r"[+-]?\d+")


@dataclass
class LabelledSentences:
    """What :func:`read_labelled_sentences` returns."""

    tokens: list[list[str]]
    labels: list[int]
    line_numbers: list[int]
    skipped_lines: list[int]


def read_labelled_sentences(
    path: str | os.PathLike,
    num_classes: int,
    *,
    encoding: str = "latin-1",
    lowercase: bool = False,
    skip_empty_texts: bool = False,
) -> LabelledSentences:
    """Read a ``<label> <text>`` file.

    Raises:
        DataError (naming the file and line): a missing file, undecodable bytes, a blank line, a
            non-integer label, a label outside ``0..num_classes-1``, or an empty text (unless
            ``skip_empty_texts``, which records the line in ``skipped_lines`` instead).
    """
    path = Path(path)
    raw = read_bytes(path, "file")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise DataError(f"cannot decode as {encoding} ({e})", path) from e
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out = LabelledSentences([], [], [], [])
    for n, line in enumerate(lines, 1):
        line = line.rstrip("\r")
        if not line.strip():
            raise DataError(f"line {n} is empty", path)
        head, _, rest = line.strip(" ").partition(" ")
        if not _LABEL.fullmatch(head):
            raise DataError(f"line {n}: label {head[:20]!r} is not an integer", path)
        label = int(head)
        if not 0 <= label < num_classes:
            raise DataError(f"line {n}: unknown label {label} (expected 0..{num_classes - 1})", path)
        toks = split_tokens(rest.lower() if lowercase else rest)
        if not toks:
            if skip_empty_texts:
                out.skipped_lines.append(n)
                continue
            raise DataError(f"line {n}: empty text after label {label}", path)
        out.tokens.append(toks)
        out.labels.append(label)
        out.line_numbers.append(n)
    if not out.tokens:
        raise DataError("file holds no examples", path)
    return out


def kfold_split(n: int, num_folds: int, fold: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Seeded k-fold cross-validation: ``(train indices, test indices)`` of fold ``fold``.

    A permutation of ``range(n)`` from ``torch.Generator().manual_seed(seed)`` is cut into
    ``num_folds`` folds whose sizes differ by at most one; fold ``fold`` is the test part. Both
    index tensors are sorted. The folds of one seed partition ``range(n)``.
    """
    if num_folds < 2:
        raise ValueError(f"num_folds must be >= 2, got {num_folds}")
    if not 0 <= fold < num_folds:
        raise ValueError(f"fold must be in 0..{num_folds - 1}, got {fold}")
    if n < num_folds:
        raise ValueError(f"cannot cut {n} examples into {num_folds} folds")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    folds = perm.tensor_split(num_folds)
    test = folds[fold].sort().values
    train = torch.cat([f for i, f in enumerate(folds) if i != fold]).sort().values
    return train, test


def holdout_split(indices: Tensor, fraction: float, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Seeded random hold-out: ``(kept, held out)`` with ``round(fraction * len)`` held out (both sorted)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), got {fraction}")
    indices = torch.as_tensor(indices, dtype=torch.long)
    k = int(round(fraction * len(indices)))
    if k == 0:
        return indices, indices[:0]
    perm = torch.randperm(len(indices), generator=torch.Generator().manual_seed(seed))
    return indices[perm[k:]].sort().values, indices[perm[:k]].sort().values


def encode_classification_splits(
    name: str,
    tokens: dict[str, list[list[str]]],
    labels: dict[str, list[int]],
    *,
    max_vocab: int | None,
    min_count: int,
    max_len: int | None,
    path_of: dict[str, str | os.PathLike | None] | None = None,
) -> tuple[dict[str, SequenceDataset], Vocabulary]:
    """Build the vocabulary on ``tokens["train"]`` and encode every split (first ``max_len`` tokens)."""
    if max_len is not None and max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    vocab = Vocabulary.build(tokens["train"], max_size=max_vocab, min_count=min_count)
    parts = {}
    for split, toks in tokens.items():
        path = None if path_of is None else path_of.get(split)
        seqs = [vocab.encode(t[:max_len] if max_len else t, path=path) for t in toks]
        if not seqs:
            raise DataError(f"{name}: split {split!r} is empty", path)
        parts[split] = SequenceDataset(
            seqs, torch.tensor(labels[split], dtype=torch.long), name=f"{name}/{split}"
        )
    return parts, vocab


def sentence_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    fold: int | None = None,
    num_folds: int | None = None,
    split_seed: int = 0,
    valid_fraction: float | None = None,
    max_vocab: int | None = None,
    min_count: int = 1,
    max_len: int | None = None,
    lowercase: bool = False,
    download: bool = False,
) -> DatasetSplits:
    """A sentence-classification set as token-id sequences with one label per sentence.

    Args:
        name: ``"mr" | "subj" | "mpqa" | "cr" | "trec" | "sst1" | "sst2"``.
        root: the data root (files in ``<root>/<folder>/``, see the module docstring).
        fold: cross-validation sets only (MR, SUBJ, MPQA, CR): which fold is the test set,
            0..num_folds-1 (default 0). These sets have no official split; papers report the
            mean over the 10 folds of 10-fold cross-validation.
        num_folds: cross-validation sets only (default 10).
        split_seed: seed of the fold permutation and of the valid hold-out.
        valid_fraction: fraction of the training part held out as valid (default 0.1), for the
            cross-validation sets and TREC; 0 gives no valid split. SST has a standard dev set,
            so it takes no ``valid_fraction``.
        max_vocab: keep at most this many words (most frequent in the training part), plus
            ``<pad>`` = 0 and ``<unk>`` = 1.
        min_count: drop words seen fewer times in the training part.
        max_len: keep the first ``max_len`` tokens of every sentence.
        lowercase: lower-case the text before building the vocabulary.
        download: fetch absent files.

    ``info``: ``likelihood="categorical"``, ``task="classification"``, ``vocab``, ``vocab_size``,
    ``num_classes``, ``label_names``, ``pad_id``, the split description and ``skipped_lines``.
    """
    if name not in SENTENCE_SETS:
        raise DataError(f"unknown sentence set {name!r}; valid names: {', '.join(SENTENCE_NAMES)}")
    spec = SENTENCE_SETS[name]
    if not spec.cross_validation and (fold is not None or num_folds is not None):
        raise ValueError(f"{name} has a standard split; fold/num_folds apply only to mr, subj, mpqa and cr")
    if "valid" in spec.files and valid_fraction is not None:
        raise ValueError(f"{name} has a standard dev set; valid_fraction does not apply")
    valid_fraction = 0.1 if valid_fraction is None else float(valid_fraction)

    def read(fname: str) -> tuple[LabelledSentences, Path]:
        path = locate(spec.registry, fname, root, download=download)
        return read_labelled_sentences(
            path,
            spec.num_classes,
            encoding=spec.encoding,
            lowercase=lowercase,
            skip_empty_texts=spec.skip_empty_texts,
        ), path

    tokens: dict[str, list[list[str]]] = {}
    labels: dict[str, list[int]] = {}
    paths: dict[str, Path] = {}
    skipped: dict[str, list[int]] = {}
    split_info: dict = {}
    if spec.cross_validation:
        fold = 0 if fold is None else int(fold)
        num_folds = 10 if num_folds is None else int(num_folds)
        data, path = read(spec.files["all"])
        skipped[spec.files["all"]] = data.skipped_lines
        train_idx, test_idx = kfold_split(len(data.labels), num_folds, fold, split_seed)
        train_idx, valid_idx = holdout_split(train_idx, valid_fraction, split_seed)
        index = {"train": train_idx, "valid": valid_idx, "test": test_idx}
        for split, idx in index.items():
            if len(idx):
                tokens[split] = [data.tokens[i] for i in idx.tolist()]
                labels[split] = [data.labels[i] for i in idx.tolist()]
                paths[split] = path
        split_info = {
            "split": f"{num_folds}-fold cross-validation (seeded)",
            "fold": fold,
            "num_folds": num_folds,
            "split_seed": split_seed,
            "valid_fraction": valid_fraction,
            "indices": {s: i for s, i in index.items()},
        }
    else:
        for split, fname in spec.files.items():
            data, path = read(fname)
            tokens[split], labels[split], paths[split] = data.tokens, data.labels, path
            skipped[fname] = data.skipped_lines
        if "valid" not in spec.files:
            idx = torch.arange(len(labels["train"]))
            keep, held = holdout_split(idx, valid_fraction, split_seed)
            if len(held):
                tokens["valid"] = [tokens["train"][i] for i in held.tolist()]
                labels["valid"] = [labels["train"][i] for i in held.tolist()]
                paths["valid"] = paths["train"]
            tokens["train"] = [tokens["train"][i] for i in keep.tolist()]
            labels["train"] = [labels["train"][i] for i in keep.tolist()]
            split_info = {
                "split": "standard train/test; valid held out of train (seeded)",
                "split_seed": split_seed,
                "valid_fraction": valid_fraction,
            }
        else:
            split_info = {"split": "standard train/dev/test"}
    parts, vocab = encode_classification_splits(
        name, tokens, labels, max_vocab=max_vocab, min_count=min_count, max_len=max_len, path_of=paths
    )
    info = {
        "name": name,
        "task": "classification",
        "likelihood": "categorical",
        "vocab": vocab,
        "vocab_size": len(vocab),
        "pad_id": vocab.pad_id,
        "num_classes": spec.num_classes,
        "label_names": spec.label_names,
        "skipped_lines": {k: v for k, v in skipped.items() if v},
        "files": {s: str(p) for s, p in paths.items()},
        **split_info,
    }
    return DatasetSplits(parts["train"], parts.get("valid"), parts.get("test"), info)
