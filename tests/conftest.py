"""Fixtures, and the markers that let a run choose its cases (docs/development.md):

    e2e      runs DVC itself in a temporary git clone of the working tree
    browser  renders a page in headless Chromium
    slow     takes over ~10 s: every test that uses `small_run` is marked slow here

`make test` runs every case but e2e, `make e2e` the e2e ones (CI runs both);
`python -m pytest -m "not e2e and not browser and not slow"` is the inner loop of about a minute.
"""
import http.server
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
import yaml
from filelock import FileLock

from surnames import cells, model_file, predict, train
from surnames.alphabet import ALPHABET
from tests.helpers import (
    BUCKET,
    DATA,
    EXPERIMENT,
    EXPERIMENT_PARAM,
    LANGUAGES,
    LSTM_SIZE_CHANGE,
    MISSING_DATA,
    PREFIX,
    ROOT,
    S3,
    SMALL_FOLDS,
    Clone,
    Machine,
    Published,
    _moto_api,
    inside,
    make_project,
    official_style_zip,
    project_with,
    ran_stages,
    read_folds,
    run_pipeline_in_process,
    run_prepare,
    small_params,
)


def pytest_collection_modifyitems(items):
    for item in items:
        if "small_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def names_dir() -> Path:
    """The raw names. Without them the tests that need them are skipped, and one test
    (tests/test_data.py::test_the_names_data_is_there) fails, naming NAMES_DATA_DIR."""
    if not DATA.is_dir():
        pytest.skip(MISSING_DATA)
    return DATA


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, names_dir) -> Path:
    """A project after its prepare stage only (seconds): the prepared folds, no models."""
    project = make_project(tmp_path_factory.mktemp("prepared"), small_params())
    run_pipeline_in_process(project, names_dir, ["prepare"])
    return project / "data/prepared"


@pytest.fixture
def project(tmp_path, prepared) -> Path:
    """A project folder with prepared data and no other outputs, as the current directory."""
    with inside(project_with(prepared.parents[1], tmp_path / "p")) as project:
        yield project


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, names_dir) -> Path:
    """Every stage run once, in order, in-process, on the small budget."""
    project = make_project(tmp_path_factory.mktemp("small_run"), small_params())
    run_pipeline_in_process(project, names_dir)
    return project


class Reproduced(Clone):
    """A clone after its first `dvc repro`, committed; `first_repro` is what that run printed."""
    first_repro: str


def reproduce(path: Path, names_dir: Path) -> Reproduced:
    clone = Reproduced.of_working_tree(path, names_dir, prepare__folds=2)
    clone.first_repro = clone.run("dvc", "repro")
    clone.commit("small run")
    return clone


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory, names_dir) -> Reproduced:
    """The working tree in a new git repository, small budget and two folds (prepare.folds=2,
    so that the baseline fits two too), `dvc repro` run and committed. Shared by the e2e
    tests; each one that changes it restores it (Clone.restore) when done.

    Under pytest-xdist (`make e2e`: 2 workers) the first worker to get here runs that `dvc
    repro` once, under a file lock, and every worker takes its own copy of it (git clone, DVC
    cache, checkout), so two workers never share one workspace."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return reproduce(tmp_path_factory.mktemp("reproduced"), names_dir)
    shared = tmp_path_factory.getbasetemp().parent / "reproduced"  # the workers' common base folder
    log = shared.parent / "reproduced.log"  # written last: the shared clone is complete
    with FileLock(f"{shared}.lock"):
        if not log.exists():
            shutil.rmtree(shared, ignore_errors=True)  # what a worker that failed here left
            shared.mkdir()
            log.write_text(reproduce(shared, names_dir).first_repro)
    clone = Reproduced.copy_of(Clone(shared, names_dir), tmp_path_factory.mktemp("reproduced"))
    clone.first_repro = log.read_text()
    return clone


@pytest.fixture
def score_project(tmp_path, small_run) -> Path:
    """small_run's prepared folds and models in a new project, as the current directory."""
    with inside(project_with(small_run, tmp_path / "p", "models")) as project:
        yield project


