"""Fixtures for the data-loader tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_test_utils import SHARED_DATA


@pytest.fixture(scope="session")
def shared_root() -> Path:
    """/work/shared/data (``<repo>/../shared/data``); the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real-data test: {SHARED_DATA} is not present (shared data not available)")
    return SHARED_DATA
