"""Ragged sequences, padded minibatches with masks, and dataset splits.

Every loader in :mod:`probgates.data` returns a :class:`DatasetSplits` whose parts are
:class:`SequenceDataset` objects; the trainer only ever sees :class:`SequenceBatch` objects.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from probgates.data.errors import DataError


@dataclass(frozen=True)
class SequenceBatch:
    """A padded minibatch of B sequences of at most T steps.

    Attributes:
        inputs: ``[B, T, D]`` float features or ``[B, T]`` integer token ids; zero past each length.
        targets: ``[B, T, ...]`` per-step targets (same padding as ``inputs``) or ``[B]`` labels.
        mask: ``[B, T]`` bool, True at real (non-padded) time steps.
        lengths: ``[B]`` number of real steps of each sequence.
        index: ``[B]`` position of each sequence in its dataset (a plate's ``subsample``).
    """

    inputs: Tensor
    targets: Tensor
    mask: Tensor
    lengths: Tensor
    index: Tensor

    @property
    def batch_size(self) -> int:
        return self.inputs.shape[0]

    def check_inputs(self, input_dim: int | None) -> None:
        """Raise ValueError unless the inputs are ``[B, T, input_dim]`` frames (or, with
        ``input_dim=None``, ``[B, T]`` integer token ids), saying what was expected and what came."""
        if input_dim is not None:
            if self.inputs.dim() != 3 or self.inputs.shape[-1] != input_dim:
                shape = tuple(self.inputs.shape)
                raise ValueError(f"expected input frames of shape [batch, time, {input_dim}], got {shape}")
        elif self.inputs.dim() != 2 or self.inputs.is_floating_point():
            raise ValueError(f"expected token ids of shape [batch, time], got {tuple(self.inputs.shape)}")

    @property
    def per_step_targets(self) -> bool:
        return self.targets.dim() >= 2 and self.targets.shape[1] == self.mask.shape[1]

    def to(self, dtype: torch.dtype | None = None, device: torch.device | str | None = None):
        """Move to ``device``; cast floating-point inputs and targets to ``dtype``."""

        def move(t: Tensor) -> Tensor:
            if dtype is not None and t.is_floating_point():
                t = t.to(dtype)
            return t if device is None else t.to(device)

        return SequenceBatch(
            move(self.inputs),
            move(self.targets),
            self.mask.to(device or self.mask.device),
            self.lengths.to(device or self.lengths.device),
            self.index.to(device or self.index.device),
        )


def pad_sequences(sequences: Sequence[Tensor], padding_value: float = 0) -> tuple[Tensor, Tensor]:
    """Stack ragged ``[T_i, ...]`` tensors into ``[B, max T, ...]``; return it with the ``[B, T]`` mask."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    padded = torch.nn.utils.rnn.pad_sequence(list(sequences), batch_first=True, padding_value=padding_value)
    mask = torch.arange(padded.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
    return padded, mask


class SequenceDataset:
    """A list of variable-length input sequences with per-step or per-sequence targets.

    Args:
        inputs: one ``[T_i, D]`` float tensor or ``[T_i]`` integer tensor per sequence.
        targets: per-step targets (one tensor per sequence with the same length as its input)
            or per-sequence labels (a 1-D tensor with one entry per sequence).
        name: a label used in error messages, such as ``"jsb_chorales/train"``.
    """

    def __init__(self, inputs: Sequence[Tensor], targets: Sequence[Tensor] | Tensor, *, name: str):
        self.name = name
        self.inputs = list(inputs)
        self.per_step = not isinstance(targets, Tensor)
        self.targets = list(targets) if self.per_step else targets
        if len(self.inputs) == 0:
            raise DataError(f"dataset {name!r} holds no sequences")
        if len(self.targets) != len(self.inputs):
            raise DataError(
                f"dataset {name!r}: {len(self.inputs)} input sequences but {len(self.targets)} targets"
            )
        for i, x in enumerate(self.inputs):
            if len(x) == 0:
                raise DataError(f"dataset {name!r}: sequence {i} is empty")
            if self.per_step and len(self.targets[i]) != len(x):
                targets = len(self.targets[i])
                raise DataError(
                    f"dataset {name!r}: sequence {i} has {len(x)} input steps but {targets} targets"
                )

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.inputs[i], self.targets[i]

    @property
    def num_steps(self) -> int:
        """Total number of real time steps (frames, tokens) over all sequences."""
        return sum(len(x) for x in self.inputs)

    def batch(self, indices: Sequence[int] | Tensor) -> SequenceBatch:
        """The padded minibatch of the sequences at ``indices`` (``0 <= i < len(self)``)."""
        index = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
        positions = index.tolist()
        bad = [i for i in positions if not 0 <= i < len(self)]
        if bad:
            raise IndexError(
                f"dataset {self.name!r} has {len(self)} sequences (indices 0..{len(self) - 1}); "
                f"asked for {', '.join(map(str, bad[:5]))}{' ...' if len(bad) > 5 else ''}"
            )
        inputs, mask = pad_sequences([self.inputs[i] for i in positions])
        if self.per_step:
            targets, _ = pad_sequences([self.targets[i] for i in positions])
        else:
            targets = self.targets[index]
        return SequenceBatch(inputs, targets, mask, mask.sum(1), index)

    def num_batches(self, batch_size: int, drop_last: bool = False) -> int:
        full, rest = divmod(len(self), batch_size)
        return full + (0 if drop_last or rest == 0 else 1)

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> Iterator[SequenceBatch]:
        """Yield padded minibatches; with ``shuffle`` the order comes from ``generator``."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        order = torch.randperm(len(self), generator=generator) if shuffle else torch.arange(len(self))
        for b in range(self.num_batches(batch_size, drop_last)):
            yield self.batch(order[b * batch_size : (b + 1) * batch_size])


@dataclass
class DatasetSplits:
    """The splits of one dataset and what a model needs to know about it.

    ``info`` holds at least ``likelihood`` (``"bernoulli"`` for multi-label frames such as piano
    rolls, ``"categorical"`` for class labels or next tokens, ``"normal"`` for real targets) and
    either ``input_dim`` (float features) or ``vocab_size`` (token ids); classification sets add
    ``num_classes`` and language-model sets add the vocabulary itself.
    """

    train: SequenceDataset
    valid: SequenceDataset | None = None
    test: SequenceDataset | None = None
    info: dict = field(default_factory=dict)

    def split(self, name: str) -> SequenceDataset:
        part = getattr(self, name, None) if name in ("train", "valid", "test") else None
        if part is None:
            available = [s for s in ("train", "valid", "test") if getattr(self, s) is not None]
            raise DataError(f"dataset has no split {name!r}; available: {', '.join(available)}")
        return part
