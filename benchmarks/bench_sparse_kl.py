"""What the guide's :class:`~probgates.distributions.LogAlphaNormal` saves in the KL of big layers.

Each line compares the guide as it is (a ``LogAlphaNormal`` whose KL reads the clipped log alpha
directly) with the same guide built as a plain ``Normal``, whose registered KL recomputes
``log alpha = 2 (log sigma - log |theta|)`` from loc and scale and so needs its loc kept away from
0 (the earlier implementation, defined here as the reference):

* ``sparse_kl_and_draw_log_alpha_normal_vs_plain_normal``: one guide draw plus the KL, forward and
  backward, of one sparsified tensor of the IMDb embedding's size (20,002 x 300);
* ``imdb_wgn_update_log_alpha_normal_vs_plain_normal``: one SVI update of an IMDb-sized W+G+N model
  (embedding 20,002 x 300, LSTM 128, B=128, T=200, generated tokens of Zipf frequencies);
* ``word_ptb_wgn_update_log_alpha_normal_vs_plain_normal``: one SVI update of a word-PTB-sized W+G+N
  model (one-hot 10,000-word inputs, LSTM 256, 10,000-way head; B=32, T=35).

The measurements run in a child process that keeps freed memory as the ``probgates`` command does
(:func:`probgates.infer.keep_freed_memory`), so that page faults do not hide the difference and
the setting does not leak into the benchmarks that run after this one.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys

import torch

from benchmarks.harness import compare

_TINY = 1e-8


def _plain_normal_posterior(self, copies=None):
    """The reference guide: ``Normal(loc, sigma')`` with loc kept ``1e-8`` away from 0."""
    import pyro.distributions as dist

    log_theta2 = self.theta.square().clamp_min(_TINY**2).log()
    log_alpha = (2.0 * self.log_sigma - log_theta2).clamp(*self.clip)
    scale = (0.5 * (log_alpha + log_theta2)).exp()
    tiny = torch.where(self.theta < 0, -_TINY, _TINY).to(self.theta.dtype)
    loc = torch.where(self.theta.abs() < _TINY, tiny, self.theta)
    q = dist.Normal(loc, scale)
    if copies is not None:
        q = q.expand((copies, *self.shape))
    return q.to_event(q.batch_shape.__len__())


@contextlib.contextmanager
def _plain_normal_guides():
    from probgates.sparse.variational import SparseVariable

    current = SparseVariable.posterior
    SparseVariable.posterior = _plain_normal_posterior
    try:
        yield
    finally:
        SparseVariable.posterior = current


def _with_plain_normal(fn):
    def reference():
        with _plain_normal_guides():
            return fn()

    return reference


def _kl_and_draw(variable):
    from torch.distributions import kl_divergence

    def step():
        q = variable.posterior()
        loss = q.rsample()[:100].sum() + kl_divergence(q, variable.prior()).sum()
        variable.zero_grad()
        loss.backward()

    return step


def _update(trainer, batch):
    return lambda: trainer.update(batch, 1.0)


def _token_trainer(vocab, embedding_dim, hidden, batch_size, steps, per_step):
    import pyro

    from probgates.data.batching import DatasetSplits, SequenceDataset
    from probgates.infer import TrainConfig, Trainer
    from probgates.sparse import SparseSpec, build_sparse_model

    g = torch.Generator().manual_seed(0)
    frequencies = 1.0 / torch.arange(1, vocab + 1, dtype=torch.float64)
    tokens = torch.multinomial(frequencies, batch_size * (steps + 1), replacement=True, generator=g)
    tokens = tokens.view(batch_size, steps + 1)
    if per_step:
        train = SequenceDataset(list(tokens[:, :-1]), list(tokens[:, 1:]), name="tokens")
        classes = vocab
    else:
        train = SequenceDataset(list(tokens[:, :-1]), torch.arange(batch_size) % 2, name="tokens")
        classes = 2
    info = {"likelihood": "categorical", "vocab_size": vocab, "num_classes": classes, "name": "tokens"}
    data = DatasetSplits(train, None, None, info)
    pyro.set_rng_seed(0)
    spec = SparseSpec(
        variant="W+G+N", hidden_size=hidden, embedding_dim=embedding_dim, input_groups=embedding_dim > 0
    )
    trainer = Trainer(
        build_sparse_model(spec, data), data, TrainConfig(batch_size=batch_size, progress=False)
    )
    return trainer, train.batch(range(batch_size))


def _child(repeats: int, threads: int) -> None:
    from probgates.infer import keep_freed_memory
    from probgates.sparse import SparseVariable

    keep_freed_memory()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    options = dict(repeats=repeats, threads=threads)
    variable = SparseVariable("w", torch.empty(20002, 300).uniform_(-0.05, 0.05))
    step = _kl_and_draw(variable)
    compare(
        "sparse_kl_and_draw_log_alpha_normal_vs_plain_normal (20002x300)",
        step,
        _with_plain_normal(step),
        **options,
    )
    updates = [
        ("imdb_wgn", "V=20002 E=300 H=128 B=128 T=200", (20002, 300, 128, 128, 200, False)),
        ("word_ptb_wgn", "one-hot V=10000 H=256 B=32 T=35", (10000, 0, 256, 32, 35, True)),
    ]
    for name, shape, sizes in updates:
        update = _update(*_token_trainer(*sizes))
        compare(
            f"{name}_update_log_alpha_normal_vs_plain_normal ({shape})",
            update,
            _with_plain_normal(update),
            warmup=2,
            repeats=max(3, repeats // 2),
            threads=threads,
        )


def run(repeats: int = 15, threads: int = 1):
    command = [sys.executable, "-m", "benchmarks.bench_sparse_kl", str(repeats), str(threads)]
    subprocess.run(command, check=True)


if __name__ == "__main__":
    _child(int(sys.argv[1]), int(sys.argv[2]))
