"""report: report.md and its PNG figures, regenerated from the metrics and plot files.

    python -m stages.report --data-stats FILE --metrics FILE... --compare FILE --curves DIR
        --confusion DIR --length DIR --gradients DIR --out DIR
    python -m stages.report --summary      # the headline table, paths read from dvc.yaml

Each `--metrics` file is `<model>.json`, each plot folder holds `<model>.csv`, and the
curves folder `<model>/fold-<i>.csv`. Every number in the text is read from these files at
run time: surnames/wording.py and surnames/ladder_wording.py word them, surnames/figures.py
draws them.
"""
import json
from pathlib import Path

import pandas as pd

from surnames import ladder
from surnames.atomic import OutputSet, output_set
from surnames.errors import ProjectError
from surnames.figures import (
    Figures,
    band_lines,
    budgets_figure,
    confusion_figure,
    curve_figures,
    ladder_figure,
    ladder_frame,
    recall_figure,
)
from surnames.ladder_wording import ladder_section
from surnames.wording import FIRST, SECOND, findings, label, results_table, setup_table, with_interval

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


def fold_curves(directory: Path) -> list[pd.DataFrame]:
    paths = sorted(Path(directory).glob("fold-*.csv"), key=lambda path: int(path.stem.split("-")[1]))
    if not paths:
        raise ProjectError(f"no fold-<i>.csv curves in {directory}; run 'dvc repro'")
    return [read_csv(path) for path in paths]


def summary(metrics: dict, out: Path, rungs: dict | None = None) -> str:
    """The headline table for a terminal (the cells, then the reference models, then the
    ablation ladder's cells on held-out names), and where the report and the plots are."""
    lines = [f"{'model':25}{'protocol':10}{'accuracy':>14}{'corrected':>14}{'balanced':>14}{'macro F1':>14}"
             "   (± 95 % half-width; corrected: prior-corrected accuracy)"]
    rows = [(label(m), protocol, model_metrics[protocol])
            for m, model_metrics in metrics.items() for protocol in ("train", "test")]
    rows += [(ladder.LABELS[m], "test", rung["test"]) for m, rung in (rungs or {}).items()]
    for name, protocol, s in rows:
        lines.append(f"{name:25}{protocol:10}" + "".join(
            f"{with_interval(s[key]):>14}" for key in ("accuracy", "corrected_accuracy", "balanced_accuracy",
                                                         "macro_f1")))
    lines += ["", f"report: {out / 'report.md'}", "plots:  dvc_plots/index.html (dvc plots show)"]
    return "\n".join(lines)


def read_metrics(paths: list[Path]) -> dict[str, dict]:
    """{model: metrics} from files named <model>.json, in the order given."""
    metrics = {Path(path).stem: read_json(path) for path in paths}
    missing = [m for m in (FIRST, SECOND) if m not in metrics]
    if missing:
        raise ProjectError(f"the report compares {FIRST} with {SECOND}: no --metrics file {missing[0]}.json")
    return metrics


def write_report(all_params: dict, data_stats: Path, metrics_paths: list[Path], compare_path: Path,
                 plot_dirs: dict[str, Path], out: Path, reference_paths: list[Path] = (),
                 ladder_paths: list[Path] = (), ladder_plot: Path | None = None,
                 matched_path: Path | None = None) -> str:
    """The whole stage: every figure, then report.md (and the ladder's plot data), renamed
    into place together or not at all. Returns the text. The ladder (`ladder_paths`) needs
    the matched stage's views (`matched_path`)."""
    with output_set() as outputs:
        return _write_report(outputs, all_params, data_stats, metrics_paths, compare_path, plot_dirs, out,
                             reference_paths, ladder_paths, ladder_plot, matched_path)


