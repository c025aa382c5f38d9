"""Synthetic sequence tasks with known ground truth, generated deterministically from a seed.

* :func:`adding_problem`: two input channels (values in [0, 1), and a 0/1 marker on exactly two
  steps, one in each half); the target is the sum of the two marked values (Normal likelihood).
* :func:`copy_task`: ``copy_len`` symbols, ``delay - 1`` blanks, a delimiter, ``copy_len`` blanks;
  the model must output blanks and then reproduce the symbols (per-step categorical targets).
* :func:`sparse_signal`: sequences of ``num_features`` Gaussian features of which only
  ``num_relevant`` (``info["relevant_features"]``) decide the class, through
  :func:`sparse_signal_labels` (a linear score of their time average), each with a weight of
  comparable size, so a model that sparsifies its inputs should keep exactly those.

Every generator draws all sequences from one ``torch.Generator`` seeded with ``seed``, then cuts
them into train / valid / test (the last ``num_valid + num_test`` sequences). ``num_sequences``
is the total; ``num_valid`` / ``num_test`` default to 10 % of it each.
"""

from __future__ import annotations

import torch
from torch import Tensor

from probgates.data.batching import DatasetSplits, SequenceDataset


def _sizes(num_sequences: int, num_valid: int | None, num_test: int | None) -> tuple[int, int, int]:
    num_valid = num_sequences // 10 if num_valid is None else int(num_valid)
    num_test = num_sequences // 10 if num_test is None else int(num_test)
    if num_valid < 0 or num_test < 0:
        raise ValueError("num_valid and num_test must be >= 0")
    num_train = num_sequences - num_valid - num_test
    if num_train < 1:
        raise ValueError(
            f"num_sequences={num_sequences} leaves no training sequences after "
            f"num_valid={num_valid} and num_test={num_test}"
        )
    return num_train, num_valid, num_test


def _split(
    name: str, inputs: Tensor, targets: Tensor, sizes: tuple[int, int, int], per_step: bool, info: dict
) -> DatasetSplits:
    parts = []
    start = 0
    for split, n in zip(("train", "valid", "test"), sizes, strict=True):
        if n == 0:
            parts.append(None)
            continue
        x, y = inputs[start : start + n], targets[start : start + n]
        parts.append(
            SequenceDataset(list(x.unbind(0)), list(y.unbind(0)) if per_step else y, name=f"{name}/{split}")
        )
        start += n
    info = {"name": name, "sizes": dict(zip(("train", "valid", "test"), sizes, strict=True)), **info}
    return DatasetSplits(parts[0], parts[1], parts[2], info)


def adding_problem(
    num_sequences: int = 10000,
    seq_len: int = 100,
    seed: int = 0,
    *,
    num_valid: int | None = None,
    num_test: int | None = None,
    dtype: torch.dtype | None = None,
) -> DatasetSplits:
    """The adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015 formulation).

    Inputs ``[seq_len, 2]``: channel 0 holds values drawn uniformly from [0, 1); channel 1 is 1 at
    one step drawn from the first half and one from the second half, else 0. Target (one per
    sequence): the sum of the two marked values. ``info["marker_positions"]`` (``[N, 2]``) gives the
    marked steps; a constant prediction of 1 has mean squared error about 1/6.
    """
    if seq_len < 2:
        raise ValueError(f"seq_len must be >= 2, got {seq_len}")
    sizes = _sizes(num_sequences, num_valid, num_test)
    dtype = dtype or torch.get_default_dtype()
    g = torch.Generator().manual_seed(seed)
    values = torch.rand(num_sequences, seq_len, generator=g, dtype=torch.float64)
    half = seq_len // 2
    first = torch.randint(0, half, (num_sequences,), generator=g)
    second = torch.randint(half, seq_len, (num_sequences,), generator=g)
    positions = torch.stack([first, second], dim=1)
    markers = torch.zeros(num_sequences, seq_len, dtype=torch.float64)
    markers.scatter_(1, positions, 1.0)
    targets = values.gather(1, positions).sum(1)
    inputs = torch.stack([values, markers], dim=-1).to(dtype)
    info = {
        "task": "regression",
        "likelihood": "normal",
        "input_dim": 2,
        "output_dim": 1,
        "seq_len": seq_len,
        "seed": seed,
        "marker_positions": positions,
    }
    return _split("adding_problem", inputs, targets.to(dtype), sizes, per_step=False, info=info)


