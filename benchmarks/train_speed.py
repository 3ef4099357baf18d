"""Training throughput: the course-style loop vs the project's batched path, in one run.

course-style: one name per optimizer step, a Python loop over its letters through the cell's
step() with a fresh one-hot tensor per letter (the course report's train()).
project: the training loop's own step (surnames.step.optimizer_step) at the given batch sizes (one-hot lookups,
hand-written BPTT, the params' gradient clipping).

nn.LSTM peer (LSTM only): what a PyTorch user would write instead: nn.Embedding + nn.LSTM
over a packed batch + a Linear read-out, same hidden size, batch, Adam and clipping.

Reports the median samples/s over --repeats timed windows of --seconds each, the ratio
to the course-style loop, and for the LSTM the project's ratio to the peer at the same batch.
Run it on a quiet machine: `make bench` or
`python -m benchmarks.train_speed --threads 2 --batch-sizes 64 256`.
"""
import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from surnames import cells, dvc_yaml
from surnames.alphabet import N_LETTERS
from surnames.data import Encoded, Sampler, fold_name, read_categories, read_split
from surnames.params import load_params
from surnames.step import OPTIMIZERS, optimizer_step


def course_style_step(model, optimizer, encoded: Encoded, row: int) -> None:
    length = int(encoded.lengths[row])
    letters = torch.zeros(length, 1, N_LETTERS)  # the course report's lineToTensor
    letters[torch.arange(length), 0, encoded.letters[:length, row]] = 1.0
    state = model.init_state(1)
    optimizer.zero_grad()
    for t in range(length):
        output, *state = model.step(letters[t], *state)
    F.nll_loss(output, encoded.targets[row : row + 1]).backward()
    optimizer.step()


class PeerLSTM(torch.nn.Module):
    """The usual PyTorch way: embedding (as wide as the one-hot input), cuDNN-style nn.LSTM over
    a packed batch, a Linear read-out of the last hidden state."""

    def __init__(self, letters: int, hidden_size: int, classes: int):
        super().__init__()
        self.embedding = torch.nn.Embedding(letters, letters)
        self.lstm = torch.nn.LSTM(letters, hidden_size)
        self.readout = torch.nn.Linear(hidden_size, classes)

    def forward(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(self.embedding(letters), lengths, enforce_sorted=False)
        _, (hidden, _) = self.lstm(packed)
        return F.log_softmax(self.readout(hidden[-1]), dim=1)


def peer_step(model, optimizer, batch, grad_clip: float) -> None:
    letters, lengths, targets = batch
    loss = F.nll_loss(model(letters, lengths), targets)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()


def samples_per_second(step, batch: int, seconds: float, repeats: int) -> tuple[float, list[float]]:
    """Median over `repeats` windows of calling step() for about `seconds` each."""
    for _ in range(3):
        step()  # warm-up: allocator, autograd caches
    rates = []
    for _ in range(repeats):
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            step()
            done += batch
        rates.append(done / (time.perf_counter() - started))
    return statistics.median(rates), rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: each model's params.yaml threads)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None, help="default: params.yaml batch_size")
    parser.add_argument("--models", nargs="+", default=["rnn", "lstm"])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    # the prepared folder is the train stages' input from prepare, as dvc.yaml says
    (prepared,) = set(dvc_yaml.outs("prepare")) & set(dvc_yaml.deps("train_rnn"))
    categories = read_categories(prepared)
    encoded = Encoded(read_split(Path(prepared) / fold_name(0), "train", categories), categories)  # fold 0's
    print(f"{'model':5} {'path':14} {'threads':>7} {'samples/s (median)':>19} {'ratio':>7}   all windows")
    for name in args.models:
        params = load_params(f"train_{name}")
        threads = args.threads or params["threads"]
        torch.set_num_threads(threads)
        sampler = Sampler(encoded, "balanced", torch.Generator().manual_seed(0))

        def fresh():
            torch.manual_seed(0)
            model = cells.build(name, N_LETTERS, params["hidden_size"], len(categories))
            return model, OPTIMIZERS[params["optimizer"]](model.parameters(), lr=params["lr"])

        model, optimizer = fresh()
        course_rate, windows = samples_per_second(
            lambda: course_style_step(model, optimizer, encoded, int(sampler.draw(1))), 1, args.seconds, args.repeats)
        rounded = [round(w) for w in windows]
        print(f"{name:5} {'course-style':14} {threads:7} {course_rate:19,.0f} {1:7.1f}x   {rounded}")
        for batch in args.batch_sizes or [params["batch_size"]]:
            model, optimizer = fresh()
            rate, windows = samples_per_second(
                lambda: optimizer_step(model, optimizer, encoded.batch(sampler.draw(batch)), params["grad_clip"], 0,
                                       f"train_{name}"), batch, args.seconds, args.repeats)
            print(f"{name:5} {f'batch {batch}':14} {threads:7} {rate:19,.0f} {rate / course_rate:7.1f}x   "
                  f"{[round(w) for w in windows]}", flush=True)
            if name == "lstm":
                torch.manual_seed(0)
                peer = PeerLSTM(N_LETTERS, params["hidden_size"], len(categories))
                peer_optimizer = OPTIMIZERS[params["optimizer"]](peer.parameters(), lr=params["lr"])
                peer_rate, windows = samples_per_second(
                    lambda: peer_step(peer, peer_optimizer, encoded.batch(sampler.draw(batch)), params["grad_clip"]),
                    batch, args.seconds, args.repeats)
                print(f"{name:5} {f'nn.LSTM {batch}':14} {threads:7} {peer_rate:19,.0f} {peer_rate / course_rate:7.1f}x"
                      f"   {[round(w) for w in windows]}   project / nn.LSTM peer: {rate / peer_rate:.2f}x",
                      flush=True)


if __name__ == "__main__":
    main()