def _write_report(outputs: OutputSet, all_params: dict, data_stats: Path, metrics_paths: list[Path],
                  compare_path: Path, plot_dirs: dict[str, Path], out: Path, reference_paths: list[Path],
                  ladder_paths: list[Path], ladder_plot: Path | None, matched_path: Path | None) -> str:
    params = all_params["report"]
    data = read_json(data_stats)
    metrics = read_metrics(metrics_paths)
    references = {Path(path).stem: read_json(path) for path in reference_paths}
    compare = read_json(compare_path)
    fig = Figures(outputs, out, params["dpi"], list(metrics))
    plots = {kind: {m: read_csv(Path(plot_dirs[kind]) / f"{m}.csv") for m in metrics}
             for kind in ("confusion", "length", "gradients")}
    curves = {m: fold_curves(Path(plot_dirs["curves"]) / m) for m in metrics}
    languages = [row["language"] for row in metrics[SECOND]["test_recall"]]
    loss_png, accuracy_png = curve_figures(fig, curves)
    confusion_png = {m: confusion_figure(fig, m, plots["confusion"][m], languages) for m in metrics}
    recall_png = recall_figure(fig, {m: metrics[m]["test_recall"] for m in metrics}, languages,
                               references.get("baseline", {}).get("test_recall"))
    length_png = band_lines(fig, plots["length"], "length", "accuracy", "length.png", ylim=(0, 1),
                            xlabel="name length (letters)", ylabel="accuracy",
                            title="Accuracy by name length, held out (95 % intervals)")
    gradient_png = band_lines(fig, plots["gradients"], "distance", "grad_norm", "gradients.png", log_y=True,
                              xlabel="distance from the last letter (letters)", ylabel="mean ||dloss / dh||",
                              title="Gradient reaching the hidden state, held out (95 % intervals)")
    figures = "\n".join(f"![{alt}]({png})" for alt, png in (
        ("loss curves", loss_png), ("accuracy curves", accuracy_png),
        *((f"{label(m)} confusion", confusion_png[m]) for m in metrics),
        ("per-language recall", recall_png), ("accuracy by length", length_png),
        ("gradient norm by distance", gradient_png)))
    why = ""
    if ladder_paths:
        cells = {**metrics, **{Path(path).stem: read_json(path) for path in ladder_paths}}
        missing = [m for m in ladder.RUNGS if m not in cells]
        if missing or "ladder" not in compare:
            raise ProjectError(f"the ablation ladder needs metrics of every rung and compare.json's ladder: "
                               f"{'no ' + missing[0] + '.json' if missing else 'run the evaluate stage with --ladder'}")
        if matched_path is None:
            raise ProjectError("the ablation ladder's answer needs --matched, the matched stage's views (JSON)")
        matched = read_json(matched_path)
        frame = ladder_frame(cells, references.get("baseline"))
        if ladder_plot is not None:
            outputs.write_csv(ladder_plot, frame)
        why = "\n" + ladder_section(cells, compare, ladder_figure(fig, frame), all_params, matched,
                                    budgets_figure(fig, matched["models"]))
    draws = all_params["evaluate"]["bootstrap_draws"]
    text = f"""# Surname → language: the course RNN vs the course LSTM

Regenerated by `dvc repro` (stage `report`) from `params.yaml`, `metrics/` and `plots/`.
Two protocols, never mixed: **train** = the course report's, in-sample (each fold's model on its own
training names); **test** = held out (each fold's model on its fold's names, never seen in
training; every name is held out exactly once). Balanced accuracy is the mean per-language
recall (every language counts the same, like the course report's class-uniform draw). Every figure is
pooled over the folds, with a 95 % interval from a two-level percentile bootstrap, folds then names
within them ({draws} draws, fixed seed), so that it includes the spread between the folds'
independently trained models; every comparison uses the same draws for both models (paired).

## Setup

{setup_table(all_params, data, list(metrics), metrics[SECOND]["folds"])}

## Results

Value ± half-width of the 95 % interval.

{results_table({**metrics, **references}, params["course_figures"])}

The course report's figures are in-sample accuracies on names drawn its way
(a random language, then a random name), so they compare with our **train** protocol.

## What the measurements say

{findings(metrics, compare, references)}
{why}
## Figures

{figures}
"""
    outputs.write_text(out / "report.md", text)
    return text
