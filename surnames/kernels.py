"""Whole-name recurrences with hand-written backward passes (BPTT) for the course cells and
the ablation cells (surnames/cells.py).

Autograd records a dozen small ops per letter; for names of ~7 letters in batches of a few
hundred that bookkeeping, not arithmetic, dominates on a CPU. These functions run the
recurrence with autograd off, in a packed layout, and compute all gradients in one reverse
loop plus three large matrix products.

Packed layout (as PyTorch's packed sequences): rows sorted by `steps` (letters consumed),
longest first, so at letter t only the first `running[t]` rows are still running; row t's
slice of every buffer holds those rows at letter t, with no padding.

Inputs: `table` [letters, G] is the input half of the weights, transposed (a Linear layer
applied to a one-hot letter is one row of it), `bias` [G], `w_hidden` [G, H] the hidden
half, `letters` [T, B] padded letter indices and `steps` [B]. Output: each row's hidden
state after its own `steps` letters (zeros when steps = 0). tests/test_models.py checks
values and gradients against the letter-by-letter course computation and gradcheck.
"""
import torch


def _pack(letters: torch.Tensor, steps: torch.Tensor):
    """(order, running, packed letters) for the rows sorted longest first."""
    order = torch.argsort(steps, descending=True, stable=True)
    counts = torch.bincount(steps, minlength=int(steps.max()) + 1)
    running = (counts.sum() - torch.cumsum(counts, 0))[:-1].tolist()  # rows with steps > t
    sorted_steps = steps[order]
    mask = torch.arange(len(running)).unsqueeze(1) < sorted_steps.unsqueeze(0)  # [T, B]
    return order, running, letters[: len(running)][:, order].masked_select(mask)


def _slices(running: list[int]):
    offset = 0
    for n in running:
        yield n, slice(offset, offset + n)
        offset += n


class _LinearRecurrence(torch.autograd.Function):
    """The course RNN: h_t = table[letter_t] + bias + h_{t-1} @ w_hidden.T (no non-linearity)."""

    @staticmethod
    def forward(ctx, table, bias, w_hidden, packed, running, batch):
        inputs = table.index_select(0, packed).add_(bias)  # [N, H]
        before = torch.empty_like(inputs)  # the state each step reads
        hidden = inputs.new_zeros(batch, w_hidden.shape[1])
        for n, rows in _slices(running):
            before[rows] = hidden[:n]
            hidden[:n] = inputs[rows].addmm_(hidden[:n], w_hidden.t())
        ctx.save_for_backward(w_hidden, packed, before)
        ctx.running, ctx.table_rows = running, table.shape[0]
        return hidden

    @staticmethod
    def backward(ctx, grad_hidden):
        w_hidden, packed, before = ctx.saved_tensors
        grad_hidden = grad_hidden.clone()
        grad_inputs = torch.empty_like(before)
        for n, rows in reversed(list(_slices(ctx.running))):
            grad_inputs[rows] = grad_hidden[:n]
            torch.mm(grad_inputs[rows], w_hidden, out=grad_hidden[:n])
        return _weight_grads(grad_inputs, before, packed, ctx.table_rows) + (None, None, None)


class _TanhRecurrence(torch.autograd.Function):
    """The tanh RNN: h_t = tanh(table[letter_t] + bias + h_{t-1} @ w_hidden.T)."""

    @staticmethod
    def forward(ctx, table, bias, w_hidden, packed, running, batch):
        states = table.index_select(0, packed).add_(bias)  # [N, H] pre-activations, then each step's new state
        before = torch.empty_like(states)  # the state each step reads
        hidden = states.new_zeros(batch, w_hidden.shape[1])
        for n, rows in _slices(running):
            before[rows] = hidden[:n]
            hidden[:n] = states[rows].addmm_(hidden[:n], w_hidden.t()).tanh_()
        ctx.save_for_backward(w_hidden, packed, before, 1 - states * states)  # d state / d pre-activation
        ctx.running, ctx.table_rows = running, table.shape[0]
        return hidden

    @staticmethod
    def backward(ctx, grad_hidden):
        w_hidden, packed, before, slope = ctx.saved_tensors
        grad_hidden = grad_hidden.clone()
        grad_inputs = torch.empty_like(before)
        for n, rows in reversed(list(_slices(ctx.running))):
            torch.mul(grad_hidden[:n], slope[rows], out=grad_inputs[rows])
            torch.mm(grad_inputs[rows], w_hidden, out=grad_hidden[:n])
        return _weight_grads(grad_inputs, before, packed, ctx.table_rows) + (None, None, None)


