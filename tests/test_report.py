"""The report stage (surnames/report.py and its templates): the answer from the verdicts, the
numbers from the metrics, the figures that exist, and the limits a reader's two minutes set."""
import json
import re

import matplotlib
import pytest

from surnames import dvc_yaml, ladder, report, verdicts
from surnames.ladder import CLAIM_SCORES, OWN_BEST, TABLE_SCORES
from tests.helpers import ROOT, call_main, inside

matplotlib.use("Agg")
VIEWS = ["lr 0.003", "lr 0.01", OWN_BEST]
BUDGETS = {"folds": [0, 1, 2, 3, 4], "lrs": [0.003, 0.01], "iterations": 500, "batch_size": 256, "seed": 0,
           "optimizer": "adam"}


def choice(difference: float, width: float = 0.01) -> dict:
    return {"model_lr": 0.01, "against_lr": 0.01, "difference": difference, "low": difference - width,
            "high": difference + width, "per_fold": [difference] * 5, "folds_same_sign": 5,
            "verdict": verdicts.verdict(difference - width, difference + width)}


def made_up(difference: dict[str, float], flipped: tuple = ()) -> dict:
    """A ladder.json: each step's every claim-score difference is difference[step] (default 0,
    whose interval includes 0); (step, score, view) in `flipped` has 0 instead."""
    entries = []
    for step in ladder.STEPS:
        for score in TABLE_SCORES:
            for view in VIEWS:
                value = 0.0 if (step.name, score, view) in flipped else difference.get(step.name, 0.0)
                found = choice(value)
                entries.append({"step": step.name, "score": score, "view": view, **found, "choices": [found]})
    holds = verdicts.holding(entries, [s.name for s in ladder.STEPS], VIEWS, CLAIM_SCORES)
    return {"claim_scores": list(CLAIM_SCORES), "views": VIEWS, "steps": [vars(s) for s in ladder.STEPS],
            "verdicts": entries, "holds": holds, "ties": []}


def answer(ladder_json: dict, rechecks: tuple = ()) -> str:
    return report.render("answer.md.j2", report.answer_context(ladder_json, BUDGETS, list(rechecks)))


# What the committed run found, made up: the gates on the memory, the whole LSTM cell (either gate
# open too), the GRU's gates and the whole gap hold; the memory cell alone and one gate do not.
GATES = {"gates on the memory": 0.06, "the LSTM cell": 0.05, "the LSTM cell, forget gate open": 0.05,
         "the LSTM cell, output gate open": 0.05, "the GRU's gates": 0.05, "the whole gap": 0.04}


def test_the_answer_names_a_step_only_where_every_view_on_both_scores_agrees():
    text = answer(made_up(GATES))
    assert text.startswith("**Why the LSTM wins: gates on the memory, not the memory cell.**"), text
    assert "*Gates on the memory* (the course LSTM against its memory with every gate open) holds: " \
           "balanced accuracy +6.0 points, prior-corrected +6.0." in text, text
    assert "*The memory cell* differs from 0 in no view." in text, text
    assert "*The LSTM cell*, *the LSTM cell, forget gate open* and *the LSTM cell, output gate open* hold; no " \
           "single gate does." in text, text
    assert "An equal-sized GRU: *the GRU's gates* holds and *LSTM over GRU* differs from 0 in no view." in text, text
    for step, score, view in (("gates on the memory", "balanced_accuracy", OWN_BEST),
                              ("gates on the memory", "corrected_accuracy", "lr 0.003")):
        flipped = answer(made_up(GATES, flipped=((step, score, view),)))
        assert flipped.startswith("**Why the LSTM wins: its gating, which an equal-sized GRU matches; not its "
                                  "memory cell alone.**"), flipped
        assert "*The LSTM cell* (the LSTM against a tanh RNN of its parameter count) holds: " in flipped
        assert "It holds with one gate open too; no single gate does." in flipped, flipped
        assert "*gates on the memory* differs from 0 in some views only" in flipped, flipped


def test_without_the_gru_s_gates_the_headline_credits_the_whole_cell():
    lstm_cell = {"the LSTM cell": 0.05, "the LSTM cell, forget gate open": 0.05,
                 "the LSTM cell, output gate open": 0.05}
    text = answer(made_up(lstm_cell))
    assert text.startswith("**Why the LSTM wins: its gated memory cell, as a whole.**"), text
    assert "*the GRU's gates* differs from 0 in no view" in text
    beaten = answer(made_up({**lstm_cell, "the GRU's gates": 0.05, "LSTM over GRU": 0.03}))
    assert beaten.startswith("**Why the LSTM wins: its gated memory cell, as a whole.**"), beaten


