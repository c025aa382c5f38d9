"""The benchmark harness reports the ratio of medians and the spread of the paired ratios."""

import contextlib
import re
import time

import pytest
import torch

from benchmarks.harness import compare


def test_compare_reports_the_ratio_and_the_quartiles_of_paired_ratios(capsys):
    result = compare(
        "slow_vs_fast", lambda: time.sleep(0.004), lambda: time.sleep(0.001), warmup=1, repeats=5
    )
    line = capsys.readouterr().out.strip()
    assert line == result.line()
    match = re.fullmatch(
        r"slow_vs_fast: ratio=([\d.]+) \(A=[\d.]+ ms, B=[\d.]+ ms; paired q1-q3 ([\d.]+)-([\d.]+)\)", line
    )
    assert match, line
    ratio, q1, q3 = map(float, match.groups())
    assert ratio > 1.5 and 1.5 < q1 <= q3  # 4 ms against 1 ms, with room for a busy machine


def test_compare_with_one_repeat_has_degenerate_quartiles(capsys):
    result = compare("one", lambda: time.sleep(1e-4), lambda: time.sleep(1e-4), warmup=0, repeats=1)
    assert result.paired_quartiles[0] == result.paired_quartiles[1]


@pytest.mark.parametrize(
    "units, reduction, layout", [("9 of 128 units", 318, "full"), ("96 of 128 units", 11, "skip")]
)
def test_the_compact_benchmark_models_have_the_stated_structure(units, reduction, layout):
    from benchmarks.bench_compact import SHAPES, VOCAB, RowLookupCompact, few_unit_structure
    from benchmarks.compact_run import multiply_adds_per_step
    from probgates.sparse import compression_stats, to_compact

    shape = SHAPES[units]
    structure = few_unit_structure(shape)
    stats = compression_stats(structure)
    assert (stats["hidden_kept"], stats["inputs_kept"]) == (shape.neurons, shape.dims)
    assert tuple(stats["gates_nonconstant_by_type"].values()) == shape.nonconstant_gates
    dense, compact = multiply_adds_per_step(structure)
    assert round(dense / compact) == reduction
    compact = to_compact(structure)
    assert compact.layout == layout and compact.table.shape[1] == shape.words + 1
    x = torch.randint(0, VOCAB, (3, 11))
    assert (RowLookupCompact(structure)(x) - compact(x)).abs().max() < 1e-6  # the benchmark's reference


def _reference_sides():
    from benchmarks import bench_sparse_update as b

    one_hot = (50, 0, 8, 4, 5, True)  # vocabulary, embedding (0: one-hot), H, B, T, per-step targets
    hard_sigmoid = (50, 6, 8, 4, 5, False)
    return [
        pytest.param(b._plain_normal_guides, one_hot, {}, id="plain_normal_guides"),
        pytest.param(b._validated_guides, one_hot, {}, id="validated_guides"),
        pytest.param(b._normalizing_categorical, one_hot, {}, id="normalizing_categorical"),
        pytest.param(b._embedding_lookup, one_hot, {}, id="embedding_lookup"),
        pytest.param(
            b._reference_loop, hard_sigmoid, {"gate_activation": "hard_sigmoid"}, id="reference_loop"
        ),
    ]


@pytest.mark.parametrize("reference, sizes, options", _reference_sides())
def test_the_sparse_update_references_compute_the_same_update(reference, sizes, options):
    """Each reference side of ``bench_sparse_update`` patches the current code into the earlier
    computation of the same update: same loss and same gradients from the same seed."""
    import pyro

    from benchmarks.bench_sparse_update import _token_trainer

    results = []
    for context in (contextlib.nullcontext, reference):
        trainer, batch = _token_trainer(*sizes, **options)
        pyro.set_rng_seed(1)
        with context():
            loss = trainer.elbo.loss_and_grads(
                trainer.module.model, trainer.module.guide, batch, len(trainer.data.train)
            )
        grads = {n: p.grad.clone() for n, p in trainer.module.named_parameters() if p.grad is not None}
        results.append((loss, grads))
    (loss, grads), (reference_loss, reference_grads) = results
    assert grads.keys() == reference_grads.keys() and grads
    assert loss == pytest.approx(reference_loss, rel=1e-10)
    for n in grads:
        assert torch.allclose(grads[n], reference_grads[n], rtol=1e-8, atol=1e-10), n
