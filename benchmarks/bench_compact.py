"""The compact export of few-unit models: its two row layouts, its token lookup, and against the
dense model.

The models have the shapes of two trained IMDb W+G+N models (embedding 20,002 x 300, LSTM 128, 2
classes) and seeded random weights among their kept units, so that they need no training run
(``benchmarks.compact_run`` measures a trained one); :data:`SHAPES` lists what each keeps. T=200.
Lines printed (A / B):

* ``compact_full_rows_vs_skip_rows`` (9 units, B=64): :class:`~probgates.sparse.CompactLSTM`
  with ``layout="full"`` (every gate row of the kept neurons, seven kernels per step; the default
  at this size) against ``layout="skip"`` (only the non-constant rows, nine kernels per step);
* ``compact_column_gather_vs_row_lookup``: each step gathering its columns of the ``[n, K + 1]``
  table of kept tokens against :class:`RowLookupCompact`, the lookup it replaced;
* ``compact_eval_vs_dense_eval``: the compact module (default layout) against the dense
  ``nn.LSTM`` model of the original sizes, with the multiply-add reduction per step and whether
  the speed-up reaches half of it.

The last two for 9 units at B=64 and 512 and for 96 units at B=64 and 128 (the paper's batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from benchmarks.compact_run import DenseReference, multiply_adds_per_step, report_speedup
from benchmarks.harness import compare, no_grad_call
from probgates.sparse import find_structure, to_compact
from probgates.sparse.export import CompactLSTM
from probgates.sparse.masks import FoldedNetwork, Structure

VOCAB, EMBEDDING, HIDDEN, CLASSES = 20002, 300, 128, 2
STEPS = 200


@dataclass(frozen=True)
class KeptShape:
    """What a compressed IMDb model keeps, and the batch sizes it is measured at."""

    words: int
    dims: int
    neurons: int
    nonconstant_gates: tuple[int, int, int, int]  # i, f, g, o
    activation: str
    batches: tuple[int, ...]


SHAPES = {
    # The hard-sigmoid model of epoch 86 (318x fewer multiply-adds per step).
    "9 of 128 units": KeptShape(481, 23, 9, (6, 5, 9, 1), "hard_sigmoid", (64, 512)),
    # The sigmoid model of epoch 47 (11x fewer multiply-adds per step).
    "96 of 128 units": KeptShape(773, 92, 96, (14, 13, 60, 18), "sigmoid", (64, 128)),
}


def few_unit_structure(shape: KeptShape = SHAPES["9 of 128 units"], seed: int = 0) -> Structure:
    """A folded IMDb-shaped network that keeps ``shape``'s units, with random weights among them."""
    g = torch.Generator().manual_seed(seed)
    H = HIDDEN
    w_ih, w_hh = torch.zeros(4 * H, EMBEDDING), torch.zeros(4 * H, H)
    dims, neurons = torch.arange(shape.dims), torch.arange(shape.neurons)
    for k, count in enumerate(shape.nonconstant_gates):
        rows = k * H + torch.randperm(shape.neurons, generator=g)[:count]
        w_ih[rows[:, None], dims] = 0.3 * torch.randn(count, shape.dims, generator=g)
        w_hh[rows[:, None], neurons] = 0.3 * torch.randn(count, shape.neurons, generator=g)
    embedding = torch.zeros(VOCAB, EMBEDDING)
    words = torch.randperm(VOCAB, generator=g)[: shape.words]
    embedding[words[:, None], dims] = torch.randn(shape.words, shape.dims, generator=g)
    head = torch.zeros(CLASSES, H)
    head[:, neurons] = torch.randn(CLASSES, shape.neurons, generator=g)
    bias = torch.randn(4 * H, generator=g)
    net = FoldedNetwork(
        w_ih, w_hh, bias, head, torch.zeros(CLASSES), embedding, None, "embedding", shape.activation
    )
    return find_structure(net)


class RowLookupCompact(CompactLSTM):
    """The token lookup :class:`CompactLSTM` used before: one lookup of all steps in a ``[V, n]``
    table (rows ``[T, B, n]``), whose transposed step views each step's ``addmm`` copies."""

    def __init__(self, structure: Structure, layout: str | None = None):
        super().__init__(structure, layout)
        self.register_buffer("rows", self.table.t()[self.token_column].contiguous())  # [V, n]

    def _input_steps(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return F.embedding(inputs.t(), self.rows).transpose(1, 2).unbind(0)

    def _preactivations(self):
        w_hh = self.w_hh
        return lambda x_t, h_prev, out: torch.addmm(x_t, w_hh, h_prev, out=out)


def run(repeats: int = 15, threads: int = 1):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    options = dict(repeats=repeats, threads=threads)
    for units, shape in SHAPES.items():
        structure = few_unit_structure(shape)
        compact, dense = to_compact(structure), DenseReference(structure).eval()
        dense_madds, compact_madds = multiply_adds_per_step(structure)
        for batch in shape.batches:
            x = torch.randint(0, VOCAB, (batch, STEPS))
            label = f"{units}, B={batch} T={STEPS}"
            variants = {"compact_column_gather_vs_row_lookup": RowLookupCompact(structure)}
            if compact.layout == "full" and batch == shape.batches[0]:
                variants = {"compact_full_rows_vs_skip_rows": to_compact(structure, "skip"), **variants}
            run_compact = no_grad_call(compact, x)
            for name, other in variants.items():
                compare(f"{name} ({label})", run_compact, no_grad_call(other, x), **options)
            name = f"compact_eval_vs_dense_eval ({label})"
            result = compare(name, run_compact, no_grad_call(dense, x), **options)
            report_speedup(result, dense_madds / compact_madds)