class _LSTMRecurrence(torch.autograd.Function):
    """The course LSTM; gate blocks of `table`, `bias` and `w_hidden` in the order
    (input i2i, forget i2f, candidate i2c, output i2g). An ablation cell holds the forget or
    the output gate open (`forget` / `output` False): that gate is 1 and has no block."""

    @staticmethod
    def forward(ctx, table, bias, w_hidden, packed, running, batch, forget=True, output=True):
        size = w_hidden.shape[1]
        sigmoid_end = (2 if forget else 1) * size  # i (and f) are sigmoids, then the candidate, then o
        gates = table.index_select(0, packed).add_(bias)  # [N, gates x H] pre-activations, then activations
        before = gates.new_empty(len(packed), size)  # hidden state each step reads
        cell_before, tanh_cell = torch.empty_like(before), torch.empty_like(before)
        hidden, cell = gates.new_zeros(batch, size), gates.new_zeros(batch, size)
        for n, rows in _slices(running):
            before[rows], cell_before[rows] = hidden[:n], cell[:n]
            step = gates[rows].addmm_(hidden[:n], w_hidden.t())
            step[:, :sigmoid_end].sigmoid_()
            step[:, sigmoid_end : sigmoid_end + size].tanh_()
            if output:
                step[:, sigmoid_end + size :].sigmoid_()
            i, f, g, o = _split(step, size, forget, output)
            if forget:
                torch.addcmul(f * cell[:n], i, g, out=cell[:n])
            else:  # f = 1: the cell state only accumulates
                cell[:n].addcmul_(i, g)
            torch.tanh(cell[:n], out=tanh_cell[rows])
            if output:
                torch.mul(o, tanh_cell[rows], out=hidden[:n])
            else:
                hidden[:n] = tanh_cell[rows]
        # Everything backward needs that does not depend on the incoming gradient, at once:
        # d cell_t / d hidden_t, d pre-activations / d cell_t (i, f, g), / d hidden_t (o).
        i, f, g, o = _split(gates, size, forget, output)
        squashed = 1 - tanh_cell * tanh_cell
        cell_from_hidden = o * squashed if output else squashed
        local = [g * i * (1 - i)] + ([cell_before * f * (1 - f)] if forget else []) + [i * (1 - g * g)]
        local = torch.stack(local + ([tanh_cell * o * (1 - o)] if output else []), 1)  # [N, gates, H]
        ctx.save_for_backward(w_hidden, packed, before, f.contiguous() if forget else None, cell_from_hidden, local)
        ctx.running, ctx.table_rows, ctx.output = running, table.shape[0], output
        return hidden

    @staticmethod
    def backward(ctx, grad_hidden):
        w_hidden, packed, before, forget, cell_from_hidden, local = ctx.saved_tensors
        grad_hidden = grad_hidden.clone()
        grad_cell = torch.zeros_like(grad_hidden)
        grad_gates = torch.empty_like(local)  # [N, gates, H]
        cell_gates = local.shape[1] - ctx.output  # i, (f), g: the gates that act through the cell state
        for n, rows in reversed(list(_slices(ctx.running))):
            dh = grad_hidden[:n]
            dc = torch.addcmul(grad_cell[:n], dh, cell_from_hidden[rows])
            torch.mul(dc.unsqueeze(1), local[rows, :cell_gates], out=grad_gates[rows, :cell_gates])
            if ctx.output:
                torch.mul(dh, local[rows, cell_gates], out=grad_gates[rows, cell_gates])
            torch.mm(grad_gates[rows].view(n, -1), w_hidden, out=grad_hidden[:n])
            if forget is None:
                grad_cell[:n] = dc
            else:
                torch.mul(dc, forget[rows], out=grad_cell[:n])
        grad_gates = grad_gates.view(len(packed), -1)
        return _weight_grads(grad_gates, before, packed, ctx.table_rows) + (None,) * 5


def _split(gates: torch.Tensor, size: int, forget: bool, output: bool):
    """(i, f, g, o) column blocks of `gates`; an open gate's block is None."""
    blocks = iter(gates.split(size, 1))
    i = next(blocks)
    f = next(blocks) if forget else None
    g = next(blocks)
    return i, f, g, next(blocks) if output else None


def _weight_grads(grad_inputs, before, packed, table_rows):
    """Gradients of table, bias and w_hidden from the packed pre-activation gradients."""
    grad_table = grad_inputs.new_zeros(table_rows, grad_inputs.shape[1]).index_add_(0, packed, grad_inputs)
    return grad_table, grad_inputs.sum(0), grad_inputs.t().mm(before)


def _run(function, table, bias, w_hidden, letters, steps, *options):
    if int(steps.max()) == 0:  # every name has one letter: no state is ever updated
        return table.new_zeros(letters.shape[1], w_hidden.shape[1])
    order, running, packed = _pack(letters, steps)
    hidden = function.apply(table, bias, w_hidden, packed, running, letters.shape[1], *options)
    return hidden.index_select(0, torch.argsort(order))


def linear_recurrence(table, bias, w_hidden, letters, steps) -> torch.Tensor:
    return _run(_LinearRecurrence, table, bias, w_hidden, letters, steps)


def tanh_recurrence(table, bias, w_hidden, letters, steps) -> torch.Tensor:
    return _run(_TanhRecurrence, table, bias, w_hidden, letters, steps)


def lstm_recurrence(table, bias, w_hidden, letters, steps, forget: bool = True, output: bool = True) -> torch.Tensor:
    """`forget` / `output` False: that gate is held open (1) and has no block in the weights."""
    return _run(_LSTMRecurrence, table, bias, w_hidden, letters, steps, forget, output)
