import os
import signal

import pyro
import pytest
import torch
from pyro import poutine
from torch.distributions import kl_divergence

from probgates.infer import (
    KLAnnealing,
    LRScheduleConfig,
    MeanFieldELBO,
    NonFiniteLossError,
    RunDirectory,
    TraceELBO,
    TrainConfig,
    Trainer,
    TrainingInterrupted,
    scale_latents,
)

from .conftest import NOISE, BayesianRegression, make_regression_data


def _config(**kw):
    base = dict(epochs=4, batch_size=16, lr=0.05, progress=False, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def _hand_elbo_parts(module, batch, num_data, w):
    """-log p(y | w) scaled to the data set, and the closed-form KL(q || p)."""
    log_lik = torch.distributions.Normal(batch.inputs[:, 0] @ w, NOISE).log_prob(batch.targets).sum()
    nll = -(num_data / batch.batch_size) * log_lik
    kl = kl_divergence(module.posterior(), module.prior())
    return nll.item(), kl.item()


@pytest.mark.parametrize("kl_weight", [0.0, 0.3, 1.0])
def test_mean_field_elbo_parts_and_latent_scaling(regression_data, kl_weight):
    module = BayesianRegression(3)
    batch = regression_data.train.batch(range(8))
    n = len(regression_data.train)
    elbo = MeanFieldELBO()
    model, guide = scale_latents(module.model, kl_weight), scale_latents(module.guide, kl_weight)
    # Fix the guide's sample so that the likelihood part can be computed by hand.
    guide_trace = poutine.trace(guide).get_trace(batch, n)
    w = guide_trace.nodes["w"]["value"].detach()
    fixed_guide = poutine.replay(guide, trace=guide_trace)
    loss = elbo.loss(model, fixed_guide, batch, n)
    nll, kl = _hand_elbo_parts(module, batch, n, w)
    assert elbo.last_parts["nll"] == pytest.approx(nll, rel=1e-10)
    assert elbo.last_parts["kl"] == pytest.approx(kl_weight * kl, rel=1e-10, abs=1e-12)
    assert loss == pytest.approx(nll + kl_weight * kl, rel=1e-10)


def test_latent_scale_leaves_observations_alone(regression_data):
    module = BayesianRegression(3)
    batch = regression_data.train.batch(range(4))
    trace = poutine.trace(scale_latents(module.model, 0.25)).get_trace(batch, 64)
    assert trace.nodes["w"]["scale"] == 0.25
    assert trace.nodes["obs"]["scale"] == pytest.approx(64 / 4)  # plate subsampling only
    with pytest.raises(ValueError, match="KL weight must be >= 0"):
        scale_latents(module.model, -1.0)


def test_trace_elbo_kl_part_is_monte_carlo_log_ratio(regression_data):
    module = BayesianRegression(3)
    batch = regression_data.train.batch(range(8))
    elbo = TraceELBO()
    guide_trace = poutine.trace(module.guide).get_trace(batch, 64)
    w = guide_trace.nodes["w"]["value"].detach()
    elbo.loss(module.model, poutine.replay(module.guide, trace=guide_trace), batch, 64)
    log_ratio = module.posterior().log_prob(w) - module.prior().log_prob(w)
    assert elbo.last_parts["kl"] == pytest.approx(log_ratio.item(), rel=1e-10)


def test_mean_field_and_trace_elbo_agree_in_expectation(regression_data):
    module = BayesianRegression(3)
    batch = regression_data.train.batch(range(8))
    mean_field, trace = MeanFieldELBO(), TraceELBO()
    mean_field.loss(module.model, module.guide, batch, 64)
    analytic_kl = mean_field.last_parts["kl"]
    draws = []
    for _ in range(1000):
        trace.loss(module.model, module.guide, batch, 64)
        draws.append(trace.last_parts["kl"])
    draws = torch.tensor(draws)
    # The Monte-Carlo KL of Trace_ELBO is unbiased for the analytic KL of TraceMeanField_ELBO.
    assert abs(draws.mean().item() - analytic_kl) < 4 * draws.std().item() / len(draws) ** 0.5
    assert analytic_kl == pytest.approx(kl_divergence(module.posterior(), module.prior()).item())


def test_training_reduces_error_and_writes_run_directory(tmp_path, regression_data):
    module = BayesianRegression(3)
    trainer = Trainer(module, regression_data, _config(epochs=30), tmp_path)
    before = trainer.evaluate("valid")["mse"]
    history = trainer.fit()
    results = trainer.final_results()
    run = RunDirectory(tmp_path)
    assert len(history) == 30 and len(run.read_metrics()) == 30
    assert results["valid"]["mse"] < 0.5 * before
    assert torch.allclose(module.loc.detach(), torch.tensor([1.0, -2.0, 0.5]), atol=0.3)
    best_epoch = min(history, key=lambda r: r["valid_mse"])["epoch"]
    assert run.load("best")["epoch"] == best_epoch
    assert results["weights"] == f"best (epoch {best_epoch})"
    assert run.results.exists() and run.checkpoint.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_resume_gives_the_same_metrics_as_training_straight(tmp_path):
    data = make_regression_data()
    pyro.set_rng_seed(1)
    straight = Trainer(BayesianRegression(3), data, _config(epochs=4), tmp_path / "a").fit()

    pyro.set_rng_seed(1)
    Trainer(BayesianRegression(3), data, _config(epochs=2), tmp_path / "b").fit()
    pyro.set_rng_seed(99)  # a different initialisation must not matter after loading the checkpoint
    resumed_module = BayesianRegression(3)
    resumed = Trainer(resumed_module, data, _config(epochs=4), tmp_path / "b").fit(resume=True)

    def strip(records):
        return [{k: v for k, v in r.items() if k != "time_s"} for r in records]

    assert strip(resumed) == strip(straight)
    assert strip(RunDirectory(tmp_path / "b").read_metrics()) == strip(straight)


@pytest.mark.parametrize("poison, what", [("loss", "loss"), ("params", "parameters")])
def test_non_finite_loss_stops_without_touching_the_last_checkpoint(tmp_path, poison, what):
    data = make_regression_data()
    module = BayesianRegression(3)
    Trainer(module, data, _config(epochs=2), tmp_path).fit()
    run = RunDirectory(tmp_path)
    checkpoint_bytes = run.checkpoint.read_bytes()
    metrics_bytes = run.metrics.read_bytes()

    module.poison = poison
    trainer = Trainer(module, data, _config(epochs=3), tmp_path)
    with pytest.raises(NonFiniteLossError, match=rf"non-finite {what}.* at epoch 3, batch 1 \(update 9\)"):
        trainer.fit(resume=True)
    assert run.checkpoint.read_bytes() == checkpoint_bytes
    assert run.metrics.read_bytes() == metrics_bytes


def test_ctrl_c_checkpoints_mid_epoch_and_resume_is_exact(tmp_path):
    data = make_regression_data()
    pyro.set_rng_seed(1)
    straight = Trainer(BayesianRegression(3), data, _config(epochs=3), tmp_path / "a").fit()

    def interrupt(record):
        if record["epoch"] == 1:
            os.kill(os.getpid(), signal.SIGINT)

    pyro.set_rng_seed(1)
    trainer = Trainer(BayesianRegression(3), data, _config(epochs=3), tmp_path / "b")
    with pytest.raises(TrainingInterrupted, match="interrupted at epoch 2, batch 1"):
        trainer.fit(on_epoch_end=interrupt)
    state = RunDirectory(tmp_path / "b").load("checkpoint")
    assert (state["epoch"], state["batch_in_epoch"]) == (1, 1)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    resumed = Trainer(BayesianRegression(3), data, _config(epochs=3), tmp_path / "b").fit(resume=True)
    assert [r["valid_mse"] for r in resumed] == [r["valid_mse"] for r in straight]


def test_early_stopping_and_lr_schedule():
    data = make_regression_data()
    config = _config(
        epochs=50, lr=1e-9, early_stopping=3, lr_schedule=LRScheduleConfig(kind="exponential", gamma=0.5)
    )
    history = Trainer(BayesianRegression(3), data, config, None).fit()
    # With a negligible learning rate the metric stalls, so training stops well before 50 epochs.
    assert len(history) < 50
    assert history[-1]["epoch"] - history[-1]["best_epoch"] == 3
    assert [r["lr"] for r in history[:3]] == [1e-9, 0.5e-9, 0.25e-9]


def test_kl_annealing_weight_reaches_the_elbo(regression_data):
    module = BayesianRegression(3)
    config = _config(epochs=2, batch_size=64, kl=KLAnnealing(kind="linear", weight=2.0, start=0.0, epochs=2))
    history = Trainer(module, regression_data, config, None).fit()
    assert [r["kl_weight"] for r in history] == [0.0, 1.0]
    assert history[0]["train_kl"] == 0.0 and history[1]["train_kl"] > 0.0


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="train.epochs must be >= 1"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="unknown train.optimizer 'sgd'; valid: adam, clipped_adam"):
        TrainConfig(optimizer="sgd")
    with pytest.raises(ValueError, match="unknown train.elbo"):
        TrainConfig(elbo="renyi")
    with pytest.raises(ValueError, match="unknown train.device 'tpu'; valid: cpu, cuda, cuda:N, auto"):
        TrainConfig(device="tpu")
    with pytest.raises(ValueError, match="train.time_limit must be >= 0"):
        TrainConfig(time_limit=-1.0)
    assert TrainConfig(device="cuda:1").device == "cuda:1"  # checked against the machine by the Trainer


