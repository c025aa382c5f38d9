import pytest

from probgates.sparse import SparseSpec


def test_defaults_and_letters():
    spec = SparseSpec()
    assert spec.threshold == 3.0 and spec.clip == (-8.0, 8.0)
    assert spec.letters("lstm") == {"W", "G", "N"}
    assert spec.letters("embedding") == {"W", "N"}
    assert spec.letters("head") == {"W"}
    assert SparseSpec(variant="W+N", input_groups=False).letters("embedding") == {"W"}
    assert SparseSpec(variant="W", layers={"head": "dense"}).letters("head") == frozenset()
    assert SparseSpec(variant="dense").is_dense


@pytest.mark.parametrize(
    "options, match",
    [
        ({"variant": "W+X"}, r"model\.sparse\.variant: unknown variant letter.*'X'.*valid letters: W, G, N"),
        ({"variant": ""}, r"model\.sparse\.variant"),
        ({"variant": "W+W"}, r"repeats"),
        ({"layers": {"decoder": "W"}}, r"unknown layer 'decoder'.*valid layers: embedding, lstm, head"),
        ({"layers": {"embedding": "G"}}, r"model\.sparse\.layers\.embedding.*'G'.*valid letters: W, N"),
        ({"layers": {"head": "W+N"}}, r"model\.sparse\.layers\.head.*valid letters: W"),
        ({"threshold": 9.0}, r"model\.sparse\.threshold=9.0 must lie in \(-8.0, 8.0\]"),
        ({"threshold": -8.0}, r"model\.sparse\.threshold"),
        ({"threshold": float("nan")}, r"model\.sparse\.threshold must be a finite number"),
        ({"log_alpha_clip": [8.0, -8.0]}, r"model\.sparse\.log_alpha_clip must have low < high"),
        ({"log_alpha_clip": [1.0]}, r"model\.sparse\.log_alpha_clip must be two finite numbers"),
        ({"log_alpha_clip": [-8.0, float("inf")]}, r"model\.sparse\.log_alpha_clip"),
        ({"framework": "magic"}, r"model\.sparse\.framework 'magic'; valid: bayes, pruning"),
        ({"group_noise": "step"}, r"model\.sparse\.group_noise.*minibatch, sequence"),
        ({"compiled_posterior": "yes"}, r"model\.sparse\.compiled_posterior must be true or false"),
        ({"head_precision": "half"}, r"model\.sparse\.head_precision 'half'; valid: full, bfloat16"),
        ({"hidden_size": 0}, r"model\.sparse\.hidden_size"),
        ({"lasso_gate": -1.0}, r"model\.sparse\.lasso_gate"),
    ],
)
def test_bad_input_is_rejected(options, match):
    with pytest.raises(ValueError, match=match):
        SparseSpec(**options)
