"""The benchmark harness reports the ratio of medians and the spread of the paired ratios."""

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