def test_time_limit_stops_after_the_epoch_that_reaches_it_and_resume_continues(tmp_path):
    data = make_regression_data()
    pyro.set_rng_seed(1)
    straight = Trainer(BayesianRegression(3), data, _config(epochs=3), tmp_path / "a").fit()

    pyro.set_rng_seed(1)
    first = Trainer(BayesianRegression(3), data, _config(epochs=3, time_limit=1e-9), tmp_path / "b").fit()
    assert len(first) == 1  # the limit is checked between epochs: one epoch always runs
    resumed = Trainer(BayesianRegression(3), data, _config(epochs=3), tmp_path / "b").fit(resume=True)
    assert [r["valid_mse"] for r in resumed] == [r["valid_mse"] for r in straight]


def test_device_auto_and_unavailable_cuda(regression_data):
    trainer = Trainer(BayesianRegression(3), regression_data, _config(epochs=1, device="auto"), None)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert trainer.device.type == expected
    assert {p.device.type for p in trainer.module.parameters()} == {expected}
    assert trainer.final_results()["device"].startswith(expected)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="train.device = 'cuda', but no CUDA device is available"):
            Trainer(BayesianRegression(3), regression_data, _config(device="cuda"), None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_resumes_on_the_cpu(tmp_path):
    data = make_regression_data()
    module = BayesianRegression(3)
    Trainer(module, data, _config(epochs=20, device="cuda"), tmp_path).fit()
    assert module.loc.device.type == "cuda"
    assert torch.allclose(module.loc.detach().cpu(), torch.tensor([1.0, -2.0, 0.5]), atol=0.3)
    on_cpu = Trainer(BayesianRegression(3), data, _config(epochs=21), tmp_path)
    history = on_cpu.fit(resume=True)
    assert len(history) == 21 and on_cpu.module.loc.device.type == "cpu"


def test_best_if_restricts_the_best_checkpoint_to_epochs_that_meet_it(tmp_path):
    """With best_if only epochs whose record meets every condition can become best: best_epoch is
    the best monitored epoch among them, best.pt holds its weights and reload_best evaluates them."""
    data = make_regression_data()
    config = _config(epochs=6, best_if=["epoch >= 3", "epoch < 6"])
    trainer = Trainer(BayesianRegression(3), data, config, tmp_path / "run")
    history = trainer.fit()
    eligible = [r for r in history if 3 <= r["epoch"] < 6]
    expected = min(eligible, key=lambda r: r["valid_mse"])["epoch"]
    assert [r["best_epoch"] for r in history[:2]] == [-1, -1]
    assert history[-1]["best_epoch"] == expected
    assert trainer.run.load("best")["epoch"] == expected
    results = trainer.final_results()
    assert results["weights"] == f"best (epoch {expected})"
    assert results["valid"]["mse"] == pytest.approx(history[expected - 1]["valid_mse"], rel=1e-5)


def test_best_if_that_no_epoch_meets_reports_the_last_weights(tmp_path):
    trainer = Trainer(
        BayesianRegression(3), make_regression_data(), _config(epochs=2, best_if=["epoch > 5"]), tmp_path
    )
    history = trainer.fit()
    assert all(r["best_epoch"] == -1 for r in history)
    with pytest.warns(UserWarning, match="no epoch met best_if"):
        results = trainer.final_results()
    assert results["weights"] == "last (no epoch met best_if: epoch > 5)"


def test_early_stopping_waits_for_the_first_epoch_that_meets_best_if():
    config = _config(
        epochs=50,
        lr=1e-9,
        early_stopping=2,
        lr_schedule=LRScheduleConfig(kind="exponential", gamma=0.5),
        best_if=["epoch >= 5"],
    )
    history = Trainer(BayesianRegression(3), make_regression_data(), config, None).fit()
    assert history[-1]["best_epoch"] >= 5  # without best_if the run stops after about 4 epochs
    assert history[-1]["epoch"] - history[-1]["best_epoch"] == 2


def test_best_if_rejects_bad_conditions():
    with pytest.raises(ValueError, match="cannot read 'hidden_kept =< 16'; write KEY OP NUMBER"):
        TrainConfig(best_if=["hidden_kept =< 16"])
    with pytest.raises(ValueError, match="cannot read 'epoch >= many'"):
        TrainConfig(best_if=["epoch >= many"])
    unknown = r"unknown key\(s\) hidden_kept; the epoch records of this model have: .*valid_mse"
    with pytest.raises(ValueError, match=unknown):
        Trainer(BayesianRegression(3), make_regression_data(), _config(best_if=["hidden_kept <= 16"]), None)


def test_resuming_with_other_best_if_chooses_the_best_again(tmp_path):
    data = make_regression_data()
    Trainer(BayesianRegression(3), data, _config(epochs=2), tmp_path).fit()
    resumed = Trainer(BayesianRegression(3), data, _config(epochs=4, best_if=["epoch >= 4"]), tmp_path)
    changed = r"best_if changed since the checkpoint \(\[\] -> \['epoch >= 4'\]\)"
    with pytest.warns(UserWarning, match=changed):
        history = resumed.fit(resume=True)
    assert history[1]["best_epoch"] in (1, 2)  # chosen before the resume, without conditions
    assert [r["best_epoch"] for r in history[2:]] == [-1, 4]
    assert resumed.run.load("best")["epoch"] == 4


@pytest.mark.parametrize("interval", [0.0, 1e6])
def test_progress_in_a_log_file_updates_at_most_once_per_interval(
    monkeypatch, capsys, regression_data, interval
):
    from probgates.infer import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "LOG_PROGRESS_INTERVAL_S", interval)
    batches = regression_data.train.num_batches(16)
    Trainer(BayesianRegression(3), regression_data, _config(epochs=1, progress=True)).fit()
    log = capsys.readouterr().err  # pytest's stderr is not a terminal
    renders = [line for line in log.split("\r") if "epoch 1/1" in line]
    assert renders and f"/{batches}" in renders[0]
    if interval == 0.0:  # every batch shows
        assert len(renders) >= batches and f"{batches}/{batches}" in log
    else:  # only the bar's first line within the interval
        assert len(renders) == 1 and f"{batches}/{batches}" not in log


def test_no_progress_writes_nothing(capsys, regression_data):
    Trainer(BayesianRegression(3), regression_data, _config(epochs=1, progress=False)).fit()
    assert "epoch 1/1" not in capsys.readouterr().err
