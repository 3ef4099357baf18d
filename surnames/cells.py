"""The cells of surnames/registry.yaml: torch modules, each with its one-letter update.

Every cell reads `combined = cat(one_hot(letter), hidden)` at every letter, as the course
report's do; the prediction is the output at a name's last letter,
`log_softmax(i2o(cat(one_hot(last letter), hidden before it)))`. A cell class writes only
its layers (`i2o` among them) and `update(input, *state)`, one letter for a batch; `states`
says how many tensors its state holds (the hidden state first). From these the base class
gives `advance()`, the course report's forward verbatim (one letter at a time), and
`forward()`, a padded batch of names of different lengths: the recurrence over packed names
(`recurrence`, autograd computes the gradients), or, where the registry row names a `kernel`,
surnames/kernels.py's hand-written forward and backward loops (an accelerator: `check` and
tests/test_models.py hold it equal to `recurrence`). docs/development.md, "Adding an
architecture", walks through the GRU.
"""
import sys

import torch
import torch.nn.functional as F
from torch import nn

from surnames import kernels, ladder
from surnames.errors import ProjectError


class Cell(nn.Module):
    """What every cell shares: sizes, state shapes, the read-out and both forward paths."""
    states = 1  # tensors in the state; the first is the hidden state that i2o reads

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        # Dropout on the hidden state read at the last letter, in training mode only: a plain
        # float, not a layer, so the printout and state_dict stay the course report's.
        self.hidden_dropout = 0.0
        self.kernel = None  # the accelerator the registry names for this cell (kernels.ACCELERATORS), if any

    def _input_half(self, layer: nn.Linear) -> torch.Tensor:
        """The weights of a layer over cat(one_hot(letter), hidden) that multiply the letter, [letters, out]."""
        return layer.weight[:, : self.input_size].t()

    def _hidden_half(self, layer: nn.Linear) -> torch.Tensor:
        """The weights that multiply the hidden state, [out, hidden]."""
        return layer.weight[:, self.input_size :]

    def update(self, input: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The state after one letter: `input` is one_hot(letter) [B, letters], `state` init_state's shapes."""
        raise NotImplementedError

    def init_state(self, batch: int = 1) -> tuple[torch.Tensor, ...]:
        dtype = self.i2o.weight.dtype
        return tuple(torch.zeros(batch, self.hidden_size, dtype=dtype) for _ in range(self.states))

    def advance(self, input: torch.Tensor, *state: torch.Tensor):
        """The course report's forward: (log-probabilities from this letter and the state before it, the next state)."""
        output = F.log_softmax(self.i2o(torch.cat((input, state[0]), 1)), dim=1)
        return output, *self.update(input, *state)

    def forward(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Log-probabilities [B, outputs] for padded letters [T, B] of names with `lengths`."""
        batch = torch.arange(letters.shape[1])
        hidden = self.hidden_before_last(letters, lengths)
        if self.training and self.hidden_dropout > 0:
            hidden = F.dropout(hidden, self.hidden_dropout, training=True)
        last = letters[lengths - 1, batch]
        # i2o on a one-hot letter is a column lookup: the same sum as i2o(cat(one_hot, hidden))
        from_letter = self.i2o.bias + F.embedding(last, self._input_half(self.i2o))
        logits = torch.addmm(from_letter, hidden, self._hidden_half(self.i2o).t())
        return F.log_softmax(logits, dim=1)

    def hidden_before_last(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Hidden state after each name's first len-1 letters (zeros for one-letter names)."""
        if self.kernel is not None:
            return kernels.ACCELERATORS[self.kernel](self, letters, lengths - 1)
        return self.recurrence(letters, lengths - 1)

    def recurrence(self, letters: torch.Tensor, consumed: torch.Tensor) -> torch.Tensor:
        """update() over packed names, for autograd: names sorted longest first, so at letter t
        only the first names still run; each name's hidden state after its own `consumed` letters."""
        order = torch.argsort(consumed, descending=True, stable=True)
        steps, letters = consumed[order], letters[:, order]
        longest = int(steps[0]) if len(steps) else 0
        running_at = steps.unsqueeze(0) > torch.arange(longest).unsqueeze(1)  # [letter, name]: still running
        state, running, finished = self.init_state(len(steps)), len(steps), []
        for t, still in enumerate(running_at.sum(1).tolist()):
            if still < running:  # the shortest names are done: keep their hidden states
                finished.append(state[0][still:running])
                state, running = tuple(s[:still] for s in state), still
            state = self.update(F.one_hot(letters[t, :running], self.input_size).to(state[0].dtype), *state)
        hidden = torch.cat([state[0], *reversed(finished)])
        return hidden[torch.argsort(order)]


class RNN(Cell):
    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__(input_size, hidden_size)
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(input_size + hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)  # the course report's printout; forward uses F.log_softmax

    def update(self, input: torch.Tensor, hidden: torch.Tensor):
        return (self.i2h(torch.cat((input, hidden), 1)),)  # the course RNN is linear: no squashing


class TanhRNN(RNN):
    """The course RNN with one change: hidden = tanh(i2h(combined)), as in nn.RNN."""

    def update(self, input: torch.Tensor, hidden: torch.Tensor):
        return (torch.tanh(self.i2h(torch.cat((input, hidden), 1))),)


class LSTM(Cell):
    states = 2  # hidden, memory (the "cell state" c)
    open_gates: tuple[str, ...] = ()  # "input" / "forget" / "output": held at 1 by an ablation cell, no layer

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__(input_size, hidden_size)
        combined = input_size + hidden_size
        self.i2i = None if "input" in self.open_gates else nn.Linear(combined, hidden_size)
        self.i2o = nn.Linear(combined, output_size)
        self.i2f = None if "forget" in self.open_gates else nn.Linear(combined, hidden_size)
        self.i2c = nn.Linear(combined, hidden_size)
        self.i2g = None if "output" in self.open_gates else nn.Linear(combined, hidden_size)
        self.softmax = nn.LogSoftmax(dim=1)  # the course report's printout; forward uses F.log_softmax

    def update(self, input: torch.Tensor, hidden: torch.Tensor, memory: torch.Tensor):
        combined = torch.cat((input, hidden), 1)
        input_gate = torch.sigmoid(self.i2i(combined)) if self.i2i is not None else 1.0
        forget_gate = torch.sigmoid(self.i2f(combined)) if self.i2f is not None else 1.0
        candidate = torch.tanh(self.i2c(combined))
        output_gate = torch.sigmoid(self.i2g(combined)) if self.i2g is not None else 1.0
        memory = forget_gate * memory + input_gate * candidate
        return output_gate * torch.tanh(memory), memory


class LSTMForgetOpen(LSTM):
    """The course LSTM with its forget gate fixed open (f = 1): its memory only accumulates."""
    open_gates = ("forget",)


class LSTMOutputOpen(LSTM):
    """The course LSTM with its output gate fixed open (o = 1): hidden = tanh(memory)."""
    open_gates = ("output",)


class LSTMGatesOpen(LSTM):
    """The LSTM's memory cell without gates (i = f = o = 1): c_t = c_{t-1} + g_t, h_t = tanh(c_t)."""
    open_gates = ("input", "forget", "output")


class GRU(Cell):
    """torch.nn.GRU's update (Cho et al. 2014, reset gate applied after the hidden product as
    nn.GRU does) in the course's style: r = σ(i2r(combined)), z = σ(i2z(combined)),
    n = tanh(i2n(input) + r * h2n(hidden)), hidden = (1 - z) * n + z * hidden."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__(input_size, hidden_size)
        combined = input_size + hidden_size
        self.i2r = nn.Linear(combined, hidden_size)
        self.i2z = nn.Linear(combined, hidden_size)
        self.i2n = nn.Linear(input_size, hidden_size)
        self.h2n = nn.Linear(hidden_size, hidden_size)
        self.i2o = nn.Linear(combined, output_size)

    def update(self, input: torch.Tensor, hidden: torch.Tensor):
        combined = torch.cat((input, hidden), 1)
        reset, keep = torch.sigmoid(self.i2r(combined)), torch.sigmoid(self.i2z(combined))
        new = torch.tanh(self.i2n(input) + reset * self.h2n(hidden))
        return ((1 - keep) * new + keep * hidden,)


CELLS = ladder.RUNGS  # every cell of the registry, by name


def architecture(name: str) -> type[Cell]:
    """The class a registry row names: a Cell subclass defined in this module."""
    if name not in ladder.REGISTERED.cells:
        raise ProjectError(f"unknown cell {name!r}: expected one of {', '.join(CELLS)} ({ladder.REGISTRY})")
    wanted = ladder.REGISTERED.cells[name].architecture
    found = getattr(sys.modules[__name__], wanted, None)
    if not (isinstance(found, type) and issubclass(found, Cell) and found is not Cell):
        known = [n for n, c in vars(sys.modules[__name__]).items()
                 if isinstance(c, type) and issubclass(c, Cell) and c is not Cell]
        raise ProjectError(f"{ladder.REGISTRY}: cell {name!r} names architecture {wanted!r}, which is not a cell class "
                           f"of surnames/cells.py ({', '.join(known)}); define that class there or fix the row")
    return found


def build(model: str, input_size: int, hidden_size: int, output_size: int) -> Cell:
    cell = architecture(model)(input_size, hidden_size, output_size)
    cell.kernel = ladder.REGISTERED.cells[model].kernel
    return cell


def check(name: str) -> None:
    """One line naming the registry row and the fix unless its class runs: it builds, update()
    returns init_state's shapes, the recurrence over names of several lengths has gradients,
    and the kernel the row names computes what update() does (outputs and gradients). On a tiny
    model in float64, the global random state untouched (training seeds it later)."""
    cls, row = architecture(name), ladder.REGISTERED.cells[name]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        letters, consumed = torch.randint(0, 7, (6, 4)), torch.tensor([5, 0, 2, 3])
        model = _run(name, f"{cls.__name__}(7 letters, 5 hidden, 3 outputs)", lambda: cls(7, 5, 3).double())
        state = _run(name, f"{cls.__name__}.init_state", lambda: model.init_state(4))
        new = _run(name, f"{cls.__name__}.update on a batch of 4 names",
                   lambda: model.update(F.one_hot(letters[0], 7).double(), *state))
        shapes = [tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__ for t in new] \
            if isinstance(new, (tuple, list)) else [type(new).__name__]
        expected = [tuple(t.shape) for t in state]
        if shapes != expected:
            raise ProjectError(f"{ladder.REGISTRY}: cell {name!r}: {cls.__name__}.update returns {shapes}, not "
                               f"init_state's {expected}; return the new state as a tuple, hidden state first")
        grads = _run(name, f"{cls.__name__}'s recurrence and its gradients",
                     lambda: _gradients(model, model.recurrence, letters, consumed))
        if row.kernel is not None:
            _check_kernel(name, row.kernel, model, letters, consumed, grads)


def _run(name: str, what: str, call):
    try:
        return call()
    except Exception as error:  # noqa: BLE001 -- any failure of a user's class is reported, in one line
        raise ProjectError(f"{ladder.REGISTRY}: cell {name!r}: {what} fails ({type(error).__name__}: "
                           f"{_first_line(error)}); fix the class") from None


def _gradients(model: Cell, recurrence, letters, consumed) -> list[torch.Tensor]:
    """The recurrence's hidden states, then every parameter's gradient of their sum."""
    model.zero_grad()
    hidden = recurrence(letters, consumed)
    hidden.sum().backward()
    return [hidden.detach(), *(torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in model.parameters())]


def _check_kernel(name, kernel, model, letters, consumed, expected: list[torch.Tensor]) -> None:
    where = f"{ladder.REGISTRY}: cell {name!r}: kernel {kernel!r}"
    if kernel not in kernels.ACCELERATORS:
        raise ProjectError(f"{where} is not one of {', '.join(kernels.ACCELERATORS)}; remove `kernel` from the row "
                           "(autograd then trains it)")
    try:
        fast = _gradients(model, lambda *args: kernels.ACCELERATORS[kernel](model, *args), letters, consumed)
    except Exception as error:  # noqa: BLE001 -- a kernel that does not fit the class's layers
        raise ProjectError(f"{where} does not fit class {type(model).__name__} ({type(error).__name__}: "
                           f"{_first_line(error)}); remove `kernel` from the row (autograd then trains it)") from None
    if any(a.shape != b.shape or not torch.allclose(a, b, atol=1e-9) for a, b in zip(fast, expected)):
        raise ProjectError(f"{where} computes other values than {type(model).__name__}.update; remove `kernel` from "
                           "the row (autograd then trains it) or name the kernel of that update")


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [""])[0][:160]


def check_registry() -> None:
    for name in CELLS:
        check(name)


def letter_by_letter(model: Cell, letters: torch.Tensor, track_hidden: bool = False,
                     lengths: torch.Tensor | None = None):
    """The course report's computation, advance() letter by letter: letters [T, B].

    Returns the outputs at the last letter [B, classes] and the hidden state read at each
    letter; with `track_hidden` the first state requires grad, so gradients reach all of
    them. Each name's output depends on its own states only, so the gradient of a sum of
    per-name losses gives each name's own gradients. Without `lengths` every name has T
    letters; with them, names of several lengths are right-aligned (name b's letters are the
    last lengths[b] rows, whatever comes before is ignored): a name's state stays the initial
    one until its first letter, so all names end, and are read, at the last row.
    """
    state, hiddens = model.init_state(letters.shape[1]), []
    state[0].requires_grad_(track_hidden)
    for row, letter in enumerate(letters):
        hiddens.append(state[0])
        output, *advanced = model.advance(F.one_hot(letter, model.input_size).float(), *state)
        if lengths is None:
            state = advanced
        else:  # torch.where: a name not yet started keeps its state exactly, and its gradient
            started = (lengths >= len(letters) - row).unsqueeze(1)
            state = [torch.where(started, new, old) for new, old in zip(advanced, state)]
    return output, hiddens
