"""Synthetic tasks: determinism by seed and correct ground truth."""

from __future__ import annotations

import math

import pytest
import torch

from probgates.data import adding_problem, copy_task, sparse_signal, sparse_signal_labels


def _stack(ds):
    return torch.stack(ds.inputs)


def test_adding_problem_ground_truth_and_determinism():
    d = adding_problem(200, 30, seed=3)
    assert (len(d.train), len(d.valid), len(d.test)) == (160, 20, 20)
    assert d.info["likelihood"] == "normal" and d.info["input_dim"] == 2
    for part in (d.train, d.valid, d.test):
        x = _stack(part)
        assert x.shape[1:] == (30, 2)
        values, markers = x[..., 0], x[..., 1]
        assert ((values >= 0) & (values < 1)).all()
        assert torch.equal(markers.sum(1), torch.full((len(part),), 2.0, dtype=markers.dtype))
        assert (markers[:, :15].sum(1) == 1).all() and (markers[:, 15:].sum(1) == 1).all()
        assert torch.allclose(part.targets, (values * markers).sum(1))
    pos = d.info["marker_positions"][:160]
    assert torch.allclose(d.train.targets, _stack(d.train)[..., 0].gather(1, pos).sum(1))
    again = adding_problem(200, 30, seed=3)
    other = adding_problem(200, 30, seed=4)
    assert torch.equal(_stack(again.test), _stack(d.test)) and torch.equal(again.test.targets, d.test.targets)
    assert not torch.equal(_stack(other.train), _stack(d.train))


def test_copy_task_structure():
    d = copy_task(50, delay=7, num_symbols=5, seed=1, copy_len=4, num_valid=5, num_test=5)
    assert len(d.train) == 40 and d.info["seq_len"] == 15 and d.info["vocab_size"] == 7
    x, y = _stack(d.train), torch.stack(d.train.targets)
    symbols = x[:, :4]
    assert ((symbols >= 1) & (symbols <= 5)).all()
    assert (x[:, 4:10] == 0).all() and (x[:, 10] == 6).all() and (x[:, 11:] == 0).all()
    assert (y[:, :11] == 0).all() and torch.equal(y[:, 11:], symbols)
    assert d.train.per_step and d.info["likelihood"] == "categorical"
    assert math.isclose(d.info["baseline_cross_entropy"], 4 * math.log(5) / 15)
    again = copy_task(50, delay=7, num_symbols=5, seed=1, copy_len=4, num_valid=5, num_test=5)
    assert torch.equal(_stack(again.valid), _stack(d.valid))
    assert not torch.equal(_stack(copy_task(50, 7, 5, seed=2, copy_len=4).train)[:40], x)


def test_sparse_signal_labels_depend_on_relevant_features_only():
    d = sparse_signal(300, seq_len=6, num_features=10, num_relevant=3, seed=5, num_classes=3)
    rel = d.info["relevant_features"]
    assert len(rel) == 3 and rel == sorted(rel) and all(0 <= r < 10 for r in rel)
    w = d.info["class_weights"]
    x = _stack(d.train)
    assert torch.equal(sparse_signal_labels(x, rel, w), d.train.targets)
    counts = torch.cat([d.train.targets, d.valid.targets, d.test.targets]).bincount(minlength=3)
    assert (counts > 20).all()  # every class occurs
    # scrambling the irrelevant features leaves every label unchanged ...
    irrelevant = [j for j in range(10) if j not in rel]
    noisy = x.clone()
    noisy[..., irrelevant] = torch.randn(noisy[..., irrelevant].shape, dtype=noisy.dtype) * 10
    assert torch.equal(sparse_signal_labels(noisy, rel, w), d.train.targets)
    # ... while scrambling the relevant ones changes many
    moved = x.clone()
    moved[..., rel] = torch.randn(moved[..., rel].shape, dtype=moved.dtype)
    assert (sparse_signal_labels(moved, rel, w) != d.train.targets).float().mean() > 0.3
    again = sparse_signal(300, seq_len=6, num_features=10, num_relevant=3, seed=5, num_classes=3)
    assert again.info["relevant_features"] == rel and torch.equal(_stack(again.train), x)
    assert not torch.equal(_stack(sparse_signal(300, 6, 10, 3, seed=6).train), x)


@pytest.mark.parametrize("num_classes", [2, 4])
def test_sparse_signal_every_relevant_feature_decides_labels_on_its_own(num_classes):
    # Redrawing any single relevant feature changes at least 5% of the labels. Gaussian weights
    # gave some "relevant" features almost no say: 1.3% of labels for feature 7 of
    # sparse_signal(2000, 30, 50, 6, seed=7), which W+G+N then rightly removed.
    for seed in range(8):
        d = sparse_signal(
            2000, seq_len=6, num_features=30, num_relevant=8, seed=seed, num_classes=num_classes
        )
        x, rel, w = _stack(d.train), d.info["relevant_features"], d.info["class_weights"]
        spread = (w - w.mean(0)).norm(dim=0)
        assert ((spread >= 0.5 - 1e-12) & (spread <= 1 + 1e-12)).all()
        g = torch.Generator().manual_seed(seed)
        for r in rel:
            redrawn = x.clone()
            redrawn[..., r] = torch.randn(redrawn[..., r].shape, generator=g, dtype=x.dtype)
            changed = (sparse_signal_labels(redrawn, rel, w) != d.train.targets).float().mean()
            assert changed > 0.05, (seed, r, float(changed))
