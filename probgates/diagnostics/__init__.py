"""Posterior diagnostics of gate behaviour and the prior workflow.

* :func:`to_datatree`: posterior and prior draws of a trained model as an ``xarray.DataTree`` in
  ArviZ's schema (ArviZ 1.x reads it directly, 0.2x through ``arviz.from_datatree``);
  :func:`save_datatree` / :func:`load_datatree` for netCDF;
* :mod:`~probgates.diagnostics.gate_stats`: gate values, i-f correlation per unit, half-life;
* :func:`cell_gradient_norms`: ||dL/dc_t|| against t;
* :mod:`~probgates.diagnostics.figures`: the matplotlib figures;
* :func:`sparsity_dataset`: log alpha, keep masks and gate structure of a :mod:`probgates.sparse`
  model (its trees carry them in a ``sparsity`` group);
* :func:`diagnose_run`: ``posterior.nc`` and an offline HTML report for a run directory (gated or
  sparse);
* :func:`prior_report`, :func:`draw_prior_gates`: what a gate prior means, from the prior alone.
"""

from probgates.diagnostics.datatree import GROUPS, build_datatree, load_datatree, save_datatree, to_datatree
from probgates.diagnostics.gradient_flow import GradientFlow, cell_gradient_norms, recurrence_with_cells
from probgates.diagnostics.prior_workflow import PriorDraws, draw_prior_gates, format_summary, prior_report
from probgates.diagnostics.report import diagnose_run, find_baseline
from probgates.diagnostics.runs import load_for_diagnostics
from probgates.diagnostics.sparsity import sparsity_dataset

__all__ = [
    "GROUPS",
    "GradientFlow",
    "PriorDraws",
    "build_datatree",
    "cell_gradient_norms",
    "diagnose_run",
    "draw_prior_gates",
    "find_baseline",
    "format_summary",
    "load_datatree",
    "load_for_diagnostics",
    "prior_report",
    "recurrence_with_cells",
    "save_datatree",
    "sparsity_dataset",
    "to_datatree",
]
