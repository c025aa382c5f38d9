"""Document classification: IMDb movie reviews (Maas et al. 2011) and AG News (Zhang et al. 2015).

Both are tokenised with :func:`probgates.data.vocab.simple_tokenize` (lower case, ``<br />``
removed, runs of letters/digits), keep the ``max_vocab`` most frequent words of the training
part (plus ``<pad>`` = 0 and ``<unk>`` = 1) and the first ``max_len`` tokens of every document,
as in the structured-sparsification setups (IMDb: 20k words, 200 tokens; AG News: 20k words,
100 tokens). The reference code left-pads; :class:`SequenceDataset` right-pads with a mask,
which is equivalent for a model that reads the mask / the last real step.

Validation: the reference holds out the last 15 % (IMDb) / 5 % (AG News) of the (shuffled)
training set; here a seeded random ``valid_fraction`` of the training set is held out.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tarfile
import zlib
from pathlib import Path

import torch

from probgates.data.batching import DatasetSplits
from probgates.data.errors import DataError
from probgates.data.paths import data_root, locate, missing_file_error, read_bytes
from probgates.data.sentences import encode_classification_splits, holdout_split
from probgates.data.vocab import simple_tokenize

IMDB_LABELS = ("negative", "positive")
AG_NEWS_LABELS = ("World", "Sports", "Business", "Sci/Tech")
_REVIEW = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
_GROUPS = [(s, c) for s in ("train", "test") for c in ("neg", "pos")]


def _review_record(rel: str, data: bytes, path) -> tuple[tuple[str, int, int], int, str] | None:
    m = _REVIEW.search(rel)
    if m is None:
        return None
    split, cls, rid, rating = m.group(1), m.group(2), int(m.group(3)), int(m.group(4))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"review {rel} is not UTF-8 ({e})", path) from e
    return (split, 1 if cls == "pos" else 0, rid), rating, text


def read_imdb(path: str | os.PathLike) -> dict[str, list[tuple[int, int, int, str]]]:
    """Reviews of an ``aclImdb`` folder or tarball: ``{"train"|"test": [(label, id, rating, text)]}``.

    ``path`` is either a folder that contains ``aclImdb/`` (or is ``aclImdb/`` itself) or a
    ``.tar.gz`` archive, which is read as a stream with :mod:`tarfile` without unpacking. Labels:
    0 = negative (``neg/``), 1 = positive (``pos/``). Unlabelled ``unsup/`` reviews are skipped.
    The result is sorted by (label, id), whatever the order in the archive.

    Raises:
        DataError: missing or corrupt archive, a review that is not UTF-8, or a split/class
            folder with no reviews.
    """
    path = Path(path)
    found: dict[tuple[str, int, int], tuple[int, str]] = {}
    if path.is_dir():
        base = path if path.name == "aclImdb" else path / "aclImdb"
        for split, cls in _GROUPS:
            folder = base / split / cls
            if not folder.is_dir():
                continue
            for f in folder.iterdir():
                rec = _review_record(f"aclImdb/{split}/{cls}/{f.name}", f.read_bytes(), path)
                if rec is not None:
                    found[rec[0]] = (rec[1], rec[2])
    elif path.is_file():
        try:
            with tarfile.open(path, mode="r|*") as tar:
                for member in tar:
                    if not member.isfile() or _REVIEW.search(member.name) is None:
                        continue
                    fobj = tar.extractfile(member)
                    rec = _review_record(member.name, fobj.read(), path)
                    found[rec[0]] = (rec[1], rec[2])
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            raise DataError(
                f"cannot read the IMDb archive, truncated or corrupt ({type(e).__name__}: {e})", path
            ) from e
    else:
        raise DataError("IMDb data not found (expected an aclImdb/ folder or a .tar.gz archive)", path)
    out: dict[str, list[tuple[int, int, int, str]]] = {"train": [], "test": []}
    for split, cls in _GROUPS:
        label = 1 if cls == "pos" else 0
        if not any(k[0] == split and k[1] == label for k in found):
            raise DataError(f"no reviews found under aclImdb/{split}/{cls}/", path)
    for (split, label, rid), (rating, text) in sorted(found.items()):
        out[split].append((label, rid, rating, text))
    return out


def _imdb_source(root, download: bool) -> Path:
    folder = data_root(root) / "imdb"
    for candidate in (folder / "aclImdb", folder / "aclImdb_v1_labeled.tar.gz", folder / "aclImdb_v1.tar.gz"):
        if candidate.exists():
            return candidate
    if download:
        return locate("imdb", "aclImdb_v1.tar.gz", root, download=True)
    raise missing_file_error(
        "imdb",
        "aclImdb_v1.tar.gz",
        root,
        reason=f"none of aclImdb/, aclImdb_v1_labeled.tar.gz, aclImdb_v1.tar.gz is in {folder}",
    )


def _tokens(texts: list[str], path) -> list[list[str]]:
    out = []
    for i, t in enumerate(texts):
        toks = simple_tokenize(t)
        if not toks:
            raise DataError(f"document {i} has no tokens", path)
        out.append(toks)
    return out


def imdb_dataset(
    root: str | os.PathLike | None = None,
    *,
    max_len: int | None = 200,
    max_vocab: int | None = 20000,
    min_count: int = 1,
    valid_fraction: float = 0.15,
    split_seed: int = 0,
    download: bool = False,
) -> DatasetSplits:
    """IMDb sentiment (25k train / 25k test; label 1 = positive) as token-id sequences.

    Reads ``<root>/imdb/aclImdb/`` if unpacked, else ``<root>/imdb/aclImdb_v1_labeled.tar.gz``
    or the official ``aclImdb_v1.tar.gz`` directly (streaming, a few seconds). The vocabulary
    is built on the training part (after the valid hold-out) from the full reviews; sequences are
    then cut to their first ``max_len`` tokens (``None``: keep all).
    """
    source = _imdb_source(root, download)
    data = read_imdb(source)
    tokens = {s: _tokens([r[3] for r in data[s]], source) for s in ("train", "test")}
    labels = {s: [r[0] for r in data[s]] for s in ("train", "test")}
    keep, held = holdout_split(torch.arange(len(labels["train"])), valid_fraction, split_seed)
    if len(held):
        tokens["valid"] = [tokens["train"][i] for i in held.tolist()]
        labels["valid"] = [labels["train"][i] for i in held.tolist()]
    tokens["train"] = [tokens["train"][i] for i in keep.tolist()]
    labels["train"] = [labels["train"][i] for i in keep.tolist()]
    parts, vocab = encode_classification_splits(
        "imdb",
        tokens,
        labels,
        max_vocab=max_vocab,
        min_count=min_count,
        max_len=max_len,
        path_of={s: source for s in tokens},
    )
    info = {
        "name": "imdb",
        "task": "classification",
        "likelihood": "categorical",
        "vocab": vocab,
        "vocab_size": len(vocab),
        "pad_id": vocab.pad_id,
        "num_classes": 2,
        "label_names": IMDB_LABELS,
        "max_len": max_len,
        "valid_fraction": valid_fraction,
        "split_seed": split_seed,
        "source": str(source),
    }
    return DatasetSplits(parts["train"], parts.get("valid"), parts["test"], info)


def read_ag_news_csv(path: str | os.PathLike) -> tuple[list[int], list[str]]:
    """Rows of an AG News CSV (``"class","title","description"``, class 1..4): labels 0..3 and texts.

    The text is the title and description joined by a space, with the dataset's ``\\`` line-break
    escapes turned into spaces.

    Raises:
        DataError (naming the file and line): missing file, a row without three fields, a class
            that is not an integer in 1..4, or an empty text.
    """
    path = Path(path)
    raw = read_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 ({e})", path) from e
    labels, texts = [], []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            n = reader.line_num
            if not row or all(not c.strip() for c in row):
                raise DataError(f"line {n} is empty", path)
            if len(row) != 3:
                raise DataError(
                    f"line {n}: expected 3 fields (class, title, description), got {len(row)}", path
                )
            cls = row[0].strip()
            if not re.fullmatch(r"[+-]?\d+", cls):
                raise DataError(f"line {n}: class {cls[:20]!r} is not an integer", path)
            if not 1 <= int(cls) <= 4:
                raise DataError(f"line {n}: unknown class {int(cls)} (expected 1..4)", path)
            body = f"{row[1]} {row[2]}".replace("\\", " ").strip()
            if not body:
                raise DataError(f"line {n}: empty title and description", path)
            labels.append(int(cls) - 1)
            texts.append(body)
    except csv.Error as e:
        raise DataError(f"malformed CSV near line {reader.line_num}: {e}", path) from e
    if not labels:
        raise DataError("file holds no rows", path)
    return labels, texts


def _ag_news_file(name: str, root, download: bool) -> Path:
    folder = data_root(root) / "ag_news"
    for candidate in (folder / name, folder / "ag_news_csv" / name):
        if candidate.is_file():
            return candidate
    return locate("ag_news", name, root, download=download)


def ag_news_dataset(
    root: str | os.PathLike | None = None,
    *,
    max_len: int | None = 100,
    max_vocab: int | None = 20000,
    min_count: int = 1,
    valid_fraction: float = 0.05,
    split_seed: int = 0,
    download: bool = False,
) -> DatasetSplits:
    """AG News topic classification (4 classes; 120k train / 7.6k test) as token-id sequences.

    Reads ``<root>/ag_news/{train,test}.csv`` (or ``<root>/ag_news/ag_news_csv/...``). Not shipped
    locally: put the CSVs there or pass ``download=True``.
    """
    paths = {s: _ag_news_file(f"{s}.csv", root, download) for s in ("train", "test")}
    labels, tokens = {}, {}
    for s, p in paths.items():
        labels[s], texts = read_ag_news_csv(p)
        tokens[s] = _tokens(texts, p)
    keep, held = holdout_split(torch.arange(len(labels["train"])), valid_fraction, split_seed)
    path_of = dict(paths)
    if len(held):
        tokens["valid"] = [tokens["train"][i] for i in held.tolist()]
        labels["valid"] = [labels["train"][i] for i in held.tolist()]
        path_of["valid"] = paths["train"]
    tokens["train"] = [tokens["train"][i] for i in keep.tolist()]
    labels["train"] = [labels["train"][i] for i in keep.tolist()]
    parts, vocab = encode_classification_splits(
        "ag_news", tokens, labels, max_vocab=max_vocab, min_count=min_count, max_len=max_len, path_of=path_of
    )
    info = {
        "name": "ag_news",
        "task": "classification",
        "likelihood": "categorical",
        "vocab": vocab,
        "vocab_size": len(vocab),
        "pad_id": vocab.pad_id,
        "num_classes": 4,
        "label_names": AG_NEWS_LABELS,
        "max_len": max_len,
        "valid_fraction": valid_fraction,
        "split_seed": split_seed,
        "files": {s: str(p) for s, p in paths.items()},
    }
    return DatasetSplits(parts["train"], parts.get("valid"), parts["test"], info)
