"""Posterior and prior draws of a :class:`~probgates.tasks.SequenceModel` over a few sequences.

One posterior draw is what ``pyro.infer.Predictive(model, guide=guide)`` computes for one sample,
with the model's observation site unconditioned (``poutine.uncondition``) so that it also yields a
posterior-predictive draw::

    guide_trace = poutine.trace(guide).get_trace(batch, num_data)
    model_trace = poutine.trace(poutine.uncondition(poutine.replay(model, trace=guide_trace)))...

The draws are traced here rather than through ``Predictive`` for three reasons: the replayed
model receives the guide's own tensors, so it reuses the guide's recurrence (one recurrence per
draw instead of ``Predictive``'s two plus two set-up runs); the trace keeps the observation
site's distribution, which gives the pointwise log-likelihood of the observed targets; and a
progress bar can advance per draw. A test checks that ``Predictive`` conditioned on the same
Gamma draws returns the same gate values.

A prior draw traces the unconditioned model alone: hyperprior, Gammas from Gamma(alpha0, 1), the
recurrence on those Gammas, and a prior-predictive observation.

The module runs in eval mode (no dropout); stochastic gates stay stochastic because their Gammas
are Pyro sites. Deterministic families (``lstm``, ``sigmoid``, ``cifg``, ``g2``) have no latent
site: their single "draw" is the network itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.distributions.torch_distribution import MaskedDistribution
from tqdm.auto import tqdm

from probgates.data.batching import SequenceBatch
from probgates.nn.gate_prior import HYPER_SITE
from probgates.tasks import SequenceModel

OBS_SITE = "obs"


@dataclass
class Draws:
    """Stacked draws (leading dim S) over one batch, as numpy arrays.

    Attributes:
        gates: ``[S, L, B, T, 2, H]`` (i, f) of every gated layer.
        gamma_shape: ``[S, L, H, K]`` the Gamma shapes: the guide's amortized shapes averaged
            over the real steps of the batch (posterior) or alpha0 (prior); None without latent gates.
        hyper: ``[S, L, H, K]`` draws of the hierarchical site ``gate_prior_concentration``, or None.
        predictive: ``[S, N, ...]`` predictive draws of the observation at the N observed points
            (real frames of per-step targets, else sequences).
        log_likelihood: ``[S, N]`` log p(observed target | draw), pointwise (posterior only).
        extra: other sites asked for by name (``extra_sites``), ``[S, ...]``.
    """

    gates: np.ndarray
    gamma_shape: np.ndarray | None
    hyper: np.ndarray | None
    predictive: np.ndarray
    log_likelihood: np.ndarray | None
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def crop_batch(batch: SequenceBatch, max_time: int | None) -> SequenceBatch:
    """The first ``max_time`` steps of a batch with per-step targets (others are returned as is:
    a per-sequence target is read at the last real step, which cropping would move)."""
    if max_time is None or not batch.per_step_targets or batch.mask.shape[1] <= max_time:
        return batch
    mask = batch.mask[:, :max_time]
    return SequenceBatch(
        batch.inputs[:, :max_time], batch.targets[:, :max_time], mask, mask.sum(1), batch.index
    )


def observed_points(batch: SequenceBatch, values: torch.Tensor) -> torch.Tensor:
    """``values`` laid out like the targets, reduced to the observed points: the real frames
    ``[N, ...]`` of per-step targets (sequence-major), else one entry per sequence."""
    if batch.per_step_targets:
        return values[batch.mask]
    return values


def pointwise_log_likelihood(fn: dist.Distribution, batch: SequenceBatch) -> torch.Tensor:
    """log p(target) per observed point (frame or sequence) under the observation site's ``fn``.

    The heads wrap their likelihood in ``.mask(...)`` and ``.to_event(...)``; both are removed
    and the remaining label dims (piano keys, regression outputs) are summed.
    """
    base = fn
    while isinstance(base, dist.Independent | MaskedDistribution):
        base = base.base_dist
    log_prob = base.log_prob(batch.targets)
    keep = 2 if batch.per_step_targets else 1
    while log_prob.dim() > keep:
        log_prob = log_prob.sum(-1)
    return observed_points(batch, log_prob)


def _gates(outputs) -> torch.Tensor:
    return torch.stack([torch.stack([o.input_gate, o.forget_gate], 2) for o in outputs])


def _recorded_gates(trace, num_layers: int) -> np.ndarray:
    """The ``gates_{layer}`` deterministic sites of a model trace, stacked: ``[L, B, T, 2, H]``."""
    return _numpy(torch.stack([trace.nodes[f"gates_{layer}"]["value"] for layer in range(num_layers)]))


def _numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy()


def _stack(values: list) -> np.ndarray | None:
    return None if not values or values[0] is None else np.stack(values)


def _gamma_shape_mean(trace, module: SequenceModel, batch: SequenceBatch) -> torch.Tensor:
    """The guide's Gamma shapes averaged over the real steps of the batch: ``[L, H, K]``."""
    weights = batch.mask.to(torch.get_default_dtype())[..., None, None]
    shapes = []
    for layer in range(module.num_layers):
        alpha = trace.nodes[f"concentration_{layer}"]["value"]
        shapes.append((alpha * weights).sum((0, 1)) / weights.sum())
    return torch.stack(shapes)


