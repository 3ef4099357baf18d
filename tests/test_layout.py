"""The house: stages/ holds only the DVC stages' entry points, each thin, and the library
package `surnames` can be imported with no effect on the process."""
import ast
import json
import os
import subprocess
import sys

from surnames import dvc_yaml
from tests.helpers import ROOT

LIBRARY = sorted(p.stem for p in (ROOT / "surnames").glob("*.py") if p.stem != "__init__")


def test_every_module_in_stages_is_the_module_of_a_dvc_yaml_stage_and_back():
    modules = {p.stem for p in (ROOT / "stages").glob("*.py") if p.stem != "__init__"}
    commands = {dvc_yaml.entry_module(stage, ROOT / "dvc.yaml").removeprefix("stages.")
                for stage in dvc_yaml.stage_names(ROOT / "dvc.yaml")}
    assert modules == commands


def test_each_stage_module_is_thin_its_arguments_then_the_library():
    """No stage defines anything but its command line: the work is in surnames/."""
    for path in sorted((ROOT / "stages").glob("*.py")):
        if path.stem == "__init__":
            continue
        tree = ast.parse(path.read_text())
        defined = [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
        assert set(defined) <= {"main", "parser"} and "main" in defined, (path.name, defined)
        imported = {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "surnames" in imported and "torch" not in imported, path.name


CHECK = """
import os, signal, sys, torch
threads = torch.get_num_threads()
handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
import importlib
for name in NAMES:
    importlib.import_module("surnames." + name)
print(json.dumps({"omp": os.environ.get("OMP_WAIT_POLICY"), "threads": torch.get_num_threads() == threads,
                  "handlers": {int(s): signal.getsignal(s) == h for s, h in handlers.items()}}))
"""


def test_importing_the_library_changes_nothing_in_the_process():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = f"import json\nNAMES = {LIBRARY!r}\n" + CHECK
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"omp": None, "threads": True, "handlers": {"2": True, "15": True}}
    assert len(LIBRARY) > 15  # every module was imported, not an empty list


def test_a_stage_sets_the_process_up_before_torch_loads():
    """The entry points' package does what the library must not: passive OpenMP waiting."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = "import os, stages.train; print(os.environ.get('OMP_WAIT_POLICY'))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.stdout == "PASSIVE\n", result.stderr
