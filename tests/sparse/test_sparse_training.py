"""The sparse models train with the probgates Trainer and the CLI; compress_run writes the compressed run."""

import json
from pathlib import Path

import pytest
import torch

from probgates.cli import main
from probgates.infer import TrainConfig, Trainer
from probgates.infer.run_dir import atomic_write_text
from probgates.sparse import (
    SparseSpec,
    build_sparse_model,
    compress_run,
    compression_stats,
    find_structure,
    fold_model,
    load_structure,
    to_compact,
)
from probgates.spec import dumps_toml

from .conftest import signal_data

SIGNAL = dict(num_sequences=200, seq_len=8, num_features=6, num_relevant=2)
ROOT = Path(__file__).resolve().parents[2]


def _train(spec: SparseSpec, run_dir=None, epochs=2):
    data = signal_data(**SIGNAL)
    model = build_sparse_model(spec, data)
    trainer = Trainer(
        model, data, TrainConfig(epochs=epochs, batch_size=32, lr=0.02, progress=False), run_dir
    )
    history = trainer.fit()
    return model, data, trainer, history


@pytest.mark.parametrize(
    "options",
    [
        {"variant": "W+G+N"},
        {"variant": "W+G+N", "group_noise": "sequence"},
        {"variant": "dense"},
        {"framework": "pruning", "variant": "W+G+N"},
    ],
)
def test_trainer_runs_every_framework(options):
    spec = SparseSpec(hidden_size=6, embedding_dim=0, **options)
    model, _, trainer, history = _train(spec)
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in history)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert "valid_accuracy" in history[-1]


@pytest.mark.parametrize("framework", ["bayes", "pruning"])
def test_every_epoch_records_the_structure(framework):
    """The trainer puts the model's epoch_summary into each record: the compression statistics of
    the masked model at the end of that epoch."""
    spec = SparseSpec(hidden_size=6, embedding_dim=0, framework=framework)
    model, _, _, history = _train(spec)
    stats = compression_stats(find_structure(fold_model(model)))  # the model after the last epoch
    last = history[-1]
    assert last["compression"] == pytest.approx(stats["compression"])
    assert last["weights_nonzero"] == stats["weights_nonzero"] < stats["weights_total"]
    assert (last["hidden_kept"], last["inputs_kept"]) == (stats["hidden_kept"], stats["inputs_kept"])
    by_type = {g: last[f"gates_nonconstant_{g}"] for g in "ifgo"}
    assert by_type == stats["gates_nonconstant_by_type"]
    assert last["gates_nonconstant"] == sum(by_type.values())
    assert all("hidden_kept" in record for record in history)


def test_dense_baseline_records_no_structure():
    _, _, _, history = _train(SparseSpec(hidden_size=6, embedding_dim=0, variant="dense"))
    assert not any("compression" in record or "hidden_kept" in record for record in history)


def test_pruning_penalty_enters_the_loss():
    spec = SparseSpec(hidden_size=4, embedding_dim=0, framework="pruning", lasso_weight=0.1)
    data = signal_data(**SIGNAL)
    model = build_sparse_model(spec, data)
    with torch.no_grad():
        penalty = float(model.penalty())
    w = [model.lstm.weight_ih.theta, model.lstm.weight_hh.theta, model.head.weight.theta]
    l1 = 0.1 * sum(float(t.detach().abs().sum()) for t in w)
    assert penalty > l1  # L1 plus the group terms
    spec_w = SparseSpec(hidden_size=4, embedding_dim=0, framework="pruning", variant="W", lasso_weight=0.1)
    model_w = build_sparse_model(spec_w, data)
    with torch.no_grad():
        for a, b in zip(model_w.parameters(), model.parameters(), strict=True):
            a.copy_(b)
        assert float(model_w.penalty()) == pytest.approx(l1)


def _write_spec(run_dir, sparse: dict | None):
    table = {"name": "toy", "data": {"name": "sparse_signal", "options": SIGNAL}, "model": {"family": "lstm"}}
    if sparse is not None:
        table["model"]["sparse"] = sparse
    atomic_write_text(run_dir / "spec.toml", dumps_toml(table))


def test_compress_run_writes_tables_and_exports(tmp_path):
    sparse = {"variant": "W+G+N", "hidden_size": 6, "embedding_dim": 0}
    _write_spec(tmp_path, sparse)
    _train(SparseSpec(**sparse), tmp_path)
    stats = compress_run(tmp_path)
    out = tmp_path / "compressed"
    for name in (
        "compression.json",
        "compression.txt",
        "structure.pt",
        "torch_lstm.pt",
        "compact.pt",
        "pruned.pt",
    ):
        assert (out / name).exists(), name
    saved = json.loads((out / "compression.json").read_text())
    assert saved["reachable"]["hidden_kept"] <= saved["hidden_kept"]
    assert saved["hidden_total"] == 6 and set(saved["gates_nonconstant_by_type"]) == {"i", "f", "g", "o"}
    assert "accuracy" in saved["quality"]["test"]
    assert max(stats["export_max_abs_diff"].values()) < 1e-5
    text = (out / "compression.txt").read_text()
    assert "non-constant gates" in text and "reachable units only" in text
    structure = load_structure(out / "structure.pt")
    compact = to_compact(structure)
    state = torch.load(out / "compact.pt", weights_only=True)
    compact.load_state_dict(state)
    del state["format_version"]  # a state dict of the layout before the doubled g rows
    with pytest.raises(RuntimeError, match="format_version"):
        compact.load_state_dict(state)


