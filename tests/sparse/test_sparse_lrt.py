"""The local reparameterization trick: lrt_sample against its formula, and the layer's output moments."""

import pytest
import torch

from probgates.infer import TrainConfig, Trainer
from probgates.infer.trainer import NonFiniteLossError
from probgates.sparse import SparseSpec, build_sparse_model
from probgates.sparse.layers import SparseLinear
from probgates.sparse.lrt import LRT_EPS, lrt_sample

from .conftest import signal_data


def _autograd_lrt(mean, var):
    """The formula as autograd computes it: mean + sqrt(var + eps) * e."""
    return mean + (var + LRT_EPS).sqrt() * torch.randn_like(mean)


def test_lrt_sample_equals_the_formula_for_the_same_noise():
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(4, 7, 33, generator=g).requires_grad_()
    var = torch.rand(4, 7, 33, generator=g)
    var[0, 0, :5] = 0.0  # where eps alone keeps the square root differentiable
    var.requires_grad_()
    upstream = torch.randn(4, 7, 33, generator=g)

    results = []
    for draw in (lrt_sample, _autograd_lrt):
        torch.manual_seed(3)
        sample = draw(mean, var)
        grads = torch.autograd.grad(sample, (mean, var), upstream)
        results.append((sample, *grads))
    for got, expected in zip(*results, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_lrt_sample_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"same shape, got \(2, 3\) and \(3,\)"):
        lrt_sample(torch.zeros(2, 3), torch.ones(3))


def test_lrt_layer_output_has_the_moments_of_the_weight_posterior():
    """Every training output of an LRT layer is N(x theta^T + b, x^2 sigma'^2): checked over 40,000
    rows of the same input (each row gets its own noise) to within 5 standard errors."""
    torch.manual_seed(0)
    layer = SparseLinear(3, 2)
    with torch.no_grad():
        layer.weight.log_sigma.copy_(torch.tensor([[-1.0, -2.0, -0.5], [-3.0, -1.5, -1.0]]))
        layer.bias.copy_(torch.tensor([0.3, -0.2]))
    layer.train()
    x = torch.tensor([0.5, -1.5, 2.0]).expand(40_000, 3)
    q = layer.weight.posterior().base_dist
    with torch.no_grad():
        out = layer(x, {"weight": q.loc})
    expected_mean = x[0] @ q.loc.T + layer.bias
    expected_var = x[0].square() @ q.scale.square().T
    se_mean = (expected_var / len(x)).sqrt()
    se_var = expected_var * (2.0 / len(x)) ** 0.5
    assert ((out.mean(0) - expected_mean).abs() < 5 * se_mean).all()
    assert ((out.var(0) - expected_var).abs() < 5 * se_var).all()


@pytest.mark.filterwarnings("ignore:Encountered NaN")  # Pyro's warning at the NaN site
def test_sparse_guides_skip_argument_validation_and_nan_parameters_still_stop_training():
    """The guide of a sparse tensor is built without Pyro's argument checks; a NaN parameter then
    surfaces as a non-finite loss, which the trainer reports."""
    data = signal_data(num_sequences=64)
    model = build_sparse_model(SparseSpec(hidden_size=4, embedding_dim=0), data)
    assert model.lstm.weight_ih.posterior().base_dist._validate_args is False
    trainer = Trainer(model, data, TrainConfig(epochs=1, batch_size=32, progress=False))
    with torch.no_grad():
        model.lstm.weight_ih.theta[0, 0] = float("nan")
    with pytest.raises(NonFiniteLossError, match="non-finite loss"):
        trainer.fit()
