"""What the tests share, in one module: paths, the one small budget, running a stage or the
whole pipeline in-process, and a git clone of the working tree for DVC end-to-end tests.
Fixtures live in tests/conftest.py; markers are documented in docs/development.md."""
import hashlib
import importlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from surnames import dvc_yaml
from surnames import prepare as prep

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
SMALL_BUDGETS = {k: v for k, v in SMALL_TRAIN.items() if k != "eval_every"}  # the ladder's share of it
LADDER_STAGES = tuple(name for name in dvc_yaml.stage_names(ROOT / "dvc.yaml") if name.startswith("ladder@"))
# What a change of the course LSTM's hidden size re-runs: its own stages (the ladder's LSTM has
# its own, budgets.hidden_size.lstm).
LSTM_SIZE_CHANGE = {"params", "train_lstm", "score@lstm", "evaluate", "report"}


def trained_sections(root: Path = ROOT) -> list[str]:
    """Every training section of params.yaml: the course cells'."""
    return [section for section in yaml.safe_load((root / "params.yaml").read_text()) if section.startswith("train_")]


def small_params(root: Path = ROOT) -> dict:
    """params.yaml with the small budget."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    for section in trained_sections(root):
        params[section].update(SMALL_TRAIN)
    params["budgets"].update(SMALL_BUDGETS)
    params["evaluate"].update(SMALL_EVALUATE)
    return params


@contextmanager
def inside(directory: Path, **env: str):
    """Run a block from `directory` with extra environment variables, as DVC runs a stage;
    `with inside(d) as d:` gives the directory back. The repo's code goes on PYTHONPATH: a
    worker process starts with the working directory first on its path, where a test project's
    surnames/ (the registry dvc.yaml reads) would otherwise hide the package."""
    env = {"PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))), **env}
    old_cwd, old_env = Path.cwd(), {key: os.environ.get(key) for key in env}
    os.chdir(directory)
    os.environ.update(env)
    try:
        yield directory
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
    assert_one_line(capsys.readouterr().err, status, expected)


def assert_one_line(err: str, status: int, expected: str, anywhere: bool = False, code: int = 1) -> None:
    """Exit status `code` (1, or argparse's 2) and exactly one line on stderr: `error: <expected>…`,
    or with `anywhere`, a line that holds `expected`."""
    found = expected in err if anywhere else err.startswith(f"error: {expected}")
    assert status == code and found and err.count("\n") == 1, err


def make_project(path: Path, params: dict) -> Path:
    """A directory laid out like the repo's root (manifest, dvc.yaml with the registry it reads,
    params), without outputs."""
    (path / "data").mkdir(parents=True)
    (path / "surnames").mkdir()
    shutil.copy(ROOT / "surnames/registry.yaml", path / "surnames")
    shutil.copy(ROOT / "data/names.sha256", path / "data")
    shutil.copy(ROOT / "data/names.lines", path / "data")
    shutil.copy(ROOT / "dvc.yaml", path)
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def project_with(source: Path, path: Path, *folders: str) -> Path:
    """A new project at `path` (small budget) holding `source`'s prepared folds and `folders`."""
    project = make_project(path, small_params())
    for folder in ("data/prepared", *folders):
        shutil.copytree(source / folder, project / folder)
    return project


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
        small = {f"{section}__{k}": v for section in trained_sections(path) for k, v in SMALL_TRAIN.items()}
        small.update({f"budgets__{k}": v for k, v in SMALL_BUDGETS.items()})
        clone.set_params(**{**small, **{f"evaluate__{k}": v for k, v in SMALL_EVALUATE.items()}, **params})
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


def readme_block(marker: str) -> list[list[str]]:
    """Every shell command of the README's code block after `marker`, in order, comments
    dropped (the tests run what users read)."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index(marker) + 1
    assert lines[start] == "```bash"
    block = lines[start + 1 : lines.index("```", start + 1)]
    return [shlex.split(line, comments=True) for line in block if line.strip()]


def readme_command(marker: str) -> list[str]:
    """The first shell command of the README's code block after `marker`."""
    return readme_block(marker)[0]


def experiments(show: list) -> dict[str, dict]:
    """`dvc exp show --json`: each named experiment's data."""
    found = {}
    for commit in show:
        for experiment in commit.get("experiments") or []:
            for rev in experiment.get("revs", []):
                if rev.get("name"):
                    found[rev["name"]] = rev["data"]
    return found


LANGUAGES = ["A", "B", "C"]  # a toy set of languages for model-file tests


