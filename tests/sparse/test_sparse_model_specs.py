"""The shipped ``models/sparse-*.toml`` specs read into a SparseSpec and a TrainConfig."""

import tomllib
from pathlib import Path

import pytest

from probgates.data import dataset_options
from probgates.infer import TrainConfig
from probgates.sparse.compress import sparse_spec_from_table
from probgates.spec import _build

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "models").glob("sparse-*.toml"))


def test_every_task_has_every_variant():
    names = {p.stem for p in SPECS}
    for task in ("imdb", "ag_news", "ptb_char", "ptb_word", "sparse_signal"):
        for variant in ("dense", "w", "wn", "wgn"):
            assert f"sparse-{task}-{variant}" in names
    assert {"sparse-imdb-pruning", "sparse-sparse_signal-pruning"} <= names


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_sparse_spec_is_valid(path):
    table = tomllib.loads(path.read_text())
    assert table["name"] == path.stem
    sparse = sparse_spec_from_table(table, str(path))
    assert sparse.framework == ("pruning" if path.stem.endswith("pruning") else "bayes")
    assert sparse.is_dense == path.stem.endswith("dense")
    assert set(table["data"].get("options", {})) <= set(dataset_options(table["data"]["name"]))
    assert isinstance(_build(TrainConfig, table["train"], "train"), TrainConfig)
