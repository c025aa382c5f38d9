"""Small sparse models and data for the structured-sparsification tests (float64, see tests/conftest.py)."""

import pytest
import torch

from probgates.data import load_dataset
from probgates.data.batching import DatasetSplits, SequenceDataset
from probgates.sparse import SparseSpec, build_sparse_model


def token_data(vocab=12, n=24, length=6, classes=3, per_step=False, seed=0) -> DatasetSplits:
    g = torch.Generator().manual_seed(seed)
    seqs = [torch.randint(1, vocab, (length,), generator=g) for _ in range(n)]
    if per_step:
        targets = [torch.randint(0, vocab, (length,), generator=g) for _ in range(n)]
        info = {"likelihood": "categorical", "vocab_size": vocab, "num_classes": vocab, "name": "toy_lm"}
    else:
        targets = torch.randint(0, classes, (n,), generator=g)
        info = {"likelihood": "categorical", "vocab_size": vocab, "num_classes": classes, "name": "toy"}
    ds = SequenceDataset(seqs, targets, name="toy")
    return DatasetSplits(ds, ds, ds, info)


def signal_data(**options) -> DatasetSplits:
    opts = dict(num_sequences=200, seq_len=8, num_features=6, num_relevant=2)
    opts.update(options)
    return load_dataset("sparse_signal", **opts)


def randomly_pruned(model, fraction=0.5, seed=1):
    """Push a random ``fraction`` of every sparse tensor's elements over the pruning threshold."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.layers().values():
            for v in layer.variables().values():
                v.theta.add_(0.3 * torch.randn(v.shape, generator=g))
                if v.sparse:
                    hit = torch.rand(v.shape, generator=g) < fraction
                    v.log_sigma.copy_(torch.where(hit, v.theta.abs().log() + 3.0, v.log_sigma))
    return model


@pytest.fixture
def sparse_signal_data():
    return signal_data()


def make_model(data, **spec_options):
    spec = SparseSpec(**{"hidden_size": 5, "embedding_dim": 4, **spec_options})
    return build_sparse_model(spec, data)
