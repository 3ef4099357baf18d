"""Training throughput of every cell against the matmul limit and PyTorch's own layers, in one run.

For each cell (course RNN and LSTM, and the ladder's other cells), at its params.yaml
hidden size, batch size, optimizer and gradient clipping, on fold 0's train names under the
balanced draw, one thread unless --threads says otherwise:

- project: the training loop's own step (surnames.step.optimizer_step: one-hot lookups, the
  cell's recurrence, fused Adam), samples (names) per second, once per path: the hand-written
  BPTT of surnames/kernels.py where the cell's registry row names a kernel, and autograd over the
  cell's own update() (every cell; the only path of a cell without a kernel).
- FLOP/sample: the cell's necessary work per name: forward, input-gradient and
  weight-gradient products of the recurrence (G x H weights, G the rows of its layers that read
  the hidden state) over the letters that read a state (a name of L letters: L - 2 products;
  the first letter reads zeros and one-hot inputs are row lookups), plus the read-out's three products.
- limit: the samples/s that sgemm reaches on those products at the cell's own shapes,
  measured in this run ([B, H] x [H, G], [B, G] x [G, H], [G, N] x [N, H] for N rows of a
  batch), i.e. the step's FLOPs at that rate and nothing else; fraction = project / limit.
- peer: what a PyTorch user would write: nn.Embedding + nn.LSTM (the course LSTM), nn.GRU
  (the GRU) or nn.RNN(nonlinearity="tanh") (the RNN cells; nn.RNN has no linear kind) + a Linear
  read-out, same hidden size, batch, optimizer and clipping, over a padded batch (each name's
  output read at its last letter) and over a packed one; ratio = project / the faster of the two.
  An LSTM with gates held open has fewer weight blocks than nn.LSTM: no peer.
- course-style (--course-style): one name per optimizer step through the cell's advance(), a
  Python loop over its letters (the course report's train()).

Reports medians over --repeats timed windows of --seconds each. Run it on a quiet machine:
`make bench` (about 2 minutes) or `python -m benchmarks.train_speed --models lstm`.
"""
import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from surnames import cells, dvc_yaml, grid
from surnames.alphabet import N_LETTERS
from surnames.data import Encoded, Sampler, fold_name, read_categories, read_split
from surnames.memory import keep_freed_memory
from surnames.params import read_params
from surnames.step import Optimizer, optimizer_step

COURSE_OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}  # the course loop's: torch.optim, unfused

# What a PyTorch user would write for each family of cells, by class, with its gate blocks: a cell
# whose recurrent width differs (an LSTM with gates held open) has no peer.
PEERS = {cells.LSTM: ("nn.LSTM", torch.nn.LSTM, {}, 4), cells.GRU: ("nn.GRU", torch.nn.GRU, {}, 3),
         cells.RNN: ("nn.RNN tanh", torch.nn.RNN, {"nonlinearity": "tanh"}, 1)}


def peer_of(model: cells.Cell):
    """(name, layer, options) of the first PEERS class in the cell's class hierarchy, if its width matches."""
    peer = next((PEERS[c] for c in type(model).__mro__ if c in PEERS), None)
    return peer[:3] if peer and peer[3] * model.hidden_size == recurrent_width(model) else None


def recurrent_width(model: cells.Cell) -> int:
    """G: the rows of the cell's weights that multiply the hidden state at every letter (the
    layers other than i2o that read cat(input, hidden) or the hidden state alone)."""
    # a layer of hidden_size inputs reads the hidden state unless it is as wide as the letters (ambiguous: not counted)
    reads_hidden = {model.input_size + model.hidden_size} | ({model.hidden_size} - {model.input_size})
    return sum(layer.out_features for name, layer in model.named_children()
               if isinstance(layer, torch.nn.Linear) and name != "i2o" and layer.in_features in reads_hidden)


def course_style_step(model, optimizer, encoded: Encoded, row: int) -> None:
    length = int(encoded.lengths[row])
    letters = torch.zeros(length, 1, N_LETTERS)  # the course report's lineToTensor
    letters[torch.arange(length), 0, encoded.letters[:length, row]] = 1.0
    state = model.init_state(1)
    optimizer.zero_grad()
    for t in range(length):
        output, *state = model.advance(letters[t], *state)
    F.nll_loss(output, encoded.targets[row : row + 1]).backward()
    optimizer.step()


