import pytest
import scipy.stats
import torch

from probgates.gates import FAMILIES, GAMMA_EPS, GammaRatioFamily, make_family
from probgates.nn.gated_lstm import GatedLSTMLayer

GAMMA_FAMILIES = ["beta", "bbeta3", "bbeta5"]


@pytest.mark.parametrize("name", list(FAMILIES))
@pytest.mark.parametrize("rule", ["sample", "mean"])
def test_every_family_runs_with_documented_shapes(name, rule):
    family = make_family(name)
    layer = GatedLSTMLayer(3, 5, family)
    out = layer(torch.randn(4, 7, 3), rule)
    assert out.states.shape == out.input_gate.shape == out.forget_gate.shape == (4, 7, 5)
    assert ((out.input_gate > 0) & (out.input_gate < 1)).all()
    assert ((out.forget_gate >= 0) & (out.forget_gate <= 1)).all()
    assert layer.weight_hh.shape == ((family.num_gate_inputs + 2) * 5, 5)
    if isinstance(family, GammaRatioFamily):
        assert out.concentration.shape == (4, 7, 5, family.num_gammas)
        assert (out.concentration >= GAMMA_EPS).all()
    else:
        assert out.concentration is None


@pytest.mark.parametrize("name", GAMMA_FAMILIES)
def test_mean_rule_gives_the_closed_form_beta_means(name):
    family = make_family(name)
    alpha = torch.rand(6, 4, family.num_gammas) * 3 + 0.05
    i, f = family.mean_gates(alpha)
    a_i, b_i, a_f, b_f = family.marginal_concentrations(alpha)
    assert torch.allclose(i, a_i / (a_i + b_i))
    assert torch.allclose(f, a_f / (a_f + b_f))


@pytest.mark.parametrize("name", GAMMA_FAMILIES)
def test_mean_rule_in_the_layer_equals_the_mean_of_its_concentrations(name):
    layer = GatedLSTMLayer(2, 3, make_family(name)).eval()
    out = layer(torch.randn(2, 5, 2), "mean")
    i, f = layer.family.mean_gates(out.concentration)
    assert torch.allclose(out.input_gate, i) and torch.allclose(out.forget_gate, f)