def _extras(nodes: dict, extra_sites) -> dict[str, np.ndarray]:
    out = {}
    for name in extra_sites:
        if name not in nodes:
            raise KeyError(f"extra site {name!r} is not in the model or guide trace")
        out[name] = _numpy(nodes[name]["value"])
    return out


def draw_posterior(
    module: SequenceModel,
    batch: SequenceBatch,
    num_data: int,
    num_samples: int,
    *,
    extra_sites: tuple[str, ...] = (),
    progress: bool = False,
) -> Draws:
    """``num_samples`` posterior draws over ``batch`` (see the module docstring)."""
    was_training = module.training
    module.eval()
    gates, shapes, hyper, predictive, log_lik = [], [], [], [], []
    extra: dict[str, list] = {name: [] for name in extra_sites}
    latent = module.has_latent_gates
    count = num_samples if latent else 1
    try:
        with torch.no_grad():
            for _ in tqdm(range(count), desc="posterior draws", disable=not progress, leave=False):
                guide_trace = poutine.trace(module.guide).get_trace(batch, num_data)
                model_trace = poutine.trace(
                    poutine.uncondition(poutine.replay(module.model, trace=guide_trace))
                ).get_trace(batch, num_data)
                obs = model_trace.nodes[OBS_SITE]
                predictive.append(_numpy(observed_points(batch, obs["value"])))
                log_lik.append(_numpy(pointwise_log_likelihood(obs["fn"], batch)))
                if latent:
                    gates.append(_recorded_gates(model_trace, module.num_layers))
                    shapes.append(_numpy(_gamma_shape_mean(model_trace, module, batch)))
                    if HYPER_SITE in guide_trace.nodes:
                        hyper.append(_numpy(guide_trace.nodes[HYPER_SITE]["value"]))
                else:
                    gates.append(_numpy(_gates(module.gate_values(batch))))
                for name, value in _extras({**guide_trace.nodes, **model_trace.nodes}, extra_sites).items():
                    extra[name].append(value)
    finally:
        module.train(was_training)
    return Draws(
        gates=np.stack(gates),
        gamma_shape=_stack(shapes),
        hyper=_stack(hyper),
        predictive=np.stack(predictive),
        log_likelihood=np.stack(log_lik),
        extra={name: np.stack(values) for name, values in extra.items()},
    )


def draw_prior(
    module: SequenceModel,
    batch: SequenceBatch,
    num_data: int,
    num_samples: int,
    *,
    progress: bool = False,
) -> Draws:
    """``num_samples`` draws of the model alone (no guide): the prior of the gates over ``batch``
    given the trained weights, the prior Gamma shapes alpha0 and prior-predictive observations."""
    was_training = module.training
    module.eval()
    gates, shapes, hyper, predictive = [], [], [], []
    latent = module.has_latent_gates
    count = num_samples if latent else 1
    try:
        with torch.no_grad():
            for _ in tqdm(range(count), desc="prior draws", disable=not progress, leave=False):
                trace = poutine.trace(poutine.uncondition(module.model)).get_trace(batch, num_data)
                predictive.append(_numpy(observed_points(batch, trace.nodes[OBS_SITE]["value"])))
                if latent:
                    gates.append(_recorded_gates(trace, module.num_layers))
                    prior = module.gamma_prior
                    alpha0 = trace.nodes[HYPER_SITE]["value"] if prior.latent else prior.model()
                    shapes.append(_numpy(alpha0.expand(prior.shape)))
                    if prior.latent:
                        hyper.append(_numpy(alpha0))
                else:
                    gates.append(_numpy(_gates(module.gate_values(batch))))
    finally:
        module.train(was_training)
    return Draws(
        gates=np.stack(gates),
        gamma_shape=_stack(shapes),
        hyper=_stack(hyper),
        predictive=np.stack(predictive),
        log_likelihood=None,
    )
