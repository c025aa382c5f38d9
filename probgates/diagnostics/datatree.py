"""From a trained SequenceModel (or a run directory) to an ``xarray.DataTree`` that ArviZ reads.

The tree is built with xarray alone (no ArviZ import), in ArviZ's group schema, so ArviZ 1.x
uses it directly and ArviZ 0.2x through ``arviz.from_datatree``. Draws of variational inference
are written as ``chain`` = 1, ``draw`` = S (a single ``sample`` dim breaks ArviZ 1.x's ``loo`` and
``plot_ppc_dist``).

Groups, variables and dims (``obs_dims`` is ``(frame, label)`` for multi-label frames,
``(frame,)`` for per-step tokens, ``(sequence,)`` for one label or value per sequence and
``(sequence, output)`` for vector regression targets)::

    posterior             gates                 (chain, draw, layer, sequence, time, gate, unit)
                          gamma_shape           (chain, draw, layer, unit, component)
                          gate_prior_concentration  (same; hierarchical priors only)
                          <extra site>          (chain, draw, *dims given in extra_sites)
    prior                 gates, gamma_shape, gate_prior_concentration (as in posterior)
    posterior_predictive  obs                   (chain, draw, *obs_dims)
    prior_predictive      obs                   (chain, draw, *obs_dims)
    observed_data         obs                   obs_dims
    log_likelihood        obs                   (chain, draw, frame | sequence): pointwise
    constant_data         mask (sequence, time), lengths (sequence)
    sample_stats          elbo, train_loss, train_nll, train_kl, kl_weight, lr, valid_*, ...
                          (epoch): the optimisation history from metrics.jsonl, one entry per
                          epoch; not per draw (SVI has no per-draw sampler statistics)

Coordinates: ``chain`` = [0]; ``draw`` = 0..S-1; ``layer`` = 0..L-1; ``sequence`` = the dataset
indices of the chosen sequences; ``time`` = 0..T-1; ``gate`` = ["i", "f"]; ``unit`` = 0..H-1;
``component`` = ["G1", ..., "GK"] (the family's Gammas in the order of :mod:`probgates.gates`);
``frame`` = 0..N-1 over the real (unpadded) steps of the chosen sequences, sequence-major, with
the non-index coordinates ``frame_sequence`` and ``frame_time``; ``label`` = 0..K-1 (e.g. piano
key, MIDI note = label + 21); ``epoch`` = the epoch numbers.

* ``gates`` holds i_t and f_t of every gated layer (float32 rounded to 12 significant bits, a
  relative error below 1.3e-4, which lets the file compress); padded steps are NaN.
* ``gamma_shape``: under the posterior, the amortized guide's Gamma shapes alpha_t averaged over
  the real steps of the chosen sequences (one value per draw, layer, unit and component); under
  the prior, alpha0 (constant for a fixed or learned prior, hyperprior draws for a hierarchical
  one). Comparing the two groups shows how far the data moved the Gamma shapes from the prior.
* Deterministic families (``lstm``, ``sigmoid``, ``cifg``, ``g2``) have no latent variable: their
  posterior holds one draw (the network) and the tree has no ``prior`` groups.

**Sparse models** (:mod:`probgates.sparse`) get their own tree, documented in
:mod:`probgates.diagnostics.sparsity`: posterior draws of the group variables, the same
predictive, observed, log-likelihood, constant-data and sample-stats groups, and a ``sparsity``
group with log alpha, keep masks and the gate/neuron structure.

**Extension point.** ``extra_sites`` maps any further Pyro site of the model or guide trace to the
names of its dims after (chain, draw), e.g. ``{"gammas_0_0": ("sequence", "flat")}``; each is
stored in the posterior as drawn.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import xarray as xr

from probgates.data.batching import DatasetSplits, SequenceBatch
from probgates.diagnostics.sampling import Draws, crop_batch, draw_posterior, draw_prior
from probgates.tasks import SequenceModel
from probgates.tasks.heads import FramesHead

SAMPLE_DIMS = ("chain", "draw")
#: Significant bits kept of the stored gate values (relative error below 1.3e-4).
GATE_MANTISSA_BITS = 12
GATE_NAMES = ("i", "f")
GROUPS = (
    "posterior",
    "prior",
    "posterior_predictive",
    "prior_predictive",
    "observed_data",
    "log_likelihood",
    "constant_data",
    "sample_stats",
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("probgates")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _group_attrs() -> dict:
    return {
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "creation_library": "probgates",
        "creation_library_version": _version(),
    }


def choose_sequences(data: DatasetSplits, split: str, sequences: int | Sequence[int]) -> list[int]:
    """The dataset indices to diagnose: the first ``sequences`` of ``split``, or the given ones."""
    part = data.split(split)
    if isinstance(sequences, int):
        if sequences < 1:
            raise ValueError(f"sequences must be >= 1, got {sequences}")
        return list(range(min(sequences, len(part))))
    chosen = [int(i) for i in sequences]
    bad = [i for i in chosen if not 0 <= i < len(part)]
    if not chosen or bad:
        raise ValueError(
            f"sequence indices {bad or chosen} are out of range for the {split} split ({len(part)})"
        )
    return chosen


def _obs_dims(batch: SequenceBatch, trailing: int) -> tuple[str, ...]:
    if batch.per_step_targets:
        return ("frame", "label")[: 1 + trailing]
    return ("sequence", "output")[: 1 + trailing]


def _obs_coords(batch: SequenceBatch, obs_shape: tuple[int, ...]) -> dict:
    coords = {}
    if batch.per_step_targets:
        seq, time = np.nonzero(batch.mask.cpu().numpy())
        coords["frame"] = np.arange(len(seq))
        coords["frame_sequence"] = ("frame", batch.index.cpu().numpy()[seq])
        coords["frame_time"] = ("frame", time)
        if len(obs_shape) > 1:
            coords["label"] = np.arange(obs_shape[1])
    elif len(obs_shape) > 1:
        coords["output"] = np.arange(obs_shape[1])
    return coords


def reduce_precision(values: np.ndarray, mantissa_bits: int = GATE_MANTISSA_BITS) -> np.ndarray:
    """float32 values rounded to ``mantissa_bits`` significant bits (relative error below
    2^-(bits+1)); the zeroed low bits make zlib compress the file several times better."""
    out = np.array(values, dtype=np.float32)
    drop = 23 - mantissa_bits
    bits = out.view(np.uint32)
    finite = np.isfinite(out)
    rounded = (bits + np.uint32(1 << (drop - 1))) & np.uint32((0xFFFFFFFF >> drop) << drop)
    bits[finite] = rounded[finite]
    return out


def _gate_dataset(draws: Draws, coords: dict, mask: np.ndarray, hyper_name: str) -> xr.Dataset:
    gates = reduce_precision(draws.gates)  # [S, L, B, T, 2, H]
    gates = np.where(mask[None, None, :, :, None, None], gates, np.nan)
    variables = {
        "gates": (
            SAMPLE_DIMS + ("layer", "sequence", "time", "gate", "unit"),
            gates[None],
            {"long_name": "gate value (i_t, f_t)", "units": "1"},
        )
    }
    shape_dims = SAMPLE_DIMS + ("layer", "unit", "component")
    if draws.gamma_shape is not None:
        variables["gamma_shape"] = (
            shape_dims,
            draws.gamma_shape[None],
            {"long_name": "Gamma shape of the latent gate Gammas", "units": "1"},
        )
    if draws.hyper is not None:
        variables[hyper_name] = (
            shape_dims,
            draws.hyper[None],
            {"long_name": "alpha0, the prior's Gamma shape (hierarchical)", "units": "1"},
        )
    used = {dim for dims, *_ in variables.values() for dim in dims}
    return xr.Dataset(variables, coords={k: v for k, v in coords.items() if k in used})


def _history(metrics: Sequence[Mapping]) -> xr.Dataset | None:
    records = [r for r in metrics if "epoch" in r]
    if not records:
        return None
    keys = []
    for record in records:
        for key, value in record.items():
            if key != "epoch" and isinstance(value, int | float) and not isinstance(value, bool):
                if key not in keys:
                    keys.append(key)
    epochs = np.array([int(r["epoch"]) for r in records])
    variables = {key: ("epoch", np.array([float(r.get(key, np.nan)) for r in records])) for key in keys}
    if "train_loss" in variables:
        variables["elbo"] = (
            "epoch",
            -variables["train_loss"][1],
            {"long_name": "ELBO per training sequence"},
        )
    dataset = xr.Dataset(variables, coords={"epoch": epochs})
    for key, text in (
        ("train_loss", "-ELBO per training sequence (= train_nll + train_kl)"),
        ("train_nll", "negative log-likelihood part of the loss per training sequence"),
        ("train_kl", "KL part of the loss per training sequence (times the KL weight)"),
    ):
        if key in dataset:
            dataset[key].attrs["long_name"] = text
    return dataset


def build_datatree(
    module: SequenceModel,
    batch: SequenceBatch,
    posterior: Draws,
    prior: Draws | None = None,
    *,
    metrics: Sequence[Mapping] = (),
    extra_sites: Mapping[str, Sequence[str]] | None = None,
    attrs: Mapping | None = None,
) -> xr.DataTree:
    """Assemble the documented tree from draws already made (see :func:`to_datatree`)."""
    mask = batch.mask.cpu().numpy()
    L, B, T = posterior.gates.shape[1:4]
    H = posterior.gates.shape[-1]
    coords = {
        "chain": np.array([0]),
        "layer": np.arange(L),
        "sequence": batch.index.cpu().numpy(),
        "time": np.arange(T),
        "gate": np.array(GATE_NAMES),
        "unit": np.arange(H),
    }
    if module.has_latent_gates:
        coords["component"] = np.array([f"G{k + 1}" for k in range(module.family.num_gammas)])
    from probgates.nn.gate_prior import HYPER_SITE

    def with_draws(ds: xr.Dataset, num: int) -> xr.Dataset:
        return ds.assign_coords(chain=coords["chain"], draw=np.arange(num))

    group_attrs = _group_attrs()
    post = with_draws(_gate_dataset(posterior, coords, mask, HYPER_SITE), len(posterior.gates))
    for name, dims in (extra_sites or {}).items():
        value = posterior.extra[name]
        if value.ndim - 1 != len(dims):
            raise ValueError(
                f"extra site {name!r} has {value.ndim - 1} dims per draw {value.shape[1:]}, "
                f"but {len(dims)} dim names were given: {tuple(dims)}"
            )
        post[name] = (SAMPLE_DIMS + tuple(dims), value[None])
    groups = {"posterior": post}

    obs_shape = posterior.predictive.shape[1:]
    obs_dims = _obs_dims(batch, len(obs_shape) - 1)
    obs_coords = _obs_coords(batch, obs_shape)
    if batch.per_step_targets:
        observed = batch.targets[batch.mask]
    else:
        observed = batch.targets
        obs_coords["sequence"] = coords["sequence"]
    observed = observed.cpu().numpy()
    if isinstance(module.head, FramesHead):
        observed = observed.astype(np.int8)  # 0/1 piano-roll labels
    groups["observed_data"] = xr.Dataset({"obs": (obs_dims, observed)}, coords=obs_coords)
    groups["posterior_predictive"] = with_draws(
        xr.Dataset(
            {"obs": (SAMPLE_DIMS + obs_dims, posterior.predictive[None].astype(observed.dtype))}, obs_coords
        ),
        len(posterior.predictive),
    )
    ll_dims = SAMPLE_DIMS + obs_dims[:1]
    ll_coords = {k: v for k, v in obs_coords.items() if k not in ("label", "output")}
    groups["log_likelihood"] = with_draws(
        xr.Dataset(
            {"obs": (ll_dims, posterior.log_likelihood[None], {"long_name": "pointwise log-likelihood"})},
            ll_coords,
        ),
        len(posterior.log_likelihood),
    )
    if prior is not None and module.has_latent_gates:
        groups["prior"] = with_draws(_gate_dataset(prior, coords, mask, HYPER_SITE), len(prior.gates))
        groups["prior_predictive"] = with_draws(
            xr.Dataset(
                {"obs": (SAMPLE_DIMS + obs_dims, prior.predictive[None].astype(observed.dtype))}, obs_coords
            ),
            len(prior.predictive),
        )
    groups["constant_data"] = xr.Dataset(
        {
            "mask": (("sequence", "time"), mask),
            "lengths": ("sequence", batch.lengths.cpu().numpy()),
        },
        coords={"sequence": coords["sequence"], "time": coords["time"]},
    )
    history = _history(metrics)
    if history is not None:
        groups["sample_stats"] = history
    for dataset in groups.values():
        dataset.attrs.update(group_attrs)
    tree = xr.DataTree.from_dict({f"/{name}": ds for name, ds in groups.items()})
    tree.attrs.update(group_attrs)
    tree.attrs.update(
        {
            "model_family": module.family_name,
            "hidden_size": module.hidden_size,
            "num_layers": module.num_layers,
            "num_draws": len(posterior.gates),
            **(attrs or {}),
        }
    )
    if module.has_latent_gates:
        tree.attrs["gate_prior"] = module.gamma_prior.describe()
    return tree


def to_datatree(
    source: SequenceModel | str | os.PathLike,
    data: DatasetSplits | None = None,
    *,
    num_samples: int = 100,
    num_prior_samples: int | None = None,
    split: str = "test",
    sequences: int | Sequence[int] = 4,
    max_time: int | None = 50,
    metrics: Sequence[Mapping] | None = None,
    extra_sites: Mapping[str, Sequence[str]] | None = None,
    seed: int = 0,
    progress: bool = False,
    attrs: Mapping | None = None,
) -> xr.DataTree:
    """Posterior and prior draws of a trained model over a few sequences, as an ``xarray.DataTree``.

    Args:
        source: a trained :class:`~probgates.tasks.SequenceModel` (it holds both the Pyro model and
            the amortized guide), a sparse model of :mod:`probgates.sparse`, or a run directory
            (its best weights, data and metrics are loaded; sparse runs too).
        data: the dataset splits (not needed with a run directory).
        num_samples: S, posterior draws (``draw`` = 0..S-1, ``chain`` = 1).
        num_prior_samples: prior draws (default min(S, 50)).
        split: the split the sequences come from.
        sequences: how many sequences (the first ones of the split) or their indices.
        max_time: keep at most this many steps of sequences with per-step targets (None: all).
        metrics: the per-epoch training records for ``sample_stats`` (default: the run's
            ``metrics.jsonl`` with a run directory, else none).
        extra_sites: further Pyro sites for the posterior, name -> dims (see module docstring).
        seed: seeds the draws.
        progress: show a progress bar while sampling.
        attrs: extra attributes of the tree's root.

    Returns: the tree documented in the module docstring.

    Several models in one process: PyroModule takes a parameter's value from Pyro's global param
    store when the store holds one under the same name, and models of one class share names; run
    each model's calls inside its own ``pyro.get_param_store().scope()`` (as :func:`diagnose_run` does).
    """
    import pyro

    attrs = {"split": split, **(attrs or {})}
    if isinstance(source, str | os.PathLike):
        from probgates.diagnostics.runs import load_for_diagnostics

        run = load_for_diagnostics(source)
        module, data = run.module, run.data
        if metrics is None:
            metrics = run.metrics
        attrs.update({"run_dir": str(Path(source)), "spec_name": run.name})
    else:
        module = source
        if data is None:
            raise ValueError("to_datatree needs the data splits when given a model")
    indices = choose_sequences(data, split, sequences)
    batch = crop_batch(data.split(split).batch(indices), max_time)
    dtype = next(module.parameters()).dtype
    batch = batch.to(dtype=dtype)
    num_data = len(data.train)
    pyro.set_rng_seed(seed)
    from probgates.diagnostics.sparsity import is_sparse_model, sparse_datatree

    if is_sparse_model(module):
        if extra_sites:
            raise ValueError("extra_sites is not supported for sparse models (their group sites are stored)")
        return sparse_datatree(
            module, batch, num_data, num_samples, metrics=metrics or (), progress=progress, attrs=attrs
        )
    posterior = draw_posterior(
        module, batch, num_data, num_samples, extra_sites=tuple(extra_sites or ()), progress=progress
    )
    prior = None
    if module.has_latent_gates:
        prior = draw_prior(
            module, batch, num_data, num_prior_samples or min(num_samples, 50), progress=progress
        )
    return build_datatree(
        module, batch, posterior, prior, metrics=metrics or (), extra_sites=extra_sites, attrs=attrs
    )


def save_datatree(tree: xr.DataTree, path: str | os.PathLike, engine: str | None = None) -> Path:
    """Write ``tree`` to a netCDF file (zlib-compressed variables) through a temporary file and an
    atomic rename. ``engine``: ``"netcdf4"`` or ``"h5netcdf"`` (default: whichever xarray finds)."""
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    encoding = {
        node.path: {
            name: {"zlib": True, "complevel": 4}
            for name, var in node.dataset.data_vars.items()
            if var.dtype.kind in "fiub" and var.ndim > 0
        }
        for node in tree.subtree
        if node.has_data
    }
    try:
        tree.to_netcdf(tmp, engine=engine, encoding=encoding)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_datatree(path: str | os.PathLike) -> xr.DataTree:
    """Read a tree written by :func:`save_datatree` fully into memory (the file is closed)."""
    with xr.open_datatree(path) as tree:
        return tree.load()
