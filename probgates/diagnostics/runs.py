"""Load a finished run directory for diagnostics: gated-LSTM runs and structured-sparsification runs.

A run whose ``spec.toml`` has a ``[model.sparse]`` table is loaded the way :mod:`probgates.sparse`
does (:func:`probgates.sparse.compress.load_sparse_model`); any other run through
:func:`probgates.runner.load_run`. Both use the best weights when there are any, else the checkpoint.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from probgates.data.batching import DatasetSplits
from probgates.infer import RunDirectory


@dataclass
class LoadedRun:
    """What diagnostics need of a run: its name, model (eval mode), data, metrics and raw spec."""

    path: Path
    name: str
    module: object
    data: DatasetSplits
    metrics: list[dict]
    table: dict
    sparse: bool


def spec_table(run_dir: str | os.PathLike) -> dict:
    """The run's ``spec.toml`` as a plain table."""
    path = Path(run_dir) / "spec.toml"
    if not path.exists():
        raise FileNotFoundError(f"{path}: not a run directory (no spec.toml)")
    with open(path, "rb") as f:
        return tomllib.load(f)


def is_sparse_run(table: dict) -> bool:
    return table.get("model", {}).get("sparse") is not None


def load_for_diagnostics(run_dir: str | os.PathLike) -> LoadedRun:
    run = RunDirectory(run_dir)
    table = spec_table(run_dir)
    if is_sparse_run(table):
        from probgates.data import load_dataset
        from probgates.sparse.compress import load_sparse_model, sparse_spec_from_table

        spec = sparse_spec_from_table(table, str(run.spec))
        d = table.get("data", {})
        data = load_dataset(d.get("name", "sparse_signal"), d.get("root") or None, **d.get("options", {}))
        which = "best" if run.best.exists() else "checkpoint"
        module = load_sparse_model(spec, data, run.load(which)["module"])
        name = table.get("name", run.path.name)
    else:
        from probgates.runner import load_run

        spec, data, trainer = load_run(run_dir)
        module, name = trainer.module, spec.name
    return LoadedRun(run.path, name, module, data, run.read_metrics(), table, is_sparse_run(table))
