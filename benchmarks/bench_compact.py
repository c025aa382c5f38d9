"""The compact export of a few-unit model: its two row layouts, and against the dense model.

The model has the shape of the sparsest IMDb W+G+N models (embedding 20,002 x 300, LSTM 128, 2
classes; kept: 481 words, 23 embedding dimensions, 9 neurons with 6, 5, 9 and 1 non-constant
i, f, g, o gates, hard-sigmoid gates) and seeded random weights, so that it needs no training run
(``benchmarks.compact_run`` measures a trained one). B=64, T=200. Lines printed (A / B):

* ``compact_full_rows_vs_skip_rows``: :class:`~probgates.sparse.CompactLSTM` with
  ``layout="full"`` (every gate row of the kept neurons, seven kernels per step; the default at
  this size) against ``layout="skip"`` (only the non-constant rows, nine kernels per step);
* ``compact_eval_vs_dense_eval``: the compact module (default layout) against the dense
  ``nn.LSTM`` model of the original sizes, with the multiply-add reduction per step and whether
  the speed-up reaches half of it.
"""

from __future__ import annotations

import torch

from benchmarks.compact_run import DenseReference, multiply_adds_per_step, report_speedup
from benchmarks.harness import compare, no_grad_call
from probgates.sparse import find_structure, to_compact
from probgates.sparse.masks import FoldedNetwork, Structure

VOCAB, EMBEDDING, HIDDEN, CLASSES = 20002, 300, 128, 2
KEPT_WORDS, KEPT_DIMS, KEPT_NEURONS = 481, 23, 9
NONCONSTANT_GATES = (6, 5, 9, 1)  # i, f, g, o
BATCH, STEPS = 64, 200


def few_unit_structure(activation: str = "hard_sigmoid", seed: int = 0) -> Structure:
    """A folded IMDb-shaped network with the kept units above and random weights among them."""
    g = torch.Generator().manual_seed(seed)
    H = HIDDEN
    w_ih, w_hh = torch.zeros(4 * H, EMBEDDING), torch.zeros(4 * H, H)
    dims, neurons = torch.arange(KEPT_DIMS), torch.arange(KEPT_NEURONS)
    for k, count in enumerate(NONCONSTANT_GATES):
        rows = k * H + torch.randperm(KEPT_NEURONS, generator=g)[:count]
        w_ih[rows[:, None], dims] = 0.3 * torch.randn(count, KEPT_DIMS, generator=g)
        w_hh[rows[:, None], neurons] = 0.3 * torch.randn(count, KEPT_NEURONS, generator=g)
    embedding = torch.zeros(VOCAB, EMBEDDING)
    words = torch.randperm(VOCAB, generator=g)[:KEPT_WORDS]
    embedding[words[:, None], dims] = torch.randn(KEPT_WORDS, KEPT_DIMS, generator=g)
    head = torch.zeros(CLASSES, H)
    head[:, neurons] = torch.randn(CLASSES, KEPT_NEURONS, generator=g)
    bias = torch.randn(4 * H, generator=g)
    net = FoldedNetwork(
        w_ih, w_hh, bias, head, torch.zeros(CLASSES), embedding, None, "embedding", activation
    )
    return find_structure(net)


def run(repeats: int = 15, threads: int = 1):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    structure = few_unit_structure()
    x = torch.randint(0, VOCAB, (BATCH, STEPS))
    full, skip = to_compact(structure, "full"), to_compact(structure, "skip")
    label = f"{KEPT_NEURONS} of {HIDDEN} units, B={BATCH} T={STEPS}"
    options = dict(repeats=repeats, threads=threads)
    compare(
        f"compact_full_rows_vs_skip_rows ({label})", no_grad_call(full, x), no_grad_call(skip, x), **options
    )
    dense = DenseReference(structure).eval()
    result = compare(
        f"compact_eval_vs_dense_eval ({label})",
        no_grad_call(to_compact(structure), x),
        no_grad_call(dense, x),
        **options,
    )
    dense_madds, compact_madds = multiply_adds_per_step(structure)
    report_speedup(result, dense_madds / compact_madds)
