"""Two machines share one experiment through git and a real S3 remote.

moto's S3 server runs on 127.0.0.1 (no network needed) with IAM authentication on, so wrong
credentials are refused as AWS refuses them. Machine A commits a small pipeline run, pushes it
(git to a bare `origin`, data to S3), runs one `dvc exp run -S` cell and `dvc exp push`es it;
machine B, a fresh `git clone` of origin, pulls the cell and gets A's models byte for byte
without training. Run with `-s` to see every command and DVC's own output."""
import hashlib
import json
import logging
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.helpers import SMALL_FOLDS, Clone, ran_stages

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
BUCKET, PREFIX = "names", "project"
CELL = "lstm-h16"
CELL_PARAM = "train_lstm.hidden_size=16"
# botocore retries a refused connection 4 times with backoff, and s3fs retries that 5 times: with
# the defaults an unreachable endpoint takes DVC about 2 minutes to report. One attempt, same error.
FAIL_FAST = {"AWS_MAX_ATTEMPTS": "1"}
# What S3 answers to a wrong key or secret, as DVC shows it (a HEAD request gets a bare 403).
REFUSED = ("Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch")
# A documented variant of `dvc exp show` (README, Experiments): the cell's param and headline.
SHOW_KEEP = ("Experiment|train_lstm.hidden_size|metrics/lstm.json:test.accuracy.value"
             "|metrics/lstm.json:test.balanced_accuracy.value|metrics/lstm.json:test.macro_f1.value")


@dataclass
class S3:
    endpoint: str
    key: str
    secret: str

    def client(self, key: str | None = None, secret: str | None = None):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=key or self.key, aws_secret_access_key=secret or self.secret)

    def objects(self) -> dict[str, tuple[str, int]]:
        """Every object under the remote's prefix: key -> (ETag, size)."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX)
        return {o["Key"]: (o["ETag"], o["Size"]) for page in pages for o in page.get("Contents", [])}


def closed_port() -> int:
    """A localhost port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _moto_api(endpoint: str, action: str, body: bytes) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/{action}", data=body, method="POST",
                                     headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


