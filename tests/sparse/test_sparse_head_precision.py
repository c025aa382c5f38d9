"""``head_precision = "bfloat16"``: the head's training products in bfloat16, everything else unchanged."""

import pytest
import torch
from torch.nn import functional as F

from probgates.infer import TrainConfig, Trainer
from probgates.sparse import SparseSpec, build_sparse_model
from probgates.sparse.layers import SparseLinear
from probgates.sparse.lrt import lrt_sample

from .conftest import token_data


def _rounded_product(x, weight, bias=None):
    """``x W^T (+ b)`` with ``x`` and ``W`` rounded to bfloat16, returned in ``x``'s dtype."""
    product = F.linear(x.to(torch.bfloat16), weight.to(torch.bfloat16)).to(x.dtype)
    return product if bias is None else product + bias


def _layer(lrt: bool) -> tuple[SparseLinear, torch.Tensor]:
    torch.manual_seed(0)
    layer = SparseLinear(16, 40, lrt=lrt, training_dtype=torch.bfloat16)
    with torch.no_grad():
        layer.bias.uniform_(-1.0, 1.0)
    return layer.train(), torch.randn(3, 5, 16)


def test_weights_noise_head_multiplies_in_bfloat16_and_returns_the_input_dtype():
    layer, x = _layer(lrt=False)
    x.requires_grad_()
    weight = layer.weight.guide_sample()
    out = layer(x, {"weight": weight})
    expected = _rounded_product(x, weight, layer.bias)
    assert out.dtype == x.dtype == torch.float64
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    full = F.linear(x, weight, layer.bias)
    error = (out - full).abs().max() / full.abs().max()
    assert 1e-5 < error < 2e-2  # rounded to bfloat16 (8-bit mantissa), not left in float64

    upstream = torch.randn_like(out)
    got = torch.autograd.grad(out, (x, layer.weight.theta, layer.bias), upstream, retain_graph=True)
    want = torch.autograd.grad(expected, (x, layer.weight.theta, layer.bias), upstream)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == torch.float64
        torch.testing.assert_close(g, w, rtol=0, atol=0)


def test_lrt_head_rounds_the_mean_and_the_variance_products():
    layer, x = _layer(lrt=True)
    q = layer.weight.posterior().base_dist
    torch.manual_seed(7)
    out = layer(x, {"weight": q.loc})
    mean = _rounded_product(x, q.loc, layer.bias)
    var = _rounded_product(x.square(), q.scale.square())
    torch.manual_seed(7)
    torch.testing.assert_close(out, lrt_sample(mean, var), rtol=0, atol=0)


@pytest.mark.parametrize("lrt", [False, True])
def test_evaluation_of_a_bfloat16_head_stays_in_full_precision(lrt):
    layer, x = _layer(lrt)
    exact = F.linear(x, layer.weight.masked_mean(), layer.bias)
    torch.testing.assert_close(layer(x, None), exact, rtol=0, atol=0)
    torch.testing.assert_close(layer.eval()(x, layer.masked_values()), exact, rtol=0, atol=0)


def test_spec_head_precision_reaches_the_head_and_trains():
    data = token_data(per_step=True, vocab=30, n=16, length=5)
    models = {}
    for precision in ("full", "bfloat16"):
        torch.manual_seed(0)
        spec = SparseSpec(
            hidden_size=6, embedding_dim=0, input_groups=False, head_noise="weights", head_precision=precision
        )
        models[precision] = build_sparse_model(spec, data)
    assert models["full"].head.training_dtype is None
    assert models["bfloat16"].head.training_dtype is torch.bfloat16
    trainer = Trainer(models["bfloat16"], data, TrainConfig(epochs=2, batch_size=8, progress=False))
    history = trainer.fit()
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in history)
    # Evaluation does not depend on the training precision: the same parameters, the same metrics.
    models["full"].load_state_dict(models["bfloat16"].state_dict())
    batch = data.test.batch(range(len(data.test)))
    for name, value in models["bfloat16"].evaluate(batch).items():
        torch.testing.assert_close(value, models["full"].evaluate(batch)[name], rtol=0, atol=0)
