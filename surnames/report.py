"""report: report.md, its answer (report/answer.md, also the README's) and its PNG figures.

Every number comes from the metrics and plot files, every judgement (up, down, none, tie, holds)
from metrics/ladder.json (surnames/verdicts.py): this module only gathers them into a context
and formats numbers; the words are Jinja2 templates (surnames/templates/), whose conditions
choose among sentences. Figures: surnames/figures.py.
"""
import json
from pathlib import Path

import jinja2
import pandas as pd

from surnames import ladder
from surnames.atomic import output_set
from surnames.errors import ProjectError
from surnames.figures import (
    SCORE_NAMES,
    Figures,
    answer_figure,
    budgets_figure,
    confusion_figure,
    curve_figures,
    gradient_figure,
    label,
    length_figure,
    recall_figure,
)
from surnames.ladder import CLAIM_SCORES, TABLE_SCORES

FIRST, SECOND = ladder.COURSE  # the course pair: differences are SECOND − FIRST
TEMPLATES = Path(__file__).with_name("templates")


# Number formats (percentages in points, one decimal).

def pm(summary: dict) -> str:
    """value ± half-width of its 95 % interval, in percent."""
    return f"{100 * summary['value']:.1f} % ± {100 * (summary['high'] - summary['low']) / 2:.1f}"


def signed(entry: dict) -> str:
    return f"{100 * entry['difference']:+.1f} [{100 * entry['low']:+.1f}, {100 * entry['high']:+.1f}]"


def span(values: list[float]) -> str:
    """`+a to +b` in points, or one value when they round alike."""
    low, high = f"{100 * min(values):+.1f}", f"{100 * max(values):+.1f}"
    return low if low == high else f"{low} to {high}"


def joined(items, word: str = "and") -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {word} " + items[-1] if items else ""


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    env.filters.update(and_join=joined, or_join=lambda items: joined(items, "or"), emphasis=lambda text: f"*{text}*",
                       capitalize_first=lambda text, at=0: text[:at] + text[at:at + 1].upper() + text[at + 1:])
    return env


def render(template: str, context: dict) -> str:
    return environment().get_template(template).render(**context)


# Reading.

