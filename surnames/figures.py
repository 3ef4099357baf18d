"""The report's PNG figures, each drawn from the metrics and plot data the report stage read.

Every figure is rendered to memory and written with the rest of the report stage's output
set (surnames/atomic.py), so a failed stage leaves the last good figures in place.
"""
import io
from pathlib import Path

import matplotlib.pyplot as plt  # the stage picks the Agg backend before importing this module
import pandas as pd
from matplotlib.ticker import MaxNLocator, PercentFormatter

from surnames import ladder
from surnames.atomic import OutputSet
from surnames.wording import SCORE_NAMES, label

COLORS = ("tab:orange", "tab:blue", "tab:green", "tab:red")  # models in the order given


class Figures:
    """Where the PNGs go (a folder of the stage's output set), at what resolution, and which
    colour and label each model gets."""

    def __init__(self, outputs: OutputSet, out: Path, dpi: int, models: list[str]):
        self.outputs, self.out, self.dpi, self.models = outputs, Path(out), dpi, models
        self.color = dict(zip(models, COLORS))

    def save(self, figure, name: str) -> str:
        """Render to memory, then write it with the rest of the output set."""
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=self.dpi, metadata={"Software": None})
        plt.close(figure)
        self.outputs.write_bytes(self.out / name, buffer.getvalue())
        return name


def curve_figures(fig: Figures, curves: dict) -> tuple[str, str]:
    """Every fold's curve, one colour per model (val: solid; train loss: faint)."""
    figure, axis = plt.subplots(figsize=(7, 4))
    for m in fig.models:
        for i, curve in enumerate(curves[m]):
            axis.plot(curve["step"], curve["train_loss"], color=fig.color[m], alpha=0.25, linewidth=0.8,
                      label=f"{label(m)} train" if i == 0 else None)
            axis.plot(curve["step"], curve["val_loss"], color=fig.color[m], linewidth=1,
                      label=f"{label(m)} val" if i == 0 else None)
    axis.set(xlabel="optimizer step", ylabel="mean NLL loss",
             title="Loss, every fold (train: running mean; val: val names)")
    axis.legend()
    loss = fig.save(figure, "loss.png")
    figure, axis = plt.subplots(figsize=(7, 4))
    for m in fig.models:
        for i, curve in enumerate(curves[m]):
            axis.plot(curve["step"], curve["val_accuracy"], color=fig.color[m], linewidth=1,
                      label=f"{label(m)} accuracy" if i == 0 else None)
            axis.plot(curve["step"], curve["val_balanced_accuracy"], color=fig.color[m], linestyle="--", linewidth=1,
                      label=f"{label(m)} balanced accuracy" if i == 0 else None)
    axis.set(xlabel="optimizer step", ylabel="val names", title="Validation accuracy, every fold", ylim=(0, 1))
    axis.legend()
    return loss, fig.save(figure, "accuracy.png")


def confusion_figure(fig: Figures, model: str, confusion: pd.DataFrame, languages: list[str]) -> str:
    counts = pd.crosstab(confusion["actual"], confusion["predicted"]).reindex(
        index=languages, columns=languages, fill_value=0)
    normalised = counts.div(counts.sum(axis=1), axis=0)
    figure, axis = plt.subplots(figsize=(7, 6))
    image = axis.imshow(normalised.values, vmin=0, vmax=1, cmap="viridis")
    axis.set_xticks(range(len(languages)), languages, rotation=90)
    axis.set_yticks(range(len(languages)), languages)
    axis.set(xlabel="predicted", ylabel="actual",
             title=f"{label(model)}: every name held out once, rows normalised")
    figure.colorbar(image, ax=axis)
    return fig.save(figure, f"confusion_{model}.png")


def recall_figure(fig: Figures, recall: dict, languages: list[str], reference: list[dict] | None = None) -> str:
    """Per-language held-out recall with its 95 % interval as an error bar; the n-gram
    baseline's recall, when given, as a black mark per language."""
    figure, axis = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(fig.models)
    for i, m in enumerate(fig.models):
        offset = (i - (len(fig.models) - 1) / 2) * width
        rows = {row["language"]: row for row in recall[m]}
        values = [rows[lang]["value"] for lang in languages]
        errors = [[v - rows[lang]["low"] for v, lang in zip(values, languages)],
                  [rows[lang]["high"] - v for v, lang in zip(values, languages)]]
        axis.bar([k + offset for k in range(len(languages))], values, width, yerr=errors, capsize=2,
                 color=fig.color[m], label=label(m))
    if reference:
        rows = {row["language"]: row["value"] for row in reference}
        axis.scatter(range(len(languages)), [rows[lang] for lang in languages], marker="_", s=300, color="black",
                     zorder=3, label=label("baseline"))
    axis.set_xticks(range(len(languages)), languages, rotation=60, ha="right")
    axis.set(ylabel="recall", title="Per-language recall, held out (95 % intervals)", ylim=(0, 1))
    axis.legend()
    return fig.save(figure, "recall.png")


