"""KL-weight annealing and learning-rate schedules.

KL annealing multiplies the KL term of the ELBO by a weight that depends on training progress
(in epochs, fractional within an epoch); it is applied to the latent sites of model and guide by
:class:`~probgates.infer.kl_scale.LatentScaleMessenger`.

Learning-rate schedules are stepped once per epoch with the validation metric; their state is a
plain dict so that checkpoints load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# ----------------------------------------------------------------------------- KL annealing


@dataclass(frozen=True)
class KLAnnealing:
    """The KL weight at a point of training: ``weight * ramp(progress)``.

    Kinds:
        ``"none"``: ``ramp = 1``.
        ``"linear"``: rises linearly from ``start`` at epoch ``delay`` to 1 at ``delay + epochs``
            (the DMM example's schedule with ``start = 0.2``).
        ``"logistic"``: ``1 / (1 + exp(-steepness * (progress - midpoint)))`` (the BetaLSTM
            code's ``kl_anneal_function`` with ``steepness = 0.2``, ``midpoint = 50``).
    """

    kind: str = "none"
    weight: float = 1.0
    start: float = 0.0
    delay: float = 0.0
    epochs: float = 10.0
    steepness: float = 0.2
    midpoint: float = 50.0

    KINDS = ("none", "linear", "logistic")

    def __post_init__(self):
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown KL annealing kind {self.kind!r}; valid: {', '.join(self.KINDS)}")
        if not self.weight >= 0:
            raise ValueError(f"KL weight must be >= 0, got {self.weight}")
        if not 0 <= self.start <= 1:
            raise ValueError(f"KL annealing start must lie in [0, 1], got {self.start}")
        if self.kind == "linear" and not self.epochs > 0:
            raise ValueError(f"linear KL annealing needs epochs > 0, got {self.epochs}")

    def __call__(self, progress: float) -> float:
        if self.kind == "linear":
            ramp = self.start + (1 - self.start) * (progress - self.delay) / self.epochs
            ramp = min(1.0, max(self.start, ramp))
        elif self.kind == "logistic":
            ramp = 1.0 / (1.0 + math.exp(-self.steepness * (progress - self.midpoint)))
        else:
            ramp = 1.0
        return self.weight * ramp


# ----------------------------------------------------------------------------- learning rates


class LRSchedule:
    """Base class: ``step(epoch, metric)`` returns the learning rate for the next epoch.

    A checkpoint keeps only what the schedule has learned (``STATE``: the current lr and, for a
    plateau rule, its history); its settings (gamma, factor, ...) come from the config, so that a
    resumed run may change them, or the kind of schedule, and continue from the current lr.
    """

    STATE: tuple[str, ...] = ("lr",)

    def __init__(self, lr: float):
        if not lr > 0:
            raise ValueError(f"learning rate must be > 0, got {lr}")
        self.lr = float(lr)

    def step(self, epoch: int, metric: float) -> float:
        return self.lr

    def state_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.STATE}

    def load_state_dict(self, state: dict) -> None:
        for k in self.STATE:
            if k in state:
                setattr(self, k, state[k])


class ConstantLR(LRSchedule):
    """The same learning rate throughout."""


class ExponentialLR(LRSchedule):
    """``lr <- gamma * lr`` at the end of every epoch ``e >= after_epoch`` (epochs count from 1, so
    0 and 1 both decay from the first epoch on; 102: epoch 103 is the first with a decayed lr)."""

    def __init__(self, lr: float, gamma: float = 0.95, after_epoch: int = 0):
        super().__init__(lr)
        if not 0 < gamma <= 1:
            raise ValueError(f"exponential lr_schedule gamma must lie in (0, 1], got {gamma}")
        if after_epoch < 0:
            raise ValueError(f"lr_schedule after_epoch must be >= 0, got {after_epoch}")
        self.gamma, self.after_epoch = gamma, after_epoch

    def step(self, epoch, metric):
        if epoch >= self.after_epoch:
            self.lr *= self.gamma
        return self.lr


class ReduceOnPlateau(LRSchedule):
    """``lr <- factor * lr`` when the monitored metric has not improved for ``patience`` epochs.

    Two rules:
        ``"patience"`` (as ``torch.optim.lr_scheduler.ReduceLROnPlateau``): no improvement on the
            best value for ``patience`` epochs.
        ``"recent"`` (the BetaLSTM/TCN music scripts): after epoch ``after_epoch``, the metric is
            worse than every one of the previous ``patience`` epochs (``factor = 1 / 1.2`` there).
    ``mode`` is ``"min"`` (losses) or ``"max"`` (accuracies).
    """

    RULES = ("patience", "recent")
    STATE = ("lr", "history", "best", "bad_epochs")

    def __init__(self, lr, factor=0.5, patience=3, rule="patience", after_epoch=0, min_lr=0.0, mode="min"):
        super().__init__(lr)
        if not 0 < factor < 1:
            raise ValueError(f"plateau lr_schedule factor must lie in (0, 1), got {factor}")
        if patience < 1:
            raise ValueError(f"plateau lr_schedule patience must be >= 1, got {patience}")
        if rule not in self.RULES:
            raise ValueError(f"unknown plateau rule {rule!r}; valid: {', '.join(self.RULES)}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.factor, self.patience, self.rule = factor, patience, rule
        self.after_epoch, self.min_lr, self.mode = after_epoch, min_lr, mode
        self.history: list[float] = []
        self.best = None
        self.bad_epochs = 0

    def _worse(self, a: float, b: float) -> bool:
        return a > b if self.mode == "min" else a < b

    def step(self, epoch, metric):
        reduce = False
        if self.rule == "recent":
            recent = self.history[-self.patience :]
            reduce = (
                epoch >= self.after_epoch
                and len(recent) == self.patience
                and all(self._worse(metric, m) for m in recent)
            )
            self.history.append(metric)
        else:
            if self.best is None or self._worse(self.best, metric):
                self.best, self.bad_epochs = metric, 0
            else:
                self.bad_epochs += 1
            if epoch >= self.after_epoch and self.bad_epochs >= self.patience:
                reduce, self.bad_epochs = True, 0
        if reduce:
            self.lr = max(self.min_lr, self.lr * self.factor)
        return self.lr


@dataclass(frozen=True)
class LRScheduleConfig:
    """Which learning-rate schedule to use and its settings (unused settings are ignored).

    ``kind``: ``"constant"``, ``"exponential"`` (uses ``gamma`` and ``after_epoch``; see
    :class:`ExponentialLR`) or ``"plateau"`` (uses ``factor``, ``patience``, ``rule``,
    ``after_epoch``, ``min_lr``; see :class:`ReduceOnPlateau`).
    """

    kind: str = "constant"
    gamma: float = 0.95
    factor: float = 0.5
    patience: int = 3
    rule: str = "patience"
    after_epoch: int = 0
    min_lr: float = 0.0

    KINDS = ("constant", "exponential", "plateau")

    def __post_init__(self):
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown lr_schedule kind {self.kind!r}; valid: {', '.join(self.KINDS)}")
        # Build once so that bad settings are rejected when the spec is read.
        self.build(1.0)

    def build(self, lr: float, mode: str = "min") -> LRSchedule:
        if self.kind == "exponential":
            return ExponentialLR(lr, self.gamma, self.after_epoch)
        if self.kind == "plateau":
            return ReduceOnPlateau(
                lr, self.factor, self.patience, self.rule, self.after_epoch, self.min_lr, mode
            )
        return ConstantLR(lr)
