"""Inference speed of a trained sparse run's exports against the dense model of its sizes.

``python -m benchmarks.compact_run RUN_DIR [--steps T] [--batch B] [--layout L] [--repeats N] [--threads N]``

Reads ``RUN_DIR/compressed/structure.pt`` (written by ``probgates compress RUN_DIR``) and prints:

* ``compact_eval_vs_dense_eval`` and ``torch_lstm_export_eval_vs_dense_eval``: the compact module
  and the reduced plain ``nn.LSTM`` export against a dense ``nn.LSTM`` model of the run's original
  sizes (with its ``nn.Embedding`` for token inputs) on random inputs of ``B`` sequences of ``T``
  steps;
* the compact module's row layout (``--layout skip|full``; default: the one ``to_compact`` takes);
* the per-step multiply-add reduction (recurrent and input products of the non-constant gates
  over the dense ones) and whether the compact speed-up reaches half of it.

Unlike ``bench_sparse`` (which trains its own model), this measures a model trained elsewhere;
it is not part of ``python -m benchmarks.run`` because it needs a run directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from benchmarks.harness import compare, no_grad_call
from probgates.sparse import compression_stats, load_structure, to_compact, to_torch_lstm
from probgates.sparse.export import COMPACT_LAYOUTS
from probgates.sparse.masks import Structure


class DenseReference(nn.Module):
    """The dense network of the run's original sizes: [embedding ->] nn.LSTM -> linear head."""

    def __init__(self, structure: Structure):
        super().__init__()
        net = structure.network
        four_h, inputs = net.weight_ih.shape
        self.embedding = nn.Embedding(*net.embedding.shape) if net.input_kind == "embedding" else None
        self.lstm = nn.LSTM(inputs, four_h // 4, batch_first=True)
        self.head = nn.Linear(four_h // 4, net.head_weight.shape[0])

    def forward(self, x):
        if self.embedding is not None:
            x = self.embedding(x)
        return self.head(self.lstm(x)[0])


def multiply_adds_per_step(structure: Structure) -> tuple[int, int]:
    """(dense, compact) multiply-adds of one step: gate rows x (inputs + hidden) plus the head."""
    net = structure.network
    four_h, inputs = net.weight_ih.shape
    outputs = net.head_weight.shape[0]
    stats = compression_stats(structure)
    dense = four_h * (inputs + four_h // 4) + outputs * four_h // 4
    kept = stats["hidden_kept"]
    compact = stats["gates_nonconstant"] * (stats["inputs_kept"] + kept) + outputs * kept
    return dense, compact


def report_speedup(result, reduction: float) -> None:
    """Print the compact speed-up of ``result`` (compact vs dense) against half the reduction."""
    speedup = 1 / result.ratio
    verdict = "meets" if speedup >= reduction / 2 else "misses"
    print(f"compact speedup {speedup:.1f}x vs reduction {reduction:.1f}x: {verdict} speedup >= reduction / 2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--layout", choices=COMPACT_LAYOUTS, help="compact row layout (default: by size)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (pinned)")
    args = parser.parse_args(argv)
    path = Path(args.run_dir) / "compressed" / "structure.pt"
    if not path.exists():
        parser.error(f"{path} not found: run `probgates compress {args.run_dir}` first")
    structure = load_structure(path)
    net = structure.network
    if net.input_kind == "one_hot":
        parser.error("one-hot inputs have no dense reference here; use a run with frames or an embedding")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shape = (args.batch, args.steps)
    if net.input_kind == "embedding":
        x = torch.randint(0, net.embedding.shape[0], shape)
    else:
        x = torch.randn(*shape, net.weight_ih.shape[1])
    dense, compact, plain = DenseReference(structure).eval(), to_compact(structure, args.layout), None
    if net.activation == "sigmoid":
        plain = to_torch_lstm(structure).eval()

    stats = compression_stats(structure)
    dense_madds, compact_madds = multiply_adds_per_step(structure)
    reduction = dense_madds / max(compact_madds, 1)
    print(
        f"{args.run_dir}: hidden {stats['hidden_kept']}, inputs {stats['inputs_kept']}, non-constant "
        f"gates {stats['gates_nonconstant']}; multiply-add reduction per step {reduction:.1f}x; "
        f"compact layout {compact.layout}",
        flush=True,
    )
    label = f"B={args.batch} T={args.steps}"
    options = dict(repeats=args.repeats, threads=args.threads)
    reference = no_grad_call(dense, x)
    result = compare(f"compact_eval_vs_dense_eval ({label})", no_grad_call(compact, x), reference, **options)
    if plain is not None:
        compare(
            f"torch_lstm_export_eval_vs_dense_eval ({label})", no_grad_call(plain, x), reference, **options
        )
    report_speedup(result, reduction)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
