import math

import pytest
import torch

from surnames import cells, step
from surnames.alphabet import encode
from surnames.errors import ProjectError


@pytest.mark.parametrize("loss", [math.nan, math.inf, 2e4])
def test_non_finite_or_exploding_loss_stops_naming_the_step(loss):
    with pytest.raises(ProjectError, match=r"train_rnn: training loss .* at step 17 is .*lower train_rnn.lr"):
        step.check_loss(loss, 17, "train_rnn")


def batch():
    letters, lengths = encode(["Abc", "Defgh"])
    return letters, lengths, torch.tensor([0, 1])


def test_a_refused_loss_leaves_the_weights_untouched():
    torch.manual_seed(0)
    model = cells.build("rnn", 57, 4, 2)
    with torch.no_grad():
        model.i2o.bias.fill_(float("nan"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = step.OPTIMIZERS["adam"](model.parameters(), lr=0.1)
    with pytest.raises(ProjectError, match="not finite"):
        step.optimizer_step(model, optimizer, batch(), 1.0, 1, "train_rnn")
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]) or torch.isnan(value).all(), key


def test_a_step_changes_the_weights_and_lowers_the_loss_on_its_batch():
    torch.manual_seed(0)
    model = cells.build("lstm", 57, 4, 2)
    optimizer = step.OPTIMIZERS["adam"](model.parameters(), lr=0.05)
    losses = [step.optimizer_step(model, optimizer, batch(), 1.0, i, "train_lstm") for i in range(20)]
    assert losses[-1] < losses[0]
