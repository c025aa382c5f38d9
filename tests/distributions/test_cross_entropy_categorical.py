import pyro
import pyro.distributions as dist
import pytest
import torch

from probgates.distributions import CrossEntropyCategorical


@pytest.fixture
def logits():
    return torch.randn(3, 4, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_log_prob_and_gradient_equal_the_normalizing_categorical(logits):
    targets = torch.randint(0, 7, (3, 4), generator=torch.Generator().manual_seed(1))
    z = logits.clone().requires_grad_()
    ours = CrossEntropyCategorical(z).log_prob(targets)
    reference = dist.Categorical(logits=z).log_prob(targets)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-12)
    (grad_ours,) = torch.autograd.grad(ours.sum(), z)
    (grad_reference,) = torch.autograd.grad(reference.sum(), z)
    torch.testing.assert_close(grad_ours, grad_reference, rtol=0, atol=1e-12)


def test_shapes_and_derived_quantities(logits):
    d = CrossEntropyCategorical(logits)
    reference = dist.Categorical(logits=logits)
    assert d.batch_shape == (3, 4) and d.event_shape == ()
    torch.testing.assert_close(d.logits, reference.logits)
    torch.testing.assert_close(d.probs, reference.probs)
    torch.testing.assert_close(d.entropy(), reference.entropy())
    assert d.sample((5,)).shape == (5, 3, 4)


def test_broadcast_values_and_expand(logits):
    d = CrossEntropyCategorical(logits)
    reference = dist.Categorical(logits=logits)
    one_value = torch.tensor(2)
    torch.testing.assert_close(d.log_prob(one_value), reference.log_prob(one_value))
    per_draw = torch.randint(0, 7, (2, 3, 4), generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(d.log_prob(per_draw), reference.log_prob(per_draw))
    expanded = d.expand((2, 3, 4))
    assert expanded.batch_shape == (2, 3, 4)
    torch.testing.assert_close(expanded.log_prob(per_draw), reference.expand((2, 3, 4)).log_prob(per_draw))


def test_masked_event_site_in_a_pyro_trace(logits):
    targets = torch.randint(0, 7, (3, 4), generator=torch.Generator().manual_seed(3))
    mask = torch.tensor([[True] * 4, [True, True, False, False], [True, False, False, False]])

    def model(make):
        with pyro.plate("sequences", 3):
            pyro.sample("obs", make(logits).mask(mask).to_event(1), obs=targets)

    ours = pyro.poutine.trace(model).get_trace(CrossEntropyCategorical).log_prob_sum()
    reference = pyro.poutine.trace(model).get_trace(lambda z: dist.Categorical(logits=z)).log_prob_sum()
    torch.testing.assert_close(ours, reference)


def test_bad_input_is_rejected(logits):
    with pytest.raises(ValueError, match="at least one-dimensional"):
        CrossEntropyCategorical(torch.tensor(0.0))
    with pytest.raises(ValueError, match="support"):
        CrossEntropyCategorical(logits, validate_args=True).log_prob(torch.full((3, 4), 7))
