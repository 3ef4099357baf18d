"""Fixtures, and the markers that let a run choose its cases (docs/development.md):

    e2e      runs DVC itself in a temporary git clone of the working tree
    browser  renders a page in headless Chromium
    slow     takes over ~10 s: every test that uses `small_run` is marked slow here

`make test` runs them all; `python -m pytest -m "not e2e and not browser and not slow"` is
the inner loop of a few seconds.
"""
import shutil
from pathlib import Path

import pytest

from tests.helpers import DATA, MISSING_DATA, Clone, inside, make_project, run_pipeline_in_process, small_params


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
    project = make_project(tmp_path / "p", small_params())
    shutil.copytree(prepared, project / "data/prepared")
    with inside(project):
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


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory, names_dir) -> Reproduced:
    """The working tree in a new git repository, small budget and two folds (prepare.folds=2,
    so that the baseline fits two too), `dvc repro` run and committed. Shared by the e2e
    tests; each one that changes it restores it (Clone.restore) when done."""
    clone = Reproduced.of_working_tree(tmp_path_factory.mktemp("reproduced"), names_dir, prepare__folds=2)
    clone.first_repro = clone.run("dvc", "repro")
    clone.commit("small run")
    return clone
