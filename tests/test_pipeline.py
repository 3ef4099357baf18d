"""End to end: the real pipeline through DVC, in a temporary git clone of the working tree."""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, SMALL_EVALUATE

pytestmark = pytest.mark.slow
# All five folds, as the defaults, on a budget of seconds.
E2E_TRAIN = {"iterations": 30, "eval_every": 10, "batch_size": 32}
OUTPUTS = ["data/raw/names", *[f"data/prepared/fold-{i}/{s}.csv" for i in range(5) for s in ("train", "val", "test")],
           *[f"models/{m}/fold-{i}.pt" for m in ("rnn", "lstm") for i in range(5)],
           "data/stats.json", "metrics/train_rnn.json", "metrics/train_lstm.json", "metrics/rnn.json",
           "metrics/lstm.json", "metrics/compare.json", "metrics/baseline.json", "metrics/majority.json",
           *[f"models/baseline/fold-{i}.pt" for i in range(5)], "plots/curves/rnn/fold-4.csv",
           "plots/curves/lstm/mean.csv",
           "plots/confusion/lstm.csv", "plots/length/rnn.csv", "plots/gradients/lstm.csv", "report/report.md",
           "report/gradients.png"]


class Clone:
    def __init__(self, path: Path, names_dir: Path):
        self.path = path
        bin_dir = str(Path(sys.executable).parent)
        self.env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"], "NAMES_DATA_DIR": str(names_dir),
                    "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
                    "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
                    "DVC_NO_ANALYTICS": "1"}
        self.env.pop("PYTHONPATH", None)

    def run(self, *command: str) -> str:
        """stdout and stderr of a command that must succeed."""
        result = subprocess.run(command, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout + result.stderr

    def json(self, *command: str):
        result = subprocess.run(command, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", message)

    def set_params(self, **changes) -> None:
        path = self.path / "params.yaml"
        params = yaml.safe_load(path.read_text())
        for key, value in changes.items():
            section, name = key.split("__")
            params[section][name] = value
        path.write_text(yaml.safe_dump(params, sort_keys=False))


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="module")
def clone(tmp_path_factory, names_dir) -> Clone:
    """The working tree (tracked and untracked, minus ignored files), committed in a new repo,
    with a small training budget."""
    path = tmp_path_factory.mktemp("clone")
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, path / name)
    repo = Clone(path, names_dir)
    repo.run("git", "init", "-q", "-b", "main")
    small = {f"train_{m}__{k}": v for m in ("rnn", "lstm") for k, v in E2E_TRAIN.items()}
    repo.set_params(**small, **{f"evaluate__{k}": v for k, v in SMALL_EVALUATE.items()})
    repo.commit("clone with a small budget")
    return repo


def test_repro_produces_every_output_and_is_then_up_to_date(clone):
    output = clone.run("dvc", "repro")
    assert ran_stages(output) == {"params", "prepare", "train_rnn", "train_lstm", "baseline", "evaluate", "report"}
    for out in OUTPUTS:
        assert (clone.path / out).exists(), out
    assert "up to date" in clone.run("dvc", "status")
    assert ran_stages(clone.run("dvc", "repro")) == set()
    clone.commit("small baseline")


