"""Stateful truncated BPTT (reference §7, word-PTB): the LSTM state carried across consecutive windows."""

import os
import signal
from itertools import pairwise

import pyro
import pytest
import torch

from probgates.data import DataError, DatasetSplits, StreamDataset, batchify, bptt_batches
from probgates.infer import RunDirectory, TrainConfig, Trainer, TrainingInterrupted
from probgates.infer.trainer import evaluate_dataset
from probgates.sparse import heads

from .conftest import make_model, randomly_pruned

VOCAB, SEQ_LEN = 7, 5


def stream_data(tokens=(203, 61, 53), seed=0) -> DatasetSplits:
    """Three short random token streams as stateful splits (windows of SEQ_LEN)."""
    g = torch.Generator().manual_seed(seed)
    parts = [
        StreamDataset(torch.randint(0, VOCAB, (n,), generator=g), SEQ_LEN, name=f"toy/{split}")
        for split, n in zip(("train", "valid", "test"), tokens, strict=True)
    ]
    info = {"likelihood": "categorical", "vocab_size": VOCAB, "num_classes": VOCAB, "name": "toy_stream"}
    return DatasetSplits(*parts, info)


def _config(**kw):
    return TrainConfig(
        **{"epochs": 2, "batch_size": 4, "eval_batch_size": 3, "lr": 0.01, "progress": False, **kw}
    )


# ---- the model ------------------------------------------------------------------------------------


@pytest.mark.parametrize("embedding_dim", [0, 4], ids=["one-hot (loop on the CPU)", "embedding (fused)"])
def test_carried_state_continues_the_sequence_like_one_pass(embedding_dim):
    data = stream_data()
    model = make_model(data, variant="W+G+N", embedding_dim=embedding_dim)
    model = randomly_pruned(model, fraction=0.3, seed=2).eval()  # z_h with zeros and other values
    first, second = list(data.train.batches(4))[:2]
    whole = next(bptt_batches(batchify(data.train.stream, 4), 2 * SEQ_LEN))
    assert model.lstm.uses_loop(model.masked_values()["lstm"]) == (embedding_dim == 0)
    with torch.no_grad():
        _, carried = model.logits_and_state(first)
        continued, _ = model.logits_and_state(second, state=carried)
        fresh, _ = model.logits_and_state(second)
        reference = model.logits(whole)
    assert torch.allclose(continued, reference[:, SEQ_LEN:], atol=1e-12)
    assert (fresh - reference[:, SEQ_LEN:]).abs().max() > 1e-3  # a zero state would not do


def test_stateful_evaluation_equals_one_pass_over_the_rows():
    data = stream_data()
    model = randomly_pruned(make_model(data, variant="W+G+N", embedding_dim=0), fraction=0.3, seed=2).eval()
    rows = batchify(data.valid.stream, 3)
    whole = next(bptt_batches(rows, rows.shape[1]))
    with torch.no_grad():
        expected = heads.evaluate("tokens", model.logits(whole), whole)
    got = evaluate_dataset(model, data.valid, 3)
    assert got["nll"] == pytest.approx(float(expected["nll"] / expected["count"]), rel=1e-12)


# ---- the trainer ----------------------------------------------------------------------------------


def _record_states(model):
    """Wrap model.model and model.evaluate to log (kind, state given, final state left)."""
    log = []
    train_step, evaluate = model.model, model.evaluate

    def spy_model(batch, num_data, state=None):
        train_step(batch, num_data, state=state)
        log.append(("update", state, model.final_state))

    def spy_evaluate(batch, state=None):
        out = evaluate(batch, state=state)
        log.append(("evaluate", state, model.final_state))
        return out

    model.model, model.evaluate = spy_model, spy_evaluate
    return log


def test_trainer_carries_the_state_and_resets_it_each_epoch_and_evaluation():
    data = stream_data()
    model = make_model(data, variant="W+G+N", embedding_dim=0)
    trainer = Trainer(model, data, _config())
    log = _record_states(model)
    trainer.fit()
    runs = []  # consecutive calls of one kind: an epoch's updates or one evaluation
    for i, entry in enumerate(log):
        if i == 0 or entry[0] != log[i - 1][0]:
            runs.append([])
        runs[-1].append(entry)
    updates = data.train.num_batches(4)
    assert [(r[0][0], len(r)) for r in runs] == [("update", updates), ("evaluate", 4)] * 2
    for run in runs:
        assert run[0][1] is None  # every epoch and every evaluation starts from zeros
        for previous, current in pairwise(run):
            assert current[1] is previous[2]  # ... and hands the final state to the next batch
    assert trainer.state is None  # reset once the epoch is over


def test_resumed_stateful_run_continues_the_carried_state_exactly(tmp_path):
    data = stream_data()
    pyro.set_rng_seed(1)
    straight = Trainer(make_model(data, embedding_dim=0), data, _config(epochs=3), tmp_path / "a").fit()

    def interrupt(record):
        if record["epoch"] == 1:
            os.kill(os.getpid(), signal.SIGINT)

    pyro.set_rng_seed(1)
    trainer = Trainer(make_model(data, embedding_dim=0), data, _config(epochs=3), tmp_path / "b")
    with pytest.raises(TrainingInterrupted, match="interrupted at epoch 2, batch 1"):
        trainer.fit(on_epoch_end=interrupt)
    saved = RunDirectory(tmp_path / "b").load("checkpoint")["recurrent_state"]
    assert [s.shape for s in saved] == [(4, 5), (4, 5)]
    pyro.set_rng_seed(99)
    resumed = Trainer(make_model(data, embedding_dim=0), data, _config(epochs=3), tmp_path / "b").fit(
        resume=True
    )
    assert [r["valid_nll"] for r in resumed] == [r["valid_nll"] for r in straight]


def test_stateful_data_needs_a_model_that_carries_state():
    with pytest.raises(ValueError, match="toy/train.*is stateful.*Module does not carry a recurrent state"):
        Trainer(torch.nn.Module(), stream_data(), _config())


@pytest.mark.parametrize(
    "options, split", [({"batch_size": 500}, "toy/train"), ({"eval_batch_size": 40}, "toy/valid")]
)
def test_batch_size_larger_than_a_stream_is_a_data_error_before_training(options, split):
    data = stream_data()
    with pytest.raises(DataError, match=rf"{split}: a stream of \d+ tokens is too short for batch size"):
        Trainer(make_model(data, embedding_dim=0), data, _config(**options))
