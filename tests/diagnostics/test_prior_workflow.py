"""``probgates priors``: what a gate prior implies, from the prior alone."""

import json
import math

import numpy as np
import pytest
import torch

from probgates.diagnostics import draw_prior_gates, format_summary, prior_report
from probgates.gates import make_family
from probgates.nn.gate_prior import hyperprior_mean
from probgates.priors import GammaGatePrior
from probgates.spec import load_spec, spec_from_dict

#: bbeta5: f = (G2 + G4) / (G2 + G3 + G4 + G5); large alpha0 on G2, G4 and small on G3, G5 opens f.
OPEN_FORGET = [1.0, 20.0, 0.05, 20.0, 0.05]


def _spec_file(tmp_path, prior: dict, family="bbeta5"):
    spec = spec_from_dict({"name": "open-forget", "model": {"family": family, "prior": prior}})
    path = tmp_path / "spec.toml"
    path.write_text(spec.to_toml())
    return path


def test_open_forget_gate_prior_concentrates_f_near_one(tmp_path):
    index = prior_report(
        _spec_file(tmp_path, {"concentration": OPEN_FORGET}), tmp_path / "report", num_draws=8000
    )
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["f"]["median"] > 0.99 and summary["f"]["lower"] > 0.95
    assert summary["p_f_over_0.9"] > 0.99
    assert summary["half_life_steps"]["median"] > 100
    assert summary["i"]["median"] < 0.2  # i = (G1 + G3) / (G1 + G3 + G4 + G5) stays small
    page = index.read_text()
    for name in ("prior_marginals.png", "prior_joint.png", "prior_memory.png"):
        assert f'src="{name}"' in page and (index.parent / name).stat().st_size > 5000
    assert "<script" not in page and "http" not in page
    assert "f: mean" in format_summary(summary)


def test_default_prior_is_symmetric_and_forgets_fast():
    draws = draw_prior_gates(GammaGatePrior(), "bbeta5", num_units=20, draws_per_unit=500)
    summary = draws.summary()
    assert summary["f"]["median"] == pytest.approx(0.5, abs=0.03)
    assert summary["half_life_steps"]["median"] == pytest.approx(1.0, rel=0.15)
    assert summary["correlation_pooled"] < 0  # G3 sits in i's numerator and f's denominator


SHAPES = {"beta": [0.5, 2.0, 3.0, 0.7], "bbeta3": [0.5, 2.0, 1.5], "bbeta5": [0.5, 2.0, 1.0, 0.3, 0.8]}


@pytest.mark.parametrize("family", ["beta", "bbeta3", "bbeta5"])
def test_fixed_prior_marginals_are_the_family_beta_marginals(family):
    alpha0 = SHAPES[family]
    draws = draw_prior_gates(GammaGatePrior(concentration=alpha0), family, num_units=20, draws_per_unit=2000)
    a_i, b_i, a_f, b_f = make_family(family).marginal_concentrations(torch.tensor(alpha0))
    for values, a, b in ((draws.i, a_i, b_i), (draws.f, a_f, b_f)):
        beta = torch.distributions.Beta(a, b)
        assert values.mean() == pytest.approx(beta.mean.item(), abs=0.01)
        assert values.var() == pytest.approx(beta.variance.item(), rel=0.08)


def test_hierarchical_prior_draws_alpha0_from_the_hyperprior():
    for prior in (
        GammaGatePrior(kind="hierarchical", hyper_a=2.0, hyper_b=4.0),
        GammaGatePrior(kind="hierarchical", hyperprior="lognormal", hyper_a=-1.0, hyper_b=0.5),
    ):
        draws = draw_prior_gates(prior, "bbeta5", num_units=2000, draws_per_unit=3)
        assert draws.alpha0.shape == (2000, 5)
        assert len(np.unique(draws.alpha0[:, 0])) == 2000
        assert draws.alpha0.mean() == pytest.approx(hyperprior_mean(prior), rel=0.05)


def test_hierarchical_report_shows_the_hyperprior(tmp_path):
    prior = {"kind": "hierarchical", "hyperprior": "lognormal", "hyper_a": 0.0, "hyper_b": 1.0}
    index = prior_report(_spec_file(tmp_path, prior), tmp_path / "h", num_draws=2000, num_units=50)
    assert "Hyperprior mean of alpha0: 1.649" in index.read_text()
    summary = json.loads((tmp_path / "h" / "summary.json").read_text())
    assert summary["num_units"] == 50 and summary["draws_per_unit"] == 40
    assert math.isfinite(summary["correlation_per_unit"]["median"])


def test_deterministic_family_has_no_gate_prior(tmp_path):
    with pytest.raises(ValueError, match="model.family 'lstm' has deterministic gates and no gate prior"):
        prior_report(_spec_file(tmp_path, {"concentration": 0.5}, family="lstm"), tmp_path / "x")


@pytest.mark.parametrize(
    "prior",
    [
        {"kind": "fixed", "concentration": OPEN_FORGET},
        {"kind": "learned", "concentration": 0.7},
        {
            "kind": "hierarchical",
            "concentration": 0.5,
            "hyperprior": "lognormal",
            "hyper_a": -0.5,
            "hyper_b": 2.0,
        },
    ],
)
def test_gate_prior_round_trips_through_toml(tmp_path, prior):
    path = _spec_file(tmp_path, prior)
    loaded = load_spec(path).model.prior
    assert loaded == GammaGatePrior(**prior)
    assert isinstance(loaded, GammaGatePrior) and all(isinstance(c, float) for c in loaded.concentration)
    path.write_text(load_spec(path).to_toml())
    assert load_spec(path).model.prior == loaded
