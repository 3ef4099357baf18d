import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from surnames import cells, step
from surnames.alphabet import encode
from surnames.errors import ProjectError

ROOT = Path(__file__).resolve().parents[1]


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
    optimizer = step.Optimizer("adam", model.parameters(), lr=0.1)
    with pytest.raises(ProjectError, match="not finite"):
        step.optimizer_step(model, optimizer, batch(), 1.0, 1, "train_rnn")
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]) or torch.isnan(value).all(), key


def test_a_step_changes_the_weights_and_lowers_the_loss_on_its_batch():
    torch.manual_seed(0)
    model = cells.build("lstm", 57, 4, 2)
    optimizer = step.Optimizer("adam", model.parameters(), lr=0.05)
    losses = [step.optimizer_step(model, optimizer, batch(), 1.0, i, "train_lstm") for i in range(20)]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("kind, weight_decay, theirs", [
    ("adam", 0.0, torch.optim.Adam), ("adam", 0.01, torch.optim.AdamW), ("sgd", 0.0, torch.optim.SGD),
    ("sgd", 0.01, torch.optim.SGD)])
def test_the_optimizer_makes_torch_optims_fused_update_bit_for_bit(kind, weight_decay, theirs):
    models = []
    for _ in range(2):
        torch.manual_seed(0)
        models.append(cells.build("lstm", 57, 8, 2))
    ours = step.Optimizer(kind, models[0].parameters(), 0.05, weight_decay)
    reference = theirs(models[1].parameters(), lr=0.05, fused=True, **({"weight_decay": weight_decay} if weight_decay
                                                                        else {}))
    for i in range(1, 12):
        for model, optimizer in zip(models, (ours, reference)):
            step.optimizer_step(model, optimizer, batch(), 1.0, i, "train_lstm")
    for (key, value), other in zip(models[0].state_dict().items(), models[1].state_dict().values()):
        assert torch.equal(value, other), key


def test_training_never_imports_torch_dynamo():
    """torch.optim's step() imports torch._dynamo (seconds at each training stage's start)."""
    code = ("import sys, torch; from surnames import cells, step; from tests.test_step import batch; "
            "model = cells.build('lstm', 57, 8, 2); optimizer = step.Optimizer('adam', model.parameters(), 0.01); "
            "step.optimizer_step(model, optimizer, batch(), 1.0, 1, 'train_lstm'); "
            "print('torch._dynamo' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.stdout.strip() == "False", result.stderr
