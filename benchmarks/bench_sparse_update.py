"""Where the SVI update of a big sparse model goes, and what the implementation's choices save.

Lines printed (A / B):

* ``sparse_kl_and_draw_log_alpha_normal_vs_plain_normal``: one guide draw plus the KL, forward and
  backward, of one sparsified tensor of the IMDb embedding's size (20,002 x 300), with the guide as
  it is (a :class:`~probgates.distributions.LogAlphaNormal` whose KL reads the clipped log alpha
  directly) against the same guide built as a plain ``Normal``, whose registered KL recomputes
  ``log alpha = 2 (log sigma - log |theta|)`` from loc and scale and so needs its loc kept away
  from 0 (the earlier implementation, defined here as the reference);
* ``imdb_wgn_update_log_alpha_normal_vs_plain_normal``: the same two guides in one SVI update of
  an IMDb-sized W+G+N model (embedding 20,002 x 300, LSTM 128, B=128, T=200, generated tokens of
  Zipf frequencies);
* ``word_ptb_wgn_update_log_alpha_normal_vs_plain_normal``: the same in one update of a
  word-PTB-sized W+G+N model (one-hot 10,000-word inputs, LSTM 256, 10,000-way head; B=32, T=35);
* ``adam_fused_vs_unfused_step``: one Adam step of the word-PTB W_x's parameters (theta and
  log sigma, 2 x 10.24M) with ``fused=True`` (the trainer's choice) against PyTorch's default;
* ``token_log_prob_cross_entropy_vs_categorical``: the log-likelihood of word-PTB-sized logits
  (B=32, T=35, 10,000 words), forward and backward, as
  :class:`~probgates.distributions.CrossEntropyCategorical` computes it (fused cross-entropy,
  logits not normalized up front) against ``dist.Categorical(logits=...)``, which normalizes them
  when it is built (the earlier likelihood, defined here as the reference);
* ``word_ptb_wgn_update_cross_entropy_vs_categorical``: the same two likelihoods in one update of
  the word-PTB-sized W+G+N model;
* ``word_ptb_wgn_update_head_weights_vs_lrt``: the word-PTB update with the head's weights drawn
  once per minibatch (``head_noise = "weights"``, the paper code's choice for word-level language
  models) against the local reparameterization trick (``"lrt"``, the specs' default), whose output
  noise and variance product cover every one of the B x T x 10,000 logits;
* ``word_ptb_wgn_update_head_bfloat16_vs_full`` (with ``head_noise = "weights"``): the word-PTB
  update with the head's products in bfloat16 (``head_precision = "bfloat16"``) against the model's
  float32; on a CPU without bfloat16 instructions (AVX512-BF16, AMX) the ratio is above 1;
* ``word_ptb_wgn_update_compiled_vs_eager_posterior`` (head weights): the word-PTB update with every
  sparse tensor's log alpha, scale and KL from one ``torch.compile``'d kernel
  (``compiled_posterior = true``) against the eager operations;
* ``word_ptb_wgn_update_bfloat16_compiled_vs_full_eager`` (head weights, then the LRT head of the
  specs): both options together against neither;
* ``word_ptb_wgn_update_column_gather_vs_embedding_lookup``: the word-PTB update with the
  one-hot inputs' columns of W_x gathered by ``index_select`` along its dim 1 (what
  :func:`~probgates.sparse.kernels.input_projection` does on the CPU) against ``F.embedding`` on
  ``W_x^T`` (the earlier lookup), whose gradient comes back transposed;
* ``lrt_sample_vs_autograd_formula``: the head's local-reparameterization draw over word-PTB-sized
  outputs (B=32, T=35, 10,000 words), forward and backward, as
  :func:`~probgates.sparse.lrt.lrt_sample` computes it (six passes over the output) against
  ``mean + sqrt(var + eps) * randn_like(mean)`` written with autograd (eight; the earlier code);
* ``word_ptb_wgn_update_lrt_sample_vs_autograd_formula``: the same two draws in one update of the
  word-PTB-sized W+G+N model;
* ``word_ptb_wgn_update_unvalidated_vs_validated_guides``: the word-PTB update with the sparse
  tensors' guides built with ``validate_args=False`` (what
  :meth:`~probgates.sparse.SparseVariable.posterior` does) against Pyro's default argument checks
  (a NaN and a positivity test of every element, per draw);
* ``lstm_loop_folded_vs_reference_hard_sigmoid``: the recurrence that training runs for hard-sigmoid
  gates, forward and backward at IMDb's size (B=128, T=200, H=128, minibatch-level z_gate and z_h),
  as :func:`~probgates.sparse.kernels.lstm_loop_folded` computes it against the reference
  :func:`~probgates.sparse.kernels.lstm_loop`;
* ``imdb_wgn_hard_sigmoid_update_folded_vs_reference_loop``: the two loops in one update of the
  IMDb-sized W+G+N model with hard-sigmoid gates (the IMDb specs' choice).

The measurements run in a child process that keeps freed memory as the ``probgates`` command does
(:func:`probgates.infer.keep_freed_memory`), so that page faults do not hide the differences and
the setting does not leak into the benchmarks that run after this one.
"""

