"""Test set-up in the style of Pyro's own suite: float64, validation on, fresh param store, fixed seeds."""

import random

import numpy as np
import pyro
import pytest
import torch

torch.set_default_dtype(torch.float64)


@pytest.fixture(autouse=True)
def _pyro_test_setup(request):
    """Before every test: clear the param store, enable validation, seed every RNG."""
    marker = request.node.get_closest_marker("init")
    seed = marker.kwargs.get("rng_seed", 0) if marker is not None else 0
    pyro.clear_param_store()
    pyro.enable_validation(True)
    pyro.set_rng_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(2)
    yield
    pyro.clear_param_store()
