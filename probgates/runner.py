"""From a spec to a trained run directory, and from a run directory back to a model.

The command line (:mod:`probgates.cli`) is a thin layer over these functions.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pyro
import torch

from probgates.data import DatasetSplits, load_dataset
from probgates.data.word_vectors import read_word_vectors
from probgates.infer import RunDirectory, Trainer
from probgates.infer.run_dir import atomic_write_text
from probgates.sparse.builder import build_sparse_model
from probgates.spec import Spec, load_spec
from probgates.tasks import SequenceModel


def load_data(spec: Spec) -> DatasetSplits:
    return load_dataset(spec.data.name, spec.data.root or None, **spec.data.options)


def build_model(spec: Spec, data: DatasetSplits):
    """The model of ``spec.model`` sized for ``data`` (parameters initialised from ``train.seed``):
    a structured-sparsification model when ``[model.sparse]`` is given, else a gated
    :class:`SequenceModel`."""
    pyro.set_rng_seed(spec.train.seed)
    m = spec.model
    if m.sparse is not None:
        return build_sparse_model(m.sparse, data)
    options = dict(
        num_layers=m.num_layers,
        dropout=m.dropout,
        embedding_dim=m.embedding_dim,
        family=m.family,
        prior=m.prior,
        eval_rule=m.eval_rule,
        eval_samples=m.eval_samples,
        gamma_reparam=m.gamma_reparam,
        family_options=dataclasses.asdict(m.g2) if m.family == "g2" else None,
    )
    hidden_size = m.hidden_size
    if m.parameter_budget:
        hidden_size = SequenceModel.hidden_size_for_budget(data, m.parameter_budget, **options)
    model = SequenceModel.for_data(data, hidden_size=hidden_size, **options)
    if m.word_vectors:
        initialise_embedding(model, data, m.word_vectors)
    return model


def initialise_embedding(model: SequenceModel, data: DatasetSplits, path: str) -> int:
    """Copy the vectors of ``path`` into the embedding rows of the tokens it has; return how many."""
    if model.embedding is None or "vocab" not in data.info:
        raise ValueError("model.word_vectors needs a dataset of token ids with a vocabulary")
    vectors, found = read_word_vectors(path, data.info["vocab"], model.embedding.embedding_dim)
    weight = dict(model.named_parameters())["embedding.weight"]
    with torch.no_grad():
        weight[found] = vectors[found].to(weight.dtype)
    print(f"initialised {int(found.sum())} of {len(found)} embeddings from {path}", flush=True)
    return int(found.sum())


def train(spec: Spec, out: str | os.PathLike, resume: bool = False, on_epoch_end=None) -> dict:
    """Train ``spec`` into the run directory ``out``; return the final results.

    Data and model are built before anything is written, so bad input leaves no run directory.
    """
    data = load_data(spec)
    model = build_model(spec, data)
    run = RunDirectory(out).create()
    if not resume:
        atomic_write_text(run.spec, spec.to_toml())
    trainer = Trainer(model, data, spec.train, run)
    trainer.fit(resume=resume, on_epoch_end=on_epoch_end)
    return trainer.final_results()


def load_run(run_dir: str | os.PathLike, weights: str = "best", device: str = "cpu"):
    """The spec, data, trainer and model of a finished run, with ``weights`` (best or checkpoint)
    loaded on ``device`` (whatever device the run trained on)."""
    run = RunDirectory(run_dir)
    if not run.spec.exists():
        raise FileNotFoundError(f"{run.spec}: not a run directory (no spec.toml)")
    spec = load_spec(run.spec)
    data = load_data(spec)
    model = build_model(spec, data)
    trainer = Trainer(model, data, dataclasses.replace(spec.train, device=device), run)
    which = weights if getattr(run, weights).exists() else "checkpoint"
    pyro.clear_param_store()
    trainer.load_module_state(run.load(which)["module"])
    return spec, data, trainer


def embedded_spec_path(name: str = "demo") -> Path:
    """The path of a spec that ships inside the package (``probgates/specs/NAME.toml``)."""
    return Path(__file__).parent / "specs" / f"{name}.toml"
