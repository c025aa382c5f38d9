"""What a gate prior means before any data: draws from the prior alone (``probgates priors SPEC``).

For a Gamma-ratio family with K Gammas per unit and the prior of ``[model.prior]``:

1. alpha0 per simulated unit: the fixed (or learned, at its initial value) concentration, or for a
   hierarchical prior a draw per unit and component from the hyperprior (Gamma(hyper_a, hyper_b)
   with rate hyper_b, or LogNormal(hyper_a, hyper_b)), as :class:`probgates.nn.gate_prior.GatePrior`;
2. G_k ~ Gamma(alpha0_k, 1) plus the model's 1e-3 offset, many draws per unit;
3. (i, f) = the family's Gamma ratios (:meth:`gates_from_gammas`).

From these: the marginals of i and f (with the exact Beta marginals of
:meth:`marginal_concentrations` for a fixed prior), their joint density, the i-f correlation of
each simulated unit, and the implied memory of the cell: the half-life ``-log 2 / log f`` (the steps
over which a constant forget gate f keeps half of c_t, ignoring new input). No data, no network.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from probgates.diagnostics import html
from probgates.diagnostics.figures import BINS, DENSITY_LABEL, GATE_LABEL, save_figure
from probgates.diagnostics.gate_stats import CI_PROB, correlation, describe, half_life
from probgates.gates import GAMMA_EPS, GammaRatioFamily, make_family
from probgates.nn.gate_prior import hyperprior_mean
from probgates.priors import GammaGatePrior


@dataclass
class PriorDraws:
    """Draws of the gates under a prior.

    Attributes:
        family: the gate family's name.
        prior: the prior.
        alpha0: ``[U, K]`` the Gamma shapes of each simulated unit.
        i, f: ``[U, N]`` gate draws per unit.
    """

    family: str
    prior: GammaGatePrior
    alpha0: np.ndarray
    i: np.ndarray
    f: np.ndarray

    @property
    def half_life(self) -> np.ndarray:
        return half_life(self.f)

    def unit_correlations(self) -> np.ndarray:
        return np.array([correlation(a, b) for a, b in zip(self.i, self.f, strict=True)])

    def summary(self) -> dict:
        """Numbers a modeler reads: the gates' marginals, their correlation and the memory."""
        i, f, life = self.i.ravel(), self.f.ravel(), self.half_life.ravel()
        corr = self.unit_correlations()
        corr = corr[np.isfinite(corr)]
        return {
            "family": self.family,
            "prior": asdict(self.prior),
            "num_units": int(self.i.shape[0]),
            "draws_per_unit": int(self.i.shape[1]),
            "credible_interval": CI_PROB,
            "i": describe(i),
            "f": describe(f),
            "correlation_pooled": correlation(i, f),
            "correlation_per_unit": describe(corr),
            "half_life_steps": {
                "median": float(np.median(life)),
                "lower": float(np.quantile(life, (1 - CI_PROB) / 2)),
                "upper": float(np.quantile(life, 1 - (1 - CI_PROB) / 2)),
                "p_over_10": float(np.mean(life > 10)),
                "p_over_100": float(np.mean(life > 100)),
            },
            "p_f_over_0.9": float(np.mean(f > 0.9)),
            "p_i_over_0.9": float(np.mean(i > 0.9)),
        }


def _alpha0(
    prior: GammaGatePrior, num_gammas: int, num_units: int, generator: torch.Generator
) -> torch.Tensor:
    if prior.kind != "hierarchical":
        return torch.tensor(prior.components(num_gammas), dtype=torch.float64).expand(num_units, num_gammas)
    shape = (num_units, num_gammas)
    a, b = torch.tensor(prior.hyper_a, dtype=torch.float64), torch.tensor(prior.hyper_b, dtype=torch.float64)
    if prior.hyperprior == "gamma":
        return torch._standard_gamma(a.expand(shape).contiguous(), generator=generator) / b
    return torch.exp(a + b * torch.randn(shape, generator=generator, dtype=torch.float64))


def draw_prior_gates(
    prior: GammaGatePrior,
    family: str = "bbeta5",
    *,
    num_units: int = 100,
    draws_per_unit: int = 200,
    seed: int = 0,
) -> PriorDraws:
    """Gate draws under ``prior`` for a Gamma-ratio ``family`` (see the module docstring)."""
    gates = None if family == "lstm" else make_family(family)
    if not isinstance(gates, GammaRatioFamily):
        raise ValueError(
            f"model.family {family!r} has deterministic gates and no gate prior; "
            "priors apply to the Gamma-ratio families beta, bbeta3 and bbeta5"
        )
    if num_units < 1 or draws_per_unit < 3:
        raise ValueError(f"need num_units >= 1 and draws_per_unit >= 3, got {num_units}, {draws_per_unit}")
    generator = torch.Generator().manual_seed(seed)
    alpha0 = _alpha0(prior, gates.num_gammas, num_units, generator)
    concentration = alpha0[:, None, :].expand(num_units, draws_per_unit, gates.num_gammas).contiguous()
    g = torch._standard_gamma(concentration, generator=generator) + GAMMA_EPS
    i, f = gates.gates_from_gammas(g)
    return PriorDraws(family, prior, alpha0.numpy().copy(), i.numpy(), f.numpy())


