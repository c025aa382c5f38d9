"""Sparsity structure of a structured-sparsification model (:mod:`probgates.sparse`) as xarray data.

For a :class:`~probgates.sparse.SparseSequenceModel` (Bayesian framework) every sparsified tensor
has log alpha = 2 log sigma - log theta^2 (clipped) and is pruned where log alpha >= the threshold
(3). :func:`sparsity_dataset` holds, with named dims:

* ``log_alpha_<layer>_<variable>`` and ``keep_<layer>_<variable>`` (bool) for every sparsified
  tensor: ``embedding_weight`` (token, embedding_dim), ``embedding_z_voc`` (token),
  ``lstm_weight_ih`` (gate, unit, input), ``lstm_weight_hh`` (gate, unit, hidden_input),
  ``lstm_z_x`` (input), ``lstm_z_gate`` (gate, unit), ``lstm_z_h`` (unit), ``head_weight``
  (output, unit); ``gate`` = ["i", "f", "g", "o"] (the rows of the LSTM weights are gate-major);
* the structure by the paper code's rule (:func:`probgates.sparse.find_structure`): ``gate_state``
  (gate, unit) = 0 removed neuron, 1 constant gate, 2 non-constant gate; ``hidden_keep`` (unit),
  ``input_keep`` (input), ``vocab_keep`` (token) where present;
* attributes: the threshold and the numbers of :func:`probgates.sparse.compression_stats`
  (``compression``, ``weights_nonzero``, ``hidden_kept``, ...).

Posterior draws of the group variables (z_x, z_gate, z_h, z_voc) go to the ``posterior`` group of
:func:`sparse_datatree`; the improper log-uniform prior has no draws, so there is no ``prior`` group.
The group-Lasso framework (``framework = "pruning"``) has no log alpha: only its structure is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import xarray as xr
from pyro import poutine
from tqdm.auto import tqdm

from probgates.data.batching import SequenceBatch
from probgates.diagnostics.sampling import OBS_SITE, observed_points, pointwise_log_likelihood

SPARSE_GATES = ("i", "f", "g", "o")
VARIABLE_DIMS = {
    ("embedding", "weight"): ("token", "embedding_dim"),
    ("embedding", "z_voc"): ("token",),
    ("lstm", "weight_ih"): ("gate", "unit", "input"),
    ("lstm", "weight_hh"): ("gate", "unit", "hidden_input"),
    ("lstm", "z_x"): ("input",),
    ("lstm", "z_gate"): ("gate", "unit"),
    ("lstm", "z_h"): ("unit",),
    ("head", "weight"): ("output", "unit"),
}
GATE_STATES = ("removed", "constant", "non-constant")


def is_sparse_model(module) -> bool:
    """A model of :mod:`probgates.sparse` (False when that package is missing)."""
    try:
        from probgates.sparse import GroupLassoSequenceModel, SparseSequenceModel
    except ImportError:  # pragma: no cover - the package is part of probgates
        return False
    return isinstance(module, SparseSequenceModel | GroupLassoSequenceModel)


def _shaped(layer: str, name: str, value: torch.Tensor) -> np.ndarray:
    dims = VARIABLE_DIMS[(layer, name)]
    if dims[0] == "gate":
        value = value.reshape(len(SPARSE_GATES), -1, *value.shape[1:])
    return value.detach().cpu().numpy()


def _with_index_coords(dataset: xr.Dataset, sequence: np.ndarray | None = None) -> xr.Dataset:
    """Coordinates for every dim: gate names, sequence indices, else 0..n-1."""
    coords = {}
    for dim, size in dataset.sizes.items():
        if dim == "gate":
            coords[dim] = np.array(SPARSE_GATES)
        elif dim == "sequence" and sequence is not None:
            coords[dim] = sequence
        elif dim not in dataset.coords:
            coords[dim] = np.arange(size)
    return dataset.assign_coords(coords)


def sparse_variables(module) -> dict[tuple[str, str], object]:
    """``(layer, variable) -> SparseVariable`` of every tensor of the model."""
    return {
        (layer_name, name): v
        for layer_name, layer in module.layers().items()
        for name, v in layer.variables().items()
    }


def sparsity_dataset(module, rule: str = "reference") -> xr.Dataset:
    """Log alpha, keep masks, gate states and compression numbers (see the module docstring)."""
    from probgates.sparse import compression_stats, find_structure, fold_model
    from probgates.sparse.masks import scalar_stats

    variables = {}
    for (layer, name), v in sparse_variables(module).items():
        if not getattr(v, "sparse", False) or (layer, name) not in VARIABLE_DIMS:
            continue
        dims = VARIABLE_DIMS[(layer, name)]
        with torch.no_grad():
            variables[f"log_alpha_{layer}_{name}"] = (
                dims,
                _shaped(layer, name, v.log_alpha()),
                {"long_name": "log alpha = 2 log sigma - log theta^2", "units": "1"},
            )
            variables[f"keep_{layer}_{name}"] = (dims, _shaped(layer, name, v.keep_mask()))
    module.eval()
    structure = find_structure(fold_model(module), rule)
    state = structure.gate_nonconstant.long() + structure.hidden_keep.long().unsqueeze(0)
    variables["gate_state"] = (
        ("gate", "unit"),
        state.numpy().astype(np.int8),
        {"long_name": "0 removed neuron, 1 constant gate, 2 non-constant gate"},
    )
    variables["hidden_keep"] = ("unit", structure.hidden_keep.numpy())
    variables["input_keep"] = ("input", structure.input_keep.numpy())
    if structure.vocab_keep is not None:
        variables["vocab_keep"] = ("token", structure.vocab_keep.numpy())
    dataset = _with_index_coords(xr.Dataset(variables))
    stats = compression_stats(structure)
    dataset.attrs.update(
        {
            "threshold": float(module.spec.threshold),
            "framework": module.spec.framework,
            "variant": module.spec.variant,
            "rule": rule,
            **scalar_stats(stats),
        }
    )
    return dataset


def draw_sparse_posterior(
    module, batch: SequenceBatch, num_data: int, num_samples: int, progress: bool = False
):
    """Posterior draws of the group variables, posterior-predictive observations and pointwise
    log-likelihoods (guide trace, model replayed with the observation unconditioned)."""
    groups = {
        (layer, name): v.site
        for (layer, name), v in sparse_variables(module).items()
        if name.startswith("z_") and getattr(v, "sparse", False)
    }
    draws = {key: [] for key in groups}
    predictive, log_lik = [], []
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            for _ in tqdm(range(num_samples), desc="posterior draws", disable=not progress, leave=False):
                guide_trace = poutine.trace(module.guide).get_trace(batch, num_data)
                model_trace = poutine.trace(
                    poutine.uncondition(poutine.replay(module.model, trace=guide_trace))
                ).get_trace(batch, num_data)
                obs = model_trace.nodes[OBS_SITE]
                predictive.append(observed_points(batch, obs["value"]).cpu().numpy())
                log_lik.append(pointwise_log_likelihood(obs["fn"], batch).cpu().numpy())
                for key, site in groups.items():
                    draws[key].append(guide_trace.nodes[site]["value"])
    finally:
        module.train(was_training)
    variables = sparse_variables(module)
    groups_out = {}
    for (layer, name), values in draws.items():
        stacked = torch.stack(values)  # [S, *shape] or [S, B, *shape] (one draw per sequence)
        dims = VARIABLE_DIMS[(layer, name)]
        lead = stacked.dim() - len(variables[(layer, name)].shape)
        if lead == 2:
            dims = ("sequence", *dims)
        if "gate" in dims:
            stacked = stacked.reshape(*stacked.shape[:lead], len(SPARSE_GATES), -1)
        groups_out[f"{layer}_{name}"] = (dims, stacked.cpu().numpy())
    return groups_out, np.stack(predictive), np.stack(log_lik)


def sparse_datatree(
    module,
    batch: SequenceBatch,
    num_data: int,
    num_samples: int,
    *,
    metrics: Sequence[Mapping] = (),
    progress: bool = False,
    attrs: Mapping | None = None,
) -> xr.DataTree:
    """The tree of a sparse model: ``posterior`` (group-variable draws), ``posterior_predictive``,
    ``observed_data``, ``log_likelihood``, ``constant_data``, ``sample_stats`` and ``sparsity``."""
    from probgates.diagnostics.datatree import SAMPLE_DIMS, _group_attrs, _history, _obs_coords, _obs_dims

    groups, predictive, log_lik = draw_sparse_posterior(module, batch, num_data, num_samples, progress)
    draws = {"chain": np.array([0]), "draw": np.arange(num_samples)}
    sequence = batch.index.cpu().numpy()
    posterior = xr.Dataset(
        {name: (SAMPLE_DIMS + dims, value[None]) for name, (dims, value) in groups.items()}, coords=draws
    )
    posterior = _with_index_coords(posterior, sequence)
    obs_shape = predictive.shape[1:]
    obs_dims = _obs_dims(batch, len(obs_shape) - 1)
    obs_coords = _obs_coords(batch, obs_shape)
    if not batch.per_step_targets:
        obs_coords["sequence"] = sequence
    observed = (batch.targets[batch.mask] if batch.per_step_targets else batch.targets).cpu().numpy()
    ll_coords = {k: v for k, v in obs_coords.items() if k not in ("label", "output")}
    tree_groups = {
        "posterior": posterior,
        "posterior_predictive": xr.Dataset(
            {"obs": (SAMPLE_DIMS + obs_dims, predictive[None].astype(observed.dtype))}, obs_coords | draws
        ),
        "observed_data": xr.Dataset({"obs": (obs_dims, observed)}, obs_coords),
        "log_likelihood": xr.Dataset({"obs": (SAMPLE_DIMS + obs_dims[:1], log_lik[None])}, ll_coords | draws),
        "constant_data": xr.Dataset(
            {
                "mask": (("sequence", "time"), batch.mask.cpu().numpy()),
                "lengths": ("sequence", batch.lengths.numpy()),
            },
            coords={"sequence": sequence, "time": np.arange(batch.mask.shape[1])},
        ),
        "sparsity": sparsity_dataset(module),
    }
    history = _history(metrics)
    if history is not None:
        tree_groups["sample_stats"] = history
    group_attrs = _group_attrs()
    for dataset in tree_groups.values():
        dataset.attrs.update(group_attrs)
    tree = xr.DataTree.from_dict({f"/{name}": ds for name, ds in tree_groups.items()})
    tree.attrs.update(group_attrs)
    tree.attrs.update(
        {
            "model_family": f"sparse ({module.spec.framework}, {module.spec.variant})",
            "hidden_size": module.spec.hidden_size,
            "num_layers": 1,
            "num_draws": num_samples,
            **(attrs or {}),
        }
    )
    return tree
