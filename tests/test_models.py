import shutil

import pytest
import torch
import torch.nn.functional as F

from surnames import cells, kernels, ladder, native
from surnames.alphabet import encode
from tests.helpers import ROOT

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


@pytest.fixture(params=["compiled", "torch"])
def backend(request, monkeypatch):
    """Each kernel test runs on both loops: the C library (surnames/native.py) and torch's."""
    if request.param == "torch":
        monkeypatch.setattr(native, "usable", lambda *tensors: False)
    elif native.library() is None:
        pytest.skip("the compiled recurrences could not be built here (no C compiler?)")
    return request.param


def test_the_compiled_recurrences_build_where_there_is_a_compiler(tmp_path):
    """Where `cc` exists the library must build from the sources (into an empty folder, not
    the cache) and pass its check: otherwise every run would fall back to the slower torch
    loops with only a warning."""
    if not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler on this machine")
    assert native.load(tmp_path) is not None
    assert [path.suffix for path in tmp_path.iterdir()] == [".so"]  # no temporary left behind
    assert native.library() is not None


def test_without_a_compiler_the_torch_loops_run_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("SURNAMES_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    native.library.cache_clear()
    try:
        with pytest.warns(UserWarning, match="compiled recurrences are not used .*install a C compiler"):
            assert native.library() is None
        assert not native.usable(torch.zeros(2))
    finally:
        native.library.cache_clear()


@pytest.mark.parametrize("name", ["rnn", "lstm"])
def test_printout_is_the_course_report_s(name):
    assert str(cells.build(name, 57, 128, 18)) == COURSE_PRINTOUTS[name]


@pytest.mark.parametrize("name", list(cells.CELLS))
def test_batched_forward_and_gradients_equal_one_name_at_a_time(name, backend):
    torch.manual_seed(1)
    model = cells.build(name, 57, 32, 18)
    letters, lengths = encode(NAMES)
    targets = torch.arange(len(NAMES)) % 18

    batched = model(letters, lengths)
    F.nll_loss(batched, targets, reduction="sum").backward()
    batched_grads = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad()

    one_by_one = torch.cat([cells.letter_by_letter(model, letters[:length, column : column + 1])[0]
                            for column, length in enumerate(lengths.tolist())])
    F.nll_loss(one_by_one, targets, reduction="sum").backward()

    torch.testing.assert_close(batched, one_by_one, atol=1e-5, rtol=1e-5)
    for key, param in model.named_parameters():
        torch.testing.assert_close(batched_grads[key], param.grad, atol=1e-5, rtol=1e-5, msg=key)


@pytest.mark.parametrize("name", list(cells.CELLS))
def test_the_prediction_path_computes_what_training_does(name, backend):
    """Without gradients the kernels run their forward loop alone (no backward buffers): the
    same numbers, bit for bit, and nothing for autograd."""
    torch.manual_seed(3)
    model = cells.build(name, 57, 32, 18)
    letters, lengths = encode(NAMES)
    trained = model(letters, lengths)
    with torch.no_grad():
        predicted = model(letters, lengths)
    assert trained.requires_grad and not predicted.requires_grad
    assert torch.equal(trained, predicted)


RECURRENCES = {  # (recurrence, gate blocks): every kernel, with each LSTM gate held open in turn
    "linear": (kernels.linear_recurrence, 1),
    "tanh": (kernels.tanh_recurrence, 1),
    "lstm": (kernels.lstm_recurrence, 4),
    "lstm_forget_open": (lambda *args: kernels.lstm_recurrence(*args, forget=False), 3),
    "lstm_output_open": (lambda *args: kernels.lstm_recurrence(*args, output=False), 3),
}


@pytest.mark.parametrize("kind", list(RECURRENCES))
def test_hand_written_backward_passes_gradcheck(kind, backend):
    recurrence, blocks = RECURRENCES[kind]
    torch.manual_seed(2)
    size = 3
    gates = blocks * size
    letters = torch.randint(0, 6, (6, 5))
    steps = torch.tensor([3, 0, 5, 1, 5])
    weight = torch.cat([torch.randn(gates, 6), 0.5 * torch.randn(gates, size)], 1).double().requires_grad_()
    bias = torch.randn(gates, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w, b: recurrence(w, b, 6, letters, steps), (weight, bias))


@pytest.mark.parametrize("seed", range(20))
def test_the_compiled_packing_equals_torch_s(seed):
    """native.pack lays out any batch (names without steps and ties included) as kernels' torch code does."""
    if native.library() is None:
        pytest.skip("the compiled recurrences could not be built here (no C compiler?)")
    generator = torch.Generator().manual_seed(seed)
    names = int(torch.randint(1, 40, (1,), generator=generator))
    steps = torch.randint(0, 12, (names,), generator=generator)
    steps[0] = max(int(steps[0]), 1)
    letters = torch.randint(0, 57, (12, names), generator=generator)
    expected, packed = kernels._pack(letters, steps, compiled=False), kernels._pack(letters, steps, compiled=True)
    assert (packed.running, packed.starts) == (expected.running, expected.starts)
    for part in ("letters", "previous", "last"):
        assert torch.equal(getattr(packed, part), getattr(expected, part)), part


@pytest.mark.parametrize("name", list(cells.CELLS))
def test_both_loops_compute_the_same_values(name):
    """The C loops and torch's agree to float rounding, outputs and gradients (float32)."""
    if native.library() is None:
        pytest.skip("the compiled recurrences could not be built here (no C compiler?)")
    letters, lengths = encode(NAMES * 4)
    results = []
    for compiled in (True, False):
        torch.manual_seed(4)
        model = cells.build(name, 57, 32, 18)
        with pytest.MonkeyPatch.context() as patch:
            if not compiled:
                patch.setattr(native, "usable", lambda *tensors: False)
            output = model(letters, lengths)
            output.sum().backward()
        results.append([output, *(p.grad for p in model.parameters())])
    for compiled, portable in zip(*results):
        torch.testing.assert_close(compiled, portable, atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("name", [cell for cell in ladder.RUNGS if cell not in ladder.COURSE])
def test_an_ablation_cell_is_one_change_from_its_course_cell(name):
    """Same layers as its course cell, less an open gate's. On the same weights, the course LSTM
    with that gate's layer saturated at 1 computes what the open-gate cell does; the tanh RNN
    differs from the linear RNN."""
    course = "rnn" if "rnn" in name else "lstm"
    model, original = cells.build(name, 57, 16, 18), cells.build(course, 57, 16, 18)
    dropped = {"lstm_forget_open": "i2f", "lstm_output_open": "i2g"}.get(name)
    layers = {key.split(".")[0] for key in model.state_dict()}
    assert layers == {key.split(".")[0] for key in original.state_dict()} - {dropped}
    original.load_state_dict(model.state_dict(), strict=False)
    letters, lengths = encode(NAMES)
    if dropped is None:
        assert not torch.allclose(model(letters, lengths), original(letters, lengths))
        return
    with torch.no_grad():
        gate = getattr(original, dropped)
        gate.weight.zero_()
        gate.bias.fill_(50.0)  # sigmoid(50) is 1 in float32
    torch.testing.assert_close(original(letters, lengths), model(letters, lengths))


def test_the_wide_tanh_rnn_default_matches_the_lstm_s_parameter_count():
    """params.yaml's hidden size for the capacity rung: total parameters within 1 % of the course LSTM's."""
    from surnames.params import load_params
    size = load_params("budgets", ROOT / "params.yaml")["hidden_size"]["wide_tanh_rnn"]
    count = {name: sum(p.numel() for p in cells.build(name, 57, hidden, 18).parameters())
             for name, hidden in (("wide_tanh_rnn", size), ("lstm", 128))}
    assert abs(count["wide_tanh_rnn"] / count["lstm"] - 1) < 0.01, count


def test_one_letter_names_read_out_from_a_zero_state(backend):
    model = cells.build("lstm", 57, 8, 3)
    letters, lengths = encode(["A", "B"])
    state = model.hidden_before_last(letters, lengths)
    assert torch.equal(state, torch.zeros(2, 8))


@pytest.mark.parametrize("name", ["rnn", "lstm"])
def test_state_dict_keeps_the_course_report_s_layer_names(name):
    keys = set(cells.build(name, 57, 16, 18).state_dict())
    layers = {"rnn": ["i2h", "i2o"], "lstm": ["i2i", "i2o", "i2f", "i2c", "i2g"]}[name]
    assert keys == {f"{layer}.{kind}" for layer in layers for kind in ("weight", "bias")}
