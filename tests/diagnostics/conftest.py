"""Fixtures of the diagnostics tests: small fitted models, their trees, tiny run directories.

ArviZ: the tests marked ``arviz1`` need ArviZ 1.x (the environment of ``ci/arviz1.sh``), those
marked ``arviz0`` the legacy 0.2x line of the project's own environment; each kind skips in the
other environment.
"""

import warnings

import matplotlib
import pyro
import pytest
import torch

from probgates.data.batching import DatasetSplits, SequenceDataset
from probgates.infer import MeanFieldELBO
from probgates.priors import GammaGatePrior
from probgates.tasks import SequenceModel

NUM_DRAWS = 40

matplotlib.use("Agg")


def pytest_configure(config):
    config.addinivalue_line("markers", "arviz1: needs ArviZ 1.x (run by ci/arviz1.sh)")
    config.addinivalue_line("markers", "arviz0: needs the legacy ArviZ 0.2x")


def import_arviz():
    """ArviZ, without its once-a-day FutureWarning about the 1.x refactor (0.2x only)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz
    return arviz


@pytest.fixture
def az1():
    az = import_arviz()
    if not az.__version__.startswith("1."):
        pytest.skip(f"needs ArviZ 1.x (bash ci/arviz1.sh); found {az.__version__}")
    return az


@pytest.fixture
def az0():
    az = import_arviz()
    if not az.__version__.startswith("0."):
        pytest.skip(f"needs ArviZ 0.2x; found {az.__version__}")
    return az


def frames_data(n=12, dim=5, seed=0) -> DatasetSplits:
    """Ragged binary piano-roll-like sequences (4 to 8 steps), per-step Bernoulli targets."""
    g = torch.Generator().manual_seed(seed)
    rolls = [
        (torch.rand(int(length), dim, generator=g) < 0.3).double()
        for length in torch.randint(4, 9, (n,), generator=g)
    ]
    data = SequenceDataset([r[:-1] for r in rolls], [r[1:] for r in rolls], name="toy")
    return DatasetSplits(data, data, data, {"likelihood": "bernoulli", "input_dim": dim})


def fit(model: SequenceModel, data: DatasetSplits, steps: int = 20) -> SequenceModel:
    svi = pyro.infer.SVI(model.model, model.guide, pyro.optim.Adam({"lr": 0.02}), MeanFieldELBO())
    batch = data.train.batch(range(len(data.train)))
    for _ in range(steps):
        svi.step(batch, len(data.train))
    return model


HISTORY = [
    {"epoch": e, "train_loss": 5.0 - e, "train_nll": 4.0 - e, "train_kl": 1.0, "kl_weight": 1.0, "lr": 0.01}
    for e in (1, 2, 3)
]


@pytest.fixture(scope="session")
def frames():
    return frames_data()


@pytest.fixture(scope="session")
def fitted(frames):
    """A 2-layer bbeta5 model with a hierarchical prior after a few SVI steps."""
    with pyro.get_param_store().scope():  # every model of these tests has its own param store
        pyro.set_rng_seed(0)
        prior = GammaGatePrior(kind="hierarchical", concentration=0.5)
        model = SequenceModel.for_data(frames, hidden_size=4, num_layers=2, family="bbeta5", prior=prior)
        return fit(model, frames)


@pytest.fixture(scope="session")
def tree(fitted, frames):
    from probgates.diagnostics import to_datatree

    with pyro.get_param_store().scope():
        return to_datatree(fitted, frames, num_samples=NUM_DRAWS, split="test", sequences=4, metrics=HISTORY)


@pytest.fixture(scope="session")
def sigmoid_tree(frames):
    from probgates.diagnostics import to_datatree

    with pyro.get_param_store().scope():
        pyro.set_rng_seed(1)
        model = SequenceModel.for_data(frames, hidden_size=4, num_layers=2, family="sigmoid")
        return to_datatree(fit(model, frames, steps=5), frames, num_samples=NUM_DRAWS, sequences=4)


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """Two tiny trained run directories on the adding problem: sigmoid and hierarchical bbeta5."""
    from probgates import runner
    from probgates.spec import spec_from_dict

    root = tmp_path_factory.mktemp("runs")
    paths = {}
    for family, prior in (("sigmoid", None), ("bbeta5", {"kind": "hierarchical", "concentration": 0.5})):
        table = {
            "name": f"adding-{family}",
            "data": {"name": "adding_problem", "options": {"num_sequences": 50, "seq_len": 12, "seed": 0}},
            "model": {"family": family, "hidden_size": 6, **({"prior": prior} if prior else {})},
            "train": {"epochs": 2, "batch_size": 10, "lr": 0.01, "progress": False, "kl": {"weight": 0.01}},
        }
        paths[family] = root / f"adding-{family}"
        with pyro.get_param_store().scope():
            runner.train(spec_from_dict(table), paths[family])
    return paths


@pytest.fixture(scope="session")
def sparse_run(tmp_path_factory):
    """A tiny trained W+G+N sparse run (spec with [model.sparse], as probgates.sparse reads it)."""
    from probgates.data import load_dataset
    from probgates.infer import TrainConfig, Trainer
    from probgates.infer.run_dir import atomic_write_text
    from probgates.sparse import SparseSpec, build_sparse_model
    from probgates.spec import dumps_toml

    root = tmp_path_factory.mktemp("sparse") / "toy-sparse"
    options = dict(num_sequences=100, seq_len=6, num_features=5, num_relevant=2)
    sparse = {"variant": "W+G+N", "hidden_size": 5, "embedding_dim": 0}
    table = {
        "name": "toy-sparse",
        "data": {"name": "sparse_signal", "options": options},
        "model": {"family": "lstm", "sparse": sparse},
    }
    root.mkdir()
    atomic_write_text(root / "spec.toml", dumps_toml(table))
    data = load_dataset("sparse_signal", **options)
    with pyro.get_param_store().scope():
        pyro.set_rng_seed(0)
        model = build_sparse_model(SparseSpec(**sparse), data)
        Trainer(model, data, TrainConfig(epochs=2, batch_size=25, lr=0.05, progress=False), root).fit()
    return root, model, data
