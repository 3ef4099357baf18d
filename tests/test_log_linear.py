"""The course RNN is log-linear in (letter, distance from the end) features: shown on a trained one.

Its state is linear in the letters, h_k = A[x_k] + b + h_{k-1} W^T (no squashing), so its logits
at a name's last letter are

    i2o.bias + Bin[x_last] + sum over d >= 1 of (A[x at distance d] + b) (W^T)^(d-1) Bh^T

a sum of one vector per (letter, distance from the end): a table. The test builds that table from
a trained RNN's weights alone, scores held-out names by table lookups and a sum, and gets the
RNN's own log-probabilities back to float tolerance. So the RNN cannot represent a conjunction of
letters: swapping the letter at one distance moves the logits by the same vector whatever the
other letters are. The same construction on a trained tanh RNN misses (the control), so the test
can fail.
"""
import pytest
import torch

from surnames import grid, train
from surnames.alphabet import encode
from surnames.data import read_categories, read_encoded
from surnames.params import read_params
from tests.helpers import ROOT, SMALL_TRAIN


def feature_table(model, distances: int) -> torch.Tensor:
    """[distances + 1, letters, classes] (float64): the logit vector of each letter at each distance."""
    a = model._input_half(model.i2h).double()       # [letters, H]: a letter's input to the state
    b = model.i2h.bias.double()
    w_t = model._hidden_half(model.i2h).double().t()  # [H, H]: h_k = a[x] + b + h_{k-1} @ w_t
    read_out = model._hidden_half(model.i2o).double().t()  # [H, classes]
    table = [model._input_half(model.i2o).double()]  # distance 0: the last letter, read directly
    for _ in range(distances):
        table.append((a + b) @ read_out)
        read_out = w_t @ read_out  # one letter further back: through the recurrence once more
    return torch.stack(table)


def table_log_probs(model, names: list[str]) -> torch.Tensor:
    letters, lengths = encode(names)
    table = feature_table(model, int(lengths.max()) - 1)
    logits = model.i2o.bias.double().expand(len(names), -1).clone()
    for column, length in enumerate(lengths.tolist()):
        for distance in range(length):
            logits[column] += table[distance, letters[length - 1 - distance, column]]
    return torch.log_softmax(logits, 1)


@pytest.fixture(scope="module")
def fold_zero(prepared):
    return read_encoded(prepared / "fold-0", ("train", "val", "test"), read_categories(prepared))


def trained(cell: str, fold_zero) -> torch.nn.Module:
    """A course-style cell trained on fold 0 (the default section, a short budget)."""
    params = {**grid.cell_training(cell, read_params(ROOT / "params.yaml")), **SMALL_TRAIN, "iterations": 200}
    model, *_ = train.train(cell, params, fold_zero["train"], fold_zero["val"])
    return model.eval()


def test_a_trained_course_rnn_is_a_table_of_letter_and_distance_vectors(fold_zero):
    model = trained("rnn", fold_zero)
    names = fold_zero["test"].names[:400]
    with torch.no_grad():
        own = model(*encode(names)).double()
        rebuilt = table_log_probs(model, names)
    assert own.abs().max() > 1  # a real, trained prediction, not a flat one
    torch.testing.assert_close(rebuilt, own, atol=2e-4, rtol=1e-4)


def test_so_it_sees_no_conjunction_of_letters(fold_zero):
    """logits(xov) − logits(xev) == logits(yov) − logits(yev): the 'o' at distance 1 counts the
    same whatever precedes it; a tanh RNN's does not."""
    def interaction(model):
        with torch.no_grad():
            out = model(*encode(["Petrov", "Petrev", "Ivanov", "Ivanev"]))
        out = out - out.mean(1, keepdim=True)  # log-probabilities less each name's normaliser: logits, centred
        return ((out[0] - out[1]) - (out[2] - out[3])).abs().max().item()
    assert interaction(trained("rnn", fold_zero)) < 1e-4
    assert interaction(trained("tanh_rnn", fold_zero)) > 1e-2


def test_the_table_misses_a_tanh_rnn(fold_zero):
    """The control: the same construction on a tanh RNN's weights is far off, so the first test can fail."""
    model = trained("tanh_rnn", fold_zero)
    names = fold_zero["test"].names[:400]
    with torch.no_grad():
        error = (table_log_probs(model, names) - model(*encode(names)).double()).abs().max()
    assert error > 0.1
