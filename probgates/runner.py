"""From a spec to a trained run directory, and from a run directory back to a model.

The command line (:mod:`probgates.cli`) is a thin layer over these functions.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pyro

from probgates.data import DatasetSplits, load_dataset
from probgates.infer import RunDirectory, Trainer
from probgates.spec import Spec, load_spec
from probgates.tasks import SequenceModel


def load_data(spec: Spec) -> DatasetSplits:
    return load_dataset(spec.data.name, spec.data.root or None, **spec.data.options)


def build_model(spec: Spec, data: DatasetSplits) -> SequenceModel:
    """The model of ``spec.model`` sized for ``data`` (parameters initialised from ``train.seed``)."""
    pyro.set_rng_seed(spec.train.seed)
    m = spec.model
    options = dict(
        num_layers=m.num_layers,
        dropout=m.dropout,
        embedding_dim=m.embedding_dim,
        family=m.family,
        prior=m.prior,
        eval_rule=m.eval_rule,
        eval_samples=m.eval_samples,
        family_options=dataclasses.asdict(m.g2) if m.family == "g2" else None,
    )
    hidden_size = m.hidden_size
    if m.parameter_budget:
        hidden_size = SequenceModel.hidden_size_for_budget(data, m.parameter_budget, **options)
    return SequenceModel.for_data(data, hidden_size=hidden_size, **options)


def train(spec: Spec, out: str | os.PathLike, resume: bool = False, on_epoch_end=None) -> dict:
    """Train ``spec`` into the run directory ``out``; return the final results."""
    run = RunDirectory(out).create()
    if not resume:
        from probgates.infer.run_dir import atomic_write_text

        atomic_write_text(run.spec, spec.to_toml())
    data = load_data(spec)
    trainer = Trainer(build_model(spec, data), data, spec.train, run)
    trainer.fit(resume=resume, on_epoch_end=on_epoch_end)
    return trainer.final_results()


def load_run(run_dir: str | os.PathLike, weights: str = "best"):
    """The spec, data, trainer and model of a finished run, with ``weights`` (best or checkpoint) loaded."""
    run = RunDirectory(run_dir)
    if not run.spec.exists():
        raise FileNotFoundError(f"{run.spec}: not a run directory (no spec.toml)")
    spec = load_spec(run.spec)
    data = load_data(spec)
    model = build_model(spec, data)
    trainer = Trainer(model, data, spec.train, run)
    which = weights if getattr(run, weights).exists() else "checkpoint"
    pyro.clear_param_store()
    trainer.load_module_state(run.load(which)["module"])
    return spec, data, trainer


def embedded_spec_path(name: str = "demo") -> Path:
    """The path of a spec that ships inside the package (``probgates/specs/NAME.toml``)."""
    return Path(__file__).parent / "specs" / f"{name}.toml"