# ----------------------------------------------------------------------------- figures


def _beta_pdf(a: float, b: float, x: np.ndarray) -> np.ndarray:
    beta = torch.distributions.Beta(
        torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    )
    return beta.log_prob(torch.as_tensor(x)).exp().numpy()


def plot_prior_marginals(draws: PriorDraws) -> Figure:
    """Histograms of i and f under the prior; the exact Beta marginal where alpha0 is fixed."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    family = make_family(draws.family)
    fixed = draws.prior.kind != "hierarchical"
    a_i, b_i, a_f, b_f = (float(v[0]) for v in family.marginal_concentrations(torch.as_tensor(draws.alpha0)))
    x = np.linspace(0.0025, 0.9975, 399)
    for ax, values, name, (a, b) in (
        (axes[0], draws.i, "input gate i", (a_i, b_i)),
        (axes[1], draws.f, "forget gate f", (a_f, b_f)),
    ):
        ax.hist(values.ravel(), bins=BINS, density=True, alpha=0.5, color="tab:blue", label="prior draws")
        if fixed:
            ax.plot(x, _beta_pdf(a, b, x), color="black", linewidth=1.2, label=f"Beta({a:.3g}, {b:.3g})")
        ax.set_title(f"Prior of the {name}")
        ax.set_xlabel(GATE_LABEL)
        ax.set_ylabel(DENSITY_LABEL)
        ax.set_xlim(0, 1)
        ax.legend(fontsize=8)
    fig.suptitle(f"Implied gate marginals: {draws.family}, {_describe_prior(draws.prior)}")
    return fig


def plot_prior_joint(draws: PriorDraws) -> Figure:
    """The joint prior density of (i, f) and the distribution of the per-unit i-f correlation."""
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    ax_joint, ax_corr = fig.subplots(1, 2)
    _, _, _, image = ax_joint.hist2d(
        draws.i.ravel(), draws.f.ravel(), bins=[BINS, BINS], density=True, cmap="viridis", cmin=1e-9
    )
    fig.colorbar(image, ax=ax_joint, label="joint density (per unit gate value squared)")
    ax_joint.set_title("Joint prior density of (i, f)")
    ax_joint.set_xlabel("input gate i (dimensionless)")
    ax_joint.set_ylabel("forget gate f (dimensionless)")
    corr = draws.unit_correlations()
    corr = corr[np.isfinite(corr)]
    ax_corr.hist(corr, bins=np.linspace(-1, 1, 41), color="tab:purple", alpha=0.7)
    ax_corr.axvline(
        correlation(draws.i.ravel(), draws.f.ravel()), color="black", linestyle="--", label="pooled"
    )
    ax_corr.set_title("i-f correlation of each simulated unit")
    ax_corr.set_xlabel("Pearson correlation (dimensionless)")
    ax_corr.set_ylabel("number of units")
    ax_corr.legend(fontsize=8)
    fig.suptitle("How the prior couples the input and forget gates")
    return fig


def plot_prior_memory(draws: PriorDraws) -> Figure:
    """The implied memory: the half-life -log 2 / log f (log scale) and, for a hierarchical
    prior, the hyperprior draws of alpha0."""
    hierarchical = draws.prior.kind == "hierarchical"
    fig = Figure(figsize=(11 if hierarchical else 7, 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, 2 if hierarchical else 1))
    life = np.log10(np.clip(draws.half_life.ravel(), 1e-3, 1e12))
    axes[0].hist(life, bins=60, density=True, color="tab:green", alpha=0.7)
    median = float(np.median(draws.half_life))
    axes[0].axvline(
        np.log10(max(median, 1e-3)), color="black", linestyle="--", label=f"median {median:.3g} steps"
    )
    axes[0].set_title("Implied memory: half-life of the cell content")
    axes[0].set_xlabel("log10 half-life -log 2 / log f (time steps)")
    axes[0].set_ylabel("density (per decade)")
    axes[0].legend(fontsize=8)
    if hierarchical:
        for k in range(draws.alpha0.shape[1]):
            axes[1].hist(
                np.log10(draws.alpha0[:, k]),
                bins=30,
                histtype="step",
                linewidth=1.5,
                label=f"G{k + 1}",
                density=True,
            )
        axes[1].set_title("Hyperprior draws of alpha0 per component")
        axes[1].set_xlabel("log10 alpha0 (dimensionless)")
        axes[1].set_ylabel("density (per decade)")
        axes[1].legend(fontsize=8)
    fig.suptitle("What the prior says about how long the cell remembers")
    return fig


# ----------------------------------------------------------------------------- report


def _describe_prior(prior: GammaGatePrior) -> str:
    if prior.kind == "hierarchical":
        hyper = "Gamma" if prior.hyperprior == "gamma" else "LogNormal"
        return f"alpha0 ~ {hyper}({prior.hyper_a:g}, {prior.hyper_b:g}) (hierarchical)"
    values = ", ".join(f"{c:g}" for c in prior.concentration)
    return f"alpha0 = [{values}] ({prior.kind})"


def format_summary(summary: dict) -> str:
    """A few lines for the terminal."""
    i, f, life = summary["i"], summary["f"], summary["half_life_steps"]
    ci = f"{summary['credible_interval']:.0%}"
    return "\n".join(
        [
            f"family {summary['family']}, {summary['num_units']} units x {summary['draws_per_unit']} draws",
            *(
                f"  {name}: mean {d['mean']:.3g}, median {d['median']:.3g}, "
                f"{ci} interval [{d['lower']:.3g}, {d['upper']:.3g}]"
                for name, d in (("i", i), ("f", f))
            ),
            f"  corr(i, f): {summary['correlation_pooled']:.3g} pooled, "
            f"{summary['correlation_per_unit']['median']:.3g} median per unit",
            f"  half-life: median {life['median']:.3g} steps, {ci} interval [{life['lower']:.3g}, "
            f"{life['upper']:.3g}], P(> 100 steps) = {life['p_over_100']:.3g}",
        ]
    )


def prior_report(
    spec,
    out_dir: str | os.PathLike,
    *,
    num_draws: int = 20000,
    num_units: int = 100,
    family: str | None = None,
    seed: int = 0,
) -> Path:
    """Draw from the spec's gate prior alone and write ``out_dir/index.html`` with its figures
    (``prior_marginals.png``, ``prior_joint.png``, ``prior_memory.png``) and ``summary.json``.

    Args:
        spec: a :class:`probgates.spec.Spec`, a spec file path, or a :class:`GammaGatePrior`.
        out_dir: the report folder (created).
        num_draws: gate draws in all (``num_units`` simulated units share them equally).
        num_units: simulated units; each has its own alpha0 under a hierarchical prior.
        family: the gate family (default the spec's ``model.family``; ``bbeta5`` for a bare prior).
        seed: seeds the draws.

    Returns: the path of ``index.html``. Raises ValueError for a family without a gate prior.
    """
    from probgates.spec import Spec, load_spec

    name = "prior"
    if isinstance(spec, GammaGatePrior):
        prior, family = spec, family or "bbeta5"
    else:
        if not isinstance(spec, Spec):
            spec = load_spec(spec)
        prior, family, name = spec.model.prior, family or spec.model.family, spec.name
    draws = draw_prior_gates(
        prior, family, num_units=num_units, draws_per_unit=max(3, num_draws // num_units), seed=seed
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = {
        "prior_marginals.png": (plot_prior_marginals, "Marginals of i and f implied by the prior."),
        "prior_joint.png": (plot_prior_joint, "Joint density of (i, f) and the i-f correlation per unit."),
        "prior_memory.png": (plot_prior_memory, "Half-life of the cell content implied by f."),
    }
    parts = []
    for filename, (make, caption) in figures.items():
        fig = make(draws)
        save_figure(fig, out / filename)
        parts.append(html.figure(filename, caption))
    summary = draws.summary()
    summary["spec"] = name
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    rows = [
        ("input gate i", *[summary["i"][k] for k in ("mean", "sd", "median", "lower", "upper")]),
        ("forget gate f", *[summary["f"][k] for k in ("mean", "sd", "median", "lower", "upper")]),
    ]
    life = summary["half_life_steps"]
    memory_rows = [
        ("median half-life (steps)", life["median"]),
        (f"{CI_PROB:.0%} interval, lower (steps)", life["lower"]),
        (f"{CI_PROB:.0%} interval, upper (steps)", life["upper"]),
        ("P(half-life > 10 steps)", life["p_over_10"]),
        ("P(half-life > 100 steps)", life["p_over_100"]),
        ("P(f > 0.9)", summary["p_f_over_0.9"]),
        ("corr(i, f), pooled", summary["correlation_pooled"]),
        ("corr(i, f), median per unit", summary["correlation_per_unit"]["median"]),
    ]
    extra = ""
    if prior.kind == "hierarchical":
        extra = html.paragraph(f"Hyperprior mean of alpha0: {hyperprior_mean(prior):.4g}.")
    elif prior.kind == "learned":
        extra = html.paragraph("A learned prior is shown at its initial value.", note=True)
    page = html.page(
        f"Gate prior: {name}",
        html.section(
            "Prior",
            html.paragraph(
                f"Gate family {family}; Gamma(alpha0, 1) on every gate Gamma, {_describe_prior(prior)}."
            ),
            extra,
            html.paragraph(
                f"{draws.i.size} draws from the prior alone ({draws.i.shape[0]} simulated units); "
                "no data, no training.",
                note=True,
            ),
        ),
        html.section(
            "Gate marginals",
            html.table(
                ("gate", "mean", "sd", "median", f"{CI_PROB:.0%} lower", f"{CI_PROB:.0%} upper"), rows
            ),
            parts[0],
        ),
        html.section("Joint density and correlation", parts[1]),
        html.section("Memory of the cell", html.table(("quantity", "value"), memory_rows), parts[2]),
    )
    index = out / "index.html"
    index.write_text(page)
    return index
