"""Statistics of gate values: real-step values, i-f correlation per unit, credible bands, memory.

All functions take the ``gates`` variable of a tree made by :func:`probgates.diagnostics.to_datatree`
(dims ``chain, draw, layer, sequence, time, gate, unit``; NaN at padded steps) or plain arrays.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

#: The default credible interval (ArviZ 1.x's default: 89 % equal-tailed).
CI_PROB = 0.89


def gate_values(gate: xr.DataArray, which: str, layer: int | None = None) -> np.ndarray:
    """All real-step values of gate ``which`` ("i" or "f"), pooled over draws, sequences, steps
    and units (and layers unless ``layer`` is given), as a 1-D array."""
    values = gate.sel(gate=which)
    if layer is not None:
        values = values.sel(layer=layer)
    flat = np.asarray(values.values, dtype=np.float64).ravel()
    return flat[np.isfinite(flat)]


def unit_correlation(gate: xr.DataArray) -> xr.DataArray:
    """Pearson correlation of (i, f) per layer and unit, over draws, sequences and real steps.

    It mixes the posterior's own i-f coupling (the bivariate Beta) with how both gates follow
    the input; NaN where a gate is constant.
    """
    i = gate.sel(gate="i").drop_vars("gate")
    f = gate.sel(gate="f").drop_vars("gate")
    dims = [d for d in i.dims if d not in ("layer", "unit")]
    stacked_i = i.stack(point=dims).transpose("layer", "unit", "point").values.astype(np.float64)
    stacked_f = f.stack(point=dims).transpose("layer", "unit", "point").values.astype(np.float64)
    out = np.full(stacked_i.shape[:2], np.nan)
    for layer in range(out.shape[0]):
        for unit in range(out.shape[1]):
            a, b = stacked_i[layer, unit], stacked_f[layer, unit]
            ok = np.isfinite(a) & np.isfinite(b)
            if ok.sum() > 2 and a[ok].std() > 0 and b[ok].std() > 0:
                out[layer, unit] = np.corrcoef(a[ok], b[ok])[0, 1]
    return xr.DataArray(
        out, dims=("layer", "unit"), coords={"layer": i.layer, "unit": i.unit}, name="corr_if"
    )


def correlation(i: np.ndarray, f: np.ndarray) -> float:
    """Pearson correlation of two equally long samples (NaN if either is constant)."""
    if len(i) < 3 or np.std(i) == 0 or np.std(f) == 0:
        return float("nan")
    return float(np.corrcoef(i, f)[0, 1])


def credible_band(draws: np.ndarray, prob: float = CI_PROB, axis: int = 0) -> tuple[np.ndarray, ...]:
    """Median and equal-tailed ``prob`` interval over ``axis``: ``(median, lower, upper)``."""
    tail = (1 - prob) / 2
    lower, median, upper = np.nanquantile(draws, [tail, 0.5, 1 - tail], axis=axis)
    return median, lower, upper


def half_life(f: np.ndarray) -> np.ndarray:
    """The steps after which a cell keeps half its content with a constant forget gate f:
    ``-log 2 / log f`` (f = 1 gives infinity; values at 1 - 1e-15 are capped there)."""
    f = np.clip(np.asarray(f, dtype=np.float64), 1e-300, 1 - 1e-15)
    return -math.log(2) / np.log(f)


def describe(values: np.ndarray, prob: float = CI_PROB) -> dict[str, float]:
    """Mean, sd, median and the equal-tailed ``prob`` interval of a sample."""
    if len(values) == 0:
        return {"mean": math.nan, "sd": math.nan, "median": math.nan, "lower": math.nan, "upper": math.nan}
    tail = (1 - prob) / 2
    lower, median, upper = np.quantile(values, [tail, 0.5, 1 - tail])
    return {
        "mean": float(np.mean(values)),
        "sd": float(np.std(values)),
        "median": float(median),
        "lower": float(lower),
        "upper": float(upper),
    }
