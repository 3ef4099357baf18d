"""The report's PNG figures, each drawn from the metrics and plot data the report stage read.

Every figure is rendered to memory and written with the rest of the report stage's output
set (surnames/atomic.py), so a failed stage leaves the last good figures in place.
"""
import io
from pathlib import Path

import matplotlib.pyplot as plt  # the stage picks the Agg backend before importing this module
import pandas as pd
from matplotlib.ticker import PercentFormatter

from surnames import ladder
from surnames.atomic import OutputSet

COLORS = ("tab:orange", "tab:blue", "tab:green", "tab:red")  # models in the order given
SCORE_NAMES = {"accuracy": "accuracy", "corrected_accuracy": "prior-corrected accuracy",
               "balanced_accuracy": "balanced accuracy", "macro_f1": "macro F1"}
REFERENCE_LABELS = {"baseline": "n-gram baseline", "majority": "majority class"}


def label(model: str) -> str:
    """A model's name in the report: RNN, LSTM, n-gram baseline, majority class."""
    return REFERENCE_LABELS.get(model, model.upper())


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


VIEW_STYLE = {"own best": ("D", "black")}  # lr views: circles in the tab10 colours, own best: black diamonds


def view_style(views: list[str], view: str) -> tuple[str, object]:
    return VIEW_STYLE.get(view, ("o", plt.cm.tab10(views.index(view))))


def step_rows(axis, steps: list[str], held: set[str]) -> None:
    """Steps as rows, top to bottom, the ones that hold in bold and marked."""
    axis.set_yticks(range(len(steps)), [f"{s} ✓" if s in held else s for s in steps])
    for tick, step in zip(axis.get_yticklabels(), steps):
        tick.set_fontweight("bold" if step in held else "normal")
    axis.set_ylim(len(steps) - 0.5, -0.5)


def answer_figure(fig: Figures, verdicts: dict, title: str) -> str:
    """The forest plot: one row per step, one panel per claim score, a point and 95 % interval per
    view (every own-best choice where val names tie), a line at 0; the steps that hold marked."""
    steps, views = [s["name"] for s in verdicts["steps"]], verdicts["views"]
    held = {h["step"] for h in verdicts["holds"]}
    scores = verdicts["claim_scores"]
    figure, axes = plt.subplots(1, len(scores), figsize=(11, 0.45 * len(steps) + 1.8), sharey=True)
    for axis, score in zip(axes, scores):
        for e in (e for e in verdicts["verdicts"] if e["score"] == score):
            row = steps.index(e["step"])
            marker, color = view_style(views, e["view"])
            offset = (views.index(e["view"]) - (len(views) - 1) / 2) * 0.22
            for c in e["choices"]:
                axis.errorbar(100 * c["difference"], row + offset, capsize=2, marker=marker, color=color,
                              xerr=[[100 * (c["difference"] - c["low"])], [100 * (c["high"] - c["difference"])]],
                              markerfacecolor=color if len(e["choices"]) == 1 else "white", linewidth=1)
        axis.axvline(0, color="black", linewidth=0.8)
        axis.set(xlabel="paired difference, points (95 % interval)", title=f"held-out {SCORE_NAMES[score]}")
        axis.grid(axis="x", alpha=0.3)
    step_rows(axes[0], steps, held)
    handles = [plt.Line2D([], [], marker=view_style(views, v)[0], color=view_style(views, v)[1], linestyle="", label=v)
               for v in views]
    axes[-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small",
                    title="view\n(hollow: a val tie's\nchoices)")
    figure.suptitle(title, fontsize="medium")
    return fig.save(figure, "answer.png")


def gradient_figure(fig: Figures, models: list[dict], labels: dict) -> str:
    """Each cell's gradient ratio (farthest over nearest distance) at each lr, on a linear axis
    with 1 marked: below 1 the gradient fades going back, above 1 it grows."""
    cells = list(dict.fromkeys(m["cell"] for m in models))
    lrs = sorted({m["lr"] for m in models})
    figure, axis = plt.subplots(figsize=(7, 0.4 * len(cells) + 1.6))
    for m in (m for m in models if "gradient_ratio" in m):
        r = m["gradient_ratio"]
        y = cells.index(m["cell"]) + (lrs.index(m["lr"]) - (len(lrs) - 1) / 2) * 0.25
        axis.errorbar(r["value"], y, xerr=[[r["value"] - r["low"]], [r["high"] - r["value"]]], marker="o", capsize=2,
                      color=plt.cm.tab10(lrs.index(m["lr"])),
                      label=f"lr {m['lr']:g}" if m["cell"] == cells[0] else None)
    axis.axvline(1, color="black", linewidth=0.8)
    axis.text(1, -0.75, " 1: no change", fontsize="small", va="bottom")
    axis.set_xlim(left=0)
    axis.set_yticks(range(len(cells)), [labels[c] for c in cells])
    axis.set_ylim(len(cells) - 0.5, -1)
    axis.set(xlabel="gradient norm 8 letters back / at the last letter (95 % interval)",
             title="Gradient flow, held out (below 1: it fades going back)")
    axis.legend(fontsize="small")
    return fig.save(figure, "gradients.png")


def length_figure(fig: Figures, rows: list[dict], steps: list[str]) -> str:
    """Each of `steps`' prior-corrected accuracy difference by name length, one line per lr."""
    figure, axes = plt.subplots(1, len(steps), figsize=(5 * len(steps), 3.6), sharey=True, squeeze=False)
    for axis, step in zip(axes[0], steps):
        found = [r for r in rows if r["step"] == step]
        views = list(dict.fromkeys(r["view"] for r in found))
        for i, view in enumerate(views):
            line = [r for r in found if r["view"] == view]
            x = [j + (i - (len(views) - 1) / 2) * 0.1 for j in range(len(line))]
            axis.errorbar(x, [100 * r["difference"] for r in line], capsize=2, marker="o", color=plt.cm.tab10(i),
                          yerr=[[100 * (r["difference"] - r["low"]) for r in line],
                                [100 * (r["high"] - r["difference"]) for r in line]], label=view)
        axis.set_xticks(range(len(line)), [r["length"] for r in line])
        axis.axhline(0, color="black", linewidth=0.8)
        axis.set(xlabel="name length (letters)", title=step)
        axis.legend(fontsize="small")
    axes[0][0].set_ylabel("prior-corrected accuracy difference, points")
    figure.suptitle("The lead by name length, held out (95 % intervals)", fontsize="medium")
    return fig.save(figure, "length.png")


def budgets_figure(fig: Figures, models: list[dict]) -> str:
    """Each cell's held-out accuracy, prior-corrected accuracy and balanced accuracy (95 %
    intervals) against the learning rate it was trained at: one panel per score."""
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
        axis.set(xlabel="learning rate (every cell trained alike)", title=f"held-out {SCORE_NAMES[score]}")
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    figure.suptitle("Every cell at every lr, held out (95 % intervals)")
    return fig.save(figure, "budgets.png")
