"""Speed of the Gamma-ratio gate model against plain LSTM loops (B=32, T=100, input 88, H=128).

Lines printed (A / B):

* ``bbeta5_svi_step_vs_loop_step``: one SVI update (``Trainer`` step: guide + model + analytic
  Gamma KL + Adam) of a one-layer bbeta5 model with a Gamma(0.5, 1) prior, exact implicit Gamma
  gradients (the default), against one training update of a plain PyTorch Python-loop sigmoid
  LSTM of the same sizes (input projection hoisted, ``addmm`` per step, Adam). Target: <= 1.5.
* ``bbeta5_svi_step_marsaglia_tsang_vs_loop_step``: the same with
  ``gamma_reparam = "marsaglia_tsang"`` (fast pathwise Gamma draws, slightly biased gradient).
* ``bbeta5_svi_step_vs_nn_lstm_step``: the default SVI update against ``torch.nn.LSTM``.
* ``bbeta5_torch_step_vs_loop_step``: the bbeta5 recurrence and PyTorch's analytic Gamma KL as
  one plain PyTorch pass (no Pyro), against the plain loop: what the gates cost outside Pyro.
* ``gamma_rsample_vs_loop_step``: only the 100 ``Gamma.rsample`` calls (PyTorch's sampler and
  implicit gradient) and their backward, against the plain loop.
* ``gamma_latent_floor_vs_loop_step``: the least Gamma work any design of this model does per
  update, with the fastest pieces here: 100 Marsaglia-Tsang draws of the B x 5H Gammas and their
  vectorized analytic KL, forward and backward, no network at all. While this ratio exceeds the
  target, no design built on these primitives can reach it.
* ``gamma_kl_floor_vs_loop_step`` and ``gamma_draws_floor_vs_loop_step``: the two halves of that
  floor on their own (the vectorized analytic KL alone; the Marsaglia-Tsang draws alone).
* ``bbeta5_mean_eval_vs_loop_eval``: evaluation under the mean rule (no grad) against the plain
  loop's forward (no grad). Target: <= 1.3.
* ``mean_rule_floor_vs_loop_eval``: the plain loop's forward plus, per step, the one computation
  the mean rule cannot share with it: the softplus of the B x 5H Gamma-shape preactivations.
* ``mean_rule_network_floor_vs_loop_eval``: the plain loop's forward changed into the part of the
  mean rule that no implementation can skip: a recurrent product 7H wide (five Gamma shapes, o
  and g per unit), the softplus of the 5H shapes, o, g and the cell update, but no Gamma sums and
  no gate ratios (i and f are held at constants).
"""

from __future__ import annotations

import pyro
import torch
from torch import nn
from torch.nn import functional as F

from benchmarks.harness import compare
from probgates.data.batching import DatasetSplits, SequenceDataset
from probgates.distributions import MarsagliaTsangGamma, gamma_kl
from probgates.infer import TrainConfig, Trainer
from probgates.tasks import SequenceModel

BATCH, STEPS, INPUT, HIDDEN = 32, 100, 88, 128


def _frames_data() -> DatasetSplits:
    g = torch.Generator().manual_seed(0)
    rolls = [(torch.rand(STEPS + 1, INPUT, generator=g) < 0.05).float() for _ in range(BATCH)]
    train = SequenceDataset([r[:-1] for r in rolls], [r[1:] for r in rolls], name="bench")
    return DatasetSplits(train, None, None, {"likelihood": "bernoulli", "input_dim": INPUT})


class LoopLSTM(nn.Module):
    """The reference: a sigmoid LSTM as a plain Python loop, input projection hoisted.

    The steps read ``x_proj.unbind(1)``: indexing ``x_proj[:, t]`` per step would give the backward
    pass a full-size zero-filled gradient per step (quadratic in T), which slows this baseline
    several-fold and would flatter every ratio against it.
    """

    def __init__(self):
        super().__init__()
        self.weight_ih = nn.Parameter(torch.randn(4 * HIDDEN, INPUT) * 0.05)
        self.weight_hh = nn.Parameter(torch.randn(4 * HIDDEN, HIDDEN) * 0.05)
        self.bias = nn.Parameter(torch.zeros(4 * HIDDEN))
        self.head = nn.Linear(HIDDEN, INPUT)

    def forward(self, x):
        x_proj = F.linear(x, self.weight_ih, self.bias)
        weight_hh_t = self.weight_hh.t()
        h = c = x.new_zeros(x.shape[0], HIDDEN)
        states = []
        for x_t in x_proj.unbind(1):
            i, f, g, o = torch.addmm(x_t, h, weight_hh_t).chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            states.append(h)
        return self.head(torch.stack(states, 1))


def _bbeta5(data: DatasetSplits, **options) -> SequenceModel:
    """A fresh one-layer bbeta5 model. PyroModule parameters live in Pyro's global param store
    under their module names, so two live models of one class would share them: every model here
    is built after the previous one is done with, on a cleared store."""
    pyro.clear_param_store()
    return SequenceModel.for_data(data, hidden_size=HIDDEN, family="bbeta5", **options)


