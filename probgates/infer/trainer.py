"""Stochastic variational inference for probgates models, with checkpoints and exact resume.

A trainable model is a :class:`~pyro.nn.PyroModule` with three methods (see
:class:`probgates.tasks.SequenceModel`):

* ``model(batch, num_data)`` and ``guide(batch, num_data)``: a Pyro model/guide pair over one
  :class:`~probgates.data.SequenceBatch`; the batch lives in a plate of size ``num_data`` so that
  the likelihood is scaled to the training set and the KL of global latents counts once;
* ``evaluate(batch)``: a dict of summed metrics over the batch plus ``"count"``.

A module may also have ``epoch_summary()``, a dict of numbers that goes into every epoch's record
(``metrics.jsonl``); the sparse models report their structure there (compression, neurons and
non-constant gates kept), so that a run shows how it sparsifies while it trains.

Stateful truncated BPTT (reference §7, word-PTB): when the training split says ``stateful = True``
(its batches are consecutive windows of parallel streams, e.g. PTB with ``stateful = true`` in the
data options), the module must have ``carries_state = True``: ``model``, ``guide`` and
``evaluate`` then also take ``state=`` (the initial recurrent state, None = zeros) and leave the
detached state after the batch in ``module.final_state``. The trainer passes each update's final
state to the next one (:attr:`Trainer.state`), starts every epoch and every evaluation from zeros,
and keeps the state in its checkpoints, so that a run resumed mid-epoch continues it exactly.
Other modules and data are untouched: no ``state`` is ever passed to them.

The trainer owns the global param store: it clears it when a fit starts or resumes, and restores
PyroModule weights from its checkpoints. The KL weight (with annealing) is applied to the latent
sites of model and guide by :class:`~probgates.infer.kl_scale.LatentScaleMessenger`.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import pyro
import pyro.optim
import torch
from pyro import poutine
from tqdm.auto import tqdm

from probgates.data.batching import DatasetSplits, SequenceDataset
from probgates.infer.elbo import ELBOS, make_elbo
from probgates.infer.kl_scale import scale_latents
from probgates.infer.run_dir import RunDirectory
from probgates.infer.schedules import KLAnnealing, LRScheduleConfig
from probgates.infer.selection import RecordCondition, parse_conditions

OPTIMIZERS = {"adam": pyro.optim.Adam, "clipped_adam": pyro.optim.ClippedAdam}
#: Seconds between progress-bar updates when stderr is not a terminal (a log file).
LOG_PROGRESS_INTERVAL_S = 60.0


class NonFiniteLossError(RuntimeError):
    """The loss or its gradient became NaN or infinite; training stopped before the update."""


class TrainingInterrupted(RuntimeError):
    """Training was interrupted (Ctrl-C); a checkpoint to resume from was written."""


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one SVI training run (the ``[train]`` table of a spec).

    Attributes:
        epochs: passes over the training set.
        batch_size: sequences per update (1 = the BetaLSTM paper code's protocol).
        eval_batch_size: sequences per evaluation batch.
        optimizer: ``"adam"`` or ``"clipped_adam"`` (Pyro's, with per-parameter clipping).
        lr: initial learning rate.
        weight_decay: L2 penalty of the optimizer.
        clip_norm: clip the global gradient norm to this value after ``backward`` (0: off).
        lr_schedule: the learning-rate schedule, stepped once per epoch on the monitored metric.
        kl: the KL weight and its annealing schedule.
        elbo: ``"mean_field"`` (``TraceMeanField_ELBO``, analytic KL) or ``"trace"`` (``Trace_ELBO``).
        num_particles: samples per ELBO estimate.
        monitor: the validation metric for best-checkpoint tracking, the plateau schedule and
            early stopping (empty: the model's default).
        early_stopping: stop after this many epochs without improvement (0: off).
        reload_best: evaluate the best-validation weights at the end (else the last ones).
        best_if: conditions on the epoch record (``"KEY OP NUMBER"``, e.g. ``"hidden_kept <= 16"``,
            see :mod:`probgates.infer.selection`) that an epoch must meet to become the best
            checkpoint: the best validation epoch within a size budget. Early stopping counts
            from the first epoch that meets them.
        seed: seeds parameters initialisation, shuffling and noise.
        progress: show a progress bar: on a terminal as usual, in a log file (stderr redirected)
            one update at most every :data:`LOG_PROGRESS_INTERVAL_S` seconds.
        device: where the model trains and evaluates: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or
            ``"auto"`` (CUDA when available). Checkpoints load on any device.
        time_limit: stop at the end of the first epoch after which the run's training time (over
            all resumes) reaches this many seconds (0: off); ``--resume`` with a larger limit or more
            epochs continues it.
    """

    epochs: int = 10
    batch_size: int = 32
    eval_batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    clip_norm: float = 0.0
    lr_schedule: LRScheduleConfig = field(default_factory=LRScheduleConfig)
    kl: KLAnnealing = field(default_factory=KLAnnealing)
    elbo: str = "mean_field"
    num_particles: int = 1
    monitor: str = ""
    early_stopping: int = 0
    reload_best: bool = True
    best_if: list[str] = field(default_factory=list)
    seed: int = 0
    progress: bool = True
    device: str = "cpu"
    time_limit: float = 0.0

    def __post_init__(self):
        for name in ("epochs", "batch_size", "eval_batch_size", "num_particles"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("weight_decay", "clip_norm", "early_stopping", "time_limit"):
            if getattr(self, name) < 0:
                raise ValueError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"train.lr must be > 0, got {self.lr}")
        for condition in self.best_if:
            RecordCondition.parse(condition)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown train.optimizer {self.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
        if self.elbo not in ELBOS:
            raise ValueError(f"unknown train.elbo {self.elbo!r}; valid: {', '.join(ELBOS)}")
        if self.device != "auto":
            try:
                kind = torch.device(self.device).type
            except RuntimeError:
                kind = None
            if kind not in ("cpu", "cuda"):
                raise ValueError(f"unknown train.device {self.device!r}; valid: cpu, cuda, cuda:N, auto")


def resolve_device(name: str) -> torch.device:
    """The device that ``train.device`` names (``"auto"``: CUDA when available); a CUDA device that
    this machine does not have is an error, not a silent fall-back to the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"train.device = {name!r}, but no CUDA device is available; use 'cpu' or 'auto'")
        if device.index is not None and device.index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise ValueError(f"train.device = {name!r}, but this machine has {count} CUDA devices")
    return device


def _mean(sums: dict[str, float]) -> dict[str, float]:
    count = sums.get("count", 0)
    return {k: v / count for k, v in sums.items() if k != "count"} if count else {}


def is_stateful(dataset: SequenceDataset) -> bool:
    """True for data whose batches continue each other row by row (the state is carried)."""
    return getattr(dataset, "stateful", False)


def evaluate_dataset(
    module: torch.nn.Module, dataset: SequenceDataset, batch_size: int, device: torch.device | None = None
) -> dict[str, float]:
    """``module.evaluate`` summed over ``dataset`` and divided by the count (no mode change); the
    batches are moved to ``device`` first (None: left where they are).

    On stateful data the recurrent state runs from zeros through the consecutive batches, the
    standard PTB perplexity evaluation (reference §7, word-PTB).
    """
    stateful = is_stateful(dataset)
    sums: dict[str, float] = {}
    state = None
    for batch in dataset.batches(batch_size):
        batch = batch.to(device=device)
        metrics = module.evaluate(batch, state=state) if stateful else module.evaluate(batch)
        if stateful:
            state = module.final_state
        for key, value in metrics.items():
            sums[key] = sums.get(key, 0.0) + float(value)
    return _mean(sums)


def _to_device(state, device: torch.device):
    """A recurrent state (None, a tensor or a tuple of them) on ``device``."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.to(device)
    return type(state)(_to_device(s, device) for s in state)


def _check_stateful(module: torch.nn.Module, data: DatasetSplits, config: TrainConfig) -> None:
    """Before training on stateful data: the module carries state and every split can be batchified."""
    if not getattr(module, "carries_state", False):
        raise ValueError(
            f"dataset {data.train.name!r} is stateful (consecutive BPTT windows, the state carried "
            f"across batches) but {type(module).__name__} does not carry a recurrent state; "
            "use a sparse model (model.sparse) or set data.options.stateful = false"
        )
    for name in ("train", "valid", "test"):  # a stream too short for its batch size: DataError now
        split = getattr(data, name)
        if split is not None:
            split.num_batches(config.batch_size if name == "train" else config.eval_batch_size)


class Trainer:
    """Fit a model/guide pair by SVI on a :class:`~probgates.data.DatasetSplits`.

    Args:
        module: the PyroModule with ``model``, ``guide`` and ``evaluate`` (see module docstring).
        data: the splits; ``valid`` is used for model selection, ``test`` by :meth:`final_results`.
        config: the training settings.
        run_dir: where metrics, checkpoints and results go (None: keep nothing on disk).
    """

    def __init__(
        self,
        module: torch.nn.Module,
        data: DatasetSplits,
        config: TrainConfig,
        run_dir: str | RunDirectory | None = None,
    ):
        self.device = resolve_device(config.device)
        self.module = module.to(self.device)
        self.data = data
        self.config = config
        self.run = (
            None
            if run_dir is None
            else (run_dir if isinstance(run_dir, RunDirectory) else RunDirectory(run_dir)).create()
        )
        self.stateful = is_stateful(data.train)
        if self.stateful:
            _check_stateful(module, data, config)
        self.monitor = config.monitor or getattr(module, "monitor", "nll")
        self.monitor_mode = getattr(module, "monitor_modes", {}).get(self.monitor, "min")
        self.best_if = parse_conditions(config.best_if, self._record_keys()) if config.best_if else []
        self.elbo = make_elbo(config.elbo, config.num_particles)
        self.lr_schedule = config.lr_schedule.build(config.lr, self.monitor_mode)
        self.optim = OPTIMIZERS[config.optimizer](self._optim_args)
        self._stop_requested = False
        self._reset_progress()

    def _record_keys(self) -> set[str]:
        """The keys that each epoch record will have that ``best_if`` may test."""
        keys = {"epoch", "step", "lr", "kl_weight", "train_loss", "train_nll", "train_kl"}
        if self.data.valid is not None:
            keys |= {f"valid_{m}" for m in getattr(self.module, "monitor_modes", {"nll": "min"})}
        summary = getattr(self.module, "epoch_summary", None)
        return keys | (set(summary()) if summary is not None else set())

    # ------------------------------------------------------------------ state

    def _reset_progress(self):
        self.epoch = 0  # epochs finished
        self.batch_in_epoch = 0  # batches finished in the current epoch
        self.step = 0  # optimizer updates so far
        self.state = None  # recurrent state carried to the next update (stateful data)
        self.partial = {"loss": 0.0, "nll": 0.0, "kl": 0.0, "batches": 0}
        self.history: list[dict] = []
        self.best_value: float | None = None
        self.best_epoch = -1
        self.bad_epochs = 0
        self.elapsed = 0.0

    def _optim_args(self, param_name: str) -> dict:
        args = {"lr": self.lr_schedule.lr}
        if self.config.optimizer == "adam":
            # The fused kernel updates a parameter in one pass instead of one per step of Adam's
            # formula: on the CPU a quarter of the time for the 10M-weight W_x of word PTB.
            args.update(weight_decay=self.config.weight_decay, fused=True)
        elif self.config.weight_decay:
            args["weight_decay"] = self.config.weight_decay
        return args

    def _set_lr(self, lr: float) -> None:
        for optimizer in self.optim.optim_objs.values():
            for group in optimizer.param_groups:
                group["lr"] = lr

    def state_dict(self) -> dict:
        """Everything needed to continue training exactly where it stopped."""
        return {
            "module": self.module.state_dict(),
            "optimizer": self.optim.get_state(),
            "lr_schedule": self.lr_schedule.state_dict(),
            "rng_torch": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "step": self.step,
            "partial": dict(self.partial),
            "recurrent_state": self.state,
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "best_if": list(self.config.best_if),
            "elapsed": self.elapsed,
        }

    def load_module_state(self, module_state: dict) -> None:
        """Load module weights. PyroModule prefers values already in the param store over its own,
        so the store is emptied first; lazily created parameters are created by one dry run."""
        pyro.clear_param_store()
        if set(module_state) - set(self.module.state_dict()):
            self._materialize()
            pyro.clear_param_store()
        self.module.load_state_dict(module_state)

    def _materialize(self) -> None:
        """Run model and guide once so that lazily created parameters exist."""
        batch = self.data.train.batch([0]).to(device=self.device)
        with torch.no_grad(), poutine.block():
            guide_trace = poutine.trace(self.module.guide).get_trace(batch, len(self.data.train))
            poutine.replay(self.module.model, trace=guide_trace)(batch, len(self.data.train))

    def load_state_dict(self, state: dict) -> None:
        self.load_module_state(state["module"])
        self.optim.set_state(state["optimizer"])
        self.lr_schedule.load_state_dict(state["lr_schedule"])
        torch.set_rng_state(state["rng_torch"])
        if self.device.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)
        for key in ("epoch", "batch_in_epoch", "step", "best_value", "best_epoch", "bad_epochs", "elapsed"):
            setattr(self, key, state[key])
        self.partial = dict(state["partial"])
        if state.get("best_if", []) != list(self.config.best_if):
            # The best so far was chosen under other conditions: choose again from here on.
            warnings.warn(
                f"train.best_if changed since the checkpoint ({state.get('best_if', [])} -> "
                f"{list(self.config.best_if)}): the best checkpoint is chosen again from epoch "
                f"{self.epoch + 1} on",
                stacklevel=2,
            )
            self.best_value, self.best_epoch, self.bad_epochs = None, -1, 0
        self.state = _to_device(state.get("recurrent_state"), self.device)  # absent before stateful data
        self.history = self.run.read_metrics()[: self.epoch] if self.run else []

    # ------------------------------------------------------------------ one update

    def _position(self) -> str:
        return f"epoch {self.epoch + 1}, batch {self.batch_in_epoch + 1} (update {self.step + 1})"

    def update(self, batch, kl_weight: float) -> float:
        """One SVI update on ``batch`` with KL weight ``kl_weight``; returns the loss (-ELBO estimate).

        On stateful data the update starts from :attr:`state` and leaves the module's final state there.
        """
        num_data = len(self.data.train)
        batch = batch.to(device=self.device)
        model = scale_latents(self.module.model, kl_weight)
        guide = scale_latents(self.module.guide, kl_weight)
        carry = {"state": self.state} if self.stateful else {}
        with poutine.trace(param_only=True) as param_capture:
            try:
                loss = self.elbo.loss_and_grads(model, guide, batch, num_data, **carry)
            except ValueError as e:
                # With validation on, NaN parameters surface as invalid distribution arguments.
                bad = [n for n, p in self.module.named_parameters() if not torch.isfinite(p).all()]
                if not bad:
                    raise
                raise NonFiniteLossError(
                    f"non-finite parameters {', '.join(bad)} at {self._position()}; "
                    "the last good checkpoint was kept"
                ) from e
        params = {site["value"].unconstrained() for site in param_capture.trace.nodes.values()}
        grads = [p.grad for p in params if p.grad is not None]
        grad_norm = (
            torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
            if (grads)
            else torch.zeros((), device=self.device)
        )
        if not (math.isfinite(loss) and torch.isfinite(grad_norm)):
            pyro.infer.util.zero_grads(params)
            what = "loss" if not math.isfinite(loss) else "gradient norm"
            raise NonFiniteLossError(
                f"non-finite {what} at {self._position()}: loss={loss}, nll={self.elbo.last_parts['nll']}, "
                f"kl={self.elbo.last_parts['kl']}, gradient norm={grad_norm.item()}; "
                "the last good checkpoint was kept"
            )
        if self.config.clip_norm and grad_norm > self.config.clip_norm:
            for g in grads:
                g.mul_(self.config.clip_norm / grad_norm)
        self.optim(params)
        pyro.infer.util.zero_grads(params)
        if self.stateful:
            self.state = self.module.final_state
        return loss

    # ------------------------------------------------------------------ evaluation

    @torch.no_grad()
    def evaluate(self, split: str | SequenceDataset = "valid") -> dict[str, float]:
        """The module's metrics averaged over a split (eval mode, no gradient; a stateful split
        carries its own state from zeros, see :func:`evaluate_dataset`)."""
        dataset = self.data.split(split) if isinstance(split, str) else split
        was_training = self.module.training
        self.module.eval()
        try:
            return evaluate_dataset(self.module, dataset, self.config.eval_batch_size, self.device)
        finally:
            self.module.train(was_training)

    # ------------------------------------------------------------------ the loop

    def fit(self, resume: bool = False, on_epoch_end: Callable[[dict], None] | None = None) -> list[dict]:
        """Train for ``config.epochs`` epochs (continuing from the checkpoint with ``resume``).

        Returns the per-epoch metric records (also written to ``metrics.jsonl``). Raises
        :class:`NonFiniteLossError` or :class:`TrainingInterrupted`; in both cases the run
        directory keeps a checkpoint from which ``resume`` continues.
        """
        pyro.clear_param_store()
        if resume:
            if self.run is None:
                raise ValueError("resume needs a run directory")
            self.load_state_dict(self.run.load("checkpoint"))
        else:
            self._reset_progress()
            pyro.set_rng_seed(self.config.seed)
        with self._interrupt_handler():
            while self.epoch < self.config.epochs and not self._early_stopped() and not self._out_of_time():
                record = self._train_epoch()
                if on_epoch_end is not None:
                    on_epoch_end(record)
        return self.history

    def _early_stopped(self) -> bool:
        return bool(self.config.early_stopping) and self.bad_epochs >= self.config.early_stopping

    def _out_of_time(self) -> bool:
        return bool(self.config.time_limit) and self.elapsed >= self.config.time_limit

    def _train_epoch(self) -> dict:
        cfg, train = self.config, self.data.train
        num_batches = train.num_batches(cfg.batch_size)
        shuffle_rng = torch.Generator().manual_seed(cfg.seed * 1_000_003 + self.epoch)
        # Stateful batches continue each other and stay in order; the state starts each epoch at zero.
        batches = train.batches(cfg.batch_size, shuffle=not self.stateful, generator=shuffle_rng)
        self.module.train()
        self._set_lr(self.lr_schedule.lr)
        on_terminal = sys.stderr.isatty()
        bar = tqdm(
            total=num_batches,
            initial=self.batch_in_epoch,
            disable=not cfg.progress,
            mininterval=0.1 if on_terminal else LOG_PROGRESS_INTERVAL_S,
            # In a log file a fixed miniters: with tqdm's adaptive one (> 1 after a slow print) its
            # monitor thread forces an extra redraw 10 s (maxinterval) after each update.
            miniters=None if on_terminal else 1,
            leave=False,
            desc=f"epoch {self.epoch + 1}/{cfg.epochs}",
            unit="batch",
        )
        started = time.perf_counter()
        n = len(train)
        kl_weight = cfg.kl(self.epoch + self.batch_in_epoch / num_batches)
        for b, batch in enumerate(batches):
            if b < self.batch_in_epoch:
                continue
            kl_weight = cfg.kl(self.epoch + b / num_batches)
            loss = self.update(batch, kl_weight)
            self.step += 1
            self.batch_in_epoch = b + 1
            parts = self.elbo.last_parts
            for key, value in (("loss", loss), ("nll", parts["nll"]), ("kl", parts["kl"])):
                self.partial[key] += value / n
            self.partial["batches"] += 1
            k = self.partial["batches"]
            bar.set_postfix(
                loss=f"{self.partial['loss'] / k:.4g}",
                nll=f"{self.partial['nll'] / k:.4g}",
                kl=f"{self.partial['kl'] / k:.4g}",
                kl_w=f"{kl_weight:.3g}",
                refresh=False,  # shown by the update below (at most one per mininterval)
            )
            bar.update(1)
            if self._stop_requested:
                bar.close()
                self.elapsed += time.perf_counter() - started
                self._save_checkpoint()
                raise TrainingInterrupted(
                    f"interrupted at epoch {self.epoch + 1}, batch {b + 1}; "
                    + (f"resume with --resume from {self.run.path}" if self.run else "no run directory")
                )
        bar.close()
        self.elapsed += time.perf_counter() - started
        return self._finish_epoch(kl_weight)

    def _finish_epoch(self, kl_weight: float) -> dict:
        k = max(self.partial["batches"], 1)
        record = {
            "epoch": self.epoch + 1,
            "step": self.step,
            "lr": self.lr_schedule.lr,
            "kl_weight": kl_weight,
            "train_loss": self.partial["loss"] / k,
            "train_nll": self.partial["nll"] / k,
            "train_kl": self.partial["kl"] / k,
        }
        if self.data.valid is not None:
            record.update({f"valid_{k}": v for k, v in self.evaluate("valid").items()})
        summary = getattr(self.module, "epoch_summary", None)
        if summary is not None:  # e.g. the structure of a sparse model
            record.update(summary())
        value = record.get(f"valid_{self.monitor}", record["train_loss"])
        eligible = all(condition.holds(record) for condition in self.best_if)
        improved = eligible and (
            self.best_value is None
            or (value < self.best_value if self.monitor_mode == "min" else value > self.best_value)
        )
        if improved:
            self.best_value, self.best_epoch, self.bad_epochs = value, self.epoch + 1, 0
        elif self.best_value is not None:  # no epoch met best_if yet: early stopping waits
            self.bad_epochs += 1
        record["best_epoch"] = self.best_epoch
        record["time_s"] = round(self.elapsed, 3)
        self.history.append(record)
        self.epoch += 1
        self.batch_in_epoch = 0
        self.state = None
        self.partial = {"loss": 0.0, "nll": 0.0, "kl": 0.0, "batches": 0}
        self.lr_schedule.step(self.epoch, value)
        if self.run is not None:
            if improved:
                self.run.save(
                    {"module": self.module.state_dict(), "epoch": self.epoch, "value": value}, "best"
                )
            self.run.write_metrics(self.history)
            self._save_checkpoint()
        return record

    def _save_checkpoint(self) -> None:
        if self.run is not None:
            self.run.save(self.state_dict(), "checkpoint")

    # ------------------------------------------------------------------ final evaluation

    def final_results(self) -> dict:
        """Evaluate the best (or last) weights on every split; write ``results.json``."""
        which = "last"
        if self.config.reload_best and self.best_if and self.best_epoch < 0:
            which = "last (no epoch met best_if: " + ", ".join(map(str, self.best_if)) + ")"
            warnings.warn(f"{which}; the final results are those of the last epoch", stacklevel=2)
        elif self.config.reload_best and self.run is not None and self.run.best.exists():
            best = self.run.load("best")
            self.load_module_state(best["module"])
            which = f"best (epoch {best['epoch']})"
        results = {
            "weights": which,
            "monitor": self.monitor,
            "epochs_trained": self.epoch,
            "train_time_s": round(self.elapsed, 3),
            "device": str(self.device),
            "config": asdict(self.config),
        }
        for split in ("train", "valid", "test"):
            if getattr(self.data, split) is not None:
                results[split] = self.evaluate(split)
        if self.run is not None:
            self.run.write_results(results)
        return results

    # ------------------------------------------------------------------ Ctrl-C

    def _interrupt_handler(self):
        trainer = self

        class _Handler:
            def __enter__(self):
                self.previous = None
                if threading.current_thread() is threading.main_thread():
                    self.previous = signal.signal(signal.SIGINT, self.handle)
                return self

            def handle(self, signum, frame):
                # First Ctrl-C: finish the current update, checkpoint, stop. Second: stop now.
                trainer._stop_requested = True
                signal.signal(signal.SIGINT, signal.default_int_handler)

            def __exit__(self, *exc):
                if self.previous is not None:
                    signal.signal(signal.SIGINT, self.previous)
                trainer._stop_requested = False
                return False

        return _Handler()
