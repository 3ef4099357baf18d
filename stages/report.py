"""report: report.md and its PNG figures, regenerated from the metrics and plot files.

    python -m stages.report --data-metrics FILE --metrics FILE... --curves DIR --confusion DIR
        --length DIR --gradients DIR --out DIR
    python -m stages.report --summary      # the headline table, paths read from dvc.yaml

Each `--metrics` file is `<model>.json` and each plot folder holds `<model>.csv`. Every
number in the text is read from these files at run time; every claim that compares the
models is worded from the comparison, whichever way it comes out.
"""
import argparse
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import pandas as pd  # noqa: E402

from stages import dvc_yaml  # noqa: E402
from stages.atomic import write_bytes_atomic, write_text_atomic  # noqa: E402
from stages.errors import ProjectError, cli  # noqa: E402
from stages.params import check_number, read_params  # noqa: E402

BASE, CHALLENGER = "rnn", "lstm"  # the comparison the report is about
COLORS = ("tab:orange", "tab:blue", "tab:green", "tab:red")  # models in the order given
PLOT_KINDS = ("curves", "confusion", "length", "gradients")


def read_json(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ProjectError(f"cannot read {path}: {error}; run 'dvc repro'") from None


def read_csv(path: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, keep_default_na=False)
    except (OSError, ValueError) as error:
        raise ProjectError(f"cannot read {path}: {error}; run 'dvc repro'") from None


def pct(value: float) -> str:
    return f"{100 * value:.1f} %"


class Figures:
    """Where the PNGs go, at what resolution, and which colour and label each model gets."""

    def __init__(self, out: Path, dpi: int, models: list[str]):
        self.out, self.dpi, self.models = Path(out), dpi, models
        self.color = dict(zip(models, COLORS))

    @staticmethod
    def label(model: str) -> str:
        return model.upper()

    def save(self, figure, name: str) -> str:
        """Render to memory, then write atomically, like every other output."""
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=self.dpi, metadata={"Software": None})
        plt.close(figure)
        write_bytes_atomic(self.out / name, buffer.getvalue())
        return name


def curve_figures(fig: Figures, curves: dict) -> tuple[str, str]:
    figure, axis = plt.subplots(figsize=(7, 4))
    for m in fig.models:
        axis.plot(curves[m]["step"], curves[m]["train_loss"], color=fig.color[m], alpha=0.5,
                  label=f"{fig.label(m)} train")
        axis.plot(curves[m]["step"], curves[m]["val_loss"], color=fig.color[m], label=f"{fig.label(m)} val")
    axis.set(xlabel="optimizer step", ylabel="mean NLL loss", title="Loss (train: running mean; val: val split)")
    axis.legend()
    loss = fig.save(figure, "loss.png")
    figure, axis = plt.subplots(figsize=(7, 4))
    for m in fig.models:
        axis.plot(curves[m]["step"], curves[m]["val_accuracy"], color=fig.color[m], label=f"{fig.label(m)} accuracy")
        axis.plot(curves[m]["step"], curves[m]["val_balanced_accuracy"], color=fig.color[m], linestyle="--",
                  label=f"{fig.label(m)} balanced accuracy")
    axis.set(xlabel="optimizer step", ylabel="val split", title="Validation accuracy", ylim=(0, 1))
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
    axis.set(xlabel="predicted", ylabel="actual", title=f"{fig.label(model)}: test split, rows normalised")
    figure.colorbar(image, ax=axis)
    return fig.save(figure, f"confusion_{model}.png")


def recall_figure(fig: Figures, recall: dict, languages: list[str]) -> str:
    figure, axis = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(fig.models)
    for i, m in enumerate(fig.models):
        offset = (i - (len(fig.models) - 1) / 2) * width
        axis.bar([k + offset for k in range(len(languages))], [recall[m][lang] for lang in languages],
                 width, color=fig.color[m], label=fig.label(m))
    axis.set_xticks(range(len(languages)), languages, rotation=60, ha="right")
    axis.set(ylabel="recall", title="Per-language recall, test split", ylim=(0, 1))
    axis.legend()
    return fig.save(figure, "recall.png")