def test_compress_run_without_sparse_layers_says_so(tmp_path):
    _write_spec(tmp_path, None)
    with pytest.raises(ValueError, match="has no sparse layers"):
        compress_run(tmp_path)
    _write_spec(tmp_path, {"variant": "dense"})
    with pytest.raises(ValueError, match="has no sparse layers"):
        compress_run(tmp_path)
    _write_spec(tmp_path, {"variant": "W+Q"})
    with pytest.raises(ValueError, match=r"model\.sparse\.variant"):
        compress_run(tmp_path)


def _toy_spec_table() -> dict:
    return {
        "name": "toy",
        "data": {"name": "sparse_signal", "options": SIGNAL},
        "model": {"sparse": {"variant": "W+G+N", "hidden_size": 4, "embedding_dim": 0}},
        "train": {"epochs": 1, "batch_size": 64, "lr": 0.01},
    }


def test_sparse_spec_trains_and_compresses_through_the_cli(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    table = _toy_spec_table()
    spec.write_text(dumps_toml(table))
    out = tmp_path / "run"
    assert main(["train", str(spec), "--out", str(out), "--no-progress", "--set", "train.epochs=2"]) == 0
    assert json.loads((out / "results.json").read_text())["epochs_trained"] == 2
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    per_type = ", ".join(f"{g} {record[f'gates_nonconstant_{g}']}" for g in "ifgo")
    expected = (
        f"{record['compression']:.1f}x, {record['hidden_kept']} neurons "
        f"({record['hidden_input_dependent']} read the input), "
        f"{record['gates_nonconstant']} gates ({per_type})"
    )
    epoch_lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(epoch_lines) == 2 and epoch_lines[-1].endswith(expected)
    assert main(["compress", str(out)]) == 0
    assert (out / "compressed" / "compression.json").exists()
    assert "non-constant gates" in capsys.readouterr().out
    table["model"]["sparse"]["variant"] = "W+Z"
    spec.write_text(dumps_toml(table))
    assert main(["train", str(spec), "--out", str(tmp_path / "bad")]) == 2
    assert "model.sparse.variant" in capsys.readouterr().err


def test_word_ptb_specs_train_statefully_through_the_cli(tmp_path, capsys):
    """The shipped word-PTB spec (data.options.stateful = true) on three tiny PTB files."""
    folder = tmp_path / "data" / "ptb_word"
    folder.mkdir(parents=True)
    for split, lines in (("train", 12), ("valid", 4), ("test", 4)):
        (folder / f"ptb.{split}.txt").write_text("the cat sat on a mat\n a dog ran\n" * lines)
    shrink = {
        "data.root": str(tmp_path / "data"),
        "data.options.seq_len": 4,
        "model.sparse.hidden_size": 3,
        "train.epochs": 2,
        "train.batch_size": 3,
        "train.eval_batch_size": 2,
    }
    overrides = [a for k, v in shrink.items() for a in ("--set", f"{k}={v}")]
    out = tmp_path / "run"
    assert (
        main(["train", str(ROOT / "models" / "sparse-ptb_word-wgn.toml"), "--out", str(out), *overrides]) == 0
    )
    assert "stateful = true" in (out / "spec.toml").read_text()
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [11, 22]  # 132 tokens: 3 rows of 44, 43 steps in windows of 4
    assert main(["compress", str(out)]) == 0
    capsys.readouterr()
    overrides[overrides.index("train.batch_size=3")] = "train.batch_size=100"
    assert (
        main(
            [
                "train",
                str(ROOT / "models" / "sparse-ptb_word-wgn.toml"),
                "--out",
                str(tmp_path / "b"),
                *overrides,
            ]
        )
        == 2
    )
    assert "ptb_word/train: a stream of 132 tokens is too short for batch size 100" in capsys.readouterr().err


def test_compact_run_benchmark_reads_a_compressed_run(tmp_path, capsys):
    from benchmarks import compact_run

    spec = tmp_path / "spec.toml"
    spec.write_text(dumps_toml(_toy_spec_table()))
    out = tmp_path / "run"
    assert main(["train", str(spec), "--out", str(out), "--no-progress"]) == 0
    with pytest.raises(SystemExit):  # not compressed yet: says what to run
        compact_run.main([str(out)])
    assert f"probgates compress {out}" in capsys.readouterr().err
    assert main(["compress", str(out)]) == 0
    capsys.readouterr()
    assert compact_run.main([str(out), "--steps", "3", "--batch", "2", "--repeats", "1"]) == 0
    printed = capsys.readouterr().out
    assert "compact_eval_vs_dense_eval (B=2 T=3): ratio=" in printed
    assert "torch_lstm_export_eval_vs_dense_eval" in printed and "multiply-add reduction" in printed


def test_best_if_selects_among_epochs_within_a_size_budget(tmp_path):
    """best_if on the structure keys of the epoch records: the best checkpoint is the most
    accurate epoch among those that keep at most the given number of hidden neurons."""
    data = signal_data(**SIGNAL)
    model = build_sparse_model(SparseSpec(hidden_size=6, embedding_dim=0), data)
    config = TrainConfig(
        epochs=3, batch_size=32, lr=0.02, progress=False, best_if=["hidden_kept <= 6", "epoch >= 2"]
    )
    trainer = Trainer(model, data, config, tmp_path)
    history = trainer.fit()
    expected = max(history[1:], key=lambda r: r["valid_accuracy"])["epoch"]
    assert history[0]["best_epoch"] == -1 and history[-1]["best_epoch"] == expected
    with pytest.raises(ValueError, match="unknown key.*hidden_kept_total.*hidden_input_dependent"):
        Trainer(model, data, TrainConfig(best_if=["hidden_kept_total < 3"]), None)
