"""``probgates diagnose RUN_DIR``: the posterior as netCDF and an offline HTML report of the gates.

:func:`diagnose_run` writes::

    RUN_DIR/posterior.nc            the tree of :func:`probgates.diagnostics.to_datatree`
    RUN_DIR/report/index.html       tables and figures (relative PNG links, inline CSS, no scripts)
    RUN_DIR/report/*.png            gate distributions (next to a sigmoid baseline when one is found),
                                    joint (i, f) density and per-unit correlation, trajectories with
                                    credible bands, prior against posterior, gradient flow, ELBO history

The baseline is a run with deterministic gates (``lstm`` or ``sigmoid``) trained on the same data:
given explicitly, or found among the sibling run directories (same ``[data]`` table, newest first).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyro
import xarray as xr

from probgates.diagnostics import html
from probgates.diagnostics.datatree import choose_sequences, save_datatree, to_datatree
from probgates.diagnostics.figures import (
    plot_gate_distributions,
    plot_gate_trajectories,
    plot_gradient_flow,
    plot_joint_gates,
    plot_prior_posterior,
    plot_training_history,
    save_figure,
)
from probgates.diagnostics.gate_stats import CI_PROB, describe, gate_values, half_life, unit_correlation
from probgates.diagnostics.gradient_flow import GradientFlow, cell_gradient_norms
from probgates.diagnostics.runs import is_sparse_run, spec_table
from probgates.diagnostics.sampling import crop_batch

BASELINE_FAMILIES = ("lstm", "sigmoid")


def find_baseline(run_dir: str | os.PathLike) -> Path | None:
    """A sibling run directory with deterministic sigmoid gates trained on the same data (the
    newest by its spec's modification time), or None."""
    from probgates.spec import SpecError, load_spec

    run_dir = Path(run_dir).resolve()
    try:
        data = load_spec(run_dir / "spec.toml").data
    except (SpecError, OSError):
        return None
    candidates = []
    for other in run_dir.parent.iterdir():
        spec_file = other / "spec.toml"
        if other.resolve() == run_dir or not spec_file.exists() or not (other / "best.pt").exists():
            continue
        try:
            spec = load_spec(spec_file)
        except SpecError:
            continue
        if spec.model.family in BASELINE_FAMILIES and spec.data == data:
            candidates.append((spec_file.stat().st_mtime, other))
    return max(candidates)[1] if candidates else None


def _gate_rows(label: str, tree: xr.DataTree) -> list[tuple]:
    rows = []
    gates = tree["posterior"]["gates"]
    for which, name in (("i", "input gate i"), ("f", "forget gate f")):
        d = describe(gate_values(gates, which))
        rows.append((label, name, d["mean"], d["sd"], d["median"], d["lower"], d["upper"]))
    f = gate_values(gates, "f")
    rows.append((label, "half-life -log2/log f (steps)", *_life(f)))
    return rows


def _life(f: np.ndarray) -> tuple:
    d = describe(half_life(f))
    return d["mean"], d["sd"], d["median"], d["lower"], d["upper"]


def _shape_rows(tree: xr.DataTree) -> list[tuple]:
    """Per variable and component: prior and posterior mean with their equal-tailed intervals."""
    rows = []
    if "prior" not in tree.children:
        return rows
    for name, label in (
        ("gamma_shape", "Gamma shape"),
        ("gate_prior_concentration", "alpha0 (hierarchical)"),
    ):
        if name not in tree["posterior"]:
            continue
        for component in tree["posterior"][name].component.values:
            row = [label, str(component)]
            for group in ("prior", "posterior"):
                values = np.asarray(tree[group][name].sel(component=component).values, dtype=float).ravel()
                d = describe(values)
                row += [d["mean"], d["lower"], d["upper"]]
            rows.append(tuple(row))
    return rows


def _flow_rows(flows: dict[str, GradientFlow]) -> list[tuple]:
    rows = []
    for label, flow in flows.items():
        s = flow.summary()
        rows.append(
            (
                label,
                flow.family,
                s["grad_c_first"],
                s["grad_c_middle"],
                s["grad_c_last"],
                s["ratio_first_last"],
            )
        )
    return rows


def _results_rows(run_dir: Path) -> list[tuple]:
    from probgates.infer import RunDirectory

    run = RunDirectory(run_dir)
    if not run.results.exists():
        return []
    results = run.read_results()
    return [
        (split, key, value)
        for split in ("train", "valid", "test")
        for key, value in results.get(split, {}).items()
        if isinstance(value, int | float)
    ]


def diagnose_run(
    run_dir: str | os.PathLike,
    *,
    num_samples: int = 100,
    split: str = "test",
    sequences: int = 4,
    max_time: int | None = 50,
    baseline: str | os.PathLike | None = None,
    gradient_draws: int = 4,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Sample the posterior of a finished run, write ``posterior.nc`` and ``report/index.html``.

    Args:
        run_dir: the run directory (its best weights are used).
        num_samples: posterior draws S.
        split: where the example sequences come from.
        sequences: how many sequences (the first ones of ``split``).
        max_time: steps kept per sequence for per-step tasks (None: all).
        baseline: a run with sigmoid gates on the same data to compare with (default: a sibling
            run found by :func:`find_baseline`; none found: no comparison).
        gradient_draws: Gamma draws averaged in the gradient-flow measurement.
        seed: seeds the draws.
        progress: show a progress bar while sampling.

    Returns: the path of ``report/index.html``.
    """
    from probgates.infer import RunDirectory
    from probgates.runner import load_run

    run_dir = Path(run_dir)
    report_dir = run_dir / "report"
    table = spec_table(run_dir)
    if is_sparse_run(table):
        return _diagnose_sparse_run(
            run_dir, table, num_samples=num_samples, split=split, sequences=sequences, max_time=max_time,
            seed=seed, progress=progress,
        )  # fmt: skip
    spec, data, trainer = load_run(run_dir)
    module = trainer.module
    baseline_dir = baseline
    if baseline_dir is None and module.has_latent_gates:
        baseline_dir = find_baseline(run_dir)
    baseline_note = "No baseline with sigmoid gates on the same data was found (pass baseline=RUN_DIR)."
    # Each model works in its own param store: PyroModule prefers values found in the store under
    # its parameter names, and both models use the same names (e.g. "head.noise_scale").
    store = pyro.get_param_store()
    b_spec = None
    if baseline_dir is not None and Path(baseline_dir).resolve() != run_dir.resolve():
        with store.scope():
            b_spec, b_data, b_trainer = load_run(baseline_dir)
        if b_spec.data != spec.data:
            raise ValueError(
                f"baseline {baseline_dir} was trained on other data ({b_spec.data.name} "
                f"{b_spec.data.options}) than {run_dir} ({spec.data.name} {spec.data.options})"
            )
    label = spec.name
    indices = choose_sequences(data, split, sequences)
    batch = crop_batch(data.split(split).batch(indices), max_time)
    with store.scope():
        tree = to_datatree(
            module, data, num_samples=num_samples, split=split, sequences=sequences, max_time=max_time,
            metrics=RunDirectory(run_dir).read_metrics(), seed=seed, progress=progress,
            attrs={"run_dir": str(run_dir), "spec_name": spec.name},
        )  # fmt: skip
        flows = {label: cell_gradient_norms(module, batch, num_draws=gradient_draws)}
    save_datatree(tree, run_dir / "posterior.nc")
    models = {label: tree}

    if b_spec is not None:
        b_label = b_spec.name
        with store.scope():
            models[b_label] = to_datatree(
                b_trainer.module, b_data, num_samples=num_samples, split=split, sequences=indices,
                max_time=max_time, seed=seed, progress=False,
            )  # fmt: skip
            flows[b_label] = cell_gradient_norms(b_trainer.module, batch, num_draws=gradient_draws)
        baseline_note = f"Baseline: {baseline_dir} ({b_spec.model.family} gates, same data)."

    report_dir.mkdir(parents=True, exist_ok=True)
    figures = []

    def add(name: str, fig, caption: str) -> None:
        save_figure(fig, report_dir / name)
        figures.append((name, caption))

    add(
        "gate_distributions.png",
        plot_gate_distributions(models),
        "Distributions of i and f: posterior (filled) and prior (outline) of each model.",
    )
    add(
        "joint_gates.png",
        plot_joint_gates(tree),
        "Joint (i, f) density and the i-f correlation of each unit.",
    )
    add(
        "gate_trajectories.png",
        plot_gate_trajectories(tree),
        f"Gates over the first example sequence, posterior median and {CI_PROB:.0%} credible band."
        if module.has_latent_gates
        else "Gates over the first example sequence (deterministic gates).",
    )
    if "prior" in tree.children:
        add(
            "prior_posterior.png",
            plot_prior_posterior(tree),
            "Prior against posterior of the Gamma shapes (and of alpha0 under a hierarchical prior).",
        )
    add(
        "gradient_flow.png",
        plot_gradient_flow(flows, task=spec.data.name),
        "Norm of dL/dc_t against t (top layer, mean over the example sequences).",
    )
    if "sample_stats" in tree.children:
        add("training_history.png", plot_training_history(tree), "The ELBO history: loss, NLL and KL parts.")

    sections = [
        html.section(
            "Run",
            html.table(
                ("field", "value"),
                [
                    ("run directory", str(run_dir)),
                    ("spec", spec.name),
                    ("data", spec.data.name),
                    ("gate family", spec.model.family),
                    ("hidden size x layers", f"{module.hidden_size} x {module.num_layers}"),
                    ("gate prior", tree.attrs.get("gate_prior", "none (deterministic gates)")),
                    ("posterior draws", int(tree.attrs["num_draws"])),
                    ("example sequences", f"{split} split, indices {indices}"),
                ],
                text_columns=2,
            ),
            html.paragraph(baseline_note, note=True),
            html.paragraph(
                "The posterior is saved as posterior.nc: open it with xarray.open_datatree (ArviZ 1.x "
                "reads the tree directly, ArviZ 0.2x through arviz.from_datatree).",
                note=True,
            ),
        )
    ]
    results = _results_rows(run_dir)
    if results:
        sections.append(
            html.section(
                "Final evaluation (results.json)",
                html.table(("split", "metric", "value"), results, text_columns=2),
            )
        )
    gate_rows = [row for name, t in models.items() for row in _gate_rows(name, t)]
    corr = unit_correlation(tree["posterior"]["gates"])
    corr_rows = [
        (int(layer), float(np.nanmean(c)), float(np.nanmin(c)), float(np.nanmax(c)), int(np.sum(c < 0)))
        for layer, c in zip(corr.layer.values, corr.values, strict=True)
    ]
    ci = f"{CI_PROB:.0%}"
    sections.append(
        html.section(
            "Gate behaviour",
            html.table(
                ("model", "quantity", "mean", "sd", "median", f"{ci} lower", f"{ci} upper"),
                gate_rows,
                text_columns=2,
            ),
            html.table(("layer", "mean corr(i, f)", "min", "max", "units with negative corr"), corr_rows),
            *[html.figure(name, caption) for name, caption in figures[:3]],
        )
    )
    shape_rows = _shape_rows(tree)
    if shape_rows:
        sections.append(
            html.section(
                "Gamma shapes: prior against posterior",
                html.paragraph(
                    "Prior: alpha0 (its hyperprior draws under a hierarchical prior). Posterior: the "
                    "guide's Gamma shapes averaged over the real steps of the example sequences, and "
                    "q(alpha0) under a hierarchical prior. Pooled over layers and units.",
                    note=True,
                ),
                html.table(
                    (
                        "variable",
                        "component",
                        "prior mean",
                        f"prior {ci} lower",
                        f"prior {ci} upper",
                        "posterior mean",
                        f"posterior {ci} lower",
                        f"posterior {ci} upper",
                    ),
                    shape_rows,
                    text_columns=2,
                ),
                *[html.figure(n, c) for n, c in figures if n == "prior_posterior.png"],
            )
        )
    sections.append(
        html.section(
            "Gradient flow through the cell state",
            html.paragraph(
                "||dL/dc_t|| with L the negative log-likelihood of the example sequences; first / last is "
                "the share of the end-of-sequence gradient that reaches t = 0."
            ),
            html.table(
                ("model", "family", "t = 0", "t = T/2", "t = T-1", "first / last"),
                _flow_rows(flows),
                text_columns=2,
            ),
            *[html.figure(n, c) for n, c in figures if n == "gradient_flow.png"],
        )
    )
    if "sample_stats" in tree.children:
        sections.append(
            html.section(
                "Training history", *[html.figure(n, c) for n, c in figures if n == "training_history.png"]
            )
        )
    index = report_dir / "index.html"
    index.write_text(html.page(f"Gate diagnostics: {spec.name}", *sections))
    return index


# ----------------------------------------------------------------------------- sparse runs


def _diagnose_sparse_run(
    run_dir: Path, table: dict, *, num_samples, split, sequences, max_time, seed, progress
) -> Path:
    """The report of a structured-sparsification run (``[model.sparse]`` in its spec)."""
    from probgates.data import load_dataset
    from probgates.diagnostics.figures import (
        plot_log_alpha,
        plot_neuron_map,
        plot_sparsity_over_training,
        plot_structure_history,
    )
    from probgates.diagnostics.sparsity import sparsity_dataset
    from probgates.infer import RunDirectory
    from probgates.sparse import build_sparse_model
    from probgates.sparse.compress import load_sparse_model, sparse_spec_from_table

    run = RunDirectory(run_dir)
    spec = sparse_spec_from_table(table, str(run.spec))
    d = table.get("data", {})
    data = load_dataset(d.get("name", "sparse_signal"), d.get("root") or None, **d.get("options", {}))
    store = pyro.get_param_store()  # one param store per model (they share parameter names)
    with store.scope():
        pyro.set_rng_seed(int(table.get("train", {}).get("seed", 0)))
        snapshots = {"initial": sparsity_dataset(build_sparse_model(spec, data).eval())}
    states = {}
    for which in ("best", "checkpoint"):
        if getattr(run, which).exists():
            states[which] = run.load(which)
    if not states:
        raise FileNotFoundError(f"{run.path}: no best.pt or checkpoint.pt to diagnose")
    for which, state in states.items():
        label = "best" if which == "best" else "last"
        with store.scope():
            snapshots[f"{label} (epoch {state.get('epoch', '?')})"] = sparsity_dataset(
                load_sparse_model(spec, data, state["module"])
            )
    name = table.get("name", run.path.name)
    with store.scope():
        model = load_sparse_model(spec, data, states.get("best", states.get("checkpoint"))["module"])
        tree = to_datatree(
            model, data, num_samples=num_samples, split=split, sequences=sequences, max_time=max_time,
            metrics=run.read_metrics(), seed=seed, progress=progress,
            attrs={"run_dir": str(run_dir), "spec_name": name},
        )  # fmt: skip
    save_datatree(tree, run_dir / "posterior.nc")
    report_dir = run_dir / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    sparsity = tree["sparsity"].to_dataset()
    figures = [("neuron_map.png", plot_neuron_map(sparsity), "Gates of every hidden neuron by type.")]
    if any(str(v).startswith("log_alpha_") for v in sparsity.data_vars):
        figures.insert(
            0,
            (
                "log_alpha.png",
                plot_log_alpha(sparsity),
                "log alpha of every sparsified tensor, threshold dashed.",
            ),
        )
    figures.append(
        (
            "sparsity_over_training.png",
            plot_sparsity_over_training(snapshots),
            "Compression and structure at initialisation, at the best epoch and at the last checkpoint.",
        )
    )
    if "sample_stats" in tree.children:
        history = tree["sample_stats"].to_dataset()
        if "hidden_kept" in history:  # the runs' per-epoch records carry the structure
            figures.append(
                (
                    "structure_history.png",
                    plot_structure_history(history),
                    "Compression, hidden neurons and non-constant gates per type after every epoch.",
                )
            )
        figures.append(("training_history.png", plot_training_history(tree), "The ELBO history."))
    for filename, fig, _ in figures:
        save_figure(fig, report_dir / filename)
    keys = (
        ("compression", "compression (times)"),
        ("weights_nonzero", "nonzero weights"),
        ("weights_total", "weights"),
        ("hidden_kept", "hidden neurons kept"),
        ("hidden_input_dependent", "hidden neurons that read the input"),
        ("inputs_kept", "inputs kept"),
        ("vocabulary_kept", "vocabulary kept"),
        ("gates_nonconstant", "non-constant gates"),
        *((f"gates_nonconstant_{g}", f"non-constant {g} gates") for g in ("i", "f", "g", "o")),
    )
    labels = list(snapshots)
    rows = [
        (label, *[snapshots[s].attrs.get(key, float("nan")) for s in labels])
        for key, label in keys
        if any(key in snapshots[s].attrs for s in labels)
    ]
    sections = [
        html.section(
            "Run",
            html.table(
                ("field", "value"),
                [
                    ("run directory", str(run_dir)),
                    ("spec", name),
                    ("data", d.get("name", "")),
                    ("framework, variant", f"{spec.framework}, {spec.variant}"),
                    ("hidden size", spec.hidden_size),
                    ("pruning threshold (log alpha)", spec.threshold),
                    ("posterior draws", int(tree.attrs["num_draws"])),
                ],
                text_columns=2,
            ),
            html.paragraph(
                "posterior.nc holds the draws of the group variables, the predictive and log-likelihood "
                "groups and a 'sparsity' group with log alpha, keep masks and the gate structure.",
                note=True,
            ),
        ),
        html.section(
            "Compression (the paper code's unit rule)",
            html.table(("quantity", *labels), rows),
            *[
                html.figure(f, c)
                for f, _, c in figures
                if f in ("sparsity_over_training.png", "structure_history.png")
            ],
        ),
        html.section(
            "Structure",
            *[html.figure(f, c) for f, _, c in figures if f in ("log_alpha.png", "neuron_map.png")],
        ),
    ]
    if "sample_stats" in tree.children:
        sections.append(
            html.section(
                "Training history", *[html.figure(f, c) for f, _, c in figures if f == "training_history.png"]
            )
        )
    index = report_dir / "index.html"
    index.write_text(html.page(f"Sparsity diagnostics: {name}", *sections))
    return index
