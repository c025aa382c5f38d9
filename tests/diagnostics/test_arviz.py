"""ArviZ reads the tree: 0.2x through ``from_datatree`` (the project's environment), 1.x directly
(``bash ci/arviz1.sh``). Each kind skips in the other environment."""

import numpy as np
import pytest
import xarray as xr

from probgates.diagnostics import load_datatree, save_datatree

ONE_UNIT = {"layer": [0], "unit": [0]}
PARETO = "ignore:Estimated shape parameter of Pareto:UserWarning"


@pytest.mark.arviz0
@pytest.mark.filterwarnings(PARETO)
def test_arviz_0x_reads_the_tree_through_from_datatree(az0, tree):
    idata = az0.from_datatree(tree)
    assert set(idata.groups()) == set(tree.children)
    summary = az0.summary(idata, var_names=["gamma_shape"], kind="stats")
    assert len(summary) == 2 * 4 * 5 and list(summary.columns[:2]) == ["mean", "sd"]
    loo = az0.loo(idata)
    assert loo["n_data_points"] == tree["observed_data"].sizes["frame"]


@pytest.mark.arviz0
# ArviZ 0.23's matplotlib backend calls an API that matplotlib 3.11 deprecates.
@pytest.mark.filterwarnings("ignore:Passing a dict or None as alias_mapping:DeprecationWarning")
def test_arviz_0x_plots_from_the_tree(az0, tree):
    idata = az0.from_datatree(tree)
    import matplotlib.pyplot as plt

    try:
        forest = az0.plot_forest(idata, var_names=["gate_prior_concentration"], coords=ONE_UNIT)
        ppc = az0.plot_ppc(idata, num_pp_samples=5)
        for axes in (forest, ppc):
            assert all(ax.has_data() for ax in np.atleast_1d(axes).ravel())
    finally:
        plt.close("all")


@pytest.mark.arviz1
@pytest.mark.filterwarnings(PARETO)
def test_arviz_1x_summary_and_loo(az1, tree, tmp_path):
    back = load_datatree(save_datatree(tree, tmp_path / "posterior.nc"))
    for t in (tree, back):
        summary = az1.summary(t, var_names=["gamma_shape"], kind="stats")
        assert len(summary) == 2 * 4 * 5 and "mean" in summary.columns
        loo = az1.loo(t)
        assert loo.n_data_points == tree["observed_data"].sizes["frame"]


@pytest.mark.arviz1
# The piano-roll observations are 0/1; ArviZ hints at plot_ppc_pava (which wants 1-D observations).
@pytest.mark.filterwarnings("ignore:Variables obs in .* look (binary|discrete):UserWarning")
def test_arviz_1x_plots(az1, tree, tmp_path):
    plots = {
        "dist": az1.plot_dist(tree, var_names=["gamma_shape"], coords=ONE_UNIT),
        "forest": az1.plot_forest(tree, var_names=["gate_prior_concentration"], coords=ONE_UNIT),
        "ppc": az1.plot_ppc_dist(tree, num_samples=10),
    }
    import matplotlib.pyplot as plt

    for name, pc in plots.items():
        pc.savefig(tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
    plt.close("all")


@pytest.mark.arviz1
def test_arviz_1x_accepts_a_plain_tree(az1, tree):
    assert isinstance(az1.convert_to_datatree(tree), xr.DataTree)


@pytest.mark.arviz1
def test_arviz_1x_reads_a_sparse_tree(az1, sparse_run):
    from probgates.diagnostics import to_datatree

    _, model, data = sparse_run
    tree = to_datatree(model, data, num_samples=30, sequences=3)
    summary = az1.summary(tree, var_names=["lstm_z_h"], kind="stats")
    assert len(summary) == 5
