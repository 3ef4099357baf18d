"""What the tests share, in one module: paths, the one small budget, running a stage or the
whole pipeline in-process, and a git clone of the working tree for DVC end-to-end tests.
Fixtures live in tests/conftest.py; markers are documented in docs/development.md."""
import importlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import yaml

from surnames import dvc_yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("NAMES_DATA_DIR", ROOT.parent / "shared/data/names"))
DATA = DATA if DATA.is_absolute() else (ROOT / DATA).resolve()
MISSING_DATA = f"the names data is not at {DATA}: set NAMES_DATA_DIR to a folder of the 18 <Language>.txt files"

# The one small budget of every test that trains: two of the five folds, two 1-thread
# processes, a few steps each (every code path of the default run, in seconds), and the
# fewest bootstrap draws the schema allows.
SMALL_TRAIN = {"iterations": 60, "eval_every": 20, "batch_size": 64, "threads": 1, "folds": [0, 1], "processes": 2}
SMALL_EVALUATE = {"threads": 1, "bootstrap_draws": 1000}
SMALL_FOLDS = SMALL_TRAIN["folds"]


def small_params(root: Path = ROOT) -> dict:
    """params.yaml with the small budget."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    for model in ("rnn", "lstm"):
        params[f"train_{model}"].update(SMALL_TRAIN)
    params["evaluate"].update(SMALL_EVALUATE)
    return params


@contextmanager
def inside(directory: Path, **env: str):
    """Run a block from `directory` with extra environment variables, as DVC runs a stage."""
    old_cwd, old_env = Path.cwd(), {key: os.environ.get(key) for key in env}
    os.chdir(directory)
    os.environ.update(env)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        for key, value in old_env.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


def call_main(module: str, *argv: str) -> int:
    """A stage's main(argv) (or another module's, named in full: "surnames.predict")
    in-process, from the current directory; its exit status. Read what it printed with
    pytest's capsys."""
    main = importlib.import_module(module if "." in module else f"stages.{module}").main
    try:
        main(list(argv))
    except SystemExit as stop:
        return stop.code
    return 0


def run_module(module: str, *args: str, cwd: Path, env: dict | None = None, stdin: str | None = None):
    """Run `python -m <module>` in a subprocess, as a user would, from `cwd`."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v is not None}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=full_env,
                          input=stdin, capture_output=True, text=True, timeout=600)


RNN_ARGS = dvc_yaml.module_args("train_rnn", ROOT / "dvc.yaml")


def set_rnn_param(project: Path, **changes) -> None:
    """The project's params.yaml: the small budget with `changes` to train_rnn."""
    params = small_params()
    params["train_rnn"].update(changes)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def one_line_error(capsys, status: int, expected: str) -> None:
    """The stage exited 1 with exactly one line on stderr, starting `error: <expected>`."""
    err = capsys.readouterr().err
    assert status == 1 and err.startswith(f"error: {expected}") and err.count("\n") == 1, err


def make_project(path: Path, params: dict) -> Path:
    """A directory laid out like the repo's root (manifest, dvc.yaml, params), without outputs."""
    (path / "data").mkdir(parents=True)
    shutil.copy(ROOT / "data/names.sha256", path / "data")
    shutil.copy(ROOT / "dvc.yaml", path)
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def run_pipeline_in_process(project: Path, names_dir: Path, stages=None) -> None:
    """Each stage's main() with the arguments dvc.yaml gives it, in dvc.yaml's order, from
    `project`: what `dvc repro` runs, without DVC and without a subprocess per stage."""
    with inside(project, NAMES_DATA_DIR=str(names_dir)):
        for stage in stages or dvc_yaml.stage_names():
            module = dvc_yaml.entry_module(stage).removeprefix("stages.")
            status = call_main(module, *dvc_yaml.module_args(stage))
            assert status == 0, f"stage {stage} exited with {status}"


def copy_working_tree(path: Path) -> None:
    """The working tree's tracked and untracked files, minus ignored ones: what a commit of
    it would hold, so end-to-end tests see uncommitted edits too."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, path / name)


class Clone:
    """A git repository holding a copy of the working tree, where DVC runs for real."""

    def __init__(self, path: Path, names_dir: Path):
        self.path = path
        bin_dir = str(Path(sys.executable).parent)
        self.env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"], "NAMES_DATA_DIR": str(names_dir),
                    "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
                    "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
                    "DVC_NO_ANALYTICS": "1"}
        self.env.pop("PYTHONPATH", None)

    @classmethod
    def of_working_tree(cls, path: Path, names_dir: Path, **params) -> "Clone":
        """The working tree committed in a new repository at `path`, with the small budget and
        `params` (section__key=value) on top."""
        copy_working_tree(path)
        clone = cls(path, names_dir)
        clone.run("git", "init", "-q", "-b", "main")
        small = {f"train_{m}__{k}": v for m in ("rnn", "lstm") for k, v in SMALL_TRAIN.items()}
        clone.set_params(**small, **{f"evaluate__{k}": v for k, v in SMALL_EVALUATE.items()}, **params)
        clone.commit("clone with the small budget")
        return clone

    @classmethod
    def copy_of(cls, other: "Clone", path: Path, **kwargs) -> "Clone":
        """A `git clone` of `other` with a copy of its DVC cache, checked out: its results
        without running anything again."""
        subprocess.run(["git", "clone", "-q", str(other.path), str(path)], check=True)
        shutil.copytree(other.path / ".dvc/cache", path / ".dvc/cache")
        clone = cls(path, other.env["NAMES_DATA_DIR"], **kwargs)
        clone.run("git", "remote", "remove", "origin")
        clone.run("dvc", "checkout")
        return clone

    def attempt(self, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run(command, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=600)

    def run(self, *command: str) -> str:
        """stdout and stderr of a command that must succeed."""
        result = self.attempt(*command)
        assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout + result.stderr

    def fail(self, *command: str) -> str:
        """stdout and stderr of a command that must fail."""
        result = self.attempt(*command)
        assert result.returncode != 0, result.stdout
        return result.stdout + result.stderr

    def json(self, *command: str):
        result = self.attempt(*command)
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

    def restore(self) -> None:
        """Back to the last commit: workspace, params and cached outputs."""
        self.run("git", "reset", "-q", "--hard", "HEAD")
        self.run("dvc", "checkout", "--force")


def ran_stages(output: str) -> set[str]:
    """The stages a DVC command's log says it ran."""
    return set(re.findall(r"Running stage '([^']+)'", output))


def readme_command(marker: str) -> list[str]:
    """The shell command in the README's code block after `marker` (the test runs what users read)."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[lines.index(marker) + 1] == "```bash"
    return shlex.split(lines[lines.index(marker) + 2])
