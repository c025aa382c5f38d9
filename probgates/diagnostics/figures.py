"""Figures of gate behaviour, built on ``matplotlib.figure.Figure`` (no pyplot state, no display).

Every function returns a Figure whose panels each have a title and labelled axes with units;
:func:`save_figure` writes it as PNG. Inputs are trees from
:func:`probgates.diagnostics.to_datatree` (or plain arrays where noted).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from probgates.diagnostics.gate_stats import CI_PROB, credible_band, gate_values, unit_correlation
from probgates.diagnostics.gradient_flow import GradientFlow

GATE_LABEL = "gate value (dimensionless, 0 to 1)"
DENSITY_LABEL = "density (per unit gate value)"
BINS = np.linspace(0, 1, 41)
COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Write ``fig`` as a PNG file (the Agg canvas; no display needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def _hist(ax, values: np.ndarray, label: str, colour: str, bins=BINS, style: str = "filled") -> None:
    if len(values) == 0:
        return
    if style == "filled":
        ax.hist(values, bins=bins, density=True, alpha=0.45, color=colour, label=label)
    else:
        ax.hist(values, bins=bins, density=True, histtype="step", linewidth=1.8, color=colour, label=label)


def plot_gate_distributions(models: Mapping[str, xr.DataTree], *, include_prior: bool = True) -> Figure:
    """Histograms of i and f (posterior, pooled over draws, sequences, real steps and units) for
    each model, side by side; with ``include_prior``, the prior of the gates of models that have one."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, which, name in zip(axes, ("i", "f"), ("input gate i", "forget gate f"), strict=True):
        for n, (label, tree) in enumerate(models.items()):
            colour = COLOURS[n % len(COLOURS)]
            family = tree.attrs.get("model_family", "")
            label = f"{label} ({family})" if family and family not in label else label
            _hist(ax, gate_values(tree["posterior"]["gates"], which), f"{label} (posterior)", colour)
            if include_prior and "prior" in tree.children:
                _hist(
                    ax, gate_values(tree["prior"]["gates"], which), f"{label} (prior)", colour, style="step"
                )
        ax.set_title(f"Distribution of the {name}")
        ax.set_xlabel(GATE_LABEL)
        ax.set_ylabel(DENSITY_LABEL)
        ax.set_xlim(0, 1)
        ax.legend(fontsize=8)
    fig.suptitle("Gate values over the example sequences (all units and real time steps)")
    return fig


def plot_joint_gates(tree: xr.DataTree, *, layer: int = 0) -> Figure:
    """The joint (i, f) density of one layer and the i-f correlation of every unit."""
    gates = tree["posterior"]["gates"].sel(layer=layer)
    i = np.asarray(gates.sel(gate="i").values, dtype=float).ravel()
    f = np.asarray(gates.sel(gate="f").values, dtype=float).ravel()
    ok = np.isfinite(i) & np.isfinite(f)
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    ax_joint, ax_corr = fig.subplots(1, 2)
    counts, _, _, image = ax_joint.hist2d(
        i[ok], f[ok], bins=[BINS, BINS], density=True, cmap="viridis", cmin=1e-9
    )
    fig.colorbar(image, ax=ax_joint, label="joint density (per unit gate value squared)")
    ax_joint.set_title(f"Joint density of (i, f), layer {layer}")
    ax_joint.set_xlabel("input gate i (dimensionless)")
    ax_joint.set_ylabel("forget gate f (dimensionless)")
    corr = unit_correlation(tree["posterior"]["gates"]).sel(layer=layer).values
    units = np.arange(len(corr))
    colours = ["tab:red" if c < 0 else "tab:blue" for c in np.nan_to_num(corr)]
    ax_corr.bar(units, np.nan_to_num(corr), color=colours)
    ax_corr.axhline(0, color="black", linewidth=0.8)
    ax_corr.set_ylim(-1, 1)
    ax_corr.set_title(f"Correlation of i and f per unit, layer {layer}")
    ax_corr.set_xlabel("unit (index)")
    ax_corr.set_ylabel("Pearson correlation (dimensionless)")
    fig.suptitle("How the input and forget gates move together (posterior draws, all real steps)")
    return fig