def model_lines(fig: Figures, frames: dict, x: str, y: str, name: str, log_y: bool = False, **labels) -> str:
    """One line per model over the same x, as a PNG."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for m in fig.models:
        axis.plot(frames[m][x], frames[m][y], marker="o", color=fig.color[m], label=fig.label(m))
    if log_y:
        axis.set_yscale("log")
    axis.set(**labels)
    axis.legend()
    return fig.save(figure, name)


def setup_table(params: dict, data: dict, models: list[str]) -> str:
    """Training settings and data counts (no timings, so the report is byte-identical for
    identical params)."""
    keys = ["hidden_size", "optimizer", "lr", "batch_size", "iterations", "eval_every", "sampler", "grad_clip", "seed"]
    lines = ["| | " + " | ".join(keys + ["samples seen"]) + " |", "|---" * (len(keys) + 2) + "|"]
    for m in models:
        section = params[f"train_{m}"]
        lines.append(f"| {Figures.label(m)} | " + " | ".join(str(section[k]) for k in keys)
                     + f" | {section['iterations'] * section['batch_size']:,} |")
    splits = data["splits"]
    lines += ["", f"Data: {data['rows_raw']:,} raw rows, {data['rows_after_dedup']:,} distinct (name, language) "
              f"rows, {data['distinct_names']:,} distinct names ({data['names_in_several_languages']} under several "
              f"languages). Split by distinct name: train {splits['train']['rows']:,} rows, val "
              f"{splits['val']['rows']:,}, test {splits['test']['rows']:,}; names shared between splits: "
              f"{data['shared_names_between_splits']}."]
    return "\n".join(lines)


def results_table(metrics: dict, seed_figures: dict) -> str:
    lines = ["| model | protocol | accuracy | balanced accuracy | macro F1 | loss (NLL) | seed report |",
             "|---|---|---|---|---|---|---|"]
    for m in metrics:
        for protocol, what in (("train", "train: in-sample, training split"), ("test", "test: held-out names")):
            s = metrics[m][protocol]
            seed = seed_figures.get(m, "") if protocol == "train" else "—"
            lines.append(f"| {Figures.label(m)} | {what} | {pct(s['accuracy'])} | {pct(s['balanced_accuracy'])} | "
                         f"{pct(s['macro_f1'])} | {s['loss']:.3f} | {seed} |")
    return "\n".join(lines)


def compare(a: float, b: float) -> str:
    return "higher than" if a > b else ("equal to" if a == b else "lower than")


def findings(metrics: dict, by_length: dict, languages: list[str]) -> str:
    rnn, lstm = metrics[BASE], metrics[CHALLENGER]
    out = []
    for protocol in ("train", "test"):
        r, ls = rnn[protocol]["balanced_accuracy"], lstm[protocol]["balanced_accuracy"]
        out.append(f"- **{protocol} protocol**: the LSTM's balanced accuracy ({pct(ls)}) is {compare(ls, r)} the "
                   f"RNN's ({pct(r)}), a difference of {100 * (ls - r):+.1f} points.")
    for m in metrics:
        gap = metrics[m]["train"]["balanced_accuracy"] - metrics[m]["test"]["balanced_accuracy"]
        verdict = ("so in-sample figures like the seed's overstate how well it generalises" if gap > 0
                   else "so in-sample figures do not overstate it here")
        out.append(f"- The {Figures.label(m)}'s balanced accuracy on names it was trained on minus that on "
                   f"held-out names is {100 * gap:+.1f} points, {verdict}.")
    better = [lang for lang in languages if lstm["test_recall"][lang] > rnn["test_recall"][lang]]
    worse = [lang for lang in languages if lstm["test_recall"][lang] < rnn["test_recall"][lang]]
    tied = [lang for lang in languages if lstm["test_recall"][lang] == rnn["test_recall"][lang]]
    line = f"- Per language (test recall) the LSTM is ahead on {len(better)} of {len(languages)} languages"
    line += f"; behind on {', '.join(worse)}" if worse else "; behind on none"
    line += f"; tied on {', '.join(tied)}." if tied else "."
    out.append(line)
    short, long_ = by_length[BASE].iloc[0], by_length[BASE].iloc[-1]
    ls, ll = by_length[CHALLENGER].iloc[0], by_length[CHALLENGER].iloc[-1]
    out.append(f"- By length (test split): on names of {short['length']} letters ({int(short['names'])} rows) the LSTM "
               f"is at {pct(ls['accuracy'])} vs the RNN's {pct(short['accuracy'])}; on names of {long_['length']} "
               f"letters ({int(long_['names'])} rows) at {pct(ll['accuracy'])} vs {pct(long_['accuracy'])}. "
               f"The LSTM's advantage is {100 * (ls['accuracy'] - short['accuracy']):+.1f} points on the shortest "
               f"bucket and {100 * (ll['accuracy'] - long_['accuracy']):+.1f} on the longest.")
    flow = {m: metrics[m]["gradient_flow"] for m in (BASE, CHALLENGER)}
    ratio = {m: flow[m]["ratio_far_to_near"] for m in (BASE, CHALLENGER)}
    distance = flow[BASE]["max_distance"]
    line = (f"- Gradient flow (test names of at least {distance + 2} letters, {flow[BASE]['names']} names): from the "
            f"last letter back {distance} letters the mean gradient norm at the hidden state changes by a factor of "
            f"{ratio[BASE]:.3g} for the RNN and {ratio[CHALLENGER]:.3g} for the LSTM. ")
    if ratio[BASE] < ratio[CHALLENGER]:
        line += ("The RNN's gradient falls off faster, which is what the seed's vanishing-gradient argument predicts.")
    else:
        line += ("The RNN's gradient does **not** fall off faster than the LSTM's here, so this measurement does not "
                 "support the seed's vanishing-gradient explanation for this trained RNN.")
    out.append(line)
    return "\n".join(out)


def check_params(params: dict) -> dict:
    check_number(params, "dpi", int, 50, 400, section="report")
    if not isinstance(params.get("seed_figures"), dict):
        raise ProjectError("invalid param report.seed_figures: expected a mapping model -> published figure")
    return params


def summary(metrics: dict, out: Path) -> str:
    """The headline table for a terminal, and where the report and the plots are."""
    lines = [f"{'model':6}{'protocol':10}{'accuracy':>10}{'balanced':>10}{'macro F1':>10}"]
    for m, model_metrics in metrics.items():
        for protocol in ("train", "test"):
            s = model_metrics[protocol]
            lines.append(f"{Figures.label(m):6}{protocol:10}{pct(s['accuracy']):>10}{pct(s['balanced_accuracy']):>10}"
                         f"{pct(s['macro_f1']):>10}")
    lines += ["", f"report: {out / 'report.md'}", "plots:  dvc_plots/index.html (dvc plots show)"]
    return "\n".join(lines)


def read_metrics(paths: list[Path]) -> dict[str, dict]:
    """{model: metrics} from files named <model>.json, in the order given."""
    metrics = {Path(path).stem: read_json(path) for path in paths}
    missing = [m for m in (BASE, CHALLENGER) if m not in metrics]
    if missing:
        raise ProjectError(f"the report compares {BASE} with {CHALLENGER}: no --metrics file {missing[0]}.json")
    return metrics


def write_report(all_params: dict, data_metrics: Path, metrics_paths: list[Path], plot_dirs: dict[str, Path],
                 out: Path) -> str:
    """The whole stage: every figure, then report.md. Returns the text."""
    params = check_params(all_params["report"])
    data = read_json(data_metrics)
    metrics = read_metrics(metrics_paths)
    fig = Figures(out, params["dpi"], list(metrics))
    plots = {kind: {m: read_csv(Path(plot_dirs[kind]) / f"{m}.csv") for m in metrics} for kind in PLOT_KINDS}
    languages = sorted(metrics[CHALLENGER]["test_recall"])
    loss_png, accuracy_png = curve_figures(fig, plots["curves"])
    confusion_png = {m: confusion_figure(fig, m, plots["confusion"][m], languages) for m in metrics}
    recall_png = recall_figure(fig, {m: metrics[m]["test_recall"] for m in metrics}, languages)
    length_png = model_lines(fig, plots["length"], "length", "accuracy", "length.png", ylim=(0, 1),
                             xlabel="name length (letters)", ylabel="accuracy",
                             title="Accuracy by name length, test split")
    gradient_png = model_lines(fig, plots["gradients"], "distance", "grad_norm", "gradients.png", log_y=True,
                               xlabel="distance from the last letter (letters)", ylabel="mean ||dloss / dh||",
                               title="Gradient reaching the hidden state, test split")
    figures = "\n".join(f"![{alt}]({png})" for alt, png in (
        ("loss curves", loss_png), ("accuracy curves", accuracy_png),
        *((f"{fig.label(m)} confusion", confusion_png[m]) for m in metrics),
        ("per-language recall", recall_png), ("accuracy by length", length_png),
        ("gradient norm by distance", gradient_png)))
    text = f"""# Surname → language: the seed RNN vs the seed LSTM

