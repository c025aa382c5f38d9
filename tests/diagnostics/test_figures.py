"""Every figure renders headless, with the expected panels, titles, labelled axes and data."""

import pytest

from probgates.diagnostics import cell_gradient_norms
from probgates.diagnostics.figures import (
    plot_gate_distributions,
    plot_gate_trajectories,
    plot_gradient_flow,
    plot_joint_gates,
    plot_prior_posterior,
    plot_training_history,
    save_figure,
)


def panels(fig):
    """The data panels (colour bars and twin axes excluded)."""
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>" and ax.get_title()]


def check(fig, tmp_path, expected_panels):
    assert fig._suptitle is not None or all(ax.get_title() for ax in panels(fig))
    data_panels = panels(fig)
    assert len(data_panels) == expected_panels
    for ax in data_panels:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        assert ax.has_data()
    path = save_figure(fig, tmp_path / "figure.png")
    assert path.stat().st_size > 5000
    return data_panels


def test_gate_distributions_next_to_a_sigmoid_model(tree, sigmoid_tree, tmp_path):
    fig = plot_gate_distributions({"gamma": tree, "baseline": sigmoid_tree})
    axes = check(fig, tmp_path, 2)
    labels = [text.get_text() for text in axes[0].get_legend().get_texts()]
    assert labels == [
        "gamma (bbeta5) (posterior)",
        "gamma (bbeta5) (prior)",
        "baseline (sigmoid) (posterior)",
    ]
    assert len(axes[0].patches) == 2 * 40 + 1  # two filled histograms of 40 bars, one outline


def test_joint_density_and_unit_correlation(tree, tmp_path):
    axes = check(plot_joint_gates(tree, layer=1), tmp_path, 2)
    assert len(axes[1].patches) == 4  # one bar per unit
    assert all(-1 <= p.get_height() <= 1 for p in axes[1].patches)


def test_trajectories_with_credible_bands(tree, tmp_path):
    axes = check(plot_gate_trajectories(tree, units=3), tmp_path, 2)
    for ax in axes:
        assert len(ax.lines) == 3 and len(ax.collections) == 3  # medians and bands
    length = int(tree["constant_data"]["lengths"].values[0])
    assert len(axes[0].lines[0].get_xdata()) == length


def test_prior_against_posterior_of_shapes_and_hyperparameters(tree, tmp_path):
    axes = check(plot_prior_posterior(tree), tmp_path, 6)  # 5 Gamma components + alpha0
    assert axes[-1].get_title().startswith("alpha0")


def test_gradient_flow_figure(fitted, frames, tmp_path):
    batch = frames.test.batch(range(4))
    flows = {"bbeta5": cell_gradient_norms(fitted, batch, num_draws=2)}
    axes = check(plot_gradient_flow(flows, task="toy"), tmp_path, 1)
    assert axes[0].get_yscale() == "log"
    assert len(axes[0].lines[0].get_ydata()) == batch.mask.shape[1]


def test_training_history(tree, tmp_path):
    axes = check(plot_training_history(tree), tmp_path, 2)
    assert [len(line.get_xdata()) for line in axes[0].lines] == [3, 3]


@pytest.mark.parametrize("which", ["i", "f"])
def test_figures_do_not_touch_pyplot(which, tree):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plot_gate_distributions({"m": tree})
    assert plt.get_fignums() == before


def test_trajectories_of_deterministic_gates_say_so(sigmoid_tree, tmp_path):
    axes = check(plot_gate_trajectories(sigmoid_tree, units=2), tmp_path, 2)
    assert "deterministic gates" in axes[0].get_title()
