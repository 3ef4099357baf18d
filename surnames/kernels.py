"""Whole-name recurrences with hand-written backward passes (BPTT) for the course cells and
the ablation cells (surnames/cells.py).

Autograd records a dozen small ops per letter; for names of ~7 letters in batches of a few
hundred that bookkeeping, not arithmetic, dominates on a CPU. These functions run the
recurrence with autograd off and compute every gradient in one reverse loop plus a few
large products. Without gradients (prediction) they save nothing for a backward pass.

Packed layout (as PyTorch's packed sequences): rows sorted by `consumed` (the letters each name consumes),
longest first, so at position t only the first `running[t]` rows are still running. Every
buffer holds one row per (name, position), position after position with no padding, and a
row's state stays where it was computed: the state position t reads is the first `running[t]`
rows of position t - 1's block. Position 0 reads the zero state, so it has no product with the hidden weights;
nor has the backward pass there, nor the weight gradient: those products would be zeros.

Inputs: `weight` [G, letters + H] and `bias` [G] of the cell's layers applied to
cat(one_hot(letter), hidden) (G = H for an RNN; an LSTM's gate layers stacked in the order
input, forget, output, candidate, so the sigmoid gates are one block), `letters` [T, B]
padded letter indices and `consumed` [B]. Output: each row's hidden state after its own
`consumed` letters (zeros when consumed = 0). tests/test_models.py checks values and gradients
against the letter-by-letter course computation and gradcheck.

Each loop runs in C where surnames/native.py could build its library (`compiled`: one call
per recurrence, the elementwise work fused, no dispatch), else in torch operations below;
both compute the same values to float rounding, and the tests run both.
"""
from dataclasses import dataclass

import torch

from surnames import native


@dataclass
class _Packed:
    letters: torch.Tensor   # [N] the letter each (name, position) row consumes
    running: list[int]      # names still running at each position
    starts: list[int]       # where each position's block of rows begins
    previous: torch.Tensor  # [N - running[0]] for each row after position 0: its name's row one position earlier
    last: torch.Tensor      # [B] each name's (original order) row at its last position; N when it consumes none
    index: torch.Tensor | None = None  # [2, positions] running and starts, for the C loops (compiled only)


def _pack(letters: torch.Tensor, consumed: torch.Tensor, compiled: bool) -> _Packed:
    if compiled:
        index, packed, previous, last = native.pack(letters, consumed)
        running, starts = index.tolist()
        return _Packed(packed, running, starts, previous, last, index)
    order = torch.argsort(consumed, descending=True, stable=True)
    sorted_consumed = consumed[order]
    counts = torch.bincount(consumed, minlength=int(consumed.max()) + 1)
    running_t = (counts.sum() - torch.cumsum(counts, 0))[:-1]  # names with consumed > t
    starts_t = torch.cumsum(running_t, 0) - running_t
    mask = torch.arange(len(running_t)).unsqueeze(1) < sorted_consumed.unsqueeze(0)  # [T, B]
    position_of = torch.repeat_interleave(torch.arange(len(running_t)), running_t)  # each row's position
    rank = torch.arange(len(position_of)) - starts_t[position_of]  # each row's name, in sorted order
    later = position_of > 0
    previous = starts_t[position_of[later] - 1] + rank[later]
    last_row = starts_t[(sorted_consumed - 1).clamp(min=0)] + torch.arange(len(order))
    last_sorted = torch.where(sorted_consumed > 0, last_row, len(position_of))
    last = torch.empty_like(last_sorted).index_copy_(0, order, last_sorted)
    return _Packed(letters[: len(running_t)][:, order].masked_select(mask), running_t.tolist(), starts_t.tolist(),
                   previous, last)


def _blocks(packed: _Packed):
    """(position, rows running, its rows, the previous position's rows that it reads)."""
    before = None
    for t, (n, start) in enumerate(zip(packed.running, packed.starts)):
        rows = slice(start, start + n)
        yield t, n, rows, before
        before = slice(start, start + (packed.running[t + 1] if t + 1 < len(packed.running) else 0))


def _inputs(weight, bias, input_size, packed, doubled: slice):
    """The letters' pre-activations [N, G] (a Linear layer applied to a one-hot letter is a
    row lookup) and the hidden weights transposed, [H, G], contiguous for the products; the
    `doubled` columns are 2x (exactly: a power of two), for _tanh."""
    table, w_t, bias = weight[:, :input_size].t().contiguous(), weight[:, input_size:].t().contiguous(), bias.clone()
    for tensor in (table, w_t, bias.unsqueeze(0)):
        tensor[:, doubled] *= 2
    return table.index_select(0, packed.letters).add_(bias), w_t


