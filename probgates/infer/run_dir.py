"""The run directory: the unit of work of a training run.

Layout::

    RUN_DIR/spec.toml        the resolved model spec (written by the CLI)
    RUN_DIR/metrics.jsonl    one JSON object per finished epoch
    RUN_DIR/checkpoint.pt    the latest training state (resume from it)
    RUN_DIR/best.pt          the module weights with the best validation metric
    RUN_DIR/results.json     the final evaluation

Every file is written to a temporary file in the same folder and renamed, so a crash never
leaves half a file behind. Checkpoints hold only tensors and plain Python values and are read
with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    _atomic_write(Path(path), lambda f: f.write(text.encode()))


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` through a temporary file and an atomic rename."""
    _atomic_write(Path(path), lambda f: torch.save(obj, f))


class RunDirectory:
    """Paths and readers/writers of one run directory."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    spec = property(lambda self: self.path / "spec.toml")
    metrics = property(lambda self: self.path / "metrics.jsonl")
    checkpoint = property(lambda self: self.path / "checkpoint.pt")
    best = property(lambda self: self.path / "best.pt")
    results = property(lambda self: self.path / "results.json")

    def create(self) -> RunDirectory:
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def read_metrics(self) -> list[dict]:
        if not self.metrics.exists():
            return []
        with open(self.metrics) as f:
            return [json.loads(line) for line in f if line.strip()]

    def write_metrics(self, records: list[dict]) -> None:
        atomic_write_text(self.metrics, "".join(json.dumps(r) + "\n" for r in records))

    def write_results(self, results: dict) -> None:
        atomic_write_text(self.results, json.dumps(results, indent=2) + "\n")

    def read_results(self) -> dict:
        with open(self.results) as f:
            return json.load(f)

    def save(self, state: dict, which: str = "checkpoint") -> None:
        atomic_torch_save(state, getattr(self, which))

    def load(self, which: str = "checkpoint") -> dict:
        path = getattr(self, which)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no {which} file in this run directory")
        return torch.load(path, weights_only=True, map_location="cpu")
