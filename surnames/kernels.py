"""Whole-name recurrences with hand-written backward passes (BPTT) for both course cells.

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


class _LSTMRecurrence(torch.autograd.Function):
    """The course LSTM; gate blocks of `table`, `bias` and `w_hidden` in the order
    (input i2i, forget i2f, candidate i2c, output i2g)."""

    @staticmethod
    def forward(ctx, table, bias, w_hidden, packed, running, batch):
        size = w_hidden.shape[1]
        gates = table.index_select(0, packed).add_(bias)  # [N, 4H] pre-activations, then activations
        before = gates.new_empty(len(packed), size)  # hidden state each step reads
        cell_before, tanh_cell = torch.empty_like(before), torch.empty_like(before)
        hidden, cell = gates.new_zeros(batch, size), gates.new_zeros(batch, size)
        for n, rows in _slices(running):
            before[rows], cell_before[rows] = hidden[:n], cell[:n]
            step = gates[rows].addmm_(hidden[:n], w_hidden.t())
            step[:, : 2 * size].sigmoid_()
            step[:, 2 * size : 3 * size].tanh_()
            step[:, 3 * size :].sigmoid_()
            i, f, g, o = step.chunk(4, 1)
            torch.addcmul(f * cell[:n], i, g, out=cell[:n])
            torch.tanh(cell[:n], out=tanh_cell[rows])
            torch.mul(o, tanh_cell[rows], out=hidden[:n])
        # Everything backward needs that does not depend on the incoming gradient, at once:
        # d cell_t / d hidden_t, d pre-activations / d cell_t (i, f, g), / d hidden_t (o).
        i, f, g, o = gates.chunk(4, 1)
        cell_from_hidden = o * (1 - tanh_cell * tanh_cell)
        local = torch.stack([g * i * (1 - i), cell_before * f * (1 - f), i * (1 - g * g),
                             tanh_cell * o * (1 - o)], 1)  # [N, 4, H]
        ctx.save_for_backward(w_hidden, packed, before, f.contiguous(), cell_from_hidden, local)
        ctx.running, ctx.table_rows = running, table.shape[0]
        return hidden

    @staticmethod
    def backward(ctx, grad_hidden):
        w_hidden, packed, before, forget, cell_from_hidden, local = ctx.saved_tensors
        grad_hidden = grad_hidden.clone()
        grad_cell = torch.zeros_like(grad_hidden)
        grad_gates = torch.empty_like(local)  # [N, 4, H]
        for n, rows in reversed(list(_slices(ctx.running))):
            dh = grad_hidden[:n]
            dc = torch.addcmul(grad_cell[:n], dh, cell_from_hidden[rows])
            torch.mul(dc.unsqueeze(1), local[rows, :3], out=grad_gates[rows, :3])
            torch.mul(dh, local[rows, 3], out=grad_gates[rows, 3])
            torch.mm(grad_gates[rows].view(n, -1), w_hidden, out=grad_hidden[:n])
            torch.mul(dc, forget[rows], out=grad_cell[:n])
        grad_gates = grad_gates.view(len(packed), -1)
        return _weight_grads(grad_gates, before, packed, ctx.table_rows) + (None, None, None)


def _weight_grads(grad_inputs, before, packed, table_rows):
    """Gradients of table, bias and w_hidden from the packed pre-activation gradients."""
    grad_table = grad_inputs.new_zeros(table_rows, grad_inputs.shape[1]).index_add_(0, packed, grad_inputs)
    return grad_table, grad_inputs.sum(0), grad_inputs.t().mm(before)


def _run(function, table, bias, w_hidden, letters, steps):
    if int(steps.max()) == 0:  # every name has one letter: no state is ever updated
        return table.new_zeros(letters.shape[1], w_hidden.shape[1])
    order, running, packed = _pack(letters, steps)
    hidden = function.apply(table, bias, w_hidden, packed, running, letters.shape[1])
    return hidden.index_select(0, torch.argsort(order))


def linear_recurrence(table, bias, w_hidden, letters, steps) -> torch.Tensor:
    return _run(_LinearRecurrence, table, bias, w_hidden, letters, steps)


def lstm_recurrence(table, bias, w_hidden, letters, steps) -> torch.Tensor:
    return _run(_LSTMRecurrence, table, bias, w_hidden, letters, steps)