PREPARE_PARAMS = {"url": "http://127.0.0.1:9/none.zip", "timeout_s": 5, "folds": 5, "val_fraction": 0.1, "seed": 0}


def run_prepare(tmp_path, params=PREPARE_PARAMS):
    return prep.prepare(params, manifest_path=ROOT / "data/names.sha256", raw_dir=tmp_path / "raw",
                        out_dir=tmp_path / "prepared", stats_path=tmp_path / "data.json",
                        lines_path=ROOT / "data/names.lines")


def read_folds(prepared: Path) -> list[dict[str, pd.DataFrame]]:
    return [{split: pd.read_csv(prepared / f"fold-{i}" / f"{split}.csv", keep_default_na=False)
             for split in prep.SPLITS} for i in range(PREPARE_PARAMS["folds"])]


def official_style_zip(names_dir: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("data/eng-fra.txt", "unrelated\n")
        for path in sorted(names_dir.glob("*.txt")):
            bundle.write(path, f"data/names/{path.name}")
    return buffer.getvalue()


BUCKET, PREFIX = "names", "project"


EXPERIMENT = "lstm-h16"


EXPERIMENT_PARAM = "train_lstm.hidden_size=16"


@dataclass
class S3:
    endpoint: str
    key: str
    secret: str

    def client(self, key: str | None = None, secret: str | None = None):
        import boto3  # here: seconds to import, and only the S3 tests need it

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=key or self.key, aws_secret_access_key=secret or self.secret)

    def objects(self) -> dict[str, tuple[str, int]]:
        """Every object under the remote's prefix: key -> (ETag, size)."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX)
        return {o["Key"]: (o["ETag"], o["Size"]) for page in pages for o in page.get("Contents", [])}


def _moto_api(endpoint: str, action: str, body: bytes) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/{action}", data=body, method="POST",
                                     headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


class Machine(Clone):
    """A clone that prints each command and its output (`pytest -s` shows the transcript)."""

    def __init__(self, path: Path, names_dir: Path, name: str = "A"):
        super().__init__(path, names_dir)
        self.name = name
        for variable in [v for v in self.env if v.startswith("AWS_")]:
            del self.env[variable]  # only .dvc/config.local gives credentials
        self.env["AWS_EC2_METADATA_DISABLED"] = "true"
        self.outputs: list[str] = []

    def attempt(self, *command: str, echo: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        start = time.monotonic()
        result = subprocess.run(command, cwd=self.path, env={**self.env, **(env or {})}, capture_output=True,
                                text=True, timeout=600)
        seconds = time.monotonic() - start
        words = [*(f"{k}={v}" for k, v in (env or {}).items()),
                 *(f"'{c}'" if any(x in c for x in " |*") else c for c in command)]
        if "secret_access_key" in words[:-1]:
            words[-1] = "<secret>"
        shown = " ".join(words)
        stdout = result.stdout if echo else f"({len(result.stdout)} characters of JSON)\n"
        print(f"\n[{self.name}]$ {shown}    # {seconds:.1f} s\n{stdout}{result.stderr}".rstrip()
              + ("" if result.returncode == 0 else f"\n(exit status {result.returncode})"))
        self.outputs.append(result.stdout + result.stderr)
        return result

    def json(self, *command: str):
        result = self.attempt(*command, echo=False)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def credentials(self, s3: S3, key: str | None = None, secret: str | None = None) -> None:
        """Credentials in .dvc/config.local (git-ignored), never in the committed .dvc/config."""
        self.run("dvc", "remote", "modify", "--local", "storage", "access_key_id", key or s3.key)
        self.run("dvc", "remote", "modify", "--local", "storage", "secret_access_key", secret or s3.secret)

    def sha256(self, pattern: str) -> dict[str, str]:
        return {p.relative_to(self.path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(self.path.glob(pattern))}

    def snapshot(self) -> dict[str, str]:
        """Every file of the workspace and the DVC cache (not .git, not .dvc/tmp), by content."""
        files = {p.relative_to(self.path).as_posix(): p for p in self.path.rglob("*") if p.is_file()}
        return {name: hashlib.sha256(p.read_bytes()).hexdigest() for name, p in files.items()
                if not name.startswith((".git/", ".dvc/tmp/"))}


@dataclass
class Published:
    origin: Path
    a: Machine
    main_models: dict[str, str]  # sha256 of models/lstm/fold-*.pt on main
    experiment_models: dict[str, str]  # and in A's experiment
    experiment_lstm_metrics: dict
