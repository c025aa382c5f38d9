"""A small Bayesian regression over length-1 "sequences": a model with a global latent weight.

It has a prior, a mean-field guide, observations in a subsampled plate and closed-form KL, so
the trainer's KL weighting, minibatch scaling and checkpointing can be checked by hand.
"""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.nn import PyroModule, PyroParam, pyro_method
from torch.distributions import constraints

from probgates.data.batching import DatasetSplits, SequenceDataset

NOISE = 0.5


class BayesianRegression(PyroModule):
    """y = x . w + noise, with w ~ Normal(0, 1) and guide Normal(loc, scale)."""

    monitor = "mse"
    monitor_modes = {"mse": "min"}

    def __init__(self, dim: int):
        super().__init__()
        self.loc = PyroParam(0.1 * torch.randn(dim))
        self.scale = PyroParam(torch.full((dim,), 0.3), constraint=constraints.positive)
        self.poison = None

    def prior(self):
        return dist.Normal(torch.zeros_like(self.loc), 1.0).to_event(1)

    def posterior(self):
        return dist.Normal(self.loc, self.scale).to_event(1)

    @pyro_method
    def model(self, batch, num_data):
        w = pyro.sample("w", self.prior())
        if self.poison == "loss":
            pyro.factor("poison", torch.tensor(float("-inf")))
        with pyro.plate("sequences", num_data, subsample=batch.index):
            pyro.sample("obs", dist.Normal(batch.inputs[:, 0] @ w, NOISE), obs=batch.targets)

    @pyro_method
    def guide(self, batch, num_data):
        if self.poison == "params":
            self.loc.data[0] = float("nan")
        pyro.sample("w", self.posterior())

    def evaluate(self, batch):
        pred = batch.inputs[:, 0] @ self.loc
        return {"mse": ((pred - batch.targets) ** 2).sum(), "count": torch.tensor(batch.batch_size)}


def make_regression_data(n_train=64, n_valid=16, dim=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.tensor([1.0, -2.0, 0.5])[:dim]

    def split(n, name):
        x = torch.randn(n, 1, dim, generator=g)
        y = x[:, 0] @ w + NOISE * torch.randn(n, generator=g)
        return SequenceDataset(list(x), y, name=name)

    return DatasetSplits(
        split(n_train, "train"),
        split(n_valid, "valid"),
        split(n_valid, "test"),
        {"likelihood": "normal", "input_dim": dim},
    )


@pytest.fixture
def regression_data():
    return make_regression_data()