from __future__ import annotations

import subprocess
import sys
from unittest import mock

import torch

from benchmarks.harness import compare

_TINY = 1e-8  # the loc floor of the reference guide


def _plain_normal_posterior(self, copies=None):
    """The reference guide: ``Normal(loc, sigma')`` with loc kept ``1e-8`` away from 0."""
    import pyro.distributions as dist

    from probgates.sparse.variational import clipped_log_alpha, log_theta2

    log_t2 = log_theta2(self.theta)
    scale = (0.5 * (clipped_log_alpha(self.log_sigma, log_t2, *self.clip) + log_t2)).exp()
    tiny = torch.where(self.theta < 0, -_TINY, _TINY).to(self.theta.dtype)
    loc = torch.where(self.theta.abs() < _TINY, tiny, self.theta)
    q = dist.Normal(loc, scale)
    if copies is not None:
        q = q.expand((copies, *self.shape))
    return q.to_event(q.batch_shape.__len__())


def _plain_normal_guides():
    """The reference guide: every sparse variable's posterior is a plain ``Normal``."""
    return mock.patch("probgates.sparse.variational.SparseVariable.posterior", _plain_normal_posterior)


def _within(context, fn):
    """``fn`` run inside ``context()`` (the reference side of a comparison)."""

    def reference():
        with context():
            return fn()

    return reference


def _normalizing_categorical():
    """The reference likelihood: the sparse heads build ``dist.Categorical(logits=...)``."""
    import pyro.distributions as dist

    return mock.patch(
        "probgates.sparse.heads.CrossEntropyCategorical", lambda logits: dist.Categorical(logits=logits)
    )


def _token_log_prob(make_distribution):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(32, 35, 10000, generator=g, requires_grad=True)
    targets = torch.randint(0, 10000, (32, 35), generator=g)

    def step():
        logits.grad = None
        make_distribution(logits).log_prob(targets).sum().backward()

    return step


def _kl_and_draw(variable):
    from torch.distributions import kl_divergence

    def step():
        q = variable.posterior()
        loss = q.rsample()[:100].sum() + kl_divergence(q, variable.prior()).sum()
        variable.zero_grad()
        loss.backward()

    return step


def _adam_step(fused):
    parameters = [torch.nn.Parameter(torch.randn(1024, 10000)) for _ in range(2)]
    for p in parameters:
        p.grad = torch.randn_like(p)
    optimizers = [torch.optim.Adam([p], lr=1e-3, fused=fused) for p in parameters]  # one per tensor, as Pyro

    def step():
        for optimizer in optimizers:
            optimizer.step()

    return step


def _autograd_lrt(mean, var):
    """The reference LRT draw: the formula written with autograd."""
    from probgates.sparse.lrt import LRT_EPS

    return mean + (var + LRT_EPS).sqrt() * torch.randn_like(mean)


def _lrt_draw(draw):
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(32, 35, 10000, generator=g, requires_grad=True)
    var = torch.rand(32, 35, 10000, generator=g).mul_(0.01).requires_grad_()

    def step():
        torch.autograd.grad(draw(mean, var).sum(), (mean, var))

    return step


