"""Model specs: TOML files that say which data, which model and how to train it.

A spec has three tables, each read into a frozen dataclass::

    name = "jsb-lstm"
    [data]            # DataSpec: which dataset, where, loader options
    [model]           # ModelSpec: the recurrent model
    [train]           # probgates.infer.TrainConfig, with [train.lr_schedule] and [train.kl]

Reading is strict: an unknown key is an error that lists the valid keys of its table, a value of
the wrong type names the key and the expected type, and a value out of range names the key.
``--set train.lr=0.01`` style overrides are applied before validation.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from probgates.gates import GAMMA_REPARAMS, make_family
from probgates.infer.trainer import TrainConfig
from probgates.priors import GammaGatePrior
from probgates.sparse.spec import SparseSpec
from probgates.tasks.sequence_model import EVAL_RULES, MODEL_FAMILIES


class SpecError(ValueError):
    """A spec file or override is invalid; the message names the file and key."""


@dataclass(frozen=True)
class DataSpec:
    """Which dataset to load (see :func:`probgates.data.load_dataset`).

    Attributes:
        name: dataset name, e.g. ``"jsb_chorales"`` or ``"sparse_signal"``.
        root: folder holding the dataset folders ("" = ``$PROBGATES_DATA`` or the user cache).
        options: loader options, checked by the loader.
    """

    name: str = "sparse_signal"
    root: str = ""
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class G2Options:
    """Settings of the ``g2`` gate family (Li et al. 2018; the BetaLSTM code's defaults)."""

    p: float = 0.2
    t: float = 1.0
    temperature: float = 0.9


@dataclass(frozen=True)
class ModelSpec:
    """The recurrent model.

    Attributes:
        family: ``"lstm"`` (fused ``torch.nn.LSTM``) or a gate family run by the Python-loop
            recurrence: ``sigmoid``, ``cifg``, ``g2``, ``beta``, ``bbeta3``, ``bbeta5``.
        hidden_size: units per layer (ignored when ``parameter_budget`` is set).
        parameter_budget: choose the hidden size whose parameter count (recurrent layers and
            head) is closest to this number (0: use ``hidden_size``).
        num_layers: stacked layers.
        dropout: locked-dropout rate between layers and before the head.
        embedding_dim: embedding size when the inputs are token ids.
        word_vectors: a word-vector text file (GloVe / word2vec text format, ``embedding_dim``
            values per line) that initialises the embedding rows of the tokens it has ("":
            embeddings learned from scratch).
        prior: the Gamma prior of the latent gate Gammas (Gamma-ratio families).
        eval_rule: ``"mean"`` (G := alpha, the paper's rule) or ``"sample"``.
        eval_samples: predictive draws averaged under the ``"sample"`` rule.
        gamma_reparam: how the latent gate Gammas are reparameterized (Gamma-ratio families):
            ``"implicit"`` (exact gradient) or ``"marsaglia_tsang"`` (faster, gradient biased by
            about 0.3 %; :class:`probgates.distributions.MarsagliaTsangGamma`).
        g2: settings of the ``g2`` family.
        sparse: a structured-sparsification model (``[model.sparse]``, see
            :class:`probgates.sparse.spec.SparseSpec`); when given it replaces the gated model and
            the other model keys are ignored.
    """

    family: str = "lstm"
    hidden_size: int = 64
    parameter_budget: int = 0
    num_layers: int = 1
    dropout: float = 0.0
    embedding_dim: int = 64
    word_vectors: str = ""
    prior: GammaGatePrior = field(default_factory=GammaGatePrior)
    eval_rule: str = "mean"
    eval_samples: int = 10
    gamma_reparam: str = "implicit"
    g2: G2Options = field(default_factory=G2Options)
    sparse: SparseSpec | None = None

    def __post_init__(self):
        if self.family not in MODEL_FAMILIES:
            raise ValueError(f"unknown model.family {self.family!r}; valid: {', '.join(MODEL_FAMILIES)}")
        for name in ("hidden_size", "num_layers", "embedding_dim", "eval_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.parameter_budget < 0:
            raise ValueError(f"model.parameter_budget must be >= 0, got {self.parameter_budget}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"model.dropout must lie in [0, 1), got {self.dropout}")
        if self.eval_rule not in EVAL_RULES:
            raise ValueError(f"unknown model.eval_rule {self.eval_rule!r}; valid: {', '.join(EVAL_RULES)}")
        if self.family == "g2":
            make_family("g2", **dataclasses.asdict(self.g2))
        if self.gamma_reparam not in GAMMA_REPARAMS:
            raise ValueError(
                f"unknown model.gamma_reparam {self.gamma_reparam!r}; valid: {', '.join(GAMMA_REPARAMS)}"
            )


@dataclass(frozen=True)
class Spec:
    """A whole spec: a name, a description and the three tables."""

    name: str = "run"
    description: str = ""
    data: DataSpec = field(default_factory=DataSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        return dumps_toml(self.to_dict())


# ----------------------------------------------------------------------------- reading

_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "a table"}


def _check_value(value, expected, key: str):
    """Return ``value`` converted to ``expected`` or raise SpecError naming ``key``."""
    if typing.get_origin(expected) in (typing.Union, types.UnionType):
        options = typing.get_args(expected)
        if value is None and type(None) in options:
            return None
        expected = next(t for t in options if t is not type(None))
    if typing.get_origin(expected) is list:
        (item,) = typing.get_args(expected)
        items = value if isinstance(value, list) else [value]
        return [
            _check_value(v, item, f"{key}[{n}]" if isinstance(value, list) else key)
            for n, v in enumerate(items)
        ]
    if dataclasses.is_dataclass(expected):
        if not isinstance(value, dict):
            raise SpecError(f"key '{key}' must be a table, got {type(value).__name__} {value!r}")
        return _build(expected, value, key)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, bool) or not isinstance(value, expected):
        raise SpecError(
            f"key '{key}' must be {_TYPE_NAMES.get(expected, expected.__name__)}, "
            f"got {type(value).__name__} {value!r}"
        )
    return value


def _build(cls, table: dict, prefix: str):
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in table.items():
        full = f"{prefix}.{key}" if prefix else key
        if key not in valid:
            where = f"[{prefix}]" if prefix else "the top level"
            raise SpecError(f"unknown key '{full}'; valid keys in {where}: {', '.join(valid)}")
        kwargs[key] = _check_value(value, hints[key], full)
    try:
        return cls(**kwargs)
    except ValueError as e:
        if isinstance(e, SpecError):
            raise
        message = str(e)
        raise SpecError(
            message if prefix and f"{prefix}." in message else f"[{prefix or 'spec'}] {message}"
        ) from None


def spec_from_dict(table: dict, source: str = "spec") -> Spec:
    """Validate a parsed TOML table into a :class:`Spec`; errors name ``source`` and the key."""
    try:
        return _build(Spec, table, "")
    except SpecError as e:
        raise SpecError(f"{source}: {e}") from None


def parse_override(text: str) -> tuple[list[str], object]:
    """``"train.lr=0.01"`` -> ``(["train", "lr"], 0.01)``; the value is read as TOML, else a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise SpecError(f"override {text!r} is not of the form key=value")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip().split("."), value


def apply_overrides(table: dict, overrides: list[str]) -> dict:
    """A copy of ``table`` with each ``key=value`` override set (dotted keys reach into tables)."""
    import copy

    table = copy.deepcopy(table)
    for text in overrides:
        path, value = parse_override(text)
        node = table
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SpecError(f"override {text!r}: '{part}' is not a table")
        node[path[-1]] = value
    return table


def load_spec(path: str | os.PathLike, overrides: list[str] = ()) -> Spec:
    """Read and validate a spec file, applying ``--set`` overrides."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            table = tomllib.load(f)
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML: {e}") from None
    return spec_from_dict(apply_overrides(table, list(overrides)), str(path))


# ----------------------------------------------------------------------------- writing


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return (
            repr(value)
            if value == value and abs(value) != float("inf")
            else ("nan" if value != value else ("inf" if value > 0 else "-inf"))
        )
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if value is None:
        raise SpecError("TOML has no null value")
    raise SpecError(f"cannot write {type(value).__name__} to TOML")


def dumps_toml(table: dict, prefix: str = "") -> str:
    """Write nested dicts of scalars and lists as TOML (tables after the plain keys)."""
    lines, subtables = [], []
    for key, value in table.items():
        if value is None:
            continue
        if isinstance(value, dict):
            subtables.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    text = "\n".join(lines) + ("\n" if lines else "")
    for key, value in subtables:
        name = f"{prefix}.{key}" if prefix else key
        text += f"\n[{name}]\n" + dumps_toml(value, name)
    return text
