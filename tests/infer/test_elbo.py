"""MeanFieldELBO is Pyro's TraceMeanField_ELBO estimator without the unused log-densities."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import TraceMeanField_ELBO

from probgates.data.batching import DatasetSplits, SequenceDataset
from probgates.infer import MeanFieldELBO, scale_latents
from probgates.priors import GammaGatePrior
from probgates.tasks import SequenceModel


def _loss_and_grads(elbo, model, guide, params, *args):
    pyro.set_rng_seed(7)
    loss = elbo.differentiable_loss(model, guide, *args)
    return loss.detach(), torch.autograd.grad(loss, params)


def _assert_same_estimator(model, guide, params, *args):
    ours = _loss_and_grads(MeanFieldELBO(), model, guide, params, *args)
    pyros = _loss_and_grads(TraceMeanField_ELBO(), model, guide, params, *args)
    torch.testing.assert_close(ours[0], pyros[0])
    for a, b in zip(ours[1], pyros[1], strict=True):
        torch.testing.assert_close(a, b)


def test_same_loss_and_gradients_as_pyro_with_and_without_registered_kl():
    """Latent sites with a KL (Normal/Normal), one without (LogNormal guide, Gamma prior),
    an auxiliary guide site, a masked and scaled plate, and an observed site."""
    loc = torch.tensor([0.3, -0.2], requires_grad=True)
    log_scale = torch.tensor([-1.0, 0.5], requires_grad=True)
    data = torch.tensor([0.5, 1.5, -0.3])

    def model():
        z = pyro.sample("z", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        rate = pyro.sample("rate", dist.Gamma(2.0, 1.0))
        with (
            pyro.plate("data", 3),
            poutine.scale(scale=2.0),
            poutine.mask(mask=torch.tensor([1, 1, 0]).bool()),
        ):
            pyro.sample("y", dist.Normal(z.sum() * rate, 1.0), obs=data)

    def guide():
        pyro.sample("z", dist.Normal(loc, log_scale.exp()).to_event(1))
        pyro.sample("aux", dist.Normal(loc[0], 1.0), infer={"is_auxiliary": True})
        pyro.sample("rate", dist.LogNormal(loc[1], log_scale[1].exp()))

    _assert_same_estimator(model, guide, [loc, log_scale])


@pytest.mark.parametrize("prior", [GammaGatePrior(), GammaGatePrior(kind="hierarchical")])
def test_same_loss_and_gradients_as_pyro_on_the_gated_model(prior):
    g = torch.Generator().manual_seed(0)
    rolls = [(torch.rand(7, 6, generator=g) < 0.3).float() for _ in range(4)]
    train = SequenceDataset([r[:-1] for r in rolls], [r[1:] for r in rolls], name="rolls")
    data = DatasetSplits(train, None, None, {"likelihood": "bernoulli", "input_dim": 6})
    pyro.clear_param_store()
    model = SequenceModel.for_data(data, hidden_size=5, family="bbeta5", prior=prior).double()
    batch = train.batch(range(4)).to(torch.float64)
    model.guide(batch, len(train))  # materialize the prior's parameters
    params = [p for p in model.parameters() if p.requires_grad]

    def scaled(fn):
        return scale_latents(fn, 0.3)

    _assert_same_estimator(scaled(model.model), scaled(model.guide), params, batch, len(train))
