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


RECURRENCES = {  # (recurrence, gate blocks): every kernel's loop, with each optional LSTM gate left out in turn
    "linear": (kernels.linear_recurrence, 1),
    "tanh": (kernels.tanh_recurrence, 1),
    "lstm": (kernels.lstm_recurrence, 4),
    "lstm without a forget block": (lambda *args: kernels.lstm_recurrence(*args, forget=False), 3),
    "lstm without an output block": (lambda *args: kernels.lstm_recurrence(*args, output=False), 3),
}
ACCELERATED = [name for name in ladder.RUNGS if ladder.REGISTERED.cells[name].kernel]  # rows that name a kernel


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


@pytest.mark.parametrize("name", ACCELERATED)
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


@pytest.mark.parametrize("name", ACCELERATED)
def test_an_accelerated_cell_equals_its_own_autograd_path(name, backend):
    """The kernel a registry row names computes what the class's update() does under autograd:
    outputs and every gradient, on the same weights."""
    letters, lengths = encode(NAMES * 4)
    targets = torch.arange(len(NAMES) * 4) % 18
    results = []
    for kernel in (ladder.REGISTERED.cells[name].kernel, None):
        torch.manual_seed(4)
        model = cells.build(name, 57, 32, 18)
        model.kernel = kernel
        output = model(letters, lengths)
        F.nll_loss(output, targets).backward()
        results.append([output, *(p.grad for p in model.parameters())])
    for fast, autograd in zip(*results):
        torch.testing.assert_close(fast, autograd, atol=2e-6, rtol=1e-5)


GATE_LAYERS = {"input": "i2i", "forget": "i2f", "output": "i2g"}
OPEN_GATES = [name for name in ladder.RUNGS if getattr(cells.architecture(name), "open_gates", ())]


@pytest.mark.parametrize("name", OPEN_GATES)
def test_an_lstm_with_gates_open_is_the_course_lstm_with_those_gates_at_1(name):
    """Same layers as the course LSTM, less its open gates'. On the same weights, the course LSTM
    with those gates' layers saturated at 1 computes what the open-gate cell does."""
    model, original = cells.build(name, 57, 16, 18), cells.build("lstm", 57, 16, 18)
    dropped = {GATE_LAYERS[gate] for gate in type(model).open_gates}
    layers = {key.split(".")[0] for key in model.state_dict()}
    assert layers == {key.split(".")[0] for key in original.state_dict()} - dropped
    original.load_state_dict(model.state_dict(), strict=False)
    letters, lengths = encode(NAMES)
    with torch.no_grad():
        for layer in dropped:
            getattr(original, layer).weight.zero_()
            getattr(original, layer).bias.fill_(50.0)  # sigmoid(50) is 1 in float32
    torch.testing.assert_close(original(letters, lengths), model(letters, lengths))


def test_the_gru_is_torch_s_gru_cell():
    """cells.GRU.update is nn.GRUCell's formula (reset gate after the hidden product), on the same weights."""
    torch.manual_seed(0)
    gru, reference, size = cells.GRU(57, 6, 3), torch.nn.GRUCell(57, 6), 6
    with torch.no_grad():
        reference.weight_ih.copy_(torch.cat([gru.i2r.weight[:, :57], gru.i2z.weight[:, :57], gru.i2n.weight]))
        reference.weight_hh.copy_(torch.cat([gru.i2r.weight[:, 57:], gru.i2z.weight[:, 57:], gru.h2n.weight]))
        reference.bias_ih.copy_(torch.cat([gru.i2r.bias, gru.i2z.bias, gru.i2n.bias]))
        reference.bias_hh.copy_(torch.cat([torch.zeros(2 * size), gru.h2n.bias]))
    letters, hidden = F.one_hot(torch.randint(0, 57, (5,)), 57).float(), torch.randn(5, size)
    torch.testing.assert_close(gru.update(letters, hidden)[0], reference(letters, hidden))


def test_every_registry_row_passes_its_check():
    cells.check_registry()


@pytest.mark.parametrize("name", [n for n, cell in ladder.REGISTERED.cells.items() if cell.sized_like])
def test_a_cell_sized_like_another_has_its_parameter_count(name):
    """params.yaml's hidden size of a row with `sized_like`: total parameters within 1 % of that cell's."""
    from surnames.params import load_params
    sizes = load_params("budgets", ROOT / "params.yaml")["hidden_size"]
    other = ladder.REGISTERED.cells[name].sized_like
    count = {n: sum(p.numel() for p in cells.build(n, 57, sizes[n], 18).parameters()) for n in (name, other)}
    assert abs(count[name] / count[other] - 1) < 0.01, count


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
