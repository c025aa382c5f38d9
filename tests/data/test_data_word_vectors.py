import pytest
import torch

from probgates.data import DataError
from probgates.data.vocab import Vocabulary
from probgates.data.word_vectors import read_word_vectors


def _vocab():
    return Vocabulary(["<pad>", "<unk>", "good", "bad", "film"])


def test_reads_vectors_of_vocabulary_tokens_only(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("3 2\ngood 0.5 1.0\nunrelated 9 9\nfilm -1 2.5\n")
    vectors, found = read_word_vectors(path, _vocab(), 2)
    assert found.tolist() == [False, False, True, False, True]
    assert torch.equal(vectors[2], torch.tensor([0.5, 1.0]))
    assert torch.equal(vectors[3], torch.zeros(2))


@pytest.mark.parametrize(
    "text, message",
    [
        ("good 0.5\n", "1 values for 'good', expected 2"),
        ("good 0.5 x\n", "not a number"),
        ("other 1 2\n", "no token of the vocabulary"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path, text, message):
    path = tmp_path / "vectors.txt"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as info:
        read_word_vectors(path, _vocab(), 2)
    assert "vectors.txt" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="word-vector file not found"):
        read_word_vectors(tmp_path / "none.txt", _vocab(), 2)