@pytest.fixture(scope="module")
def s3():
    """moto's S3 server in a thread of this process, on a free localhost port: a bucket, and an
    IAM user whose key is the only one accepted. The server stops (and its port closes) however
    the tests end; being a thread, it cannot outlive pytest either."""
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        # Requests are unauthenticated until reset-auth below: set up the user and the bucket.
        setup = {"endpoint_url": endpoint, "region_name": "us-east-1",
                 "aws_access_key_id": "setup", "aws_secret_access_key": "setup"}
        iam = boto3.client("iam", **setup)
        iam.create_user(UserName="dvc")
        iam.put_user_policy(UserName="dvc", PolicyName="s3", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="dvc")["AccessKey"]
        boto3.client("s3", **setup).create_bucket(Bucket=BUCKET)
        _moto_api(endpoint, "reset-auth", b"0")  # from now on every request must be signed by that key
        yield S3(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        try:
            _moto_api(endpoint, "reset-auth", b"inf")  # moto's settings are this process's globals
            _moto_api(endpoint, "reset", b"")
        finally:
            server.stop()
            getattr(server, "_server").server_close()
            werkzeug.setLevel(level)
    with pytest.raises(OSError), socket.create_connection((host, port), timeout=5):
        pass


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
    cell_models: dict[str, str]  # and in A's experiment
    cell_lstm_metrics: dict


@pytest.fixture(scope="module")
def published(tmp_path_factory, reproduced, s3) -> Published:
    """Machine A: the session's reproduced project (small budget, `dvc repro`, committed) with an
    S3 remote, pushed to origin and S3; then one cell, `dvc exp push origin`ed."""
    origin = tmp_path_factory.mktemp("origin") / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    a = Machine.copy_of(reproduced, tmp_path_factory.mktemp("machines") / "a")
    a.run("dvc", "remote", "add", "-d", "storage", f"s3://{BUCKET}/{PREFIX}")
    a.run("dvc", "remote", "modify", "storage", "endpointurl", s3.endpoint)
    a.credentials(s3)
    committed = (a.path / ".dvc/config").read_text()
    assert s3.key not in committed and s3.secret not in committed and "endpointurl" in committed
    a.run("git", "check-ignore", "-q", ".dvc/config.local")
    a.commit("S3 remote")
    assert "up to date" in a.run("dvc", "status")
    a.run("git", "remote", "add", "origin", str(origin))
    a.run("git", "push", "-q", "-u", "origin", "main")
    a.run("dvc", "push")
    assert s3.objects(), "dvc push wrote nothing to the bucket"
    main_models = a.sha256("models/lstm/fold-*.pt")
    assert len(main_models) == len(SMALL_FOLDS)

    output = a.run("dvc", "exp", "run", "-n", CELL, "-S", CELL_PARAM)
    assert ran_stages(output) == {"params", "train_lstm", "score_lstm", "evaluate", "report"}  # what the change needs
    cell_models = a.sha256("models/lstm/fold-*.pt")
    assert cell_models.keys() == main_models.keys() and cell_models != main_models
    cell_lstm_metrics = json.loads((a.path / "metrics/lstm.json").read_text())
    a.run("dvc", "exp", "push", "origin", CELL)  # the exp's git ref to origin, its cache to S3
    a.run("dvc", "push")
    return Published(origin, a, main_models, cell_models, cell_lstm_metrics)


def fresh_clone(name: str, published: Published, path: Path, names_dir: Path, s3: S3) -> Machine:
    """Another machine: a `git clone` of origin, nothing else but its own credentials."""
    subprocess.run(["git", "clone", "-q", str(published.origin), str(path)], check=True)
    machine = Machine(path, names_dir, name)
    assert not (path / ".dvc/cache").exists() and not (path / "models").exists()
    machine.credentials(s3)
    return machine


def experiments(show: list) -> dict[str, dict]:
    """`dvc exp show --json`: each named experiment's data."""
    found = {}
    for commit in show:
        for experiment in commit.get("experiments") or []:
            for rev in experiment.get("revs", []):
                if rev.get("name"):
                    found[rev["name"]] = rev["data"]
    return found


def scalars(tree: dict) -> dict:
    """A metrics file as `dvc exp show` gives it: without its lists (per-fold values)."""
    return {k: scalars(v) if isinstance(v, dict) else v for k, v in tree.items() if not isinstance(v, list)}


def test_machine_b_gets_the_cell_byte_identical_without_training(published, tmp_path, names_dir, s3):
    b = fresh_clone("B", published, tmp_path / "machine_b", names_dir, s3)
    b.run("dvc", "exp", "pull", "origin", CELL)

    shown = experiments(b.json("dvc", "exp", "show", "--json"))
    assert CELL in shown, shown.keys()
    assert shown[CELL]["params"]["params.yaml"]["data"]["train_lstm"]["hidden_size"] == 16
    lstm = shown[CELL]["metrics"]["metrics/lstm.json"]["data"]
    assert lstm["test"] == scalars(published.cell_lstm_metrics["test"])  # A's figures (exp show drops lists)
    assert CELL in b.run("dvc", "exp", "show", "--md", "--drop", ".*", "--keep", SHOW_KEEP)

    diff = b.run("dvc", "metrics", "diff", "main", CELL)
    assert "metrics/lstm.json" in diff and "test.balanced_accuracy" in diff

    b.run("dvc", "exp", "apply", CELL)
    b.run("dvc", "pull")
    assert b.sha256("models/lstm/fold-*.pt") == published.cell_models  # A's bytes, not main's
    assert "up to date" in b.run("dvc", "status")
    assert not any("Running stage" in out for out in b.outputs)  # B trained nothing


def test_an_unreachable_remote_fails_clearly_and_loses_nothing(published, tmp_path, names_dir, s3):
    c = fresh_clone("C", published, tmp_path / "machine_c", names_dir, s3)
    bad = f"http://127.0.0.1:{closed_port()}"
    c.run("dvc", "remote", "modify", "--local", "storage", "endpointurl", bad)
    before = c.snapshot()
    for command in (("dvc", "pull"), ("dvc", "exp", "pull", "origin", CELL)):
        result = c.attempt(*command, env=FAIL_FAST)
        assert result.returncode != 0
        assert "ERROR" in result.stderr and f'Could not connect to the endpoint URL: "{bad}/' in result.stderr
        assert c.snapshot() == before  # nothing half-pulled into the workspace or the cache

    remote = s3.objects()
    a = published.a
    a.run("dvc", "remote", "modify", "--local", "storage", "endpointurl", bad)
    try:
        for command in (("dvc", "push"), ("dvc", "exp", "push", "origin", CELL)):
            result = a.attempt(*command, env=FAIL_FAST)
            assert result.returncode != 0 and f'Could not connect to the endpoint URL: "{bad}/' in result.stderr
    finally:
        a.run("dvc", "remote", "modify", "--local", "--unset", "storage", "endpointurl")
    assert s3.objects() == remote
    assert CELL in a.run("dvc", "exp", "list")

    c.run("dvc", "remote", "modify", "--local", "--unset", "storage", "endpointurl")
    recovers(c, published)


def recovers(c: Machine, published: Published) -> None:
    """Once the remote answers again, the same commands get everything, and nothing trains. The
    failed `dvc exp pull` had already fetched the git ref, so the rerun says "No experiments to
    pull." -- and still fetches the experiment's data."""
    c.run("dvc", "exp", "pull", "origin", CELL)
    c.run("dvc", "exp", "apply", CELL)
    assert c.sha256("models/lstm/fold-*.pt") == published.cell_models
    c.run("dvc", "pull")
    assert "up to date" in c.run("dvc", "status")
    assert not any("Running stage" in out for out in c.outputs)


@pytest.mark.parametrize("wrong", ["secret", "key"])
def test_wrong_credentials_fail_clearly_and_lose_nothing(published, tmp_path, names_dir, s3, wrong):
    c = fresh_clone("C", published, tmp_path / "machine_c", names_dir, s3)
    key, secret = ("AKIAWRONGWRONGWRONG0", None) if wrong == "key" else (None, "wrong-secret")
    c.credentials(s3, key=key, secret=secret)
    before = c.snapshot()
    for command in (("dvc", "pull"), ("dvc", "exp", "pull", "origin", CELL)):
        result = c.attempt(*command)
        assert result.returncode != 0
        assert "ERROR" in result.stderr and any(m in result.stderr for m in REFUSED), result.stderr
        assert c.snapshot() == before

    remote = s3.objects()
    a = published.a
    a.credentials(s3, key=key, secret=secret)
    try:
        for command in (("dvc", "push"), ("dvc", "exp", "push", "origin", CELL)):
            result = a.attempt(*command)
            assert result.returncode != 0 and any(m in result.stderr for m in REFUSED), result.stderr
    finally:
        a.credentials(s3)
    assert s3.objects() == remote
    assert CELL in a.run("dvc", "exp", "list")

    c.credentials(s3)
    recovers(c, published)
