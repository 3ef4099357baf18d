"""train_rnn / train_lstm: one script, `python -m stages.train rnn|lstm`.

Trains one seed cell on minibatches drawn from the train split, validates on the val
split every `eval_every` steps, and writes models/<model>.pt, plots/curves/<model>.csv
and metrics/train_<model>.json. Params: the `train_<model>` section of params.yaml.
"""
import argparse
import math
import sys
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from stages import models
from stages.alphabet import ALPHABET, N_LETTERS, encode
from stages.io import (ProjectError, check_choice, check_number, cli, load_categories, load_params,
                       load_split, save_model, write_csv, write_json)
from stages.scores import scores

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
SAMPLERS = ("balanced", "natural")
MAX_LOSS = 1e4  # NLL over 18 classes starts near 2.9: beyond this the run has blown up
CURVE_COLUMNS = ["step", "samples_seen", "train_loss", "val_loss", "val_accuracy", "val_balanced_accuracy"]


def check_params(params: dict, section: str) -> dict:
    check_number(params, "hidden_size", int, 1, section=section)
    check_choice(params, "optimizer", OPTIMIZERS, section)
    if check_number(params, "lr", float, section=section) <= 0:
        raise ProjectError(f"invalid param {section}.lr={params['lr']!r}: expected a number > 0")
    check_number(params, "batch_size", int, 1, section=section)
    check_number(params, "iterations", int, 1, section=section)
    check_number(params, "eval_every", int, 1, section=section)
    check_choice(params, "sampler", SAMPLERS, section)
    check_number(params, "grad_clip", float, 0, section=section)
    check_number(params, "seed", int, 0, section=section)
    check_number(params, "threads", int, 1, section=section)
    return params


class Split:
    """A split encoded once: padded letters [T, N], lengths [N], targets [N]."""

    def __init__(self, frame: pd.DataFrame, categories: list[str]):
        self.letters, self.lengths = encode(list(frame["name"]))
        index = {language: i for i, language in enumerate(categories)}
        self.targets = torch.tensor([index[language] for language in frame["language"]])
        self.n_classes = len(categories)

    def __len__(self):
        return len(self.targets)

    def batch(self, rows: torch.Tensor):
        lengths = self.lengths[rows]
        return self.letters[: int(lengths.max()), rows], lengths, self.targets[rows]


class Sampler:
    """Draws rows of a split: `balanced` = a random language, then a random name of it
    (the seed's draw); `natural` = a random row, so languages come as often as they occur."""

    def __init__(self, split: Split, kind: str, generator: torch.Generator):
        self.split, self.kind, self.generator = split, kind, generator
        order = torch.argsort(split.targets, stable=True)
        counts = torch.bincount(split.targets, minlength=split.n_classes)
        self.order, self.counts, self.starts = order, counts, torch.cumsum(counts, 0) - counts

    def draw(self, size: int) -> torch.Tensor:
        if self.kind == "natural":
            return torch.randint(len(self.split), (size,), generator=self.generator)
        languages = torch.randint(self.split.n_classes, (size,), generator=self.generator)
        offsets = (torch.rand(size, generator=self.generator) * self.counts[languages]).long()
        return self.order[self.starts[languages] + offsets]


@torch.no_grad()
def predict_split(model: models._SeedCell, split: Split, chunk: int = 4096) -> torch.Tensor:
    """Log-probabilities [N, classes] for every row of a split, in chunks."""
    outputs = [model(*split.batch(torch.arange(start, min(start + chunk, len(split))))[:2])
               for start in range(0, len(split), chunk)]
    return torch.cat(outputs)


def validate(model: models._SeedCell, split: Split) -> dict[str, float]:
    """Mean NLL, accuracy and balanced accuracy over a whole split."""
    log_probs = predict_split(model, split)
    result = scores(split.targets, log_probs.argmax(1), split.n_classes)
    return {"loss": float(F.nll_loss(log_probs, split.targets)), "accuracy": result["accuracy"],
            "balanced_accuracy": result["balanced_accuracy"]}


def check_loss(loss: float, step: int, section: str) -> None:
    if not math.isfinite(loss) or loss > MAX_LOSS:
        kind = "not finite" if not math.isfinite(loss) else f"exploding (> {MAX_LOSS:g})"
        raise ProjectError(f"{section}: training loss {loss:.3g} at step {step} is {kind}; "
                           f"lower {section}.lr (e.g. to 0.001) or set {section}.grad_clip (e.g. 1.0)")


