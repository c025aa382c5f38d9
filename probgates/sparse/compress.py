"""Compress a trained sparse model: statistics, quality and the three exports, into ``RUN_DIR/compressed``.

Files written (each atomically):

* ``compression.json``: quality of the masked model per split, the statistics of
  :func:`~probgates.sparse.masks.compression_stats` by the paper code's rule and (``reachable``)
  with units that cannot reach the output dropped (both with ``input_recovery`` when the dataset
  knows its relevant inputs), and the largest difference between each export's logits and the
  masked model's on a test batch;
* ``compression.txt``: the same as a readable table;
* ``structure.pt``: the folded, zeroed network and its unit masks under the reachable rule (tensors
  only; rebuild any export with :func:`load_structure` and :mod:`probgates.sparse.export`);
* ``torch_lstm.pt``, ``compact.pt``, ``pruned.pt``: the state dicts of the three exports
  (``compact.pt`` carries :attr:`CompactLSTM.FORMAT_VERSION`; one written before the current layout
  is refused by ``load_state_dict``: rebuild the module from ``structure.pt`` instead).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from pathlib import Path

import pyro
import torch

from probgates.data import load_dataset
from probgates.data.batching import DatasetSplits
from probgates.infer.run_dir import RunDirectory, atomic_torch_save, atomic_write_text
from probgates.infer.trainer import evaluate_dataset
from probgates.sparse.builder import build_sparse_model
from probgates.sparse.export import masked_logits, to_compact, to_pruned, to_torch_lstm
from probgates.sparse.masks import (
    FoldedNetwork,
    Structure,
    compression_stats,
    find_structure,
    fold_model,
    format_table,
)
from probgates.sparse.spec import SparseSpec


def load_sparse_model(spec: SparseSpec, data: DatasetSplits, module_state: dict):
    """Build the model of ``spec`` for ``data`` and load ``module_state`` (e.g. ``best.pt["module"]``)."""
    pyro.clear_param_store()
    model = build_sparse_model(spec, data)
    model.load_state_dict(module_state)
    pyro.clear_param_store()
    return model.eval()


def save_structure(structure: Structure, path) -> None:
    net = dataclasses.asdict(structure.network)
    atomic_torch_save(
        {
            "network": net,
            "input_keep": structure.input_keep,
            "hidden_keep": structure.hidden_keep,
            "gate_nonconstant": structure.gate_nonconstant,
            "vocab_keep": structure.vocab_keep,
        },
        path,
    )


def load_structure(path) -> Structure:
    state = torch.load(path, weights_only=True, map_location="cpu")
    return Structure(
        FoldedNetwork(**state["network"]),
        state["input_keep"],
        state["hidden_keep"],
        state["gate_nonconstant"],
        state["vocab_keep"],
    )


def export_differences(model, structure: Structure, dataset, batch_size: int = 16) -> dict[str, float]:
    """Max |logits(export) - logits(masked model)| on the first test sequences (cut to equal length)."""
    batch = dataset.batch(range(min(batch_size, len(dataset))))
    T = int(batch.lengths.min())
    inputs = batch.inputs[:, :T]
    model.eval()
    reference = masked_logits(model, inputs)
    with torch.no_grad():
        return {name: float((e(inputs) - reference).abs().max()) for name, e in exports(structure).items()}


#: The exports built on ``torch.nn.LSTM``, whose gates are sigmoids: written for sigmoid-gate models only.
NN_LSTM_EXPORTS = {"torch_lstm": to_torch_lstm, "pruned": to_pruned}


def exports(structure: Structure) -> dict:
    """The exports that can represent the model (the :data:`NN_LSTM_EXPORTS` need sigmoid gates)."""
    out = {"compact": to_compact(structure)}
    if structure.network.activation == "sigmoid":
        out.update({name: export(structure) for name, export in NN_LSTM_EXPORTS.items()})
    return out


def compress_model(
    model, data: DatasetSplits, out_dir, *, eval_batch_size: int = 64, title: str = ""
) -> dict:
    """Statistics, quality and exports of a trained sparse model, written to ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    folded = fold_model(model)
    relevant = data.info.get("relevant_features")  # known ground truth (sparse_signal)
    stats = compression_stats(find_structure(folded, "reference"), relevant)
    structure = find_structure(folded, "reachable")
    stats["reachable"] = compression_stats(structure, relevant)
    stats["quality"] = {
        split: evaluate_dataset(model, getattr(data, split), eval_batch_size)
        for split in ("valid", "test")
        if getattr(data, split) is not None
    }
    test = data.test if data.test is not None else data.train
    stats["export_max_abs_diff"] = export_differences(model, structure, test)
    stats["spec"] = dataclasses.asdict(model.spec)
    save_structure(structure, out_dir / "structure.pt")
    for name, export in exports(structure).items():
        atomic_torch_save(export.state_dict(), out_dir / f"{name}.pt")
    atomic_write_text(out_dir / "compression.json", json.dumps(stats, indent=2, default=str) + "\n")
    atomic_write_text(out_dir / "compression.txt", format_table(stats, title))
    return stats


def sparse_spec_from_table(table: dict, source: str = "spec") -> SparseSpec:
    """The ``[model.sparse]`` table of a parsed spec as a :class:`SparseSpec`."""
    sparse = table.get("model", {}).get("sparse")
    if sparse is None:
        raise ValueError(
            f"{source}: the run has no sparse layers (its spec has no [model.sparse] table); "
            "compress needs a model trained with model.sparse"
        )
    valid = {f.name for f in dataclasses.fields(SparseSpec)}
    unknown = sorted(set(sparse) - valid)
    if unknown:
        raise ValueError(
            f"{source}: unknown key(s) {', '.join('model.sparse.' + k for k in unknown)}; "
            f"valid keys in [model.sparse]: {', '.join(sorted(valid))}"
        )
    return SparseSpec(**sparse)


def compress_run(run_dir: str | os.PathLike, weights: str = "checkpoint") -> dict:
    """Compress a finished run: read ``spec.toml``, load the weights, write ``RUN_DIR/compressed/``.

    ``weights``: ``"checkpoint"`` (the final weights; the paper reports the last epoch, and the best
    validation epoch of a sparsifying model is often an early, denser one) or ``"best"``. Raises
    ValueError when the run has no sparse layers.
    """
    if weights not in ("checkpoint", "best"):
        raise ValueError(f"weights must be 'checkpoint' or 'best', got {weights!r}")
    run = RunDirectory(run_dir)
    if not run.spec.exists():
        raise FileNotFoundError(f"{run.spec}: not a run directory (no spec.toml)")
    with open(run.spec, "rb") as f:
        table = tomllib.load(f)
    spec = sparse_spec_from_table(table, str(run.spec))
    if spec.is_dense:
        raise ValueError(f"{run.spec}: the run has no sparse layers (model.sparse.variant is 'dense')")
    d = table.get("data", {})
    data = load_dataset(d.get("name", "sparse_signal"), d.get("root") or None, **d.get("options", {}))
    which = (
        weights if getattr(run, weights).exists() else ("best" if weights == "checkpoint" else "checkpoint")
    )
    model = load_sparse_model(spec, data, run.load(which)["module"])
    title = f"{table.get('name', run.path.name)} ({spec.framework}, {spec.variant}; {which} weights)"
    eval_batch_size = table.get("train", {}).get("eval_batch_size", 64)  # as the trainer evaluated
    return compress_model(model, data, run.path / "compressed", eval_batch_size=eval_batch_size, title=title)
