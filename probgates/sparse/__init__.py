"""Structured Bayesian sparsification of LSTMs (Lobacheva et al. 2020): weights (W), gate
preactivations (G) and neurons (N), the group-Lasso pruning alternative, compression and export.

Modules: :mod:`~probgates.sparse.spec` (``SparseSpec``), :mod:`~probgates.sparse.variational` (one
log-uniform/Normal site), :mod:`~probgates.sparse.kernels` (fused and loop LSTM),
:mod:`~probgates.sparse.layers` (Linear with LRT, Embedding, LSTM), :mod:`~probgates.sparse.model`
(the Bayesian sequence model), :mod:`~probgates.sparse.pruning` (group Lasso),
:mod:`~probgates.sparse.masks` (masks, constant gates, statistics), :mod:`~probgates.sparse.export`
(plain ``nn.LSTM``, compact, ``torch.nn.utils.prune``), :mod:`~probgates.sparse.builder` and
:mod:`~probgates.sparse.compress` (``compress_run``). From the command line, ``probgates train SPEC``
trains a spec with a ``[model.sparse]`` table and ``probgates compress RUN_DIR`` compresses the run.
"""

from probgates.sparse.builder import build_sparse_model
from probgates.sparse.compress import compress_model, compress_run, load_sparse_model, load_structure
from probgates.sparse.export import CompactLSTM, DenseSequenceNet, to_compact, to_pruned, to_torch_lstm
from probgates.sparse.masks import (
    FoldedNetwork,
    Structure,
    compression_stats,
    find_structure,
    fold_model,
    format_table,
    input_dependent_neurons,
)
from probgates.sparse.model import SparseSequenceModel
from probgates.sparse.pruning import GroupLassoSequenceModel
from probgates.sparse.spec import LAYER_LETTERS, SparseSpec
from probgates.sparse.variational import SparseVariable

__all__ = [
    "LAYER_LETTERS",
    "CompactLSTM",
    "DenseSequenceNet",
    "FoldedNetwork",
    "GroupLassoSequenceModel",
    "SparseSequenceModel",
    "SparseSpec",
    "SparseVariable",
    "Structure",
    "build_sparse_model",
    "compress_model",
    "compress_run",
    "compression_stats",
    "find_structure",
    "fold_model",
    "format_table",
    "input_dependent_neurons",
    "load_sparse_model",
    "load_structure",
    "to_compact",
    "to_pruned",
    "to_torch_lstm",
]