def _tanh(doubled: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """tanh(a) from 2a, as 2 sigmoid(2a) - 1 (the same to 2e-7), into `out` (may be `doubled`):
    torch's CPU tanh runs about 7x slower than its sigmoid here, the largest cost after the products."""
    return torch.sigmoid(doubled, out=out).mul_(2).sub_(1)


def _final(states: torch.Tensor, packed: _Packed) -> torch.Tensor:
    """Each name's state at its last position [B, H] (zeros for names that consume none)."""
    none = packed.last == len(states)
    return states.index_select(0, packed.last.masked_fill(none, 0)).masked_fill_(none.unsqueeze(1), 0)


def _output_grads(grad_final: torch.Tensor, packed: _Packed) -> torch.Tensor:
    """d loss / d state [N, H], packed: the incoming gradient at each name's last row."""
    grad = grad_final.new_zeros(len(packed.letters) + 1, grad_final.shape[1])
    return grad.index_copy_(0, packed.last, grad_final)[:-1]


def _weight_grads(grad_pre, states, packed, input_size, compiled):
    """Gradients of weight [G, letters + H] and bias from the packed pre-activation gradients
    [N, G] and the states [N, H] each position produced (position 0 read zeros: no term)."""
    if compiled:
        return native.weight_grads(grad_pre, states, input_size, packed.letters, packed.index)
    grad_table = grad_pre.new_zeros(input_size, grad_pre.shape[1]).index_add_(0, packed.letters, grad_pre)
    grad_hidden = grad_pre[packed.running[0]:].t().mm(states.index_select(0, packed.previous))
    return torch.cat([grad_table.t(), grad_hidden], 1), grad_pre.sum(0)


# The course RNN: h_t = W [one_hot(letter_t), h_{t-1}] + b (no non-linearity).

def _linear_forward(weight, bias, input_size, packed, compiled):
    if compiled:
        states = native.inputs(weight, bias, input_size, packed.letters)
        native.linear_forward(states, weight, input_size, packed.index)
        return (states,)
    states, w_t = _inputs(weight, bias, input_size, packed, slice(0, 0))  # pre-activations become the states
    for t, n, rows, before in _blocks(packed):
        if t:
            states[rows].addmm_(states[before], w_t)
    return (states,)


class _Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight, bias, input_size, packed, compiled):
        (states,) = _linear_forward(weight, bias, input_size, packed, compiled)
        ctx.save_for_backward(weight, states)
        ctx.input_size, ctx.packed, ctx.compiled = input_size, packed, compiled
        return _final(states, packed)

    @staticmethod
    def backward(ctx, grad_final):
        weight, states = ctx.saved_tensors
        packed = ctx.packed
        grad = _output_grads(grad_final, packed)  # d loss / d state = d loss / d pre-activation
        if ctx.compiled:
            native.linear_backward(grad, weight, ctx.input_size, packed.index)
            return *_weight_grads(grad, states, packed, ctx.input_size, True), None, None, None
        w_hidden = weight[:, ctx.input_size:].contiguous()
        for t, n, rows, before in reversed(list(_blocks(packed))):
            if t:  # `before`'s names run on to position t: no output gradient of their own there, so overwrite
                torch.mm(grad[rows], w_hidden, out=grad[before])
        return *_weight_grads(grad, states, packed, ctx.input_size, False), None, None, None


# The tanh RNN: h_t = tanh(W [one_hot(letter_t), h_{t-1}] + b).

def _tanh_forward(weight, bias, input_size, packed, compiled):
    if compiled:
        states = native.inputs(weight, bias, input_size, packed.letters)
        native.tanh_forward(states, weight, input_size, packed.index)
        return (states,)
    states, w_t = _inputs(weight, bias, input_size, packed, slice(None))
    for t, n, rows, before in _blocks(packed):
        block = states[rows]
        if t:
            block.addmm_(states[before], w_t)
        _tanh(block, out=block)
    return (states,)


class _Tanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight, bias, input_size, packed, compiled):
        (states,) = _tanh_forward(weight, bias, input_size, packed, compiled)
        ctx.save_for_backward(weight, states)
        ctx.input_size, ctx.packed, ctx.compiled = input_size, packed, compiled
        return _final(states, packed)

    @staticmethod
    def backward(ctx, grad_final):
        weight, states = ctx.saved_tensors
        packed = ctx.packed
        grad = _output_grads(grad_final, packed)  # d loss / d state, then / d pre-activation
        if ctx.compiled:
            native.tanh_backward(grad, states, weight, ctx.input_size, packed.index)
            return *_weight_grads(grad, states, packed, ctx.input_size, True), None, None, None
        w_hidden = weight[:, ctx.input_size:].contiguous()
        slope = torch.mul(states, states).neg_().add_(1)  # d tanh / d pre-activation
        for t, n, rows, before in reversed(list(_blocks(packed))):
            grad[rows].mul_(slope[rows])
            if t:
                torch.mm(grad[rows], w_hidden, out=grad[before])
        return *_weight_grads(grad, states, packed, ctx.input_size, False), None, None, None


