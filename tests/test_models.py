import pytest
import torch
import torch.nn.functional as F

from surnames import cells, kernels
from surnames.alphabet import encode

COURSE_PRINTOUTS = {
    "rnn": """RNN(
  (i2h): Linear(in_features=185, out_features=128, bias=True)
  (i2o): Linear(in_features=185, out_features=18, bias=True)
  (softmax): LogSoftmax(dim=1)
)""",
    "lstm": """LSTM(
  (i2i): Linear(in_features=185, out_features=128, bias=True)
  (i2o): Linear(in_features=185, out_features=18, bias=True)
  (i2f): Linear(in_features=185, out_features=128, bias=True)
  (i2c): Linear(in_features=185, out_features=128, bias=True)
  (i2g): Linear(in_features=185, out_features=128, bias=True)
  (softmax): LogSoftmax(dim=1)
)""",
}
NAMES = ["Nguyen", "O", "Schwarzenegger", "Li", "Abbascia", "Ng", "Z", "Papadopoulos"]


@pytest.mark.parametrize("name", ["rnn", "lstm"])
def test_printout_is_the_course_report_s(name):
    assert str(cells.build(name, 57, 128, 18)) == COURSE_PRINTOUTS[name]


@pytest.mark.parametrize("name", ["rnn", "lstm"])
def test_batched_forward_and_gradients_equal_one_name_at_a_time(name):
    torch.manual_seed(1)
    model = cells.build(name, 57, 32, 18)
    letters, lengths = encode(NAMES)
    targets = torch.arange(len(NAMES)) % 18

    batched = model(letters, lengths)
    F.nll_loss(batched, targets, reduction="sum").backward()
    batched_grads = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad()

    one_by_one = torch.cat([cells.step_through(model, letters[:length, column : column + 1])[0]
                            for column, length in enumerate(lengths.tolist())])
    F.nll_loss(one_by_one, targets, reduction="sum").backward()

    torch.testing.assert_close(batched, one_by_one, atol=1e-5, rtol=1e-5)
    for key, param in model.named_parameters():
        torch.testing.assert_close(batched_grads[key], param.grad, atol=1e-5, rtol=1e-5, msg=key)


@pytest.mark.parametrize("recurrence", [kernels.linear_recurrence, kernels.lstm_recurrence])
def test_hand_written_backward_passes_gradcheck(recurrence):
    torch.manual_seed(2)
    size = 3
    gates = 4 * size if recurrence is kernels.lstm_recurrence else size
    letters = torch.randint(0, 6, (6, 5))
    steps = torch.tensor([3, 0, 5, 1, 5])
    table = torch.randn(6, gates, dtype=torch.double, requires_grad=True)
    bias = torch.randn(gates, dtype=torch.double, requires_grad=True)
    w_hidden = (0.5 * torch.randn(gates, size, dtype=torch.double)).requires_grad_()
    assert torch.autograd.gradcheck(lambda t, b, w: recurrence(t, b, w, letters, steps), (table, bias, w_hidden))


def test_one_letter_names_read_out_from_a_zero_state():
    model = cells.build("lstm", 57, 8, 3)
    letters, lengths = encode(["A", "B"])
    state = model.hidden_before_last(letters, lengths)
    assert torch.equal(state, torch.zeros(2, 8))


@pytest.mark.parametrize("name", ["rnn", "lstm"])
def test_state_dict_keeps_the_course_report_s_layer_names(name):
    keys = set(cells.build(name, 57, 16, 18).state_dict())
    layers = {"rnn": ["i2h", "i2o"], "lstm": ["i2i", "i2o", "i2f", "i2c", "i2g"]}[name]
    assert keys == {f"{layer}.{kind}" for layer in layers for kind in ("weight", "bias")}
