"""Training on a CUDA device (``train.device``): skipped on machines without one.

Each model kind trains one epoch on the GPU through the runner; the run is then loaded once on the
CPU and once on the GPU, and the deterministic test metrics must agree.
"""

import pytest
import torch

from probgates import runner
from probgates.spec import spec_from_dict

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

ADDING = {"name": "adding_problem", "options": {"num_sequences": 96, "seq_len": 12}}
SIGNAL = {"name": "sparse_signal", "options": {"num_sequences": 96, "seq_len": 8, "num_features": 6}}
TRAIN = {
    "epochs": 1,
    "batch_size": 16,
    "eval_batch_size": 32,
    "lr": 0.01,
    "progress": False,
    "device": "cuda",
}
BBETA5 = {"family": "bbeta5", "hidden_size": 5}

MODELS = {
    "bbeta5_hierarchical": (ADDING, {**BBETA5, "prior": {"kind": "hierarchical"}}),
    "bbeta5_marsaglia_tsang": (ADDING, {**BBETA5, "gamma_reparam": "marsaglia_tsang"}),
    "g2_two_layers": (ADDING, {"family": "g2", "hidden_size": 5, "num_layers": 2, "dropout": 0.1}),
    "sparse_wgn": (SIGNAL, {"sparse": {"variant": "W+G+N", "hidden_size": 4, "embedding_dim": 0}}),
}


@pytest.mark.parametrize("name", MODELS)
def test_trains_on_cuda_and_evaluates_the_same_on_the_cpu(tmp_path, name):
    data, model = MODELS[name]
    spec = spec_from_dict({"name": name, "data": data, "model": model, "train": TRAIN})
    results = runner.train(spec, tmp_path / "run")
    assert results["device"].startswith("cuda")
    _, _, on_cpu = runner.load_run(tmp_path / "run", device="cpu")
    _, _, on_gpu = runner.load_run(tmp_path / "run", device="cuda")
    cpu_metrics, gpu_metrics = on_cpu.evaluate("test"), on_gpu.evaluate("test")
    assert cpu_metrics.keys() == gpu_metrics.keys()
    for key, value in cpu_metrics.items():
        assert gpu_metrics[key] == pytest.approx(value, rel=1e-4, abs=1e-5), key


def test_one_hot_tokens_take_the_fused_kernel_on_cuda_and_agree_with_the_loop():
    from .sparse.conftest import make_model, token_data
    from .sparse.test_sparse_kernels import _guide_values

    data = token_data(per_step=True)
    model = make_model(data, variant="W+G+N", embedding_dim=0).to("cuda")
    batch = data.train.batch(range(6)).to(device="cuda")
    values = _guide_values(model, batch)
    model.eval()  # deterministic head: compare the recurrent paths only
    assert not model.lstm.uses_loop(values["lstm"])
    fused = model.logits(batch, values, loop=False)
    loop = model.logits(batch, values, loop=True)
    assert fused.dtype == torch.float64
    assert torch.allclose(fused, loop, atol=1e-10, rtol=1e-8)