# The course LSTM: gates i, f, o = sigmoid(...), candidate g = tanh(...),
# c_t = f c_{t-1} + i g, h_t = o tanh(c_t). An ablation cell holds f or o open at 1: no block.

@dataclass
class _Gates:
    """Column blocks of the stacked gates [N, G]: sigmoid gates first, the candidate last."""
    size: int
    forget: bool
    output: bool

    def sigmoids(self) -> slice:
        return slice(0, (1 + self.forget + self.output) * self.size)

    def block(self, gate: str) -> slice:
        index = {"i": 0, "f": 1, "o": 1 + self.forget, "g": 1 + self.forget + self.output}[gate]
        return slice(index * self.size, (index + 1) * self.size)

    def split(self, gates: torch.Tensor):
        """(i, f, o, g) column blocks of `gates`, as views; an open gate's is None."""
        blocks = iter(gates.split(self.size, 1))
        i, f, o = next(blocks), next(blocks) if self.forget else None, next(blocks) if self.output else None
        return i, f, o, next(blocks)


def _lstm_forward(weight, bias, input_size, packed, compiled, gates_of: _Gates):
    """Gate activations [N, G]; the memory states, their tanh and the hidden states [N, H], packed.
    The torch loop keeps the memory state doubled (exactly) so that _tanh reads it as it is."""
    if compiled:
        gates = native.inputs(weight, bias, input_size, packed.letters)
        memories, tanh_memories, states = (gates.new_empty(len(packed.letters), gates_of.size) for _ in range(3))
        native.lstm_forward(gates, weight, input_size, memories, tanh_memories, states, packed.index, gates_of.forget,
                            gates_of.output)
        return gates, memories, tanh_memories, states
    gates, w_t = _inputs(weight, bias, input_size, packed, gates_of.block("g"))  # then activations in place
    memories, tanh_memories = (gates.new_empty(len(packed.letters), gates_of.size) for _ in range(2))
    states = torch.empty_like(memories) if gates_of.output else tanh_memories  # o = 1: h = tanh(c)
    for t, n, rows, before in _blocks(packed):
        block = gates[rows]
        if t:
            block.addmm_(states[before], w_t)
        i, f, o, g = gates_of.split(block.sigmoid_())
        g.mul_(2).sub_(1)  # the candidate's tanh, from the sigmoid of its doubled pre-activation
        memory = memories[rows]
        if not t:
            torch.mul(i, g, out=memory).mul_(2)
        elif f is not None:
            torch.mul(f, memories[before], out=memory).addcmul_(i, g, value=2)
        else:  # f = 1: the memory state only accumulates
            torch.addcmul(memories[before], i, g, value=2, out=memory)
        tanh_memory = _tanh(memory, out=tanh_memories[rows])
        if o is not None:
            torch.mul(o, tanh_memory, out=states[rows])
    return gates, memories, tanh_memories, states


class _LSTM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight, bias, input_size, packed, compiled, gates_of):
        gates, memories, tanh_memories, states = _lstm_forward(weight, bias, input_size, packed, compiled, gates_of)
        ctx.save_for_backward(weight, gates, memories, tanh_memories, states)
        ctx.input_size, ctx.packed, ctx.compiled, ctx.gates_of = input_size, packed, compiled, gates_of
        return _final(states, packed)

    @staticmethod
    def backward(ctx, grad_final):
        weight, gates, memories, tanh_memories, states = ctx.saved_tensors
        packed, gates_of = ctx.packed, ctx.gates_of
        grad_hidden = _output_grads(grad_final, packed)
        grad_memory = grad_final.new_zeros(packed.running[0], gates_of.size)  # the names still running, sorted
        grad_pre = torch.empty_like(gates)
        if ctx.compiled:
            native.lstm_backward(gates, memories, tanh_memories, grad_hidden, grad_memory, grad_pre, weight,
                                 ctx.input_size, packed.index, gates_of.forget, gates_of.output)
            return *_weight_grads(grad_pre, states, packed, ctx.input_size, True), None, None, None, None
        local, from_hidden = _lstm_local(gates, memories, tanh_memories, packed, gates_of)
        w_hidden = weight[:, ctx.input_size:].contiguous()
        blocks, o = local.shape[1] // gates_of.size, gates_of.block("o")
        for t, n, rows, before in reversed(list(_blocks(packed))):
            dh, dc = grad_hidden[rows], grad_memory[:n]
            dc.addcmul_(dh, from_hidden[rows])
            torch.mul(dc.unsqueeze(1), local[rows].view(n, blocks, -1), out=grad_pre[rows].view(n, blocks, -1))
            if gates_of.output:  # the output gate acts on h directly, not through the memory state
                torch.mul(dh, local[rows, o], out=grad_pre[rows, o])
            if t:
                torch.mm(grad_pre[rows], w_hidden, out=grad_hidden[before])
                if gates_of.forget:
                    dc.mul_(gates[rows, gates_of.block("f")])
        return *_weight_grads(grad_pre, states, packed, ctx.input_size, False), None, None, None, None