def plot_gate_trajectories(
    tree: xr.DataTree, *, sequence: int | None = None, layer: int = 0, units: int = 4, prob: float = CI_PROB
) -> Figure:
    """i_t and f_t over one example sequence for a few units: posterior median and a ``prob``
    equal-tailed credible band over the draws (the units with the widest band are shown)."""
    gates = tree["posterior"]["gates"].sel(layer=layer)
    sequence = int(gates.sequence[0]) if sequence is None else sequence
    gates = gates.sel(sequence=sequence)
    length = int(tree["constant_data"]["lengths"].sel(sequence=sequence))
    values = np.asarray(gates.values, dtype=float)[..., :length, :, :]  # chain, draw, time, gate, unit
    draws = values.reshape(-1, *values.shape[2:])
    stochastic = len(draws) > 1
    # the units with the widest credible bands, or (one draw: deterministic gates) the most varying
    spread = (
        np.nanmean(np.nanstd(draws, axis=0), axis=(0, 1)) if stochastic else np.nanstd(draws[0], axis=(0, 1))
    )
    chosen = np.argsort(-np.nan_to_num(spread))[:units]
    time = np.arange(length)
    fig = Figure(figsize=(11, 6), layout="constrained")
    axes = fig.subplots(2, 1)
    for row, (ax, name) in enumerate(zip(axes, ("input gate i_t", "forget gate f_t"), strict=True)):
        for n, unit in enumerate(chosen):
            median, lower, upper = credible_band(draws[:, :, row, unit], prob)
            colour = COLOURS[n % len(COLOURS)]
            ax.fill_between(time, lower, upper, color=colour, alpha=0.25)
            ax.plot(time, median, color=colour, label=f"unit {int(gates.unit[unit])}")
        ax.set_ylim(0, 1)
        ax.set_title(
            f"{name}: posterior median and {prob:.0%} credible band"
            if stochastic
            else f"{name} (deterministic gates: one value per step)"
        )
        ax.set_ylabel(GATE_LABEL)
        ax.set_xlabel("time step t (steps)")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(f"Gate trajectories over sequence {sequence} (layer {layer})")
    return fig