def run(repeats: int = 15, threads: int = 1):
    torch.manual_seed(0)
    data = _frames_data()
    batch = data.train.batch(range(BATCH)).to(torch.float32)
    shape = f"B={BATCH} T={STEPS} in={INPUT} H={HIDDEN}"
    options = dict(repeats=repeats, threads=threads)

    loop = LoopLSTM()
    loop_optim = torch.optim.Adam(loop.parameters(), lr=1e-3)

    def loop_step():
        loss = F.binary_cross_entropy_with_logits(loop(batch.inputs), batch.targets, reduction="sum")
        loop_optim.zero_grad()
        loss.backward()
        loop_optim.step()

    def loop_eval():
        with torch.no_grad():
            loop(batch.inputs)

    fused, fused_head = nn.LSTM(INPUT, HIDDEN, batch_first=True), nn.Linear(HIDDEN, INPUT)
    fused_optim = torch.optim.Adam([*fused.parameters(), *fused_head.parameters()], lr=1e-3)

    def fused_step():
        logits = fused_head(fused(batch.inputs)[0])
        loss = F.binary_cross_entropy_with_logits(logits, batch.targets, reduction="sum")
        fused_optim.zero_grad()
        loss.backward()
        fused_optim.step()

    def svi_step_of(gamma_reparam):
        model = _bbeta5(data, gamma_reparam=gamma_reparam)
        trainer = Trainer(model, data, TrainConfig(batch_size=BATCH, progress=False))
        return lambda: trainer.update(batch, 1.0)

    results = []
    svi_step = svi_step_of("implicit")
    results.append(compare(f"bbeta5_svi_step_vs_loop_step ({shape})", svi_step, loop_step, **options))
    results.append(compare(f"bbeta5_svi_step_vs_nn_lstm_step ({shape})", svi_step, fused_step, **options))
    svi_step = svi_step_of("marsaglia_tsang")
    name = f"bbeta5_svi_step_marsaglia_tsang_vs_loop_step ({shape})"
    results.append(compare(name, svi_step, loop_step, **options))

    plain = _bbeta5(data).train()
    plain_optim = torch.optim.Adam(plain.parameters(), lr=1e-3)
    prior = torch.distributions.Gamma(torch.tensor(0.5), torch.tensor(1.0))

    def plain_bbeta5_step():
        states, outputs = plain.run_layers(batch)
        alpha = outputs[0].concentration
        kl = torch.distributions.kl_divergence(torch.distributions.Gamma(alpha, torch.ones(())), prior).sum()
        logits = plain.head.linear(states)
        loss = F.binary_cross_entropy_with_logits(logits, batch.targets, reduction="sum") + kl
        plain_optim.zero_grad()
        loss.backward()
        plain_optim.step()

    results.append(
        compare(f"bbeta5_torch_step_vs_loop_step ({shape})", plain_bbeta5_step, loop_step, **options)
    )

    alpha = torch.rand(BATCH, HIDDEN * 5, requires_grad=True)

    def gamma_only():
        total = sum(torch.distributions.Gamma(alpha, 1.0).rsample().sum() for _ in range(STEPS))
        total.backward()

    prior_shape, unit = torch.full((HIDDEN * 5,), 0.5).expand(BATCH, -1), torch.ones(())

    def gamma_floor():
        total = 0.0
        for _ in range(STEPS):
            draws = MarsagliaTsangGamma(alpha, 1.0, validate_args=False).rsample()
            total = total + draws.sum() + gamma_kl(alpha, unit, prior_shape, unit).sum()
        total.backward()

    def gamma_kl_floor():
        total = sum(gamma_kl(alpha, unit, prior_shape, unit).sum() for _ in range(STEPS))
        total.backward()

    def gamma_draws_floor():
        draws = (MarsagliaTsangGamma(alpha, 1.0, validate_args=False).rsample() for _ in range(STEPS))
        sum(d.sum() for d in draws).backward()

    results.append(compare(f"gamma_rsample_vs_loop_step ({shape})", gamma_only, loop_step, **options))
    results.append(compare(f"gamma_latent_floor_vs_loop_step ({shape})", gamma_floor, loop_step, **options))
    results.append(compare(f"gamma_kl_floor_vs_loop_step ({shape})", gamma_kl_floor, loop_step, **options))
    name = f"gamma_draws_floor_vs_loop_step ({shape})"
    results.append(compare(name, gamma_draws_floor, loop_step, **options))

    model = _bbeta5(data).eval()

    def mean_eval():
        with torch.no_grad():
            model.head.linear(model.states(batch))

    results.append(compare(f"bbeta5_mean_eval_vs_loop_eval ({shape})", mean_eval, loop_eval, **options))

    shape_preactivations = torch.randn(BATCH, 5 * HIDDEN)

    def loop_eval_with_softplus():
        with torch.no_grad():
            loop(batch.inputs)
            for _ in range(STEPS):
                F.softplus(shape_preactivations)

    name = f"mean_rule_floor_vs_loop_eval ({shape})"
    results.append(compare(name, loop_eval_with_softplus, loop_eval, **options))

    wide = nn.Linear(INPUT, 7 * HIDDEN)
    wide_hh_t = torch.randn(7 * HIDDEN, HIDDEN).mul_(0.05).t()
    constant_gate = torch.full((BATCH, HIDDEN), 0.5)

    def mean_rule_network():
        with torch.no_grad():
            x_proj = wide(batch.inputs)
            h = c = batch.inputs.new_zeros(BATCH, HIDDEN)
            states = []
            for x_t in x_proj.unbind(1):
                shapes, o, g = torch.addmm(x_t, h, wide_hh_t).split([5 * HIDDEN, HIDDEN, HIDDEN], 1)
                F.softplus(shapes)
                c = constant_gate * c + constant_gate * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                states.append(h)
            loop.head(torch.stack(states, 1))

    name = f"mean_rule_network_floor_vs_loop_eval ({shape})"
    results.append(compare(name, mean_rule_network, loop_eval, **options))
    return results
