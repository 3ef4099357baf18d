"""The course report's two cells and the ladder's other cells, each with a batched forward pass.

The ladder's other cells (surnames/registry.yaml, docs/method.md) are each one change from a
course cell: the tanh RNN squashes the RNN's state (`TanhRNN`, also at the LSTM's parameter
count: a params choice, `budgets.hidden_size.wide_tanh_rnn`), and two LSTMs hold one gate open
at 1 (`LSTM.open_gates`), which removes that gate's layer.

Both read `combined = cat(one_hot(letter), hidden)` at every letter; the prediction is the
output at a name's last letter, `softmax(i2o(cat(one_hot(last letter), hidden before it)))`.
`advance()` is the course report's forward verbatim (one letter, one name at a time); `forward()`
computes the same thing for a padded batch of names of different lengths, faster:
a Linear layer applied to a one-hot vector is a column lookup, the LSTM's four gates are
one matrix product, and the recurrence runs in surnames/kernels.py with a hand-written
backward pass. tests/test_models.py checks that both paths agree.
"""
import torch
import torch.nn.functional as F
from torch import nn

from surnames import kernels, ladder
from surnames.errors import ProjectError


class Cell(nn.Module):
    """What both cells share: sizes, the read-out at the last letter, and state shapes."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        # Dropout on the hidden state read at the last letter, in training mode only: a plain
        # float, not a layer, so the printout and state_dict stay the course report's.
        self.hidden_dropout = 0.0

    def _input_half(self, layer: nn.Linear) -> torch.Tensor:
        """The weights that multiply one_hot(letter), as a [letters, out] lookup table."""
        return layer.weight[:, : self.input_size].t()

    def _hidden_half(self, layer: nn.Linear) -> torch.Tensor:
        """The weights that multiply the hidden state, [out, hidden]."""
        return layer.weight[:, self.input_size :]

    def forward(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Log-probabilities [B, outputs] for padded letters [T, B] of names with `lengths`."""
        batch = torch.arange(letters.shape[1])
        hidden = self.hidden_before_last(letters, lengths)
        if self.training and self.hidden_dropout > 0:
            hidden = F.dropout(hidden, self.hidden_dropout, training=True)
        last = letters[lengths - 1, batch]
        from_letter = self.i2o.bias + F.embedding(last, self._input_half(self.i2o))
        logits = torch.addmm(from_letter, hidden, self._hidden_half(self.i2o).t())
        return self.softmax(logits)


class RNN(Cell):
    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__(input_size, hidden_size)
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(input_size + hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def advance(self, input: torch.Tensor, hidden: torch.Tensor):
        combined = torch.cat((input, hidden), 1)
        hidden = self.i2h(combined)  # the course RNN is linear: no squashing non-linearity
        output = self.softmax(self.i2o(combined))
        return output, hidden

    def init_state(self, batch: int = 1):
        return (torch.zeros(batch, self.hidden_size),)

    def hidden_before_last(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Hidden state after each name's first len-1 letters (zeros for one-letter names)."""
        return kernels.linear_recurrence(self.i2h.weight, self.i2h.bias, self.input_size, letters, lengths - 1)


class TanhRNN(RNN):
    """The course RNN with one change: hidden = tanh(i2h(combined)), as in nn.RNN."""

    def advance(self, input: torch.Tensor, hidden: torch.Tensor):
        output, hidden = super().advance(input, hidden)
        return output, torch.tanh(hidden)

    def hidden_before_last(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return kernels.tanh_recurrence(self.i2h.weight, self.i2h.bias, self.input_size, letters, lengths - 1)


class LSTM(Cell):
    open_gates: tuple[str, ...] = ()  # "forget" / "output": held at 1 by an ablation cell, no layer

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__(input_size, hidden_size)
        combined = input_size + hidden_size
        self.i2i = nn.Linear(combined, hidden_size)
        self.i2o = nn.Linear(combined, output_size)
        self.i2f = None if "forget" in self.open_gates else nn.Linear(combined, hidden_size)
        self.i2c = nn.Linear(combined, hidden_size)
        self.i2g = None if "output" in self.open_gates else nn.Linear(combined, hidden_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def advance(self, input: torch.Tensor, hidden: torch.Tensor, memory: torch.Tensor):
        combined = torch.cat((input, hidden), 1)
        input_gate = torch.sigmoid(self.i2i(combined))
        forget_gate = torch.sigmoid(self.i2f(combined)) if self.i2f is not None else 1.0
        candidate = torch.tanh(self.i2c(combined))
        output_gate = torch.sigmoid(self.i2g(combined)) if self.i2g is not None else 1.0
        memory = forget_gate * memory + input_gate * candidate  # the LSTM's memory c ("cell state")
        hidden = output_gate * torch.tanh(memory)
        output = self.softmax(self.i2o(combined))
        return output, hidden, memory

    def init_state(self, batch: int = 1):
        return torch.zeros(batch, self.hidden_size), torch.zeros(batch, self.hidden_size)

    def hidden_before_last(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Hidden state after each name's first len-1 letters (the last letter's state is never read)."""
        # the kernel's order: the sigmoid gates (input, forget, output), then the candidate
        gates = [gate for gate in (self.i2i, self.i2f, self.i2g, self.i2c) if gate is not None]
        weight = torch.cat([gate.weight for gate in gates])
        bias = torch.cat([gate.bias for gate in gates])
        return kernels.lstm_recurrence(weight, bias, self.input_size, letters, lengths - 1,
                                       self.i2f is not None, self.i2g is not None)


class LSTMForgetOpen(LSTM):
    """The course LSTM with its forget gate fixed open (f = 1): its memory only accumulates."""
    open_gates = ("forget",)


class LSTMOutputOpen(LSTM):
    """The course LSTM with its output gate fixed open (o = 1): hidden = tanh(memory)."""
    open_gates = ("output",)


# The classes a row of surnames/registry.yaml may name as its architecture.
ARCHITECTURES = {"rnn": RNN, "lstm": LSTM, "tanh_rnn": TanhRNN,
                 "lstm_forget_open": LSTMForgetOpen, "lstm_output_open": LSTMOutputOpen}
_unknown = sorted({c.architecture for c in ladder.REGISTERED.cells.values()} - set(ARCHITECTURES))
if _unknown:
    raise ProjectError(f"{ladder.REGISTRY}: architecture {', '.join(_unknown)} is not one of "
                       f"{', '.join(ARCHITECTURES)}")
# Every cell of the registry, by name: its class.
CELLS = {name: ARCHITECTURES[cell.architecture] for name, cell in ladder.REGISTERED.cells.items()}


def build(model: str, input_size: int, hidden_size: int, output_size: int) -> Cell:
    return CELLS[model](input_size, hidden_size, output_size)


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