def _lstm_local(gates, memories, tanh_memories, packed, gates_of: _Gates):
    """What backward needs that does not depend on the incoming gradient, for all rows at
    once: d pre-activation / d (c_t for i, f, g; h_t for o), and d h_t / d c_t."""
    i, f, o, g = (gates_of.block(gate) for gate in "ifog")
    sigmoids, candidate = gates[:, gates_of.sigmoids()], gates[:, g]
    local = torch.empty_like(gates)
    torch.addcmul(sigmoids, sigmoids, sigmoids, value=-1, out=local[:, gates_of.sigmoids()])  # s (1 - s)
    local[:, i].mul_(candidate)
    if gates_of.forget:  # times c_{t-1}: zero at position 0
        local[: packed.running[0], f].zero_()
        local[packed.running[0]:, f].mul_(memories.index_select(0, packed.previous)).mul_(0.5)  # memories are 2c
    torch.mul(candidate, candidate, out=local[:, g])
    torch.addcmul(gates[:, i], gates[:, i], local[:, g], value=-1, out=local[:, g])  # i (1 - g^2)
    from_hidden = torch.mul(tanh_memories, tanh_memories)
    if gates_of.output:
        local[:, o].mul_(tanh_memories)
        torch.addcmul(gates[:, o], gates[:, o], from_hidden, value=-1, out=from_hidden)  # o (1 - tanh^2 c)
    else:
        from_hidden.neg_().add_(1)
    return local, from_hidden


def _run(function, forward, weight, bias, input_size, letters, consumed, *options):
    if int(consumed.max()) == 0:  # every name has one letter: no state is ever updated
        return weight.new_zeros(letters.shape[1], weight.shape[1] - input_size)
    compiled = native.usable(weight, bias)
    packed = _pack(letters, consumed, compiled)
    if torch.is_grad_enabled() and (weight.requires_grad or bias.requires_grad):
        return function.apply(weight, bias, input_size, packed, compiled, *options)
    with torch.no_grad():  # prediction: the forward loop alone, nothing kept for a backward pass
        *_, states = forward(weight, bias, input_size, packed, compiled, *options)
    return _final(states, packed)


def linear_recurrence(weight, bias, input_size: int, letters, consumed) -> torch.Tensor:
    return _run(_Linear, _linear_forward, weight, bias, input_size, letters, consumed)


def tanh_recurrence(weight, bias, input_size: int, letters, consumed) -> torch.Tensor:
    return _run(_Tanh, _tanh_forward, weight, bias, input_size, letters, consumed)


def lstm_recurrence(weight, bias, input_size: int, letters, consumed, forget: bool = True,
                    output: bool = True) -> torch.Tensor:
    """`forget` / `output` False: that gate is held open (1) and has no block in the weights."""
    gates_of = _Gates(weight.shape[1] - input_size, forget, output)
    return _run(_LSTM, _lstm_forward, weight, bias, input_size, letters, consumed, gates_of)


# The accelerators a registry row may name (`kernel:`), each computing a cell's
# hidden_before_last from its layers; cells.check holds each equal to the cell's own update().

def _rnn(recurrence):
    return lambda cell, letters, consumed: recurrence(cell.i2h.weight, cell.i2h.bias, cell.input_size, letters,
                                                      consumed)


def _lstm(cell, letters, consumed) -> torch.Tensor:
    if cell.i2i is None:
        raise ValueError("the lstm kernel needs an input gate (i2i)")
    # the kernel's order: the sigmoid gates (input, forget, output), then the candidate
    gates = [gate for gate in (cell.i2i, cell.i2f, cell.i2g, cell.i2c) if gate is not None]
    weight, bias = torch.cat([gate.weight for gate in gates]), torch.cat([gate.bias for gate in gates])
    return lstm_recurrence(weight, bias, cell.input_size, letters, consumed, cell.i2f is not None,
                           cell.i2g is not None)


ACCELERATORS = {"linear": _rnn(linear_recurrence), "tanh": _rnn(tanh_recurrence), "lstm": _lstm}