@pytest.mark.parametrize("name", GAMMA_FAMILIES)
def test_mean_rule_evaluation_path_equals_the_stepwise_recurrence(name):
    """Without gradients and gate records the mean rule runs a unit-major in-place loop; it must
    compute the states of the general recurrence (float64, so only rounding may differ)."""
    layer = GatedLSTMLayer(4, 6, make_family(name)).double().eval()
    with torch.no_grad():
        layer.weight_ih.mul_(20.0)
    x = torch.randn(3, 9, 4, dtype=torch.float64)
    preactivations = torch.nn.functional.linear(x, layer.weight_ih, layer.bias)
    assert (preactivations.abs() > 20).any()  # softplus's linear branch is reached too
    with torch.no_grad():
        fast = layer(x, "mean", record=False).states
        general = layer(x, "mean", record=True).states
    reference = layer(x, "mean", record=False).states  # with gradients: the general loop
    assert fast.shape == (3, 9, 6)
    assert torch.allclose(fast, general, rtol=0, atol=1e-12)
    assert torch.allclose(fast, reference.detach(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", GAMMA_FAMILIES)
def test_sampled_gates_have_the_stated_beta_marginals(name):
    family = make_family(name)
    alpha = torch.tensor([0.7, 1.8, 0.4, 2.5, 1.1][: family.num_gammas])
    g = torch.distributions.Gamma(alpha, 1.0).sample((20000,))
    i, f = family.gates_from_gammas(g)
    a_i, b_i, a_f, b_f = (float(v) for v in family.marginal_concentrations(alpha))
    assert scipy.stats.kstest(i.numpy(), scipy.stats.beta(a_i, b_i).cdf).pvalue > 1e-3
    assert scipy.stats.kstest(f.numpy(), scipy.stats.beta(a_f, b_f).cdf).pvalue > 1e-3
    # The test can fail: a 15% change of one shape is detected.
    assert scipy.stats.kstest(i.numpy(), scipy.stats.beta(1.15 * a_i, b_i).cdf).pvalue < 1e-3


def test_bbeta5_reaches_both_signs_of_correlation_and_bbeta3_is_positive():
    bbeta5, bbeta3 = make_family("bbeta5"), make_family("bbeta3")

    def corr(family, alpha):
        i, f = family.gates_from_gammas(
            torch.distributions.Gamma(torch.tensor(alpha, dtype=torch.float64), 1.0).sample((40000,))
        )
        return torch.corrcoef(torch.stack([i, f]))[0, 1].item()

    assert corr(bbeta5, [1, 1, 0.01, 0.01, 5]) == pytest.approx(0.18, abs=0.03)
    assert corr(bbeta5, [1, 1, 3, 3, 0.01]) == pytest.approx(-0.84, abs=0.03)
    assert corr(bbeta3, [1, 1, 1]) == pytest.approx(0.48, abs=0.03)


def test_gamma_families_match_the_distribution_gate_maps():
    from probgates.distributions import flexible_gates, olkin_liu_gates

    g = torch.rand(3, 4, 5) + 0.01  # [batch, units, K]
    for name, reference in (("bbeta5", flexible_gates), ("bbeta3", lambda g: olkin_liu_gates(g[..., :3]))):
        family = make_family(name)
        gk = g[..., : family.num_gammas]
        expected = reference(gk)
        for got in (family.gates_from_gammas(gk), family.step_gates(gk.transpose(1, 2))):
            assert torch.allclose(got[0], expected[0]) and torch.allclose(got[1], expected[1])
    beta = make_family("beta")
    i, f = beta.gates_from_gammas(g[..., :4])
    assert torch.allclose(i, g[..., 0] / (g[..., 0] + g[..., 1]))
    assert torch.allclose(f, g[..., 2] / (g[..., 2] + g[..., 3]))


def test_cifg_couples_the_gates():
    i, f = make_family("cifg").gates(torch.randn(3, 1, 4), training=True)
    assert torch.allclose(i + f, torch.ones(3, 4))


def test_g2_adds_noise_in_training_only():
    family = make_family("g2", p=0.5, t=1.0, temperature=0.9)
    z = torch.randn(64, 2, 8)  # [batch, gate inputs, units]
    i_eval, f_eval = family.gates(z, training=False)
    assert torch.allclose(i_eval, torch.sigmoid(z[:, 0] / 0.9))
    assert torch.allclose(f_eval, torch.sigmoid(z[:, 1] / 0.9))
    assert torch.equal(family.gates(z, training=False)[0], i_eval)
    i_train, _ = family.gates(z, training=True)
    assert not torch.allclose(i_train, i_eval)
    layer = GatedLSTMLayer(3, 4, family).eval()
    x = torch.randn(2, 6, 3)
    assert torch.equal(layer(x).states, layer(x).states)


def test_unknown_family_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match="unknown gate family 'gru'; valid: sigmoid, cifg, g2, beta, bbeta3, bbeta5"
    ):
        make_family("gru")
    with pytest.raises(ValueError, match="g2 noise probability"):
        make_family("g2", p=1.5)


def test_torch_lstm_converts_to_an_equivalent_sigmoid_layer():
    from probgates.nn.gated_lstm import from_torch_lstm

    lstm = torch.nn.LSTM(3, 5, num_layers=2, batch_first=True)
    x = torch.randn(4, 9, 3)
    expected, _ = lstm(x)
    h = x
    for layer in from_torch_lstm(lstm):
        out = layer(h)
        h = out.states
    assert torch.allclose(h, expected, atol=1e-12)
    # The exposed gates are the sigmoid of the input and forget rows of the first layer.
    first = from_torch_lstm(lstm)[0](x)
    z0 = x[:, 0] @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + lstm.bias_hh_l0
    assert torch.allclose(first.input_gate[:, 0], torch.sigmoid(z0[:, :5]), atol=1e-12)
    assert torch.allclose(first.forget_gate[:, 0], torch.sigmoid(z0[:, 5:10]), atol=1e-12)
