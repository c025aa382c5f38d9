"""Measure two implementations of the same work in one process and print their ratio.

Every benchmark prints exactly one line::

    name: ratio=X (A=... ms, B=... ms)

where A is the implementation under test and B the reference, ``ratio = median(A) / median(B)``.
Threads are pinned, both sides are warmed up, and the repeats alternate A and B so that a
change in machine load hits both sides alike. Quote ratios, not absolute times.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Comparison:
    name: str
    a_ms: float
    b_ms: float

    @property
    def ratio(self) -> float:
        return self.a_ms / self.b_ms

    def line(self) -> str:
        return f"{self.name}: ratio={self.ratio:.3f} (A={self.a_ms:.3f} ms, B={self.b_ms:.3f} ms)"


def _time_ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def compare(
    name: str,
    a: Callable[[], object],
    b: Callable[[], object],
    *,
    warmup: int = 3,
    repeats: int = 15,
    threads: int = 1,
) -> Comparison:
    """Median wall time of ``a`` and ``b`` over ``repeats`` alternating runs after ``warmup`` runs each."""
    torch.set_num_threads(threads)
    for _ in range(warmup):
        a()
        b()
    times_a, times_b = [], []
    for _ in range(repeats):
        times_a.append(_time_ms(a))
        times_b.append(_time_ms(b))
    result = Comparison(name, statistics.median(times_a), statistics.median(times_b))
    print(result.line(), flush=True)
    return result