Regenerated by `dvc repro` (stage `report`) from `params.yaml`, `metrics/` and `plots/`.
Two protocols, never mixed: **train** = the seed's, in-sample (the training split);
**test** = held out (distinct names never seen in training). Balanced accuracy is the mean
per-language recall (every language counts the same, like the seed's class-uniform draw).

## Setup

{setup_table(all_params, data, list(metrics))}

## Results

{results_table(metrics, params["seed_figures"])}

The seed report's figures are in-sample accuracies on names drawn the seed's way
(a random language, then a random name), so they compare with our **train** protocol.

## What the measurements say

{findings(metrics, plots["length"], languages)}

## Figures

{figures}
"""
    write_text_atomic(out / "report.md", text)
    return text


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stages.report", description=__doc__.splitlines()[0])
    parser.add_argument("--summary", action="store_true",
                        help="print the headline table instead (paths from dvc.yaml's report stage)")
    parser.add_argument("--data-metrics", type=Path, help="the prepare stage's data counts (JSON)")
    parser.add_argument("--metrics", type=Path, nargs="+", help="one <model>.json per model")
    for kind in PLOT_KINDS:
        parser.add_argument(f"--{kind}", type=Path, help=f"folder of <model>.csv {kind} plot data")
    parser.add_argument("--out", type=Path, help="the report folder")
    return parser


@cli
def main(argv):
    args = parser().parse_args(argv)
    if args.summary and not args.metrics:
        args = parser().parse_args(dvc_yaml.module_args("report") + argv)
    missing = [name for name, value in vars(args).items() if value is None]
    if missing:
        parser().error(f"missing --{missing[0].replace('_', '-')}")
    if args.summary:
        print(summary(read_metrics(args.metrics), args.out))
        return
    plot_dirs = {kind: getattr(args, kind) for kind in PLOT_KINDS}
    all_params = read_params(sections=["report"] + [f"train_{Path(m).stem}" for m in args.metrics])
    text = write_report(all_params, args.data_metrics, args.metrics, plot_dirs, args.out)
    print(f"report: {args.out / 'report.md'} with {text.count('](')} figures")


if __name__ == "__main__":
    main()