@pytest.fixture
def eval_project(tmp_path, small_run) -> Path:
    """small_run's prepared folds and per-name predictions in a new project, as the current directory."""
    with inside(project_with(small_run, tmp_path / "p", "predictions")) as project:
        yield project


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = cells.build("lstm", len(ALPHABET), 6, len(LANGUAGES))
    path = tmp_path / "sub/lstm.pt"
    model_file.save(path, "lstm", model, LANGUAGES)
    return path, model


@pytest.fixture
def committed() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_run):
    """A project whose LSTM folds 0 and 1 are the default cell on a shorter budget (400 steps
    of 256), in the folder dvc.yaml gives, beside small_run's small-budget RNN."""
    params = small_params()["train_lstm"]
    params.update({"iterations": 400, "eval_every": 400, "batch_size": 256})
    project = project_with(small_run, tmp_path_factory.mktemp("trained") / "p", "models")
    out = tmp_path_factory.mktemp("trained_out")
    train.run("lstm", params, project / "data/prepared", project / predict.trained_models("lstm", project / "dvc.yaml"),
              out / "curves", out / "summary.json")
    return project


@pytest.fixture(scope="module")
def lstm(trained):
    return predict.load_ensemble(trained / "models/lstm", "lstm")


@pytest.fixture
def local_data(monkeypatch, names_dir):
    monkeypatch.setenv("NAMES_DATA_DIR", str(names_dir))


@pytest.fixture
def data_copy(tmp_path, monkeypatch, names_dir):
    """A writable copy of the raw files that NAMES_DATA_DIR points at, to tamper with."""
    copy = tmp_path / "names"
    shutil.copytree(names_dir, copy)
    monkeypatch.setenv("NAMES_DATA_DIR", str(copy))
    return copy


@pytest.fixture(scope="module")
def default_prepare(tmp_path_factory, names_dir):
    """One default prepare run (5 folds) shared by the read-only checks below."""
    folder = tmp_path_factory.mktemp("prepared")
    with inside(folder, NAMES_DATA_DIR=str(names_dir)):
        metrics = run_prepare(folder)
    return folder, metrics, read_folds(folder / "prepared")


@pytest.fixture
def zip_server(names_dir):
    payload = official_style_zip(names_dir)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = payload if self.path == "/tutorial/data.zip" else b"not a zip"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def s3():
    """moto's S3 server in a thread of this process, on a free localhost port: a bucket, and an
    IAM user whose key is the only one accepted. The server stops (and its port closes) however
    the tests end; being a thread, it cannot outlive pytest either."""
    import boto3  # here: moto and boto3 take seconds to import, and only this fixture needs them
    from moto.server import ThreadedMotoServer

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


@pytest.fixture(scope="module")
def published(tmp_path_factory, reproduced, s3) -> Published:
    """Machine A: the session's reproduced project (small budget, `dvc repro`, committed) with an
    S3 remote, released as lstm@v1.0.0 by tools.publish (to origin and S3); then one
    experiment, `dvc exp push origin`ed."""
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
    a.run(sys.executable, "-m", "tools.publish", "lstm", "1.0.0")  # docs/experiments.md: dvc push, checked; git push
    assert s3.objects(), "dvc push wrote nothing to the bucket"
    main_models = a.sha256("models/lstm/fold-*.pt")
    assert len(main_models) == len(SMALL_FOLDS)

    output = a.run("dvc", "exp", "run", "-n", EXPERIMENT, "-S", EXPERIMENT_PARAM)
    assert ran_stages(output) == LSTM_SIZE_CHANGE  # what the change needs
    experiment_models = a.sha256("models/lstm/fold-*.pt")
    assert experiment_models.keys() == main_models.keys() and experiment_models != main_models
    experiment_lstm_metrics = json.loads((a.path / "metrics/lstm.json").read_text())
    a.run("dvc", "exp", "push", "origin", EXPERIMENT)  # the exp's git ref to origin, its cache to S3
    a.run("dvc", "push")
    return Published(origin, a, main_models, experiment_models, experiment_lstm_metrics)