def _autograd_lrt_head():
    """The earlier head: training draws the LRT output with :func:`_autograd_lrt`."""
    return mock.patch("probgates.sparse.layers.lrt_sample", _autograd_lrt)


def _validated_guides():
    """The reference guides: every sparse tensor's posterior with Pyro's default argument checks."""
    from probgates.distributions import LogAlphaNormal

    def validated(loc, scale, log_alpha, kl=None, validate_args=None):
        return LogAlphaNormal(loc, scale, log_alpha, kl)

    return mock.patch("probgates.sparse.variational.LogAlphaNormal", validated)


def _reference_loop():
    """The reference recurrence: training runs :func:`lstm_loop` where it runs the folded loop."""
    from probgates.sparse.kernels import lstm_loop

    return mock.patch("probgates.sparse.layers.lstm_loop_folded", lstm_loop)


def _embedding_lookup_projection(x, weight_ih, z_x, one_hot):
    """The reference one-hot projection: ``F.embedding`` on ``W_x^T``."""
    from torch.nn import functional as F

    from probgates.sparse.kernels import input_projection

    if not one_hot or z_x is not None:
        return input_projection(x, weight_ih, z_x, one_hot)
    return F.embedding(x, weight_ih.t())


def _embedding_lookup():
    """The earlier lookup: training projects one-hot inputs with ``F.embedding`` on ``W_x^T``."""
    return mock.patch("probgates.sparse.layers.input_projection", _embedding_lookup_projection)


def _recurrence(loop, activation):
    g = torch.Generator().manual_seed(0)
    B, T, H = 128, 200, 128
    xproj = torch.randn(B, T, 4 * H, generator=g, requires_grad=True)
    w_hh = (0.1 * torch.randn(4 * H, H, generator=g)).requires_grad_()
    bias, z_gate, z_h = (torch.rand(n, generator=g).requires_grad_() for n in (4 * H, 4 * H, H))

    def step():
        out, _ = loop(xproj, w_hh, bias, z_gate, z_h, activation)
        torch.autograd.grad(out.sum(), (xproj, w_hh, bias, z_gate, z_h))

    return step


def _update(trainer, batch):
    return lambda: trainer.update(batch, 1.0)


def _token_trainer(vocab, embedding_dim, hidden, batch_size, steps, per_step, **spec_options):
    """A trainer of a W+G+N model on Zipf-distributed tokens and one batch; ``spec_options`` are
    :class:`~probgates.sparse.SparseSpec` settings."""
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
        variant="W+G+N",
        hidden_size=hidden,
        embedding_dim=embedding_dim,
        input_groups=embedding_dim > 0,
        **spec_options,
    )
    trainer = Trainer(
        build_sparse_model(spec, data), data, TrainConfig(batch_size=batch_size, progress=False)
    )
    return trainer, train.batch(range(batch_size))


