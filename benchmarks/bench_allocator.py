"""What keeping freed memory in the process saves (:func:`probgates.infer.keep_freed_memory`).

Line printed (A / B):

* ``word_ptb_wgn_update_keep_freed_vs_system_allocator``: the median SVI update of a word-PTB-sized
  W+G+N model (one-hot 10,000-word inputs, LSTM 256, 10,000-way head; B=32, T=35, generated
  tokens) in a process that called ``keep_freed_memory()`` against one with the C library's
  default allocator settings. The setting is per process, so each side runs in child processes,
  alternating, ``repeats`` children each; the paired quartiles are over the pairs of children.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from benchmarks.harness import Comparison

VOCAB, HIDDEN, BATCH, STEPS = 10_000, 256, 32, 35
WARMUP, TIMED = 2, 6


def _child(keep: bool, threads: int) -> None:
    """Time ``TIMED`` updates after ``WARMUP`` and print the median in ms as JSON."""
    import time

    import pyro
    import torch

    from probgates.data.batching import DatasetSplits, SequenceDataset
    from probgates.infer import TrainConfig, Trainer, keep_freed_memory
    from probgates.sparse import SparseSpec, build_sparse_model

    if keep and not keep_freed_memory():
        raise SystemExit("keep_freed_memory() is not available here (not glibc)")
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    n = BATCH * (WARMUP + TIMED)
    tokens = [torch.randint(0, VOCAB, (STEPS + 1,), generator=g) for _ in range(n)]
    train = SequenceDataset([t[:-1] for t in tokens], [t[1:] for t in tokens], name="tokens")
    info = {"likelihood": "categorical", "vocab_size": VOCAB, "num_classes": VOCAB, "name": "tokens"}
    data = DatasetSplits(train, None, None, info)
    pyro.set_rng_seed(0)
    spec = SparseSpec(variant="W+G+N", hidden_size=HIDDEN, embedding_dim=0, input_groups=False)
    trainer = Trainer(build_sparse_model(spec, data), data, TrainConfig(batch_size=BATCH, progress=False))
    times = []
    for k in range(WARMUP + TIMED):
        batch = train.batch(range(k * BATCH, (k + 1) * BATCH))
        start = time.perf_counter()
        trainer.update(batch, 1.0)
        times.append((time.perf_counter() - start) * 1e3)
    print(json.dumps({"median_ms": statistics.median(times[WARMUP:])}))


def _run_child(keep: bool, threads: int) -> float:
    side = "keep" if keep else "system"
    command = [sys.executable, "-m", "benchmarks.bench_allocator", side, str(threads)]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["median_ms"]


def run(repeats: int = 15, threads: int = 1):
    children = max(2, min(repeats, 4))  # each child builds a 13M-weight model: a few suffice
    keep_ms, system_ms = [], []
    for _ in range(children):
        keep_ms.append(_run_child(True, threads))
        system_ms.append(_run_child(False, threads))
    paired = [a / b for a, b in zip(keep_ms, system_ms, strict=True)]
    q1, _, q3 = statistics.quantiles(paired, n=4)
    name = f"word_ptb_wgn_update_keep_freed_vs_system_allocator (B={BATCH} T={STEPS} V={VOCAB} H={HIDDEN})"
    result = Comparison(name, statistics.median(keep_ms), statistics.median(system_ms), (q1, q3))
    print(result.line(), flush=True)
    return [result]


if __name__ == "__main__":
    _child(sys.argv[1] == "keep", int(sys.argv[2]))