def band_lines(fig: Figures, frames: dict, x: str, y: str, name: str, log_y: bool = False, **labels) -> str:
    """One line per model over the same x, with its 95 % interval as a band, as a PNG."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for m in fig.models:
        axis.fill_between(frames[m][x], frames[m]["low"], frames[m]["high"], color=fig.color[m], alpha=0.2)
        axis.plot(frames[m][x], frames[m][y], marker="o", color=fig.color[m], label=label(m))
    if log_y:
        axis.set_yscale("log")
    axis.set(**labels)
    axis.legend()
    return fig.save(figure, name)


def ladder_frame(cells: dict, baseline: dict | None) -> pd.DataFrame:
    """The ladder figure's data (plots/ladder.csv): each rung's held-out balanced accuracy and
    accuracy with its interval, bottom rung first, then the n-gram baseline as a reference."""
    models = [(m, "cell", ladder.LABELS[m]) for m in ladder.RUNGS]
    if baseline is not None:
        models.append(("baseline", "reference", label("baseline")))
    found = {**cells, **({"baseline": baseline} if baseline is not None else {})}
    return pd.DataFrame([{"rung": rung, "model": name, "kind": kind, "score": SCORE_NAMES[score],
                          **{k: found[m]["test"][score][k] for k in ("value", "low", "high")}}
                         for score in ("balanced_accuracy", "accuracy")
                         for rung, (m, kind, name) in enumerate(models)])


def ladder_figure(fig: Figures, frame: pd.DataFrame) -> str:
    """One panel per score: each rung's value and interval; the baseline as a dashed line and band."""
    scores = list(dict.fromkeys(frame["score"]))
    figure, axes = plt.subplots(1, len(scores), figsize=(10, 3.6), sharey=True)
    for axis, score in zip(axes, scores):
        rows = frame[(frame["score"] == score) & (frame["kind"] == "cell")]
        axis.errorbar(rows["value"], range(len(rows)), xerr=[rows["value"] - rows["low"], rows["high"] - rows["value"]],
                      fmt="o", color="tab:blue", capsize=3)
        for reference in frame[(frame["score"] == score) & (frame["kind"] == "reference")].itertuples():
            axis.axvspan(reference.low, reference.high, color="black", alpha=0.08)
            axis.axvline(reference.value, color="black", linestyle="--", linewidth=1, label=reference.model)
            axis.legend(loc="lower right")
        axis.set_yticks(range(len(rows)), rows["model"])
        axis.xaxis.set_major_locator(MaxNLocator(5))  # at most 5 ticks: labels never run together
        axis.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        axis.set(xlabel=f"held-out {score}", title=score)
    figure.suptitle("The ablation ladder, held out (95 % intervals)")
    return fig.save(figure, "ladder.png")


def budgets_figure(fig: Figures, models: list[dict]) -> str:
    """Each rung's held-out accuracy, prior-corrected accuracy and balanced accuracy (95 %
    intervals) against the learning rate of its matched budget: one panel per score."""
    scores = ("accuracy", "corrected_accuracy", "balanced_accuracy")
    figure, axes = plt.subplots(1, len(scores), figsize=(12, 3.8), sharey=True)
    lrs = sorted({m["lr"] for m in models})
    for axis, score in zip(axes, scores):
        for i, cell in enumerate(ladder.RUNGS):
            rows = [m for m in models if m["cell"] == cell and "test" in m]
            values = [m["test"][score]["value"] for m in rows]
            axis.errorbar([m["lr"] for m in rows], values, capsize=3, marker="o", color=plt.cm.tab10(i),
                          yerr=[[v - m["test"][score]["low"] for v, m in zip(values, rows)],
                                [m["test"][score]["high"] - v for v, m in zip(values, rows)]],
                          label=ladder.LABELS[cell])
        axis.set_xscale("log")
        axis.set_xticks(lrs, [f"{lr:g}" for lr in lrs])
        axis.xaxis.set_minor_locator(plt.NullLocator())
        axis.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        axis.set(xlabel="learning rate (every rung trained alike)", title=f"held-out {SCORE_NAMES[score]}")
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    figure.suptitle("Every rung at every matched budget, held out (95 % intervals)")
    return fig.save(figure, "budgets.png")
