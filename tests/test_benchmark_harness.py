"""The benchmark harness reports the ratio of medians and the spread of the paired ratios."""

import re
import time

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


def test_the_compact_benchmark_model_has_the_stated_structure():
    from benchmarks.bench_compact import KEPT_DIMS, KEPT_NEURONS, NONCONSTANT_GATES, few_unit_structure
    from benchmarks.compact_run import multiply_adds_per_step
    from probgates.sparse import compression_stats, to_compact

    structure = few_unit_structure()
    stats = compression_stats(structure)
    assert (stats["hidden_kept"], stats["inputs_kept"]) == (KEPT_NEURONS, KEPT_DIMS)
    assert tuple(stats["gates_nonconstant_by_type"].values()) == NONCONSTANT_GATES
    dense, compact = multiply_adds_per_step(structure)
    assert round(dense / compact) == 318
    assert to_compact(structure).layout == "full"