class Peer(torch.nn.Module):
    """The usual PyTorch way: an embedding as wide as the one-hot input, nn.LSTM or a tanh
    nn.RNN over the whole name, a Linear read-out of the last letter's hidden state."""

    def __init__(self, layer, options: dict, letters: int, hidden_size: int, classes: int, packed: bool):
        super().__init__()
        self.embedding = torch.nn.Embedding(letters, letters)
        self.recurrence = layer(letters, hidden_size, **options)
        self.readout = torch.nn.Linear(hidden_size, classes)
        self.packed = packed

    def forward(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        inputs = self.embedding(letters)
        if self.packed:
            _, state = self.recurrence(pack_padded_sequence(inputs, lengths, enforce_sorted=False))
            last = (state[0] if isinstance(state, tuple) else state)[-1]
        else:
            outputs, _ = self.recurrence(inputs)
            last = outputs[lengths - 1, torch.arange(len(lengths))]
        return F.log_softmax(self.readout(last), dim=1)


def samples_per_second(step, batch: int, seconds: float, repeats: int) -> float:
    """Median over `repeats` windows of calling step() for about `seconds` each."""
    for _ in range(3):
        step()  # warm-up: allocator, caches
    rates = []
    for _ in range(repeats):
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            step()
            done += batch
        rates.append(done / (time.perf_counter() - started))
    return statistics.median(rates)


def flops_per_sample(width: int, hidden: int, classes: int, lengths: torch.Tensor) -> float:
    """The necessary FLOPs per name (see the module docstring) for names of these lengths."""
    products = float((lengths - 2).clamp(min=0).double().mean())
    return 3 * 2 * hidden * width * products + 3 * 2 * hidden * classes


def sgemm_rate(width: int, hidden: int, batch: int, rows: int, seconds: float, repeats: int) -> float:
    """FLOP/s of the step's three product shapes, run back to back (median of windows)."""
    a, w_t = torch.randn(batch, hidden), torch.randn(hidden, width)
    grad, w = torch.randn(batch, width), torch.randn(width, hidden)
    grad_rows, states = torch.randn(rows, width), torch.randn(rows, hidden)
    out, out_grad = torch.empty(batch, width), torch.empty(batch, hidden)

    def products():
        torch.mm(a, w_t, out=out)
        torch.mm(grad, w, out=out_grad)
        grad_rows.t().mm(states)

    work = 2 * batch * hidden * width * 2 + 2 * rows * width * hidden
    return samples_per_second(products, 1, seconds, repeats) * work


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the stages' 1-thread fold processes)")
    parser.add_argument("--models", nargs="+", default=list(cells.CELLS), choices=list(cells.CELLS))
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--course-style", action="store_true", help="also time the one-name-per-step loop")
    args = parser.parse_args()
    keep_freed_memory()  # as the training stage does (surnames/memory.py)
    torch.set_num_threads(args.threads)
    # the prepared folder is the train stages' input from prepare, as dvc.yaml says
    (prepared,) = set(dvc_yaml.outs("prepare")) & set(dvc_yaml.deps("train_rnn"))
    categories = read_categories(prepared)
    encoded = Encoded(read_split(Path(prepared) / fold_name(0), "train", categories), categories)  # fold 0's
    print(f"{args.threads} thread(s); fold 0's train names, balanced draw; median of {args.repeats} windows of "
          f"{args.seconds:g} s")
    print(f"{'cell (path)':28} {'batch':>5} {'samples/s':>10} {'FLOP/sample':>12} {'sgemm GF/s':>10} {'limit/s':>9} "
          f"{'fraction':>8}   {'peer':12} {'padded/s':>9} {'packed/s':>9} {'ratio':>6}"
          + (f" {'course/s':>9}" if args.course_style else ""))
    for name in args.models:
        params = grid.cell_training(name, read_params())
        hidden, batch = params["hidden_size"], params["batch_size"]
        sampler = Sampler(encoded, "balanced", torch.Generator().manual_seed(0))
        draws = [encoded.batch(sampler.draw(batch)) for _ in range(64)]  # the same batches for every contender
        cycle = iter(range(10**12))

        def next_batch():
            return draws[next(cycle) % len(draws)]

        def timed(model):  # the training loop's step: loss, check, backward, clipping, the optimizer
            optimizer = Optimizer(params["optimizer"], model.parameters(), params["lr"])
            return samples_per_second(lambda: optimizer_step(model, optimizer, next_batch(), params["grad_clip"],
                                                             0, name), batch, args.seconds, args.repeats)

        torch.manual_seed(0)
        model = cells.build(name, N_LETTERS, hidden, len(categories))
        lengths = torch.cat([lengths for _, lengths, _ in draws])
        flops = flops_per_sample(recurrent_width(model), hidden, len(categories), lengths)
        rows = int(round(batch * float((lengths - 2).clamp(min=0).double().mean())))
        limit = sgemm_rate(recurrent_width(model), hidden, batch, rows, args.seconds, args.repeats) / flops
        peer = peer_of(model)
        peers = [timed(Peer(peer[1], peer[2], N_LETTERS, hidden, len(categories), packed))
                 for packed in (False, True)] if peer else []
        paths = [model.kernel, None] if model.kernel else [None]  # a kernel cell also through autograd
        for path in paths:
            torch.manual_seed(0)
            model = cells.build(name, N_LETTERS, hidden, len(categories))
            model.kernel = path
            rate = timed(model)
            label = f"{name} ({path or 'autograd'})"
            compared = f"{peer[0]:12} {peers[0]:9,.0f} {peers[1]:9,.0f} {rate / max(peers):5.2f}x" if peer else \
                f"{'-':12} {'-':>9} {'-':>9} {'-':>6}"
            line = (f"{label:28} {batch:5} {rate:10,.0f} {flops / 1e6:9.2f} M {limit * flops / 1e9:10.1f} "
                    f"{limit:9,.0f} {rate / limit:8.2f}   {compared}")
            if args.course_style:
                optimizer = COURSE_OPTIMIZERS[params["optimizer"]](model.parameters(), lr=params["lr"])
                course = samples_per_second(lambda: course_style_step(model, optimizer, encoded,
                                                                      int(sampler.draw(1))), 1, args.seconds,
                                            args.repeats)
                line += f" {course:9,.0f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
