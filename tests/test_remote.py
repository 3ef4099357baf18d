"""Two machines share one experiment through git and a real S3 remote.

moto's S3 server runs on 127.0.0.1 (no network needed) with IAM authentication on, so wrong
credentials are refused as AWS refuses them. Machine A commits a small pipeline run, pushes it
(git to a bare `origin`, data to S3), runs one `dvc exp run -S` experiment and `dvc exp push`es it;
machine B, a fresh `git clone` of origin, pulls the experiment and gets A's models byte for byte
without training. Run with `-s` to see every command and DVC's own output."""
import socket
import subprocess
from pathlib import Path

import pytest

from tests.helpers import EXPERIMENT, S3, Machine, Published, experiments

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
# botocore retries a refused connection 4 times with backoff, and s3fs retries that 5 times: with
# the defaults an unreachable endpoint takes DVC about 2 minutes to report. One attempt, same error.
FAIL_FAST = {"AWS_MAX_ATTEMPTS": "1"}
# What S3 answers to a wrong key or secret, as DVC shows it (a HEAD request gets a bare 403).
REFUSED = ("Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch")
# A documented variant of `dvc exp show` (README, Experiments): the experiment's param and headline.
SHOW_KEEP = ("Experiment|train_lstm.hidden_size|metrics/lstm.json:test.accuracy.value"
             "|metrics/lstm.json:test.balanced_accuracy.value|metrics/lstm.json:test.macro_f1.value")


def closed_port() -> int:
    """A localhost port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_clone(name: str, published: Published, path: Path, names_dir: Path, s3: S3) -> Machine:
    """Another machine: a `git clone` of origin, nothing else but its own credentials."""
    subprocess.run(["git", "clone", "-q", str(published.origin), str(path)], check=True)
    machine = Machine(path, names_dir, name)
    assert not (path / ".dvc/cache").exists() and not (path / "models").exists()
    machine.credentials(s3)
    return machine


def scalars(tree: dict) -> dict:
    """A metrics file as `dvc exp show` gives it: without its lists (per-fold values)."""
    return {k: scalars(v) if isinstance(v, dict) else v for k, v in tree.items() if not isinstance(v, list)}


def test_machine_b_gets_the_experiment_byte_identical_without_training(published, tmp_path, names_dir, s3):
    b = fresh_clone("B", published, tmp_path / "machine_b", names_dir, s3)
    b.run("dvc", "exp", "pull", "origin", EXPERIMENT)

    shown = experiments(b.json("dvc", "exp", "show", "--json"))
    assert EXPERIMENT in shown, shown.keys()
    assert shown[EXPERIMENT]["params"]["params.yaml"]["data"]["train_lstm"]["hidden_size"] == 16
    lstm = shown[EXPERIMENT]["metrics"]["metrics/lstm.json"]["data"]
    assert lstm["test"] == scalars(published.experiment_lstm_metrics["test"])  # A's figures (exp show drops lists)
    assert EXPERIMENT in b.run("dvc", "exp", "show", "--md", "--drop", ".*", "--keep", SHOW_KEEP)

    diff = b.run("dvc", "metrics", "diff", "main", EXPERIMENT)
    assert "metrics/lstm.json" in diff and "test.balanced_accuracy" in diff

    b.run("dvc", "exp", "apply", EXPERIMENT)
    b.run("dvc", "pull")
    assert b.sha256("models/lstm/fold-*.pt") == published.experiment_models  # A's bytes, not main's
    assert "up to date" in b.run("dvc", "status")
    assert not any("Running stage" in out for out in b.outputs)  # B trained nothing


def test_an_unreachable_remote_fails_clearly_and_loses_nothing(published, tmp_path, names_dir, s3):
    c = fresh_clone("C", published, tmp_path / "machine_c", names_dir, s3)
    bad = f"http://127.0.0.1:{closed_port()}"
    c.run("dvc", "remote", "modify", "--local", "storage", "endpointurl", bad)
    before = c.snapshot()
    for command in (("dvc", "pull"), ("dvc", "exp", "pull", "origin", EXPERIMENT)):
        result = c.attempt(*command, env=FAIL_FAST)
        assert result.returncode != 0
        assert "ERROR" in result.stderr and f'Could not connect to the endpoint URL: "{bad}/' in result.stderr
        assert c.snapshot() == before  # nothing half-pulled into the workspace or the cache

    remote = s3.objects()
    a = published.a
    a.run("dvc", "remote", "modify", "--local", "storage", "endpointurl", bad)
    try:
        for command in (("dvc", "push"), ("dvc", "exp", "push", "origin", EXPERIMENT)):
            result = a.attempt(*command, env=FAIL_FAST)
            assert result.returncode != 0 and f'Could not connect to the endpoint URL: "{bad}/' in result.stderr
    finally:
        a.run("dvc", "remote", "modify", "--local", "--unset", "storage", "endpointurl")
    assert s3.objects() == remote
    assert EXPERIMENT in a.run("dvc", "exp", "list")

    c.run("dvc", "remote", "modify", "--local", "--unset", "storage", "endpointurl")
    recovers(c, published)


def recovers(c: Machine, published: Published) -> None:
    """Once the remote answers again, the same commands get everything, and nothing trains. The
    failed `dvc exp pull` had already fetched the git ref, so the rerun says "No experiments to
    pull." -- and still fetches the experiment's data."""
    c.run("dvc", "exp", "pull", "origin", EXPERIMENT)
    c.run("dvc", "exp", "apply", EXPERIMENT)
    assert c.sha256("models/lstm/fold-*.pt") == published.experiment_models
    c.run("dvc", "pull")
    assert "up to date" in c.run("dvc", "status")
    assert not any("Running stage" in out for out in c.outputs)


@pytest.mark.parametrize("wrong", ["secret", "key"])
def test_wrong_credentials_fail_clearly_and_lose_nothing(published, tmp_path, names_dir, s3, wrong):
    c = fresh_clone("C", published, tmp_path / "machine_c", names_dir, s3)
    key, secret = ("AKIAWRONGWRONGWRONG0", None) if wrong == "key" else (None, "wrong-secret")
    c.credentials(s3, key=key, secret=secret)
    before = c.snapshot()
    for command in (("dvc", "pull"), ("dvc", "exp", "pull", "origin", EXPERIMENT)):
        result = c.attempt(*command)
        assert result.returncode != 0
        assert "ERROR" in result.stderr and any(m in result.stderr for m in REFUSED), result.stderr
        assert c.snapshot() == before

    remote = s3.objects()
    a = published.a
    a.credentials(s3, key=key, secret=secret)
    try:
        for command in (("dvc", "push"), ("dvc", "exp", "push", "origin", EXPERIMENT)):
            result = a.attempt(*command)
            assert result.returncode != 0 and any(m in result.stderr for m in REFUSED), result.stderr
    finally:
        a.credentials(s3)
    assert s3.objects() == remote
    assert EXPERIMENT in a.run("dvc", "exp", "list")

    c.credentials(s3)
    recovers(c, published)
