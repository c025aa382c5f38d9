import pytest

from probgates.spec import Spec, SpecError, apply_overrides, load_spec, spec_from_dict


def _write(tmp_path, text):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def test_spec_reads_nested_tables(tmp_path):
    path = _write(
        tmp_path,
        """
name = "x"
[data]
name = "adding"
options = { seq_len = 20 }
[model]
hidden_size = 16
[train]
epochs = 3
lr = 1
[train.lr_schedule]
kind = "plateau"
rule = "recent"
[train.kl]
kind = "linear"
weight = 0.5
""",
    )
    spec = load_spec(path)
    assert spec.data.options == {"seq_len": 20}
    assert spec.train.lr == 1.0 and isinstance(spec.train.lr, float)
    assert spec.train.lr_schedule.rule == "recent"
    assert spec.train.kl.weight == 0.5


def test_unknown_key_lists_valid_keys(tmp_path):
    path = _write(tmp_path, "[train]\nepochz = 3\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert str(path) in message and "unknown key 'train.epochz'" in message
    assert "valid keys in [train]: epochs, batch_size" in message


def test_wrong_type_names_key_and_expected_type(tmp_path):
    path = _write(tmp_path, '[train]\nepochs = "ten"\n')
    with pytest.raises(SpecError, match=r"key 'train.epochs' must be an integer, got str 'ten'"):
        load_spec(path)
    with pytest.raises(SpecError, match=r"key 'train.progress' must be true or false, got int 1"):
        spec_from_dict({"train": {"progress": 1}})
    with pytest.raises(SpecError, match=r"key 'train.epochs' must be an integer, got bool True"):
        spec_from_dict({"train": {"epochs": True}})
    with pytest.raises(SpecError, match=r"key 'train.kl' must be a table"):
        spec_from_dict({"train": {"kl": 1.0}})


def test_out_of_range_values_name_the_key():
    with pytest.raises(SpecError, match=r"train.lr must be > 0"):
        spec_from_dict({"train": {"lr": -1.0}})
    with pytest.raises(SpecError, match=r"\[train.kl\] KL weight must be >= 0"):
        spec_from_dict({"train": {"kl": {"weight": -1.0}}})
    with pytest.raises(
        SpecError, match=r"unknown model.family 'gru'; valid: lstm, sigmoid, cifg, g2, beta, bbeta3, bbeta5"
    ):
        spec_from_dict({"model": {"family": "gru"}})
    with pytest.raises(
        SpecError, match=r"unknown model.gamma_reparam 'fast'; valid: implicit, marsaglia_tsang"
    ):
        spec_from_dict({"model": {"family": "bbeta5", "gamma_reparam": "fast"}})


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(_write(tmp_path, "[train\n"))
    with pytest.raises(SpecError, match="no such spec file"):
        load_spec(tmp_path / "nope.toml")


def test_overrides_parse_toml_values_and_reach_into_tables():
    table = apply_overrides({"train": {"lr": 0.1}}, ["train.lr=0.01", "train.kl.kind=linear", "name=abc"])
    assert table == {"train": {"lr": 0.01, "kl": {"kind": "linear"}}, "name": "abc"}
    with pytest.raises(SpecError, match="not of the form key=value"):
        apply_overrides({}, ["train.lr"])


def test_resolved_spec_round_trips_through_toml(tmp_path):
    spec = spec_from_dict(
        {
            "name": "rt",
            "data": {"name": "copy", "options": {"delay": 10, "seed": 2}},
            "train": {"lr_schedule": {"kind": "exponential", "gamma": 0.9}},
        }
    )
    assert load_spec(_write(tmp_path, spec.to_toml())) == spec
    assert load_spec(_write(tmp_path, Spec().to_toml())) == Spec()
