"""Speed of the structured-sparsification model (B=64, T=100, input 128, H=256).

Lines printed (A / B):

* ``sparse_wgn_svi_step_vs_nn_lstm_step``: one SVI update (``Trainer`` step: guide and model with
  every W, G, N site, registered KL, fused kernel with the group variables folded into the weights,
  LRT head, Adam) against one training update of a dense ``torch.nn.LSTM`` with a linear head.
  Target of the issue: <= 1.5.
* ``sparse_wgn_per_sequence_svi_step_vs_nn_lstm_step``: the same with group variables drawn once per
  sequence (the paper code), which needs the Python loop: what per-sequence noise costs.
* ``compact_eval_vs_dense_eval`` and ``torch_lstm_export_eval_vs_dense_eval``: inference of the
  exported compact module / the reduced plain ``nn.LSTM`` against the dense ``nn.LSTM`` model of the
  original size, on a W+G+N model trained here for about 90 s (sparse-signal task, 128 features of
  which 64 are relevant, 4 classes) so that the sparsity is learned, not drawn. Also prints the FLOP
  reduction (multiply-adds of the recurrence, input projection and head per step); the target is
  speedup >= FLOP reduction / 2.
"""

from __future__ import annotations

import dataclasses
import time

import pyro
import torch
from torch import nn
from torch.nn import functional as F

from benchmarks.harness import compare, no_grad_call
from probgates.data import load_dataset
from probgates.infer import TrainConfig, Trainer
from probgates.sparse import (
    SparseSpec,
    build_sparse_model,
    compression_stats,
    find_structure,
    fold_model,
    to_compact,
    to_torch_lstm,
)

BATCH, STEPS, INPUT, HIDDEN = 64, 100, 128, 256


def _data(num_sequences=BATCH, relevant=8, seed=0):
    return load_dataset(
        "sparse_signal",
        num_sequences=num_sequences,
        seq_len=STEPS,
        num_features=INPUT,
        num_relevant=relevant,
        seed=seed,
        num_valid=0 if num_sequences == BATCH else None,
        num_test=0 if num_sequences == BATCH else None,
    )


class DenseLSTM(nn.Module):
    def __init__(self, input_size=INPUT, hidden=HIDDEN, classes=2):
        super().__init__()
        self.lstm, self.head = nn.LSTM(input_size, hidden, batch_first=True), nn.Linear(hidden, classes)

    def forward(self, x):
        return self.head(self.lstm(x)[0])


def _flops_dense(D, H, O) -> int:
    return 4 * H * (D + H) + O * H


def _flops_compact(structure) -> int:
    s = compression_stats(structure)
    n = s["gates_nonconstant"]
    return (
        n * (s["inputs_kept"] + s["hidden_kept"]) + structure.network.head_weight.shape[0] * s["hidden_kept"]
    )


def _train_sparse_model(seconds: float = 90.0):
    """A W+G+N model (input 128, hidden 256) trained on the sparse-signal task for about ``seconds``.

    Half of the 128 features are relevant and there are 4 classes, so the model needs many weights
    and its learned sparsity is moderate; training uses 20-step sequences (inference is timed on 100).
    """
    data = load_dataset(
        "sparse_signal", num_sequences=6000, seq_len=20, num_features=INPUT, num_relevant=64, num_classes=4
    )
    pyro.set_rng_seed(0)
    spec = SparseSpec(variant="W+G+N", hidden_size=HIDDEN, embedding_dim=0)
    model = build_sparse_model(spec, data)
    config = TrainConfig(epochs=1000, batch_size=BATCH, lr=0.01, progress=False)
    trainer = Trainer(model, data, config)
    start = time.perf_counter()
    epochs = 0

    def stop(record):
        nonlocal epochs
        epochs += 1
        if time.perf_counter() - start > seconds:
            trainer.config = dataclasses.replace(config, epochs=epochs)

    trainer.fit(on_epoch_end=stop)
    return model.eval(), data, epochs, trainer.evaluate("test")


def run(repeats: int = 15, threads: int = 1):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    data = _data()
    batch = data.train.batch(range(BATCH)).to(torch.float32)
    shape = f"B={BATCH} T={STEPS} in={INPUT} H={HIDDEN}"
    options = dict(repeats=repeats, threads=threads)

    def svi_step_of(group_noise):
        pyro.set_rng_seed(0)
        model = build_sparse_model(
            SparseSpec(hidden_size=HIDDEN, embedding_dim=0, group_noise=group_noise), data
        )
        trainer = Trainer(model, data, TrainConfig(batch_size=BATCH, progress=False))
        return lambda: trainer.update(batch, 1.0)

    dense = DenseLSTM()
    optim = torch.optim.Adam(dense.parameters(), lr=1e-3)
    last = batch.lengths - 1

    def dense_step():
        logits = dense(batch.inputs)[torch.arange(BATCH), last]
        loss = F.cross_entropy(logits, batch.targets, reduction="sum")
        optim.zero_grad()
        loss.backward()
        optim.step()

    results = [
        compare(
            f"sparse_wgn_svi_step_vs_nn_lstm_step ({shape})", svi_step_of("minibatch"), dense_step, **options
        ),
        compare(
            f"sparse_wgn_per_sequence_svi_step_vs_nn_lstm_step ({shape})",
            svi_step_of("sequence"),
            dense_step,
            **options,
        ),
    ]

    model, trained_data, epochs, test = _train_sparse_model()
    structure = find_structure(fold_model(model), "reachable")
    stats = compression_stats(structure)
    compact, plain = to_compact(structure), to_torch_lstm(structure)
    reference = DenseLSTM(classes=4)
    x = torch.randn(BATCH, STEPS, INPUT)
    reduction = _flops_dense(INPUT, HIDDEN, 4) / max(_flops_compact(structure), 1)
    print(
        f"sparse model trained {epochs} epochs: test accuracy {test['accuracy']:.3f}, compression "
        f"{stats['compression']:.1f}x, inputs {stats['inputs_kept']}/{INPUT}, "
        f"hidden {stats['hidden_kept']}/{HIDDEN}, "
        f"non-constant gates {stats['gates_nonconstant']} {stats['gates_nonconstant_by_type']}; "
        f"FLOP reduction (compact vs dense, per step) {reduction:.1f}x",
        flush=True,
    )

    results.append(
        compare(
            f"compact_eval_vs_dense_eval ({shape})",
            no_grad_call(compact, x),
            no_grad_call(reference, x),
            **options,
        )
    )
    results.append(
        compare(
            f"torch_lstm_export_eval_vs_dense_eval ({shape})",
            no_grad_call(plain, x),
            no_grad_call(reference, x),
            **options,
        )
    )
    speedup = 1 / results[-2].ratio
    print(
        f"compact speedup {speedup:.1f}x vs FLOP reduction {reduction:.1f}x: "
        f"{'meets' if speedup >= reduction / 2 else 'misses'} the target speedup >= FLOP reduction / 2",
        flush=True,
    )
    return results