def test_the_memory_cell_alone_is_the_headline_when_the_data_say_so():
    text = answer(made_up({"the memory cell": 0.05, "the LSTM cell": 0.05}))
    assert text.startswith("**Why the LSTM wins: the memory cell, not gates on the memory.**"), text
    assert "*Gates on the memory* differs from 0 in no view." in text
    assert "The LSTM cell: *the LSTM cell* holds, *the LSTM cell, forget gate open* differs" in text, text


def test_a_step_that_did_not_hold_in_a_recheck_is_said_so():
    recheck = {"settings": {"budgets.seed": 1}, **made_up({**GATES, "gates on the memory": 0.0})}
    text = answer(made_up(GATES), [recheck, {"settings": {"budgets.iterations": 1000}, **made_up(GATES)}])
    assert text.startswith("**Why the LSTM wins: its gating, which an equal-sized GRU matches; not its memory "
                           "cell alone.**"), text
    assert "*gates on the memory* holds (not when re-run with budgets.seed=1)." in text
    assert "re-checked with budgets.seed=1 and budgets.iterations=1000._" in text


def test_a_flipped_view_of_the_whole_gap_is_said_so():
    text = answer(made_up(GATES, flipped=(("the whole gap", "balanced_accuracy", "lr 0.01"),)))
    assert "*The whole gap* differs from 0 in some views only." in text
    assert "gates on the memory, not the memory cell" in text


def test_the_answer_with_nothing_that_holds_claims_nothing():
    text = answer(made_up({}))
    assert "no step holds in every view" in text and "differ from 0 in no view" in text and "in every view:" not in text


def test_a_val_tie_is_reported_as_a_tie():
    ladder_json = made_up(GATES)
    entry = next(e for e in ladder_json["verdicts"] if e["view"] == OWN_BEST and e["step"] == "gates on the memory"
                 and e["score"] == "balanced_accuracy")
    entry["choices"] = [choice(0.06), choice(-0.001)]
    entry["verdict"] = verdicts.shared([c["verdict"] for c in entry["choices"]])
    assert entry["verdict"] == "tie"
    tables = report.step_tables(ladder_json, report.step_summaries(ladder_json))
    row = next(r for r in tables[0]["rows"] if r["step"] == "gates on the memory")
    assert row["cells"][VIEWS.index(OWN_BEST)] == "val tie, 2 choices: -0.1 to +6.0; tie"