def test_every_plot_has_data_for_both_models(clone):
    result = subprocess.run(["dvc", "plots", "show", "--json"], cwd=clone.path, env=clone.env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "could not find" not in result.stderr, result.stderr
    plots = json.loads(result.stdout)["data"]
    assert "errors" not in json.loads(result.stdout)
    assert len(plots) == 7
    sources = set()
    for name, renders in plots.items():
        values = renders[0]["content"]["data"]["values"]
        assert values, name
        if name.startswith("plots/confusion/"):
            sources.add(name)
            continue
        files = {row.get("filename") or row["filename::field"].split("::")[0] for row in values}
        assert files in ({"rnn.csv", "lstm.csv"}, {"rnn/mean.csv", "lstm/mean.csv"}), (name, files)
        assert {row["rev"] for row in values} == {"workspace"}
        sources.add(name)
    assert {"plots/confusion/rnn.csv", "plots/confusion/lstm.csv"} < sources


def test_experiment_shows_up_and_metrics_diff_lists_values_and_intervals(clone):
    clone.run("dvc", "exp", "run", "-n", "small-rnn", "-S", "train_rnn.hidden_size=16")
    text = json.dumps(clone.json("dvc", "exp", "show", "--json"))
    assert "small-rnn" in text and '"hidden_size": 16' in text and "balanced_accuracy" in text
    result = subprocess.run(["dvc", "metrics", "diff", "HEAD", "small-rnn", "--json"], cwd=clone.path, env=clone.env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "WARNING" not in result.stderr.upper(), result.stderr
    diff = json.loads(result.stdout)
    changed = set(diff.get("metrics/rnn.json", {}))
    assert {"test.balanced_accuracy.value", "test.balanced_accuracy.low", "test.balanced_accuracy.high",
            "test.accuracy.value", "test.loss.value"} <= changed
    assert {"test.balanced_accuracy.difference", "test.balanced_accuracy.low"} <= set(diff["metrics/compare.json"])
    assert "metrics/lstm.json" not in diff  # only the RNN's cell changed
    assert not any(".per_fold" in key for keys in diff.values() for key in keys)  # lists stay out of the table
    clone.run("git", "reset", "-q", "--hard", "HEAD")
    clone.run("dvc", "checkout", "--force")
    assert "up to date" in clone.run("dvc", "status")


def test_a_quick_temp_cell_trains_fold_0_only_and_finds_the_data_through_a_relative_path(clone, names_dir):
    """A --temp experiment runs in a copy under .dvc/tmp/exps/; with the README's relative
    NAMES_DATA_DIR and a prepare change it must still find (and refetch) the data."""
    clone.env["NAMES_DATA_DIR"] = os.path.relpath(names_dir, clone.path)
    try:
        clone.run("dvc", "exp", "run", "--temp", "-n", "quick", "-S", "prepare.seed=1", "-S", "train_rnn.folds=[0]",
                  "-S", "train_lstm.folds=[0]")
    finally:
        clone.env["NAMES_DATA_DIR"] = str(names_dir)
    diff = clone.json("dvc", "metrics", "diff", "HEAD", "quick", "--json")
    assert "test.accuracy.difference" in diff["metrics/compare.json"]
    clone.run("dvc", "exp", "apply", "quick")
    assert sorted(p.name for p in (clone.path / "models/rnn").iterdir()) == ["fold-0.pt"]
    assert json.loads((clone.path / "metrics/compare.json").read_text())["folds"] == [0]
    clone.run("git", "reset", "-q", "--hard", "HEAD")
    clone.run("dvc", "checkout", "--force")


def test_changing_the_lstm_lr_reruns_only_what_depends_on_it(clone):
    clone.set_params(train_lstm__lr=0.005)
    assert ran_stages(clone.run("dvc", "repro")) == {"params", "train_lstm", "evaluate", "report"}
    clone.run("git", "reset", "-q", "--hard", "HEAD")
    clone.run("dvc", "checkout", "--force")


def test_remote_round_trip_gives_byte_identical_models(clone, tmp_path):
    clone.run("dvc", "remote", "add", "--local", "-d", "scratch", str(tmp_path / "remote"))
    clone.run("dvc", "push")
    before = {m: (clone.path / f"models/{m}/fold-3.pt").read_bytes() for m in ("rnn", "lstm")}
    shutil.rmtree(clone.path / ".dvc/cache")
    shutil.rmtree(clone.path / "models")
    shutil.rmtree(clone.path / "data/prepared")
    clone.run("dvc", "pull")
    for model, data in before.items():
        assert (clone.path / f"models/{model}/fold-3.pt").read_bytes() == data
    assert "up to date" in clone.run("dvc", "status")


TABLE_MARKER = "<!-- comparison table: tests/test_pipeline.py runs the command in the next block -->"


def readme_command(marker: str) -> list[str]:
    """The shell command in the README's code block after `marker` (the test runs what users read)."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[lines.index(marker) + 1] == "```bash"
    return shlex.split(lines[lines.index(marker) + 2])


def test_the_readme_comparison_table_fits_120_columns(clone):
    clone.run("dvc", "exp", "remove", "-A")  # as after `make repro` and one cell
    clone.run("dvc", "exp", "run", "-n", "lstm-h16", "-S", "train_lstm.hidden_size=16")
    table = clone.run(*readme_command(TABLE_MARKER))
    lines = [line for line in table.splitlines() if line.startswith("|")]
    assert "lstm-h16" in table and "train_lstm.hidden_size" in lines[0], table
    assert "test_balanced_accuracy.rnn" in lines[0] and "test_balanced_accuracy.lstm" in lines[0], table
    assert max(map(len, lines)) <= 120, table
    shown = clone.json("dvc", "exp", "show", "--json")
    columns = json.dumps(shown)
    assert "rows_raw" not in columns and "per_language" not in columns  # data counts are not metrics
    clone.run("git", "reset", "-q", "--hard", "HEAD")
    clone.run("dvc", "checkout", "--force")


def run_failing(clone: Clone, *command: str) -> str:
    result = subprocess.run(command, cwd=clone.path, env=clone.env, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0, result.stdout
    return result.stdout + result.stderr


KEPT = ["metrics/rnn.json", "metrics/lstm.json", "metrics/compare.json", "plots/confusion/rnn.csv",
        "plots/length/lstm.csv", "plots/gradients/rnn.csv", "plots/curves/lstm/mean.csv", "report/report.md",
        "metrics/train_lstm.json", "data/stats.json"]


def test_a_refused_or_failed_stage_keeps_the_last_good_outputs(clone):
    before = {path: (clone.path / path).read_bytes() for path in KEPT}
    models = {path.name: path.read_bytes() for path in (clone.path / "models/lstm").iterdir()}
    params = (clone.path / "params.yaml").read_text()
    # a misspelt section: refused before any output is touched
    (clone.path / "params.yaml").write_text(params.replace("\nevaluate:", "\nevalute:"))
    output = run_failing(clone, "dvc", "repro")
    assert "error: params.yaml: unknown section 'evalute' (did you mean 'evaluate'?)" in output, output
    assert {path: (clone.path / path).read_bytes() for path in KEPT} == before
    # a valid value that fails at run time, inside a running stage whose outputs DVC has removed
    (clone.path / "params.yaml").write_text(params.replace("gradient_min_letters: 10", "gradient_min_letters: 99"))
    output = run_failing(clone, "dvc", "repro")
    assert "error: no test name has 99 letters" in output and "Traceback" not in output, output
    assert {path: (clone.path / path).read_bytes() for path in KEPT} == before
    assert "evaluate" in clone.run("dvc", "status")  # still to be re-run
    # a training stage that fails: its git-kept outputs stay, its cached models come back with dvc checkout
    (clone.path / "params.yaml").write_text(params.replace("lr: 0.01", "lr: 1000.0"))
    output = run_failing(clone, "dvc", "repro", "train_lstm")
    assert "error: train_lstm fold" in output and "Traceback" not in output, output
    assert {path: (clone.path / path).read_bytes() for path in KEPT} == before
    clone.run("dvc", "checkout", "train_lstm")
    assert {path.name: path.read_bytes() for path in (clone.path / "models/lstm").iterdir()} == models
    assert "train_lstm" in clone.run("dvc", "status")
    (clone.path / "params.yaml").write_text(params)
    assert ran_stages(clone.run("dvc", "repro")) == {"params"}  # it had passed the runtime-failing file
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


def test_a_queued_experiment_finds_the_data_through_a_relative_path(clone, names_dir):
    """The same for `dvc exp run --queue` + `dvc queue start` (a celery worker, another copy)."""
    clone.env["NAMES_DATA_DIR"] = os.path.relpath(names_dir, clone.path)
    cell = ["-S", "prepare.seed=1", "-S", "prepare.folds=2", "-S", "train_rnn.folds=[0]", "-S", "train_lstm.folds=[0]"]
    try:
        clone.run("dvc", "exp", "run", "--queue", "-n", "seed1-queued", *cell)
        clone.run("dvc", "queue", "start", "-j", "1")
        wait_for_queue(clone)
        assert "Failed" not in clone.run("dvc", "queue", "status"), clone.run("dvc", "queue", "logs", "seed1-queued")
        diff = clone.json("dvc", "metrics", "diff", "HEAD", "seed1-queued", "--json")
        assert "test.balanced_accuracy.value" in diff["metrics/rnn.json"], diff
    finally:
        clone.env["NAMES_DATA_DIR"] = str(names_dir)
        subprocess.run(["dvc", "queue", "stop", "--kill"], cwd=clone.path, env=clone.env, capture_output=True)
