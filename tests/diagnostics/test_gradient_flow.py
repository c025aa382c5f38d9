"""||dL/dc_t||: the re-run recurrence equals the layer's own, and the norms are well formed."""

import pytest
import torch

from probgates.data import load_dataset
from probgates.diagnostics import cell_gradient_norms, recurrence_with_cells
from probgates.gates import make_family
from probgates.nn.gated_lstm import GatedLSTMLayer
from probgates.tasks import SequenceModel


@pytest.mark.parametrize("family", ["sigmoid", "cifg", "g2", "beta", "bbeta3", "bbeta5"])
def test_re_run_recurrence_equals_the_layer(family):
    torch.manual_seed(0)
    layer = GatedLSTMLayer(3, 5, make_family(family)).eval()
    x = torch.randn(2, 7, 3)
    if layer.family.stochastic:
        fixed = {}

        def gammas(t, alpha):
            return fixed.setdefault(t, torch.rand_like(alpha) + 0.1)

        sources = ["mean", gammas]
    else:
        sources = ["mean"]
    for source in sources:
        states, cells = recurrence_with_cells(layer, x, source)
        expected = layer(x, source).states
        torch.testing.assert_close(states, expected, rtol=1e-12, atol=1e-12)
        assert len(cells) == 7 and cells[0].shape == (2, 5)


def test_norms_per_layer_and_step_on_the_adding_problem():
    data = load_dataset("adding_problem", num_sequences=20, seq_len=10, seed=0)
    batch = data.test.batch(range(2))
    for family in ("lstm", "bbeta5"):
        torch.manual_seed(0)
        model = SequenceModel.for_data(data, hidden_size=4, num_layers=2, family=family)
        flow = cell_gradient_norms(model, batch, num_draws=2)
        assert flow.norms.shape == (2, 10)
        assert (flow.norms > 0).all() and flow.family == family
        summary = flow.summary()
        assert summary["ratio_first_last"] == pytest.approx(flow.norms[-1, 0] / flow.norms[-1, -1])
        assert not any(p.grad is not None for p in model.parameters())  # gradients cleaned up


def test_last_step_gradient_matches_autograd_on_the_output_state():
    """At the last step, dL/dc_T = dL/dh_T * o_T * (1 - tanh(c_T)^2) for a loss read from h_T."""
    data = load_dataset("adding_problem", num_sequences=20, seq_len=5, seed=0)
    batch = data.test.batch([0])
    torch.manual_seed(0)
    model = SequenceModel.for_data(data, hidden_size=3, family="sigmoid").eval()
    layer = model.layers[0]
    x = model.inputs(batch)
    states, cells = recurrence_with_cells(layer, x, "mean")
    h_last = states[:, -1].detach().requires_grad_(True)
    loss = (
        -model.head.distribution(h_last.unsqueeze(1).expand(-1, 5, -1), batch).log_prob(batch.targets).sum()
    )
    (grad_h,) = torch.autograd.grad(loss, h_last)
    c_last = cells[-1].detach()
    o_last = h_last.detach() / torch.tanh(c_last)
    expected = (grad_h * o_last * (1 - torch.tanh(c_last) ** 2)).norm(dim=-1).mean()
    flow = cell_gradient_norms(model, batch, rule="mean")
    assert flow.norms[0, -1] == pytest.approx(expected.item(), rel=1e-8)
