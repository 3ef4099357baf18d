"""End to end: the real pipeline through DVC, in a temporary git clone of the working tree.

Every test here starts from the session's `reproduced` clone (tests/conftest.py: the small
budget, one `dvc repro`, committed) and restores it when it changes it, so each one passes
when run alone: `python -m pytest tests/test_pipeline.py::<name>`."""
import json
import os
import shutil
import time

import pytest
import yaml

from surnames import cells, dvc_yaml, ladder
from tests.helpers import (
    LADDER_STAGES,
    LSTM_SIZE_CHANGE,
    SMALL_FOLDS,
    Clone,
    experiments,
    ran_stages,
    readme_block,
    readme_command,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CELLS = tuple(cells.CELLS)
EVERY_STAGE = {"params", "prepare", *(dvc_yaml.training_stage(cell) for cell in ladder.COURSE),
               *(dvc_yaml.scoring_stage(cell) for cell in ladder.COURSE), "baseline", "score_baseline",
               "score_majority", "evaluate", *LADDER_STAGES, "matched", "report"}
FOLDS = 2  # prepare.folds of the session's clone (tests/conftest.py): the baseline fits two folds too
SPLITS = ("train", "val", "test")
OUTPUTS = ["data/raw/names", *[f"data/prepared/fold-{i}/{s}.csv" for i in range(FOLDS) for s in SPLITS],
           *[f"models/{m}/fold-{i}.pt" for m in ladder.COURSE for i in SMALL_FOLDS],
           *[f"models/ladder/{m}-0.01/fold-{i}.pt" for m in CELLS for i in SMALL_FOLDS],
           *[f"models/baseline/fold-{i}.pt" for i in range(FOLDS)],
           *[f"predictions/{m}.csv" for m in (*ladder.COURSE, "baseline", "majority")], "plots/answer.csv",
           "report/answer.png", "report/answer.md", "metrics/ladder.json", "metrics/ladder/lstm-0.003.json",
           "data/stats.json", "metrics/train_rnn.json", "metrics/train_lstm.json", "metrics/rnn.json",
           "metrics/lstm.json", "metrics/compare.json", "metrics/baseline.json", "metrics/majority.json",
           "plots/curves/rnn/fold-1.csv", "plots/curves/lstm/mean.csv", "plots/confusion/lstm.csv",
           "plots/length/rnn.csv", "plots/gradients/lstm.csv", "report/report.md", "report/gradients.png",
           "report/length.png"]


def test_repro_produces_every_output_and_is_then_up_to_date(reproduced):
    assert ran_stages(reproduced.first_repro) == EVERY_STAGE
    for out in OUTPUTS:
        assert (reproduced.path / out).exists(), out
    assert "up to date" in reproduced.run("dvc", "status")
    assert ran_stages(reproduced.run("dvc", "repro")) == set()
    assert reproduced.run("git", "status", "--porcelain") == ""


def test_every_plot_has_data_for_both_models(reproduced):
    clone = reproduced
    result = clone.attempt("dvc", "plots", "show", "--json")
    assert result.returncode == 0 and "could not find" not in result.stderr, result.stderr
    plots = json.loads(result.stdout)["data"]
    assert "errors" not in json.loads(result.stdout)
    assert len(plots) == 11
    sources = set()
    for name, renders in plots.items():
        values = renders[0]["content"]["data"]["values"]
        assert values, name
        if name == "plots/answer.csv":  # every step of the registry, on both claim scores
            assert {row["ladder_step"] for row in values} == {s.name for s in ladder.STEPS}
            assert {row["score"] for row in values} == set(ladder.CLAIM_SCORES)
            continue
        if name.startswith("plots/confusion/"):
            sources.add(name)
            continue
        if name.startswith("plots/budgets/"):  # a line per cell of the registry, a point per lr
            assert {row["cell"] for row in values} == set(ladder.RUNGS), name
            assert {row["lr"] for row in values} == {str(lr) for lr in yaml.safe_load(
                (clone.path / "params.yaml").read_text())["budgets"]["lrs"]}, name
            continue
        files = {row.get("filename") or row["filename::field"].split("::")[0] for row in values}
        assert files in ({"rnn.csv", "lstm.csv"}, {"rnn/mean.csv", "lstm/mean.csv"}), (name, files)
        assert {row["rev"] for row in values} == {"workspace"}
        sources.add(name)
    assert {"plots/confusion/rnn.csv", "plots/confusion/lstm.csv"} < sources


def test_a_quick_temp_cell_trains_fold_0_only_and_finds_the_data_through_a_relative_path(reproduced, names_dir):
    """A --temp experiment runs in a copy under .dvc/tmp/exps/; with the README's relative
    NAMES_DATA_DIR and a prepare change it must still find (and refetch) the data. The change
    (a download timeout) leaves the prepared folds as they were, so the baseline is not
    refitted: the quick cell retrains and re-scores the two cells on fold 0 only."""
    clone = reproduced
    clone.env["NAMES_DATA_DIR"] = os.path.relpath(names_dir, clone.path)
    try:
        output = clone.run("dvc", "exp", "run", "--temp", "-n", "quick", "-S", "prepare.timeout_s=61",
                           "-S", "train_rnn.folds=[0]", "-S", "train_lstm.folds=[0]")
    finally:
        clone.env["NAMES_DATA_DIR"] = str(names_dir)
    assert ran_stages(output) == {"params", "prepare", "train_rnn", "train_lstm", "score@rnn", "score@lstm",
                                  "evaluate", "report"}, output
    diff = clone.json("dvc", "metrics", "diff", "HEAD", "quick", "--json")
    assert "test.accuracy.difference" in diff["metrics/compare.json"]
    clone.run("dvc", "exp", "apply", "quick")
    assert sorted(p.name for p in (clone.path / "models/rnn").iterdir()) == ["fold-0.pt"]
    assert json.loads((clone.path / "metrics/compare.json").read_text())["folds"] == [0]
    clone.restore()


def test_remote_round_trip_gives_byte_identical_models(reproduced, tmp_path):
    """A clone of the reproduced repository with its cache (its results, not a new run)
    pushes to a local remote, loses its cache and models, and pulls them back."""
    clone = Clone.copy_of(reproduced, tmp_path / "clone")
    assert "up to date" in clone.run("dvc", "status")
    clone.run("dvc", "remote", "add", "--local", "-d", "scratch", str(tmp_path / "remote"))
    clone.run("dvc", "push")
    before = {m: (clone.path / f"models/{m}/fold-1.pt").read_bytes() for m in ("rnn", "lstm")}
    shutil.rmtree(clone.path / ".dvc/cache")
    shutil.rmtree(clone.path / "models")
    shutil.rmtree(clone.path / "data/prepared")
    clone.run("dvc", "pull")
    for model, data in before.items():
        assert (clone.path / f"models/{model}/fold-1.pt").read_bytes() == data
    assert "up to date" in clone.run("dvc", "status")


def test_one_cell_s_row_or_one_new_lr_re_runs_only_its_grid_points_the_verdicts_and_the_report(reproduced):
    clone = reproduced
    lrs = yaml.safe_load((clone.path / "params.yaml").read_text())["budgets"]["lrs"]
    wide = {f"ladder@wide_tanh_rnn-{lr}" for lr in lrs}
    output = clone.run("dvc", "exp", "run", "--temp", "-n", "wide-16", "-S", "budgets.hidden_size.wide_tanh_rnn=16")
    assert ran_stages(output) == {"params", *wide, "matched", "report"}, output
    three = f"budgets.lrs={json.dumps([*lrs, 0.03])}"
    output = clone.run("dvc", "exp", "run", "--temp", "-n", "three-lrs", "-S", three)
    assert ran_stages(output) == {"params", *(f"ladder@{cell}-0.03" for cell in ladder.RUNGS), "matched",
                                  "report"}, output
    registry = clone.path / "surnames/registry.yaml"
    text = registry.read_text()
    registry.write_text(text.replace("label: tanh RNN (LSTM-sized)", "label: tanh RNN (wide)"))
    assert ran_stages(clone.run("dvc", "repro")) == {"params", *wide, "matched", "report"}
    clone.run("dvc", "exp", "remove", "-A")
    clone.restore()


TABLE_MARKER = "<!-- comparison table: tests/test_pipeline.py runs the command in the next block -->"


def test_a_one_param_lstm_cell_runs_only_its_stages_and_the_readme_table_fits_120_columns(reproduced):
    clone = reproduced
    clone.run("dvc", "exp", "remove", "-A")  # as after `make repro` and one cell
    output = clone.run("dvc", "exp", "run", "-n", "lstm-h16", "-S", "train_lstm.hidden_size=16")
    assert ran_stages(output) == LSTM_SIZE_CHANGE, output
    table = clone.run(*readme_command(TABLE_MARKER))
    lines = [line for line in table.splitlines() if line.startswith("|")]
    assert "lstm-h16" in table and "train_lstm.hidden_size" in lines[0], table
    assert "test_balanced_accuracy.rnn" in lines[0] and "test_balanced_accuracy.lstm" in lines[0], table
    assert max(map(len, lines)) <= 120, table
    shown = json.dumps(clone.json("dvc", "exp", "show", "--json"))
    assert '"hidden_size": 16' in shown and "balanced_accuracy" in shown
    assert "rows_raw" not in shown and "per_language" not in shown  # data counts are not metrics
    result = clone.attempt("dvc", "metrics", "diff", "HEAD", "lstm-h16", "--json")
    assert result.returncode == 0 and "WARNING" not in result.stderr.upper(), result.stderr
    diff = json.loads(result.stdout)
    assert {"test.balanced_accuracy.value", "test.balanced_accuracy.low", "test.balanced_accuracy.high",
            "test.accuracy.value", "test.loss.value"} <= set(diff["metrics/lstm.json"])
    assert {"test.balanced_accuracy.difference", "test.balanced_accuracy.low"} <= set(diff["metrics/compare.json"])
    assert "metrics/rnn.json" not in diff and "metrics/baseline.json" not in diff  # only the LSTM was re-scored
    assert not any(".per_fold" in key for keys in diff.values() for key in keys)  # lists stay out of the table
    clone.restore()
    assert "up to date" in clone.run("dvc", "status")


KEPT = ["metrics/rnn.json", "metrics/lstm.json", "metrics/compare.json", "plots/confusion/rnn.csv",
        "plots/length/lstm.csv", "plots/gradients/rnn.csv", "plots/curves/lstm/mean.csv", "report/report.md",
        "metrics/train_lstm.json", "data/stats.json"]


def test_a_refused_or_failed_stage_keeps_the_last_good_outputs(reproduced):
    clone = reproduced
    before = {path: (clone.path / path).read_bytes() for path in KEPT}
    models = {path.name: path.read_bytes() for path in (clone.path / "models/lstm").iterdir()}
    params = (clone.path / "params.yaml").read_text()
    # a misspelt section: refused before any output is touched
    (clone.path / "params.yaml").write_text(params.replace("\nevaluate:", "\nevalute:"))
    output = clone.fail("dvc", "repro")
    assert "error: params.yaml: unknown section 'evalute' (did you mean 'evaluate'?)" in output, output
    assert {path: (clone.path / path).read_bytes() for path in KEPT} == before
    # a valid value that fails at run time, inside a running stage whose outputs DVC has removed
    (clone.path / "params.yaml").write_text(params.replace("gradient_min_letters: 10", "gradient_min_letters: 99"))
    output = clone.fail("dvc", "repro")
    assert "error: no test name has 99 letters" in output and "Traceback" not in output, output
    assert {path: (clone.path / path).read_bytes() for path in KEPT} == before
    assert "score@rnn" in clone.run("dvc", "status")  # still to be re-run
    # a training stage that fails: its git-kept outputs stay, its cached models come back with dvc checkout
    (clone.path / "params.yaml").write_text(params.replace("lr: 0.01", "lr: 1000.0"))
    output = clone.fail("dvc", "repro", "train_lstm")
    assert "error: train_lstm fold" in output and "Traceback" not in output, output
    assert {path: (clone.path / path).read_bytes() for path in KEPT} == before
    clone.run("dvc", "checkout", "train_lstm")
    assert {path.name: path.read_bytes() for path in (clone.path / "models/lstm").iterdir()} == models
    assert "train_lstm" in clone.run("dvc", "status")
    (clone.path / "params.yaml").write_text(params)
    # params had passed the runtime-failing file; score@rnn's cached predictions were removed by
    # DVC before it failed, so it runs again and writes the same files
    assert ran_stages(clone.run("dvc", "repro")) == {"params", "score@rnn"}
    assert "up to date" in clone.run("dvc", "status")
    assert {path: (clone.path / path).read_bytes() for path in KEPT} == before
    assert not [p for p in clone.path.rglob("*.tmp-*") if ".dvc" not in p.parts]


def wait_for_queue(clone: Clone, timeout_s: float = 500) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = clone.run("dvc", "queue", "status")
        if not any(word in status for word in ("Queued", "Running")):
            return
        time.sleep(5)
    raise AssertionError(f"queue still busy after {timeout_s} s:\n{status}")


def test_a_queued_experiment_finds_the_data_through_a_relative_path(reproduced, names_dir):
    """The same for `dvc exp run --queue` + `dvc queue start` (a celery worker, another copy):
    a prepare change that leaves its outputs as they were, so prepare alone runs there."""
    clone = reproduced
    clone.env["NAMES_DATA_DIR"] = os.path.relpath(names_dir, clone.path)
    cell = ["-S", "prepare.timeout_s=62"]
    try:
        clone.run("dvc", "exp", "run", "--queue", "-n", "queued-cell", *cell)
        clone.run("dvc", "queue", "start", "-j", "1")
        wait_for_queue(clone)
        assert "Failed" not in clone.run("dvc", "queue", "status"), clone.run("dvc", "queue", "logs", "queued-cell")
        log = clone.run("dvc", "queue", "logs", "queued-cell")
        assert ran_stages(log) == {"params", "prepare"}, log  # it found the data: nothing downstream changed
        shown = json.dumps(clone.json("dvc", "exp", "show", "--json"))
        assert "queued-cell" in shown and '"timeout_s": 62' in shown
    finally:
        clone.env["NAMES_DATA_DIR"] = str(names_dir)
        clone.attempt("dvc", "queue", "stop", "--kill")


EVERYDAY_MARKER = "<!-- everyday: tests/test_pipeline.py runs the next block in order -->"


def test_the_readme_s_everyday_cells_run_in_order_each_one_change_from_main(reproduced):
    """Each cell gets its own params only (the second does not inherit the first's folds), and
    the workspace's params.yaml is left as it was."""
    clone = reproduced
    clone.run("dvc", "exp", "remove", "-A")
    params_before = (clone.path / "params.yaml").read_bytes()
    commands = readme_block(EVERYDAY_MARKER)
    assert len(commands) == 2 and all(command[:3] == ["dvc", "exp", "run"] for command in commands)
    outputs = [clone.run(*command) for command in commands]
    assert ran_stages(outputs[1]) == {"params", "train_lstm", "score@lstm", "evaluate", "report"}, outputs[1]
    assert (clone.path / "params.yaml").read_bytes() == params_before
    main = yaml.safe_load(params_before)
    cells_params = [data["params"]["params.yaml"]["data"]
                    for data in experiments(clone.json("dvc", "exp", "show", "--json")).values()]
    assert len(cells_params) == 2, cells_params
    quick = next(p for p in cells_params if p["train_rnn"]["folds"] == [0])
    one_param = next(p for p in cells_params if p["train_lstm"]["lr"] == 0.005)
    assert quick["train_lstm"]["folds"] == [0] and quick["train_lstm"]["lr"] == main["train_lstm"]["lr"]
    assert one_param["train_lstm"]["folds"] == main["train_lstm"]["folds"] != [0]
    assert one_param["train_rnn"] == main["train_rnn"]
    clone.run("dvc", "exp", "remove", "-A")
    assert "up to date" in clone.run("dvc", "status")

