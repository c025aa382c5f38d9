"""Every spec that ships (models/ and the embedded demo specs) is valid and names a real dataset."""

from pathlib import Path

import pytest

from probgates.data import dataset_options
from probgates.runner import embedded_spec_path
from probgates.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "models").glob("*.toml")) + sorted(embedded_spec_path("x").parent.glob("*.toml"))


def test_specs_exist():
    assert len(SPECS) > 50


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_spec_is_valid(path):
    spec = load_spec(path)
    assert spec.name == path.stem or path.parent.name == "specs"
    assert set(spec.data.options) <= set(dataset_options(spec.data.name))