def test_the_forest_plot_has_one_row_per_step(tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr(report.Figures, "save", lambda self, figure, name: drawn.setdefault(name, figure) and name)
    figures = report.Figures(None, tmp_path, 50, ["rnn", "lstm"])
    report.answer_figure(figures, made_up(GATES), "the title")
    axes = drawn["answer.png"].axes
    assert len(axes) == len(CLAIM_SCORES)
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert labels == [f"{s.name} ✓" if s.name in GATES else s.name for s in ladder.STEPS]
    assert drawn["answer.png"]._suptitle.get_text() == "the title"


def words(text: str) -> list[str]:
    return re.findall(r"[^\s]+", text)


def numbers(text: str) -> list[str]:
    return re.findall(r"\d+(?:[ .]\d+)*", text)


def prose(text: str) -> str:
    """The report's lines outside tables, figures and headings."""
    return "\n".join(line for line in text.splitlines()
                     if line.strip() and not line.startswith(("|", "![", "#")))


def test_the_committed_answer_is_short_and_the_report_s_prose_is_in_bounds():
    answer_text = (ROOT / "report/answer.md").read_text()
    assert len(words(answer_text)) <= 120 and len(numbers(answer_text)) <= 15, answer_text
    text = prose((ROOT / "report/report.md").read_text())
    assert len(words(text)) <= 1200, len(words(text))
    sentences = [s for line in re.split(r"\n(?=- )", text)  # a bullet starts a sentence; only . ! ? end one
                 for s in re.split(r"(?<=[.!?])\s+", " ".join(line.split()))]
    assert max(len(words(s)) for s in sentences) <= 40, max(sentences, key=lambda s: len(words(s)))


def test_report_links_only_figures_that_exist(small_run):
    text = (small_run / "report/report.md").read_text()
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert figures[0] == "answer.png" and len(figures) == len(set(figures)) == 9
    for figure in figures:
        assert (small_run / "report" / figure).stat().st_size > 1000, figure


def test_report_numbers_come_from_the_metrics(small_run):
    text = (small_run / "report/report.md").read_text()
    for model in ("rnn", "lstm", "baseline", "majority"):
        metrics = json.loads((small_run / f"metrics/{model}.json").read_text())
        for protocol in ("train", "test"):
            assert report.pm(metrics[protocol]["balanced_accuracy"]) in text, (model, protocol)
    compare = json.loads((small_run / "metrics/compare.json").read_text())
    assert report.signed(compare["test"]["balanced_accuracy"]) in text
    matched = json.loads((small_run / "metrics/matched.json").read_text())
    for m in matched["models"]:
        assert report.pm(m["test"]["corrected_accuracy"]) in text
    assert (small_run / "report/answer.md").read_text() in text


def test_summary_reads_its_paths_from_dvc_yaml(small_run, capsys):
    with inside(small_run):
        assert call_main("report", "--summary") == 0
    out = capsys.readouterr().out
    for model, label in (("lstm", "LSTM "), ("baseline", "n-gram baseline"), ("majority", "majority class")):
        metrics = json.loads((small_run / f"metrics/{model}.json").read_text())
        row = next(line for line in out.splitlines() if line.startswith(label) and " test " in line)
        assert report.pm(metrics["test"]["balanced_accuracy"]) in row, (model, out)
    assert "report: report/report.md" in out


def test_a_misspelt_option_is_refused_and_writes_nothing(small_run, capsys):
    before = (small_run / "report/report.md").stat().st_mtime_ns
    with inside(small_run):
        assert call_main("report", "--sumary") == 2
    assert "unrecognized arguments: --sumary" in capsys.readouterr().err
    assert (small_run / "report/report.md").stat().st_mtime_ns == before


def test_report_goes_to_the_out_folder_and_needs_both_models(small_run, tmp_path, capsys):
    common = ["--data-stats", "data/stats.json", "--compare", "metrics/compare.json", "--curves", "plots/curves",
              "--confusion", "plots/confusion", "--references", "metrics/baseline.json", "metrics/majority.json",
              "--ladder", "metrics/ladder.json", "--matched", "metrics/matched.json", "--rechecks", "rechecks"]
    with inside(small_run):
        assert call_main("report", *common, "--metrics", "metrics/rnn.json", "metrics/lstm.json",
                         "--out", str(tmp_path / "r")) == 0
        assert (tmp_path / "r/report.md").read_bytes() == (small_run / "report/report.md").read_bytes()
        assert not list((tmp_path / "r").glob(".*"))  # no temporary file left beside the outputs
        assert call_main("report", *common, "--metrics", "metrics/rnn.json", "--out", str(tmp_path / "s")) == 1
    assert capsys.readouterr().err.startswith("error: the report compares rnn with lstm: no --metrics file lstm.json")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("broken", ["metrics/ladder.json", "metrics/matched.json"])
def test_a_missing_input_is_one_line_and_writes_nothing(small_run, tmp_path, capsys, broken):
    args = [str(tmp_path / "nothing.json") if a == broken else a for a in dvc_yaml.module_args("report")]
    args[args.index("--out") + 1] = str(tmp_path / "out")
    with inside(small_run):
        assert call_main("report", *args) == 1
    assert capsys.readouterr().err.startswith("error: cannot read ")
    assert not (tmp_path / "out").exists()


def test_a_recheck_whose_gradient_or_length_finding_differs_is_not_said_to_agree():
    matched = json.loads((ROOT / "metrics/matched.json").read_text())
    evaluate = {"gradient_min_letters": 10}
    shown = ["the whole gap", "gates on the memory"]
    same = report.explanation_findings(matched, evaluate, "the whole gap", shown)
    assert report.explanation_findings(json.loads(json.dumps(matched)), evaluate, "the whole gap", shown) == same
    for trend in matched["length_trend"]:
        if trend["step"] == "capacity":
            trend["verdict"] = "up"  # capacity's lead now grows at every lr
    assert report.explanation_findings(matched, evaluate, "the whole gap", shown) != same


def test_a_step_a_recheck_did_not_run_is_not_said_to_fail_there():
    old = made_up(GATES)
    old["steps"] = [s for s in old["steps"] if s["name"] != "gates on the memory"]  # a re-check from before the step
    text = answer(made_up(GATES), [{"settings": {"budgets.seed": 1}, **old}])
    assert "not when re-run" not in text and "re-checked with budgets.seed=1._" in text, text


@pytest.mark.parametrize("difference", [GATES, {}, {"the LSTM cell": 0.05}, {**GATES, "LSTM over GRU": -0.02}])
def test_the_answer_s_lists_read_as_english(difference):
    text = answer(made_up(difference))
    assert "  " not in text and " ," not in text and ",." not in text and "..\n" not in text, text