def read_json(path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ProjectError(f"cannot read {path}: {error}; run 'dvc repro'") from None


def read_csv(path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, keep_default_na=False)
    except (OSError, ValueError) as error:
        raise ProjectError(f"cannot read {path}: {error}; run 'dvc repro'") from None


def fold_curves(directory: Path) -> list[pd.DataFrame]:
    paths = sorted(Path(directory).glob("fold-*.csv"), key=lambda path: int(path.stem.split("-")[1]))
    if not paths:
        raise ProjectError(f"no fold-<i>.csv curves in {directory}; run 'dvc repro'")
    return [read_csv(path) for path in paths]


def read_metrics(paths: list[Path]) -> dict[str, dict]:
    """{model: metrics} from files named <model>.json, in the order given."""
    metrics = {Path(path).stem: read_json(path) for path in paths}
    missing = [m for m in (FIRST, SECOND) if m not in metrics]
    if missing:
        raise ProjectError(f"the report compares {FIRST} with {SECOND}: no --metrics file {missing[0]}.json")
    return metrics


# The context: the verdicts gathered per step, and the tables' cells.

def step_summaries(verdicts: dict) -> dict[str, dict]:
    """{step: its name, change, whether it holds, its claim verdicts' spans and bound, how many hold}."""
    held = {h["step"] for h in verdicts["holds"]}
    result = {}
    for step in verdicts["steps"]:
        claims = [e for e in verdicts["verdicts"] if e["step"] == step["name"] and e["score"] in CLAIM_SCORES]
        choices = {score: [c for e in claims if e["score"] == score for c in e["choices"]] for score in CLAIM_SCORES}
        bound = max((abs(c[k]) for cs in choices.values() for c in cs for k in ("low", "high")), default=0)
        result[step["name"]] = {
            **step, "holds": step["name"] in held,
            "never": bool(claims) and all(e["verdict"] in ("none", "tie") for e in claims),
            "range": {score: span([c["difference"] for c in cs]) for score, cs in choices.items() if cs},
            "bound": f"{100 * bound:.1f}", "count": sum(e["verdict"] in ("up", "down") for e in claims),
            "total": len(claims)}
    return result


def read_rechecks(folder) -> list[dict]:
    """rechecks/<name>.json (tools/recheck.py): the ladder re-run with one setting changed."""
    return [read_json(path) for path in sorted(Path(folder).glob("*.json"))] if folder else []


def setting_text(recheck: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in recheck["settings"].items())


def answer_context(verdicts: dict, budgets: dict, rechecks: list[dict]) -> dict:
    steps = step_summaries(verdicts)
    for step in steps.values():  # the re-checks that ran this step and where it did not hold (it held here)
        step["failed_in"] = [setting_text(r) for r in rechecks if step["holds"]
                             and step["name"] in {s["name"] for s in r["steps"]}
                             and step["name"] not in {h["step"] for h in r["holds"]}]
        step["robust"] = step["holds"] and not step["failed_in"]
    gap = next((s["name"] for s in verdicts["steps"] if (s["model"], s["against"]) == (SECOND, FIRST)), None)
    about = {group: [s for s in steps.values() if s.get("about") == group] for group in ladder.ABOUT}
    rest = [s for s in steps.values() if s.get("about") not in ladder.ABOUT and s["name"] != gap]
    parts_held = [s for s in about["memory or gates"] if s["robust"]]
    # what the answer leads with: the parts of the LSTM cell that hold, else any step that
    # explains the LSTM's lead (its cell, or a step outside the question groups)
    lead = parts_held or [s for s in steps.values() if s["holds"] and s["name"] != gap
                          and s.get("about") in (None, "lstm cell", "memory or gates")]
    never = [s for s in rest if s["never"]]
    memory, gru = (about["memory or gates"] or [None])[0], about["GRU"] + [None, None]
    # gating, not the memory: the LSTM cell and a GRU hold in every run, the LSTM does not beat
    # the GRU, and the memory cell alone does not hold (the registry's group order: see its comments)
    gating = bool(gru[0] and gru[0]["robust"] and gru[1] and not gru[1]["holds"] and memory and not memory["holds"])
    return {"steps": steps, "gap_step": gap, "gating": gating, "lead": lead,
            "held": [s for s in steps.values() if s["holds"]],
            "about": about, "parts_held": parts_held,
            "parts_not": [s for s in about["memory or gates"] if not s["robust"]],
            "cell_holds": bool(about["lstm cell"]) and all(s["robust"] for s in about["lstm cell"]),
            "no_single_gate": bool(about["one gate"]) and not any(s["holds"] for s in about["one gate"]),
            "rest_held": [s for s in rest if s["holds"] and s not in lead], "never": never,
            "never_bound": max((s["bound"] for s in never), key=float, default=""),
            "folds": len(budgets["folds"]), "lrs": [f"{lr:g}" for lr in budgets["lrs"]],
            "iterations": f"{budgets['iterations']:,}".replace(",", " "), "batch_size": budgets["batch_size"],
            "seed": budgets["seed"], "optimizer": budgets["optimizer"], "rechecks": [setting_text(r) for r in rechecks]}


def cell_text(entry: dict | None) -> str:
    if entry is None:
        return "—"
    if len(entry["choices"]) > 1:
        spread = span([c["difference"] for c in entry["choices"]])
        return f"val tie, {len(entry['choices'])} choices: {spread}; {entry['verdict']}"
    return f"{signed(entry)} {entry['folds_same_sign']}/{len(entry['per_fold'])}"


def step_tables(verdicts: dict, steps: dict) -> list[dict]:
    """One table per score (claim scores first): a row per step, a cell per view; ✓ (a step that
    holds) only in the claim scores' tables."""
    found = {(e["step"], e["score"], e["view"]): e for e in verdicts["verdicts"]}
    return [{"title": f"Held-out {SCORE_NAMES[score]}" + ("" if score in CLAIM_SCORES else " (no claim rests on it)"),
             "rows": [{"step": name, "change": s["change"], "holds": s["holds"] and score in CLAIM_SCORES,
                       "cells": [cell_text(found.get((name, score, view))) for view in verdicts["views"]]}
                      for name, s in steps.items()]}
            for score in (*CLAIM_SCORES, "accuracy")]


def own_best_rows(matched: dict) -> list[dict]:
    chosen = {(r["cell"], r["score"]): r["lrs"] for r in matched["own_best"]}
    def text(lrs: list[float]) -> str:
        return ("tie: " if len(lrs) > 1 else "") + ", ".join(f"{lr:g}" for lr in lrs) or "—"
    return [{"label": ladder.LABELS[cell], "cells": [text(chosen.get((cell, s), [])) for s in TABLE_SCORES]}
            for cell in ladder.RUNGS]


def model_rows(matched: dict) -> list[dict]:
    rows = []
    for m in matched["models"]:
        cells = ([f"blew up (fold {m['diverged'][0]['fold']})"] + ["—"] * 3 if "diverged" in m else
                 [pm(m["test"][s]) for s in ("accuracy", "corrected_accuracy", "balanced_accuracy")]
                 + ["{value:.2f} [{low:.2f}, {high:.2f}]".format(**m["gradient_ratio"])])
        rows.append({"label": ladder.LABELS[m["cell"]], "lr": f"{m['lr']:g}", "hidden_size": m["hidden_size"],
                     "parameters": f"{m['parameters']:,}".replace(",", " "), "cells": cells})
    return rows


def gradient_context(matched: dict, evaluate: dict, gap: str | None = None) -> dict:
    """Every cell's gradient ratio's range and side of 1, and the course pair's difference in it
    (the `gap` step, LSTM − RNN trained alike) at each lr with its verdict."""
    ratios = [m["gradient_ratio"] for m in matched["models"] if "gradient_ratio" in m]
    rnn = [m["gradient_ratio"] for m in matched["models"] if m["cell"] == FIRST and "gradient_ratio" in m]
    pair = [{"view": g["view"], "verdict": g["verdict"],
             "text": f"{g['difference']:+.2f} [{g['low']:+.2f}, {g['high']:+.2f}]"}
            for g in matched["gradient_steps"] if g["step"] == gap]
    return {"letters": evaluate["gradient_min_letters"], "distance": evaluate["gradient_min_letters"] - 2,
            "low": f"{min(r['value'] for r in ratios):.2f}", "high": f"{max(r['value'] for r in ratios):.2f}",
            "all_above": all(r["low"] > 1 for r in ratios), "rnn_below": any(r["high"] < 1 for r in rnn),
            "pair": pair}


def growing(length_trend: list[dict]) -> list[str]:
    """The steps whose lead grows with name length at every lr."""
    verdicts_of = {}
    for t in length_trend:
        verdicts_of.setdefault(t["step"], set()).add(t["verdict"])
    return [step for step, seen in verdicts_of.items() if seen == {"up"}]


def length_context(matched: dict, shown: list[str]) -> dict:
    """Each shown step's longest − shortest lead, the steps whose lead grows at every lr, and the
    shown lead step's largest measurable lead on the shortest names."""
    shortest = [r for r in matched["by_length"] if r["step"] in shown[1:2] and r["length"] == matched["by_length"][0][
        "length"] and r["low"] > 0]
    best = max(shortest, key=lambda r: r["difference"], default=None)
    return {"length_trends": [{**t, "text": signed(t)} for t in matched["length_trend"] if t["step"] in shown],
            "length_grows": growing(matched["length_trend"]),
            "short_lead": {**best, "text": signed(best)} if best else None}


def explanation_findings(matched: dict, evaluate: dict, gap: str | None, shown: list[str]) -> tuple:
    """What the gradient and length paragraphs conclude, as data: compared across re-checks."""
    gradient = gradient_context(matched, evaluate, gap)
    return (gradient["all_above"], [p["verdict"] for p in gradient["pair"]], growing(matched["length_trend"]),
            length_context(matched, shown)["short_lead"] is not None)


def recheck_table(ladders: list[dict]) -> list[dict]:
    """Each step of the first ladder.json: holds (↑/↓), some views or no view, in it and in every
    other (the re-checks); — where a re-check lacks the step."""
    summaries = [(step_summaries(d), {h["step"]: h["direction"] for h in d["holds"]}) for d in ladders]

    def state(name: str, steps: dict, holds: dict) -> str:
        if name not in steps:
            return "—"
        if name in holds:
            return "holds " + ("↑" if holds[name] == "up" else "↓")
        return "no view" if steps[name]["never"] else "some views"
    return [{"step": name, "cells": [state(name, steps, holds) for steps, holds in summaries]}
            for name in summaries[0][0]]


def raw_context(matched: dict) -> dict:
    """The cell whose raw accuracy the lr moves most, with its accuracy and balanced accuracy at each lr."""
    by = {}
    for m in (m for m in matched["models"] if "test" in m):
        by.setdefault(m["cell"], {})[m["lr"]] = m["test"]
    moved = {cell: max(v["accuracy"]["value"] for v in lrs.values()) - min(v["accuracy"]["value"] for v in lrs.values())
             for cell, lrs in by.items()}
    cell = max(moved, key=moved.get)
    return {"label": ladder.LABELS[cell], "rows": [
        {"lr": f"{lr:g}", "accuracy": pm(t["accuracy"]), "balanced": pm(t["balanced_accuracy"])}
        for lr, t in sorted(by[cell].items())]}


def course_context(all_params: dict, data: dict, metrics: dict, references: dict, compare: dict) -> dict:
    """The course pair's setup, its results beside the course report's figures, the reference rows."""
    keys = ("hidden_size", "optimizer", "lr", "batch_size", "iterations", "sampler", "grad_clip", "seed")
    setup = [{"label": label(m), "values": [all_params[f"train_{m}"][k] for k in keys]} for m in metrics]
    published = all_params["report"]["course_figures"]
    results = [{"label": label(m), "protocol": protocol,
                "published": published.get(m, "") if protocol == "train" else "",
                "cells": [pm(found[protocol][s]) for s in TABLE_SCORES]}
               for m, found in {**metrics, **references}.items() for protocol in ("train", "test")]
    return {"setup_keys": keys, "setup": setup, "results": results, "data": data,
            "test_rows": [f"{fold['test']['rows']:,}".replace(",", " ") for fold in data["per_fold"]],
            "pair": {s: signed(compare["test"][s]) for s in CLAIM_SCORES}}


def summary(metrics: dict, out: Path) -> str:
    """The headline table for a terminal (the course cells, then the reference models), and where
    the report and the plots are."""
    lines = [f"{'model':18}{'protocol':10}{'accuracy':>14}{'corrected':>14}{'balanced':>14}{'macro F1':>14}"
             "   (± 95 % half-width; corrected: prior-corrected accuracy)"]
    for m, found in metrics.items():
        for protocol in ("train", "test"):
            lines.append(f"{label(m):18}{protocol:10}" + "".join(f"{pm(found[protocol][key]):>14}" for key in (
                "accuracy", "corrected_accuracy", "balanced_accuracy", "macro_f1")))
    lines += ["", f"report: {out / 'report.md'}", "plots:  dvc_plots/index.html (dvc plots show)"]
    return "\n".join(lines)


def write_report(all_params: dict, paths: dict, out: Path) -> str:
    """The whole stage: every figure, then report.md and answer.md, renamed into place together
    or not at all. `paths`: the stage's inputs by argument name. Returns report.md's text."""
    data, compare = read_json(paths["data_stats"]), read_json(paths["compare"])
    metrics, references = read_metrics(paths["metrics"]), {Path(p).stem: read_json(p) for p in paths["references"]}
    verdicts, matched = read_json(paths["ladder"]), read_json(paths["matched"])
    budgets, evaluate = all_params["budgets"], all_params["evaluate"]
    rechecks = read_rechecks(paths["rechecks"])
    answer_data = answer_context(verdicts, budgets, rechecks)
    answer = render("answer.md.j2", answer_data)
    steps = answer_data["steps"]
    gap = answer_data["gap_step"]
    shown = [s for s in [gap, *(s["name"] for s in answer_data["lead"])] if s][:2]  # the length figure: gap, lead
    with output_set() as outputs:
        fig = Figures(outputs, out, all_params["report"]["dpi"], list(metrics))
        languages = [row["language"] for row in metrics[SECOND]["test_recall"]]
        loss, accuracy = curve_figures(fig, {m: fold_curves(Path(paths["curves"]) / m) for m in metrics})
        figures = {"loss": loss, "accuracy": accuracy, "recall": recall_figure(
            fig, {m: metrics[m]["test_recall"] for m in metrics}, languages, references.get("baseline", {}).get(
                "test_recall"))}
        for m in metrics:
            figures[f"confusion_{m}"] = confusion_figure(fig, m, read_csv(Path(paths["confusion"]) / f"{m}.csv"),
                                                          languages)
        title = answer.splitlines()[0].strip("*")
        answer_figure(fig, verdicts, title)
        gradient_figure(fig, matched["models"], ladder.LABELS)
        length_figure(fig, matched["by_length"], shown)
        budgets_figure(fig, matched["models"])
        text = render("report.md.j2", {
            "answer": answer, **answer_data,
            "gradient": gradient_context(matched, evaluate, gap), **length_context(matched, shown),
            "views": verdicts["views"], "step_tables": step_tables(verdicts, steps), "raw": raw_context(matched),
            "table_scores": [SCORE_NAMES[s] for s in TABLE_SCORES], "own_best": own_best_rows(matched),
            "models": model_rows(matched), **course_context(all_params, data, metrics, references, compare),
            "draws": evaluate["bootstrap_draws"], "figures": figures,
            "recheck_table": recheck_table([verdicts, *rechecks]),
            "explanations_held": [setting_text(r) for r in rechecks if "details" in r and explanation_findings(
                r["details"], evaluate, gap, shown) == explanation_findings(matched, evaluate, gap, shown)]})
        outputs.write_text(out / "answer.md", answer)
        outputs.write_text(out / "readme_answer.md", render("readme_answer.md.j2", answer_data))
        outputs.write_text(out / "report.md", text)
    return text
