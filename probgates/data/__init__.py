"""Data loaders for the probgates experiments.

Every loader returns a :class:`DatasetSplits` of :class:`SequenceDataset` parts; bad or missing
input raises :class:`DataError` naming the file. :func:`load_dataset` dispatches by name with
JSON/TOML-friendly options (``load_dataset(spec.name, spec.root, **spec.options)``); call
:func:`dataset_options` for the options of one dataset.

Files are read from ``<root>/<dataset folder>/`` where ``root`` is the argument, else
``$PROBGATES_DATA``, else ``~/.cache/probgates`` (see :func:`data_root`); the dataset registry
(:mod:`probgates.data.paths`) names the folders and files. Nothing is downloaded unless
``download=True``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from types import NoneType

from probgates.data.batching import DatasetSplits, SequenceBatch, SequenceDataset, pad_sequences
from probgates.data.errors import DataError
from probgates.data.images import load_mnist_arrays, mnist_dataset, pixel_permutation, read_idx
from probgates.data.paths import REGISTRY, check_files, data_root, fetch, locate, verify_sha256
from probgates.data.polyphonic import (
    POLYPHONIC_NAMES,
    load_piano_rolls,
    polyphonic_dataset,
    read_mat_rolls,
    read_pickle_rolls,
)
from probgates.data.ptb import (
    StreamDataset,
    batchify,
    bptt_batches,
    load_ptb,
    ptb_dataset,
    word_to_char_text,
)
from probgates.data.reviews import ag_news_dataset, imdb_dataset, read_ag_news_csv, read_imdb
from probgates.data.safe_pickle import RestrictedUnpickler, safe_load
from probgates.data.sentences import (
    holdout_split,
    kfold_split,
    read_labelled_sentences,
    sentence_dataset,
)
from probgates.data.synthetic import adding_problem, copy_task, sparse_signal, sparse_signal_labels
from probgates.data.vocab import Vocabulary, simple_tokenize

__all__ = [
    "DataError",
    "DatasetSplits",
    "SequenceBatch",
    "SequenceDataset",
    "pad_sequences",
    "Vocabulary",
    "simple_tokenize",
    "data_root",
    "fetch",
    "locate",
    "verify_sha256",
    "check_files",
    "REGISTRY",
    "RestrictedUnpickler",
    "safe_load",
    "load_piano_rolls",
    "polyphonic_dataset",
    "read_mat_rolls",
    "read_pickle_rolls",
    "load_ptb",
    "ptb_dataset",
    "StreamDataset",
    "batchify",
    "bptt_batches",
    "word_to_char_text",
    "sentence_dataset",
    "read_labelled_sentences",
    "kfold_split",
    "holdout_split",
    "imdb_dataset",
    "read_imdb",
    "ag_news_dataset",
    "read_ag_news_csv",
    "read_idx",
    "load_mnist_arrays",
    "mnist_dataset",
    "pixel_permutation",
    "adding_problem",
    "copy_task",
    "sparse_signal",
    "sparse_signal_labels",
    "load_dataset",
    "dataset_names",
    "dataset_options",
]

_INT = (int,)
_OPT_INT = (int, NoneType)
_FLOAT = (float, int)
_OPT_FLOAT = (float, int, NoneType)
_STR = (str,)
_BOOL = (bool,)


@dataclass(frozen=True)
class _Loader:
    function: Callable[..., DatasetSplits]
    options: dict[str, tuple[type, ...]]
    fixed: dict = field(default_factory=dict)
    uses_root: bool = True
    description: str = ""


_TEXT = {"max_vocab": _OPT_INT, "min_count": _INT, "max_len": _OPT_INT, "lowercase": _BOOL, "download": _BOOL}
_DOCS = {
    "max_len": _OPT_INT,
    "max_vocab": _OPT_INT,
    "min_count": _INT,
    "valid_fraction": _FLOAT,
    "split_seed": _INT,
    "download": _BOOL,
}
_IMAGES = {
    "layout": _STR,
    "permute": _BOOL,
    "permutation_seed": _INT,
    "normalize": _BOOL,
    "valid_size": _INT,
    "split_seed": _OPT_INT,
    "from_test_set": _BOOL,
    "download": _BOOL,
}
_SPLIT_SIZES = {"num_valid": _OPT_INT, "num_test": _OPT_INT}

_LOADERS: dict[str, _Loader] = {
    **{
        n: _Loader(
            polyphonic_dataset,
            {"source": _STR, "download": _BOOL},
            {"name": n},
            description="88-key piano roll, next-frame prediction (Bernoulli)",
        )
        for n in POLYPHONIC_NAMES
    },
    "ptb_word": _Loader(
        ptb_dataset,
        {"seq_len": _OPT_INT, "stateful": _BOOL, "random_offset": _BOOL, "download": _BOOL},
        {"level": "word"},
        description="word-level PTB language model",
    ),
    "ptb_char": _Loader(
        ptb_dataset,
        {"seq_len": _OPT_INT, "stateful": _BOOL, "random_offset": _BOOL, "download": _BOOL},
        {"level": "char"},
        description="character-level PTB language model",
    ),
    **{
        n: _Loader(
            sentence_dataset,
            {
                "fold": _OPT_INT,
                "num_folds": _OPT_INT,
                "split_seed": _INT,
                "valid_fraction": _OPT_FLOAT,
                **_TEXT,
            },
            {"name": n},
            description="sentence classification, seeded k-fold cross-validation",
        )
        for n in ("mr", "subj", "mpqa", "cr")
    },
    "trec": _Loader(
        sentence_dataset,
        {"split_seed": _INT, "valid_fraction": _OPT_FLOAT, **_TEXT},
        {"name": "trec"},
        description="question classification, standard train/test",
    ),
    **{
        n: _Loader(
            sentence_dataset,
            dict(_TEXT),
            {"name": n},
            description="sentiment treebank sentences, standard train/dev/test",
        )
        for n in ("sst1", "sst2")
    },
    "imdb": _Loader(imdb_dataset, dict(_DOCS), description="IMDb review sentiment"),
    "ag_news": _Loader(ag_news_dataset, dict(_DOCS), description="AG News topic classification"),
    "mnist": _Loader(mnist_dataset, dict(_IMAGES), {"name": "mnist"}, description="sequential MNIST"),
    "pmnist": _Loader(
        mnist_dataset,
        {k: v for k, v in _IMAGES.items() if k != "permute"},
        {"name": "mnist", "permute": True},
        description="permuted sequential MNIST",
    ),
    "fashion_mnist": _Loader(
        mnist_dataset, dict(_IMAGES), {"name": "fashion_mnist"}, description="sequential Fashion-MNIST"
    ),
    "adding_problem": _Loader(
        adding_problem,
        {"num_sequences": _INT, "seq_len": _INT, "seed": _INT, **_SPLIT_SIZES},
        uses_root=False,
        description="synthetic adding problem (Normal)",
    ),
    "copy_task": _Loader(
        copy_task,
        {
            "num_sequences": _INT,
            "delay": _INT,
            "num_symbols": _INT,
            "seed": _INT,
            "copy_len": _INT,
            **_SPLIT_SIZES,
        },
        uses_root=False,
        description="synthetic copying memory task",
    ),
    "sparse_signal": _Loader(
        sparse_signal,
        {
            "num_sequences": _INT,
            "seq_len": _INT,
            "num_features": _INT,
            "num_relevant": _INT,
            "seed": _INT,
            "num_classes": _INT,
            **_SPLIT_SIZES,
        },
        uses_root=False,
        description="synthetic classification with known relevant features",
    ),
}


def dataset_names() -> tuple[str, ...]:
    """Every name :func:`load_dataset` accepts."""
    return tuple(_LOADERS)


def dataset_options(name: str) -> dict[str, str]:
    """``{option: accepted type(s)}`` for dataset ``name``."""
    loader = _get(name)
    return {
        k: " | ".join("None" if t is NoneType else t.__name__ for t in types)
        for k, types in loader.options.items()
    }


def _get(name: str) -> _Loader:
    if not isinstance(name, str) or name not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(_LOADERS)}")
    return _LOADERS[name]


def _type_ok(value, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


def load_dataset(name: str, root: str | os.PathLike | None = None, **options) -> DatasetSplits:
    """Load dataset ``name`` (see :func:`dataset_names`) with the given options.

    Options are plain ints, floats, strings and bools (``None`` where noted); an unknown option
    or a value of the wrong type raises ``ValueError`` listing the valid options of that dataset.
    Synthetic datasets ignore ``root``.
    """
    loader = _get(name)
    unknown = sorted(set(options) - set(loader.options))
    valid = ", ".join(f"{k} ({t})" for k, t in dataset_options(name).items())
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for dataset {name!r}; valid options: {valid}"
        )
    for k, v in options.items():
        if not _type_ok(v, loader.options[k]):
            raise ValueError(
                f"option {k}={v!r} for dataset {name!r} has the wrong type; "
                f"expected {dataset_options(name)[k]}"
            )
    if loader.uses_root:
        return loader.function(root=root, **loader.fixed, **options)
    return loader.function(**loader.fixed, **options)
