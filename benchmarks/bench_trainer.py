"""The cost of the SVI machinery: one training step of a Pyro model against plain PyTorch.

A: ``Trainer`` update (ELBO with likelihood/KL bookkeeping, KL-weight handler, Pyro optimizer,
global-norm check) of a deterministic-weight LSTM sequence model (``nn.LSTM`` fused kernel).
B: the same network and loss written directly in PyTorch (``loss.backward()`` + ``torch.optim.Adam``).
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.harness import compare
from probgates.data.batching import DatasetSplits, SequenceDataset
from probgates.infer import TrainConfig, Trainer
from probgates.tasks import SequenceModel

BATCH, STEPS, INPUT, HIDDEN = 32, 100, 88, 128


def _frames_data(n: int) -> DatasetSplits:
    g = torch.Generator().manual_seed(0)
    rolls = [(torch.rand(STEPS + 1, INPUT, generator=g) < 0.05).float() for _ in range(n)]
    train = SequenceDataset([r[:-1] for r in rolls], [r[1:] for r in rolls], name="bench")
    return DatasetSplits(train, None, None, {"likelihood": "bernoulli", "input_dim": INPUT})


def run(repeats: int = 15, threads: int = 1):
    torch.manual_seed(0)
    data = _frames_data(BATCH)
    batch = data.train.batch(range(BATCH)).to(torch.float32)

    model = SequenceModel.for_data(data, hidden_size=HIDDEN)
    trainer = Trainer(model, data, TrainConfig(batch_size=BATCH, progress=False))

    def pyro_step():
        trainer.update(batch, 1.0)

    lstm, head = nn.LSTM(INPUT, HIDDEN, batch_first=True), nn.Linear(HIDDEN, INPUT)
    optimizer = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=1e-3)

    def torch_step():
        logits = head(lstm(batch.inputs)[0])
        loss = nn.functional.binary_cross_entropy_with_logits(logits, batch.targets, reduction="sum")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return [
        compare(
            "trainer_step_vs_torch_step (nn.LSTM, B=32 T=100 in=88 H=128)",
            pyro_step,
            torch_step,
            repeats=repeats,
            threads=threads,
        )
    ]