def copy_task(
    num_sequences: int = 10000,
    delay: int = 100,
    num_symbols: int = 8,
    seed: int = 0,
    *,
    copy_len: int = 10,
    num_valid: int | None = None,
    num_test: int | None = None,
) -> DatasetSplits:
    """The copying memory task (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016 formulation).

    Token ids: 0 = blank, 1..num_symbols = data symbols, ``num_symbols + 1`` = delimiter. Each input
    sequence (length ``delay + 2 * copy_len``) is ``copy_len`` random symbols, ``delay - 1`` blanks,
    the delimiter, then ``copy_len`` blanks; its target is blank for the first ``delay + copy_len``
    steps and then the ``copy_len`` symbols. A model that outputs blanks and then uniform guesses
    has cross-entropy ``copy_len * log(num_symbols) / (delay + 2 * copy_len)`` per step.
    """
    if delay < 1 or copy_len < 1 or num_symbols < 1:
        raise ValueError("delay, copy_len and num_symbols must be >= 1")
    sizes = _sizes(num_sequences, num_valid, num_test)
    g = torch.Generator().manual_seed(seed)
    T = delay + 2 * copy_len
    delimiter = num_symbols + 1
    symbols = torch.randint(1, num_symbols + 1, (num_sequences, copy_len), generator=g)
    inputs = torch.zeros(num_sequences, T, dtype=torch.long)
    inputs[:, :copy_len] = symbols
    inputs[:, copy_len + delay - 1] = delimiter
    targets = torch.zeros(num_sequences, T, dtype=torch.long)
    targets[:, delay + copy_len :] = symbols
    info = {
        "task": "sequence_labelling",
        "likelihood": "categorical",
        "vocab_size": num_symbols + 2,
        "num_classes": num_symbols + 2,
        "blank_id": 0,
        "delimiter_id": delimiter,
        "delay": delay,
        "copy_len": copy_len,
        "num_symbols": num_symbols,
        "seq_len": T,
        "seed": seed,
        "baseline_cross_entropy": copy_len * torch.log(torch.tensor(float(num_symbols))).item() / T,
    }
    return _split("copy_task", inputs, targets, sizes, per_step=True, info=info)


def sparse_signal_labels(
    inputs: Tensor, relevant_features: Tensor | list[int], class_weights: Tensor
) -> Tensor:
    """The ground-truth class of ``inputs`` ``[N, T, D]``: ``argmax_c  w_c · mean_t x_t[relevant]``.

    Only the columns in ``relevant_features`` are read, so the label is a function of them alone.
    """
    idx = torch.as_tensor(relevant_features, dtype=torch.long)
    summary = inputs[..., idx].to(class_weights.dtype).mean(dim=-2)  # [N, R]
    return (summary @ class_weights.T).argmax(dim=-1)


def _class_weights(num_classes: int, num_relevant: int, generator: torch.Generator) -> Tensor:
    """Class weights ``[num_classes, num_relevant]`` under which every relevant feature matters.

    Adding the same number to a feature's weight in every class leaves every label unchanged, so
    a feature's influence is the spread of its column about the class mean. Gaussian columns
    would make some nearly constant (two classes: ``w_1 - w_0`` close to 0), i.e. features that are
    "relevant" by construction yet decide almost no label. Each column is therefore centered and
    rescaled to a norm drawn uniformly from [0.5, 1]: directions stay random, and no relevant
    feature has less than half the influence of another.
    """
    raw = torch.randn(num_classes, num_relevant, generator=generator, dtype=torch.float64)
    centered = raw - raw.mean(dim=0)
    norm = 0.5 + 0.5 * torch.rand(num_relevant, generator=generator, dtype=torch.float64)
    return centered / centered.norm(dim=0) * norm


def sparse_signal(
    num_sequences: int = 2000,
    seq_len: int = 20,
    num_features: int = 20,
    num_relevant: int = 4,
    seed: int = 0,
    *,
    num_classes: int = 2,
    num_valid: int | None = None,
    num_test: int | None = None,
    dtype: torch.dtype | None = None,
) -> DatasetSplits:
    """Sequence classification in which only a known subset of the input features matters.

    Inputs ``[seq_len, num_features]`` are standard-normal. ``num_relevant`` feature indices
    (``info["relevant_features"]``, sorted) and class weights ``[num_classes, num_relevant]``
    (``info["class_weights"]``, see :func:`_class_weights`: every relevant feature moves the class
    scores by a comparable amount) are drawn from the seed; the label is
    :func:`sparse_signal_labels` (deterministic, noise-free, a function of the relevant features
    only). The other ``num_features - num_relevant`` features are pure noise.
    """
    if not 1 <= num_relevant <= num_features:
        raise ValueError(f"num_relevant must be in 1..num_features, got {num_relevant}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    sizes = _sizes(num_sequences, num_valid, num_test)
    dtype = dtype or torch.get_default_dtype()
    g = torch.Generator().manual_seed(seed)
    relevant = torch.randperm(num_features, generator=g)[:num_relevant].sort().values
    weights = _class_weights(num_classes, num_relevant, g)
    inputs = torch.randn(num_sequences, seq_len, num_features, generator=g, dtype=torch.float64).to(dtype)
    labels = sparse_signal_labels(inputs, relevant, weights)
    info = {
        "task": "classification",
        "likelihood": "categorical",
        "input_dim": num_features,
        "num_classes": num_classes,
        "seq_len": seq_len,
        "seed": seed,
        "relevant_features": relevant.tolist(),
        "class_weights": weights,
    }
    return _split("sparse_signal", inputs, labels, sizes, per_step=False, info=info)
