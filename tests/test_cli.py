"""The command line: train, resume, evaluate, demo, and one-line errors for bad input."""

import json

import pytest

from probgates.cli import main
from probgates.infer import RunDirectory

SPEC = """
name = "cli-test"
[data]
name = "sparse_signal"
options = { num_sequences = 120, seq_len = 6, num_features = 5, num_relevant = 2, seed = 1 }
[model]
family = "{family}"
hidden_size = 6
[train]
epochs = 2
batch_size = 16
lr = 0.01
progress = false
"""


def _spec(tmp_path, family="lstm"):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.replace("{family}", family))
    return path


@pytest.mark.parametrize("family", ["lstm", "bbeta5"])
def test_train_then_evaluate(tmp_path, capsys, family):
    out = tmp_path / "run"
    assert main(["train", str(_spec(tmp_path, family)), "--out", str(out)]) == 0
    run = RunDirectory(out)
    assert run.spec.exists() and run.checkpoint.exists() and run.best.exists()
    results = run.read_results()
    assert set(results) >= {"train", "valid", "test", "weights", "config"}
    assert len(run.read_metrics()) == 2
    capsys.readouterr()
    assert main(["evaluate", str(out), "--split", "test"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["accuracy"] == pytest.approx(results["test"]["accuracy"])


def test_resume_with_more_epochs_continues_the_run(tmp_path):
    out = tmp_path / "run"
    assert main(["train", str(_spec(tmp_path)), "--out", str(out)]) == 0
    assert main(["train", "--resume", "--out", str(out), "--set", "train.epochs=3"]) == 0
    metrics = RunDirectory(out).read_metrics()
    assert [m["epoch"] for m in metrics] == [1, 2, 3]


def _one_line_error(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


def test_unknown_spec_key_is_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[train]\nepochz = 3\n")
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    line = _one_line_error(capsys)
    assert "bad.toml" in line and "unknown key 'train.epochz'" in line and "valid keys in [train]" in line


def test_bad_override_type_names_the_key(tmp_path, capsys):
    assert main(["train", str(_spec(tmp_path)), "--set", "train.epochs=many"]) == 2
    assert "key 'train.epochs' must be an integer, got str 'many'" in _one_line_error(capsys)


def test_missing_data_file_is_a_one_line_data_error(tmp_path, capsys):
    path = tmp_path / "jsb.toml"
    path.write_text(f'[data]\nname = "jsb_chorales"\nroot = "{tmp_path}"\n[train]\nprogress = false\n')
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    line = _one_line_error(capsys)
    assert "JSB_Chorales.mat" in line and str(tmp_path) in line
    assert not (tmp_path / "run").exists()  # nothing written for a run that could not start


def test_corrupt_data_file_is_a_one_line_data_error(tmp_path, capsys):
    (tmp_path / "jsb_chorales").mkdir()
    (tmp_path / "jsb_chorales" / "JSB_Chorales.mat").write_bytes(b"MATLAB 5.0 truncated")
    path = tmp_path / "jsb.toml"
    path.write_text(f'[data]\nname = "jsb_chorales"\nroot = "{tmp_path}"\n[train]\nprogress = false\n')
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "JSB_Chorales.mat" in _one_line_error(capsys)


def test_resume_without_checkpoint_says_so(tmp_path, capsys):
    assert main(["train", "--resume", "--out", str(tmp_path / "nothing")]) == 2
    assert "nothing to resume" in _one_line_error(capsys)


def test_demo_trains_both_models_and_prints_the_table(tmp_path, capsys):
    overrides = [
        "--set",
        "train.epochs=1",
        "--set",
        "data.options.num_sequences=60",
        "--set",
        "model.hidden_size=4",
    ]
    assert main(["demo", "--out", str(tmp_path), "--no-progress", *overrides]) == 0
    out = capsys.readouterr().out
    assert "demo results" in out and "demo-lstm" in out and "demo-bbeta5" in out
    for name in ("demo-lstm", "demo-bbeta5"):
        assert RunDirectory(tmp_path / name).results.exists()


def test_word_vectors_initialise_the_embedding(tmp_path):
    import torch

    from probgates import runner
    from probgates.data.batching import DatasetSplits, SequenceDataset
    from probgates.data.vocab import Vocabulary
    from probgates.spec import spec_from_dict

    vocab = Vocabulary(["<pad>", "<unk>", "good", "bad"])
    train = SequenceDataset([torch.tensor([2, 3]), torch.tensor([3])], torch.tensor([0, 1]), name="t")
    data = DatasetSplits(
        train, None, None, {"likelihood": "categorical", "vocab_size": 4, "num_classes": 2, "vocab": vocab}
    )
    vectors = tmp_path / "v.txt"
    vectors.write_text("good 1 2 3\nbad 4 5 6\n")
    spec = spec_from_dict({"model": {"embedding_dim": 3, "word_vectors": str(vectors), "hidden_size": 2}})
    model = runner.build_model(spec, data)
    weight = dict(model.named_parameters())["embedding.weight"]
    assert torch.equal(weight[2].detach(), torch.tensor([1.0, 2.0, 3.0], dtype=weight.dtype))
    assert torch.equal(weight[3].detach(), torch.tensor([4.0, 5.0, 6.0], dtype=weight.dtype))


def test_priors_command_summarises_a_spec_prior(tmp_path, capsys):
    spec = tmp_path / "open.toml"
    spec.write_text(
        'name = "open"\n[model]\nfamily = "bbeta5"\n'
        'prior = { kind = "fixed", concentration = [1.0, 20.0, 0.05, 20.0, 0.05] }\n'
    )
    assert main(["priors", str(spec), "--out", str(tmp_path / "prior"), "--draws", "2000"]) == 0
    out = capsys.readouterr().out
    assert "report:" in out and (tmp_path / "prior" / "index.html").exists()
    summary = json.loads((tmp_path / "prior" / "summary.json").read_text())
    assert summary["f"]["median"] > 0.95


def test_priors_command_rejects_deterministic_gates(tmp_path, capsys):
    spec = tmp_path / "lstm.toml"
    spec.write_text('[model]\nfamily = "lstm"\n')
    assert main(["priors", str(spec), "--out", str(tmp_path / "p")]) == 2
    _one_line_error(capsys)


def test_diagnose_command_writes_posterior_and_report(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(_spec(tmp_path, "bbeta5")), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["diagnose", str(out), "--samples", "5", "--sequences", "2", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert (out / "posterior.nc").exists() and (out / "report" / "index.html").exists()
    assert "report:" in printed


SPARSE_SPEC = """
name = "sparse-cli"
[data]
name = "sparse_signal"
options = { num_sequences = 120, seq_len = 6, num_features = 8, num_relevant = 2, seed = 1 }
[model.sparse]
variant = "W+G+N"
hidden_size = 6
embedding_dim = 0
[train]
epochs = 2
batch_size = 16
lr = 0.01
progress = false
"""


def test_sparse_spec_trains_through_the_cli_and_compresses(tmp_path, capsys):
    spec = tmp_path / "sparse.toml"
    spec.write_text(SPARSE_SPEC)
    out = tmp_path / "run"
    assert main(["train", str(spec), "--out", str(out)]) == 0
    assert main(["compress", str(out)]) == 0
    stats = json.loads((out / "compressed" / "compression.json").read_text())
    assert stats["input_recovery"]["relevant_total"] == 2 and stats["input_recovery"]["irrelevant_total"] == 6
    printed = capsys.readouterr().out
    assert "compressed models and tables" in printed and "relevant inputs kept" in printed
    assert "torch_lstm.pt, pruned.pt" in printed and "no torch_lstm.pt" not in printed
    for name in ("compact", "torch_lstm", "pruned"):
        assert (out / "compressed" / f"{name}.pt").exists()


def test_compress_of_a_hard_sigmoid_model_says_which_exports_it_wrote(tmp_path, capsys):
    spec = tmp_path / "sparse.toml"
    hard = SPARSE_SPEC.replace("embedding_dim = 0", 'embedding_dim = 0\ngate_activation = "hard_sigmoid"')
    spec.write_text(hard)
    out = tmp_path / "run"
    assert main(["train", str(spec), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["compress", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "compact.pt)" in printed and "no torch_lstm.pt or pruned.pt" in printed
    assert sorted(p.name for p in (out / "compressed").glob("*.pt")) == ["compact.pt", "structure.pt"]


def test_compress_of_a_run_without_sparse_layers_says_so(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(_spec(tmp_path)), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["compress", str(out)]) == 2
    assert "no sparse layers" in _one_line_error(capsys)