def optimizer_step(model, optimizer, batch, grad_clip: float, step: int, section: str) -> float:
    """One minibatch update; the loss is checked before it can touch the weights."""
    letters, lengths, targets = batch
    loss = F.nll_loss(model(letters, lengths), targets)
    check_loss(loss.item(), step, section)
    optimizer.zero_grad()
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.item()


def curve_row(step: int, batch_size: int, train_losses: list[float], val: dict) -> dict:
    return {"step": step, "samples_seen": step * batch_size, "train_loss": sum(train_losses) / len(train_losses),
            "val_loss": val["loss"], "val_accuracy": val["accuracy"], "val_balanced_accuracy": val["balanced_accuracy"]}


def train(model_name: str, params: dict, train_split: Split, val_split: Split, log=print):
    """Train one cell; return (model, curve rows, summary)."""
    section = f"train_{model_name}"
    torch.manual_seed(params["seed"])
    torch.set_num_threads(params["threads"])
    model = models.build(model_name, N_LETTERS, params["hidden_size"], train_split.n_classes)
    optimizer = OPTIMIZERS[params["optimizer"]](model.parameters(), lr=params["lr"])
    sampler = Sampler(train_split, params["sampler"], torch.Generator().manual_seed(params["seed"]))
    iterations, batch_size = params["iterations"], params["batch_size"]
    curves, losses, train_seconds = [], [], 0.0
    # A bar on a terminal; otherwise (DVC, CI, files) one plain line per validation.
    bar = tqdm(total=iterations * batch_size, desc=section, unit="sample", unit_scale=True,
               disable=not sys.stderr.isatty(), leave=False)
    for step in range(1, iterations + 1):
        started = time.perf_counter()
        batch = train_split.batch(sampler.draw(batch_size))
        losses.append(optimizer_step(model, optimizer, batch, params["grad_clip"], step, section))
        train_seconds += time.perf_counter() - started
        bar.update(batch_size)
        if step % params["eval_every"] == 0 or step == iterations:
            row = curve_row(step, batch_size, losses, validate(model, val_split))
            curves.append(row)
            losses = []
            if bar.disable:
                log(f"{section} step {step}/{iterations}: train_loss {row['train_loss']:.3f} "
                    f"val_loss {row['val_loss']:.3f} val_acc {row['val_accuracy']:.3f} "
                    f"val_bal_acc {row['val_balanced_accuracy']:.3f} "
                    f"({step * batch_size / train_seconds:,.0f} samples/s)")
            else:
                bar.set_postfix(val_acc=f"{row['val_accuracy']:.3f}", val_bal_acc=f"{row['val_balanced_accuracy']:.3f}")
    bar.close()
    return model, curves, summarise(curves, iterations, batch_size, train_seconds)


def summarise(curves: list[dict], iterations: int, batch_size: int, train_seconds: float) -> dict:
    final = curves[-1]
    best = max(curves, key=lambda row: row["val_balanced_accuracy"])  # the first of equals
    return {
        "iterations": iterations, "samples_seen": iterations * batch_size,
        "train_seconds": round(train_seconds, 3),
        "samples_per_second": round(iterations * batch_size / train_seconds, 1),
        "final": {k: round(final[k], 6) for k in ("val_loss", "val_accuracy", "val_balanced_accuracy")},
        "best": {k: round(best[k], 6) for k in ("step", "val_loss", "val_accuracy", "val_balanced_accuracy")},
    }


def model_payload(model_name: str, model, categories: list[str], params: dict) -> dict:
    return {"model": model_name, "state_dict": model.state_dict(), "categories": categories,
            "alphabet": ALPHABET, "hidden_size": params["hidden_size"], "params": dict(params)}


@cli
def main(argv):
    parser = argparse.ArgumentParser(prog="python -m stages.train", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="rnn or lstm")
    args = parser.parse_args(argv)
    if args.model not in models.CELLS:
        raise ProjectError(f"unknown model {args.model!r}: expected one of {', '.join(models.CELLS)}")
    section = f"train_{args.model}"
    params = check_params(load_params(section), section)
    categories = load_categories()
    train_split, val_split = (Split(load_split(s, categories), categories) for s in ("train", "val"))
    model, curves, summary = train(args.model, params, train_split, val_split)
    save_model(Path(f"models/{args.model}.pt"), model_payload(args.model, model, categories, params))
    write_csv(Path(f"plots/curves/{args.model}.csv"), pd.DataFrame(curves, columns=CURVE_COLUMNS))
    write_json(Path(f"metrics/train_{args.model}.json"), summary)
    print(f"{section}: {summary['samples_per_second']:,.0f} samples/s, "
          f"final val balanced accuracy {summary['final']['val_balanced_accuracy']:.3f}")


if __name__ == "__main__":
    main()