def _child(repeats: int, threads: int) -> None:
    import pyro.distributions as dist

    from probgates.distributions import CrossEntropyCategorical
    from probgates.infer import keep_freed_memory
    from probgates.sparse import SparseVariable
    from probgates.sparse.kernels import lstm_loop, lstm_loop_folded
    from probgates.sparse.lrt import lrt_sample

    keep_freed_memory()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    options = dict(repeats=repeats, threads=threads)
    variable = SparseVariable("w", torch.empty(20002, 300).uniform_(-0.05, 0.05))
    step = _kl_and_draw(variable)
    compare(
        "sparse_kl_and_draw_log_alpha_normal_vs_plain_normal (20002x300)",
        step,
        _within(_plain_normal_guides, step),
        **options,
    )
    updates = [
        ("imdb_wgn", "V=20002 E=300 H=128 B=128 T=200", (20002, 300, 128, 128, 200, False)),
        ("word_ptb_wgn", "one-hot V=10000 H=256 B=32 T=35", (10000, 0, 256, 32, 35, True)),
    ]
    update_options = dict(warmup=2, repeats=max(3, repeats // 2), threads=threads)
    for name, shape, sizes in updates:
        update = _update(*_token_trainer(*sizes))
        compare(
            f"{name}_update_log_alpha_normal_vs_plain_normal ({shape})",
            update,
            _within(_plain_normal_guides, update),
            **update_options,
        )
    compare(
        "token_log_prob_cross_entropy_vs_categorical (32x35x10000)",
        _token_log_prob(CrossEntropyCategorical),
        _token_log_prob(lambda logits: dist.Categorical(logits=logits)),
        **options,
    )
    ptb_shape, ptb_sizes = updates[1][1:]
    ptb_update = _update(*_token_trainer(*ptb_sizes))
    compare(
        f"word_ptb_wgn_update_cross_entropy_vs_categorical ({ptb_shape})",
        ptb_update,
        _within(_normalizing_categorical, ptb_update),
        **update_options,
    )
    compare("adam_fused_vs_unfused_step (2 x 1024x10000)", _adam_step(True), _adam_step(None), **options)
    compare(
        f"word_ptb_wgn_update_head_weights_vs_lrt ({ptb_shape})",
        _update(*_token_trainer(*ptb_sizes, head_noise="weights")),
        _update(*_token_trainer(*ptb_sizes, head_noise="lrt")),
        **update_options,
    )
    weights_head = dict(head_noise="weights")
    compare(
        f"word_ptb_wgn_update_head_bfloat16_vs_full (head weights; {ptb_shape})",
        _update(*_token_trainer(*ptb_sizes, **weights_head, head_precision="bfloat16")),
        _update(*_token_trainer(*ptb_sizes, **weights_head)),
        **update_options,
    )
    compare(
        f"word_ptb_wgn_update_compiled_vs_eager_posterior (head weights; {ptb_shape})",
        _update(*_token_trainer(*ptb_sizes, **weights_head, compiled_posterior=True)),
        _update(*_token_trainer(*ptb_sizes, **weights_head)),
        **update_options,
    )
    both_options = dict(head_precision="bfloat16", compiled_posterior=True)
    compare(
        f"word_ptb_wgn_update_bfloat16_compiled_vs_full_eager (head weights; {ptb_shape})",
        _update(*_token_trainer(*ptb_sizes, **weights_head, **both_options)),
        _update(*_token_trainer(*ptb_sizes, **weights_head)),
        **update_options,
    )
    compare(
        f"word_ptb_wgn_update_bfloat16_compiled_vs_full_eager (LRT head; {ptb_shape})",
        _update(*_token_trainer(*ptb_sizes, **both_options)),
        ptb_update,
        **update_options,
    )
    compare(
        f"word_ptb_wgn_update_column_gather_vs_embedding_lookup ({ptb_shape})",
        ptb_update,
        _within(_embedding_lookup, ptb_update),
        **update_options,
    )
    compare(
        "lrt_sample_vs_autograd_formula (32x35x10000, fwd+bwd)",
        _lrt_draw(lrt_sample),
        _lrt_draw(_autograd_lrt),
        **options,
    )
    compare(
        f"word_ptb_wgn_update_lrt_sample_vs_autograd_formula ({ptb_shape})",
        ptb_update,
        _within(_autograd_lrt_head, ptb_update),
        **update_options,
    )
    compare(
        f"word_ptb_wgn_update_unvalidated_vs_validated_guides ({ptb_shape})",
        ptb_update,
        _within(_validated_guides, ptb_update),
        **update_options,
    )
    compare(
        "lstm_loop_folded_vs_reference_hard_sigmoid (B=128 T=200 H=128, fwd+bwd)",
        _recurrence(lstm_loop_folded, "hard_sigmoid"),
        _recurrence(lstm_loop, "hard_sigmoid"),
        **options,
    )
    imdb_shape, imdb_sizes = updates[0][1:]
    imdb_update = _update(*_token_trainer(*imdb_sizes, gate_activation="hard_sigmoid"))
    compare(
        f"imdb_wgn_hard_sigmoid_update_folded_vs_reference_loop ({imdb_shape})",
        imdb_update,
        _within(_reference_loop, imdb_update),
        **update_options,
    )


def run(repeats: int = 15, threads: int = 1):
    command = [sys.executable, "-m", "benchmarks.bench_sparse_update", str(repeats), str(threads)]
    subprocess.run(command, check=True)


if __name__ == "__main__":
    _child(int(sys.argv[1]), int(sys.argv[2]))
