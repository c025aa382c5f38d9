"""The bivariate-Beta LSTM as a Pyro model: latent Gamma sites, KL, Predictive, priors."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import Predictive

from probgates.data.batching import DatasetSplits, SequenceDataset
from probgates.gates import GAMMA_EPS
from probgates.infer import MeanFieldELBO, TraceELBO, scale_latents
from probgates.priors import GammaGatePrior
from probgates.spec import SpecError, spec_from_dict
from probgates.tasks import SequenceModel

H = 4


def _frames(n=6, dim=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    rolls = [
        (torch.rand(int(length), dim, generator=g) < 0.3).double()
        for length in torch.randint(4, 9, (n,), generator=g)
    ]
    train = SequenceDataset([r[:-1] for r in rolls], [r[1:] for r in rolls], name="toy/train")
    return DatasetSplits(train, train, None, {"likelihood": "bernoulli", "input_dim": dim})


def _model(family="bbeta5", **kw):
    return SequenceModel.for_data(_frames(), hidden_size=H, family=family, **kw)


def test_gamma_sites_per_layer_and_step_with_to_event():
    model = _model(num_layers=2)
    batch = _frames().train.batch([0, 1, 2])
    trace = poutine.trace(model.guide).get_trace(batch, 6)
    T = batch.mask.shape[1]
    names = [n for n, s in trace.nodes.items() if s["type"] == "sample" and n.startswith("gammas_")]
    assert names == [f"gammas_{layer}_{t}" for layer in range(2) for t in range(T)]
    site = trace.nodes["gammas_1_2"]
    assert site["value"].shape == (3, H * 5)
    assert site["fn"].batch_shape == (3,) and site["fn"].event_shape == (H * 5,)
    assert site["cond_indep_stack"][0].name == "sequences"


def test_cached_and_recomputed_model_agree():
    model = _model(num_layers=2)
    batch = _frames().train.batch([0, 3, 5])
    guide_trace = poutine.trace(model.guide).get_trace(batch, 6)
    assert model._guide_cache is not None
    cached = poutine.trace(poutine.replay(model.model, trace=guide_trace)).get_trace(batch, 6)
    assert model._guide_cache is None  # the model consumes the cache
    recomputed = poutine.trace(poutine.replay(model.model, trace=guide_trace)).get_trace(batch, 6)
    assert cached.log_prob_sum().item() == pytest.approx(recomputed.log_prob_sum().item(), rel=1e-12)
    assert torch.equal(cached.nodes["gates_1"]["value"], recomputed.nodes["gates_1"]["value"])


@pytest.mark.parametrize("kl_weight", [0.0, 0.1, 1.0])
def test_kl_part_is_lambda_times_the_closed_form_gamma_kl(kl_weight):
    model = _model()
    data = _frames()
    batch = data.train.batch([0, 1, 2, 3])
    elbo = MeanFieldELBO()
    guide = scale_latents(model.guide, kl_weight)
    guide_trace = poutine.trace(guide).get_trace(batch, 4)
    elbo.loss(scale_latents(model.model, kl_weight), poutine.replay(guide, trace=guide_trace), batch, 4)
    expected = 0.0
    for t in range(batch.mask.shape[1]):
        alpha = guide_trace.nodes[f"gammas_0_{t}"]["fn"].base_dist.base_dist.concentration
        kl = torch.distributions.kl_divergence(
            dist.Gamma(alpha, 1.0), dist.Gamma(torch.full_like(alpha, 0.5), 1.0)
        )
        expected += (kl.sum(-1) * batch.mask[:, t]).sum().item()
    assert elbo.last_parts["kl"] == pytest.approx(kl_weight * expected, rel=1e-9, abs=1e-12)


def test_mean_field_and_trace_elbo_agree_in_expectation():
    model = _model()
    batch = _frames().train.batch([0, 1])
    mean_field = MeanFieldELBO()
    guide_trace = poutine.trace(model.guide).get_trace(batch, 2)
    mean_field.loss(model.model, poutine.replay(model.guide, trace=guide_trace), batch, 2)
    # The guide's shapes do not depend on its samples only through earlier steps; average the
    # Monte-Carlo KL over many full draws against the analytic KL of the same draws.
    differences = []
    trace_elbo = TraceELBO()
    for _ in range(300):
        guide_trace = poutine.trace(model.guide).get_trace(batch, 2)
        replayed = poutine.replay(model.guide, trace=guide_trace)
        mean_field.loss(model.model, replayed, batch, 2)
        trace_elbo.loss(model.model, replayed, batch, 2)
        differences.append(trace_elbo.last_parts["kl"] - mean_field.last_parts["kl"])
    differences = torch.tensor(differences)
    assert abs(differences.mean().item()) < 4 * differences.std().item() / len(differences) ** 0.5


def test_predictive_returns_gates_and_concentrations_with_documented_shapes():
    model = _model(num_layers=2)
    batch = _frames().train.batch([0, 1, 2])
    T = batch.mask.shape[1]
    predictive = Predictive(
        model.model,
        guide=model.guide,
        num_samples=3,
        return_sites=["gates_0", "gates_1", "concentration_1", "gammas_0_0"],
    )
    samples = predictive(batch, 6)
    assert samples["gates_0"].shape == (3, 3, T, 2, H)
    assert samples["concentration_1"].shape == (3, 3, T, H, 5)
    assert samples["gammas_0_0"].shape == (3, 3, H * 5)
    assert not torch.equal(samples["gates_1"][0], samples["gates_1"][1])  # stochastic gates


def test_sample_rule_averages_predictive_draws():
    model = _model(eval_rule="sample", eval_samples=4).eval()
    batch = _frames().train.batch([0, 1])
    torch.manual_seed(0)
    sampled = model.evaluate(batch)["nll"]
    model.eval_rule = "mean"
    assert not torch.isclose(sampled, model.evaluate(batch)["nll"])


def test_hierarchical_prior_posterior_moves_toward_the_generating_value():
    """Fix the guide's Gamma shapes at a known value a* and learn only the hyper-posterior:
    the KL terms of many Gamma coordinates pull alpha0 from its initial 0.5 toward a*."""
    target = 2.0
    prior = GammaGatePrior(
        kind="hierarchical", concentration=0.5, hyperprior="gamma", hyper_a=1.0, hyper_b=0.5
    )
    model = _model(family="beta", prior=prior)
    params = dict(model.named_parameters())
    with torch.no_grad():
        params["layers.0.weight_ih"].zero_()
        params["layers.0.weight_hh"].zero_()
        params["layers.0.bias"].fill_(torch.log(torch.expm1(torch.tensor(target - GAMMA_EPS))).item())
    # Only the hyper-posterior learns (the param store makes every parameter trainable, so the
    # others are frozen through a zero learning rate).
    optim = pyro.optim.Adam(lambda name, _: {"lr": 0.1 if name.startswith("gamma_prior") else 0.0})
    svi = pyro.infer.SVI(model.model, model.guide, optim, MeanFieldELBO())
    data = _frames(n=40)
    batch = data.train.batch(range(40))
    start_error = (model.gamma_prior.guide_loc.exp() - target).abs().mean().item()
    for _ in range(150):
        svi.step(batch, 40)
    error = (model.gamma_prior.guide_loc.exp() - target).abs().mean().item()
    assert start_error == pytest.approx(1.5)
    assert error < 0.15


def test_learned_prior_is_a_positive_parameter():
    model = _model(prior=GammaGatePrior(kind="learned", concentration=[0.5, 0.6, 0.7, 0.8, 0.9]))
    batch = _frames().train.batch([0])
    poutine.trace(model.model).get_trace(batch, 1)
    assert "gamma_prior.learned_concentration_unconstrained" in pyro.get_param_store().keys() or any(
        "learned_concentration" in k for k in pyro.get_param_store().keys()
    )
    with pytest.raises(ValueError, match="has 2 values; the gate family has 5 Gammas"):
        _model(prior=GammaGatePrior(concentration=[0.5, 0.6]))


def test_deterministic_families_have_no_latent_sites():
    for family in ("lstm", "sigmoid", "g2"):
        model = _model(family=family)
        batch = _frames().train.batch([0, 1])
        trace = poutine.trace(model.guide).get_trace(batch, 2)
        assert not [s for s in trace.nodes.values() if s["type"] == "sample"]


@pytest.mark.parametrize(
    "table, message",
    [
        ({"model": {"family": "gbeta"}}, "unknown model.family 'gbeta'; valid: lstm, sigmoid"),
        ({"model": {"prior": {"concentration": -0.5}}}, "model.prior.concentration must be positive"),
        ({"model": {"prior": {"concentration": [0.5, 0.0]}}}, "model.prior.concentration must be positive"),
        ({"model": {"prior": {"kind": "hierarchical", "hyper_a": -1.0}}}, "model.prior.hyper_a and hyper_b"),
        (
            {"model": {"prior": {"kind": "hierarchical", "hyperprior": "cauchy"}}},
            "unknown model.prior.hyperprior",
        ),
        ({"model": {"prior": {"kind": "empirical"}}}, "unknown model.prior.kind 'empirical'"),
        ({"train": {"kl": {"weight": -0.001}}}, "KL weight must be >= 0"),
        ({"model": {"g2": {"p": 2.0}}, "x": 1}, "unknown key 'x'"),
        ({"model": {"family": "g2", "g2": {"p": 2.0}}}, "g2 noise probability"),
        ({"model": {"eval_rule": "median"}}, "unknown model.eval_rule 'median'"),
    ],
)
def test_bad_model_specs_are_rejected_naming_the_key(table, message):
    with pytest.raises(SpecError, match=message):
        spec_from_dict(table)


def test_prior_round_trips_through_toml(tmp_path):
    from probgates.spec import load_spec

    spec = spec_from_dict(
        {
            "model": {
                "family": "bbeta5",
                "prior": {
                    "kind": "hierarchical",
                    "concentration": [0.5, 0.5, 1.0, 1.0, 2.0],
                    "hyperprior": "lognormal",
                    "hyper_a": 0.0,
                    "hyper_b": 1.0,
                },
            }
        }
    )
    path = tmp_path / "spec.toml"
    path.write_text(spec.to_toml())
    assert load_spec(path).model.prior == spec.model.prior


@pytest.mark.parametrize(
    "family, hidden, count",
    [
        ("sigmoid", 200, 569_688),
        ("cifg", 232, 567_560),
        ("beta", 161, 567_774),
        ("bbeta3", 177, 565_249),
        ("bbeta5", 148, 566_336),
    ],
)
def test_parameter_counts_match_the_paper_and_the_budget_helper_finds_its_sizes(family, hidden, count):
    data = DatasetSplits(
        SequenceDataset([torch.zeros(2, 88)], [torch.zeros(2, 88)], name="x"),
        None,
        None,
        {"likelihood": "bernoulli", "input_dim": 88},
    )
    model = SequenceModel.for_data(data, hidden_size=hidden, num_layers=2, family=family)
    assert model.num_weights() == count
    assert SequenceModel.hidden_size_for_budget(data, count, num_layers=2, family=family) == hidden