def plot_prior_posterior(tree: xr.DataTree) -> Figure:
    """Prior against posterior of the Gamma shapes (one panel per component) and, for a
    hierarchical prior, of its latent alpha0 (the hyperparameters), pooled over layers and units."""
    post, prior = tree["posterior"], tree["prior"]
    components = [str(c) for c in post["gamma_shape"].component.values]
    hyper = "gate_prior_concentration" in post
    panels = len(components) + (1 if hyper else 0)
    columns = min(panels, 3)
    rows = -(-panels // columns)
    fig = Figure(figsize=(4 * columns, 3.4 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    series = [("gamma_shape", c, f"Gamma shape of {c}") for c in components]
    if hyper:
        series.append(("gate_prior_concentration", None, "alpha0 (hierarchical, all components)"))
    for ax, (name, component, title) in zip(axes, series, strict=False):
        p, q = prior[name], post[name]
        if component is not None:
            p, q = p.sel(component=component), q.sel(component=component)
        p = np.log10(np.asarray(p.values, dtype=float).ravel())
        q = np.log10(np.asarray(q.values, dtype=float).ravel())
        low = min(p.min(), q.min())
        high = max(p.max(), q.max())
        bins = np.linspace(low - 0.05, high + 0.05, 41)
        if np.ptp(p) < 1e-9:
            ax.axvline(p[0], color="black", linestyle="--", label="prior (fixed)")
        else:
            _hist(ax, p, "prior", "black", bins=bins, style="step")
        _hist(ax, q, "posterior", "tab:blue", bins=bins)
        ax.set_title(title)
        ax.set_xlabel("log10 Gamma shape (dimensionless)")
        ax.set_ylabel("density (per decade)")
        ax.legend(fontsize=8)
    for ax in axes[len(series) :]:
        ax.set_visible(False)
    fig.suptitle(
        "Prior against posterior: Gamma shapes per unit (posterior: guide shapes averaged over steps)"
    )
    return fig


def plot_gradient_flow(flows: Mapping[str, GradientFlow], *, task: str = "") -> Figure:
    """||dL/dc_t|| against t for each model (top layer), on a log scale."""
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    ax = fig.subplots()
    for n, (label, flow) in enumerate(flows.items()):
        norms = flow.norms[-1]
        ax.plot(
            np.arange(len(norms)), norms, color=COLOURS[n % len(COLOURS)], label=f"{label} ({flow.family})"
        )
    ax.set_yscale("log")
    ax.set_title("Gradient reaching the cell state" + (f" ({task})" if task else ""))
    ax.set_xlabel("time step t (steps)")
    ax.set_ylabel("||dL/dc_t|| (nats per unit of cell state)")
    ax.legend(fontsize=8)
    return fig


def plot_training_history(tree: xr.DataTree) -> Figure:
    """The ELBO history of ``sample_stats``: loss and its NLL part, the KL part and the KL weight."""
    stats = tree["sample_stats"]
    epoch = stats["epoch"].values
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax_loss, ax_kl = fig.subplots(1, 2)
    for name, label in (("train_loss", "-ELBO"), ("train_nll", "NLL part")):
        if name in stats:
            ax_loss.plot(epoch, stats[name].values, marker="o", markersize=3, label=label)
    ax_loss.set_title("Training loss per sequence")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("nats per training sequence")
    ax_loss.legend(fontsize=8)
    for ax in (ax_loss, ax_kl):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if "train_kl" in stats:
        ax_kl.plot(
            epoch, stats["train_kl"].values, marker="o", markersize=3, color="tab:red", label="KL part"
        )
    ax_kl.set_title("KL part of the loss (weighted)")
    ax_kl.set_xlabel("epoch")
    ax_kl.set_ylabel("nats per training sequence")
    if "kl_weight" in stats:
        twin = ax_kl.twinx()
        twin.plot(epoch, stats["kl_weight"].values, color="gray", linestyle="--", label="KL weight")
        twin.set_ylabel("KL weight (dimensionless)")
        twin.legend(fontsize=8, loc="upper right")
    ax_kl.legend(fontsize=8, loc="upper left")
    return fig


# ----------------------------------------------------------------------------- sparsity


def plot_log_alpha(sparsity: xr.Dataset) -> Figure:
    """Histograms of log alpha of every sparsified tensor with the pruning threshold."""
    names = [name for name in sparsity.data_vars if str(name).startswith("log_alpha_")]
    threshold = float(sparsity.attrs["threshold"])
    columns = min(max(len(names), 1), 3)
    rows = max(-(-len(names) // columns), 1)
    fig = Figure(figsize=(4.2 * columns, 3.4 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax, name in zip(axes, names, strict=False):
        values = np.asarray(sparsity[name].values, dtype=float).ravel()
        pruned = int((values >= threshold).sum())
        ax.hist(values, bins=50, color="tab:blue", alpha=0.7)
        ax.axvline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold:g}")
        ax.set_title(f"{str(name)[len('log_alpha_') :]}: {pruned} of {values.size} pruned")
        ax.set_xlabel("log alpha (dimensionless)")
        ax.set_ylabel("number of elements")
        ax.legend(fontsize=8)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    fig.suptitle("log alpha = log sigma^2 - log theta^2 per sparsified tensor (pruned at the threshold)")
    return fig


def plot_neuron_map(sparsity: xr.Dataset) -> Figure:
    """Every (gate, hidden neuron): non-constant, constant (its preactivation group was pruned, the
    gate equals act(bias)) or removed (the neuron is gone); and the counts per gate type."""
    from matplotlib.colors import ListedColormap

    state = sparsity["gate_state"]
    gates = [str(g) for g in state.gate.values]
    fig = Figure(figsize=(12, 3.8), layout="constrained")
    ax_map, ax_bar = fig.subplots(1, 2, width_ratios=[3, 1])
    colours = ListedColormap(["lightgray", "tab:orange", "tab:blue"])
    image = ax_map.imshow(
        state.values, aspect="auto", cmap=colours, vmin=-0.5, vmax=2.5, interpolation="nearest"
    )
    bar = fig.colorbar(image, ax=ax_map, ticks=[0, 1, 2])
    bar.ax.set_yticklabels(["removed", "constant", "non-constant"])
    ax_map.set_yticks(range(len(gates)), gates)
    ax_map.set_title("Gates of each hidden neuron")
    ax_map.set_xlabel("hidden neuron (index)")
    ax_map.set_ylabel("gate (i, f, g, o)")
    values = state.values
    bottom = np.zeros(len(gates))
    for code, (label, colour) in enumerate(
        zip(("removed", "constant", "non-constant"), ("lightgray", "tab:orange", "tab:blue"), strict=True)
    ):
        counts = (values == code).sum(1)
        ax_bar.bar(gates, counts, bottom=bottom, color=colour, label=label)
        bottom += counts
    ax_bar.set_title("Count per gate type")
    ax_bar.set_xlabel("gate")
    ax_bar.set_ylabel("number of neurons")
    ax_bar.legend(fontsize=8)
    fig.suptitle("Neuron map by gate type")
    return fig


_STRUCTURE_COUNTS = [
    ("hidden_kept", "hidden neurons kept"),
    ("hidden_input_dependent", "neurons that read the input"),
] + [(f"gates_nonconstant_{g}", f"non-constant {g} gates") for g in ("i", "f", "g", "o")]


def _plot_structure(fig: Figure, x, value_of, marker: str | None):
    """Compression (left) and kept neurons / non-constant gates per type (right) against ``x``;
    ``value_of(key)`` gives the values of one statistic."""
    ax_comp, ax_units = fig.subplots(1, 2)
    compression = np.asarray(value_of("compression"), dtype=float)
    ax_comp.plot(x, compression, marker=marker)
    if np.nanmax(compression) > 10 * np.nanmin(compression):
        ax_comp.set_yscale("log")
    ax_comp.set_title("Compression (all weights / nonzero)")
    ax_comp.set_ylabel("compression ratio (times)")
    for key, label in _STRUCTURE_COUNTS:
        ax_units.plot(x, value_of(key), marker=marker, label=label)
    ax_units.set_title("Neurons and non-constant gates")
    ax_units.set_ylabel("count (neurons, gates)")
    ax_units.legend(fontsize=8)
    return ax_comp, ax_units


def plot_structure_history(history: xr.Dataset) -> Figure:
    """Compression, kept neurons and non-constant gates per gate type after every epoch.

    ``history``: the ``sample_stats`` of a sparse run (the per-epoch records of ``metrics.jsonl``,
    which hold the model's :meth:`~probgates.sparse.SparseSequenceModel.epoch_summary`)."""
    epoch = history["epoch"].values
    fig = Figure(figsize=(11, 4), layout="constrained")

    def value_of(key):
        return history[key].values if key in history else np.full(len(epoch), np.nan)

    for ax in _plot_structure(fig, epoch, value_of, "o" if len(epoch) <= 30 else None):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle("How the sparsity structure changed over training (after each epoch)")
    return fig


def plot_sparsity_over_training(snapshots: Mapping[str, xr.Dataset]) -> Figure:
    """Compression, kept neurons and non-constant gates per gate type at each snapshot."""
    labels = list(snapshots)
    x = np.arange(len(labels))
    fig = Figure(figsize=(11, 4), layout="constrained")

    def value_of(key):
        return [snapshots[k].attrs.get(key, np.nan) for k in labels]

    for ax in _plot_structure(fig, x, value_of, "o"):
        ax.set_xticks(x, labels)
        ax.set_xlabel("snapshot (training progress)")
    fig.suptitle("How the sparsity structure changed over training")
    return fig
