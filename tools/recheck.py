"""Re-check the ladder's verdicts with one setting changed: python -m tools.recheck NAME KEY=VALUE ...

    python -m tools.recheck seed-1 budgets.seed=1
    python -m tools.recheck steps-1000 budgets.iterations=1000

Copies the project's tracked files into a temporary folder that shares this project's DVC
cache, sets each KEY (a dotted params.yaml key) to VALUE (read as YAML), runs `dvc repro
matched` there (the ladder's grid and its verdicts; the course pair is not needed) and writes
rechecks/NAME.json: the settings, the steps, those that held there, and every verdict. The report
stage reads that folder and says which of the answer's steps held in every re-check. Run after
`dvc repro` from the project's root, with NAMES_DATA_DIR as for it (a relative folder is taken
from the project's root); a re-check of the default grid takes about as long as the grid in
`dvc repro -f`. The copy holds the working tree's tracked and untracked, not ignored, files.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from surnames.errors import Parser, ProjectError, cli
from surnames.params import read_params

OUT = Path("rechecks")
KEPT = ("steps", "holds", "views", "claim_scores", "verdicts")  # of ladder.json: what the report and findings.md read
DETAILS = ("models", "gradient_steps", "length_trend", "by_length")  # of matched.json: the gradient and length findings


def setting(text: str) -> tuple[list[str], object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ProjectError(f"{text!r} is not KEY=VALUE, e.g. budgets.seed=1")
    return key.split("."), yaml.safe_load(value)


def changed_params(params: dict, settings: list[tuple[list[str], object]]) -> dict:
    for keys, value in settings:
        section = params
        for key in keys[:-1]:
            section = section.get(key) if isinstance(section, dict) else None
        if not isinstance(section, dict) or keys[-1] not in section:
            raise ProjectError(f"params.yaml has no {'.'.join(keys)}; a re-check changes an existing param")
        section[keys[-1]] = value
    return params


def copy_project(target: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], capture_output=True, text=True,
                           check=True).stdout.split("\0")
    for name in filter(None, files):
        if Path(name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(name, target / name)


def run(name: str, texts: list[str]) -> dict:
    settings = [setting(text) for text in texts]
    params = changed_params(yaml.safe_load(Path("params.yaml").read_text()), settings)
    cache = subprocess.run(["dvc", "cache", "dir"], capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix=f"recheck-{name}-") as folder:
        copy = Path(folder)
        copy_project(copy)
        (copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
        read_params(copy / "params.yaml")  # a bad value: one line here, before any training
        subprocess.run(["git", "init", "-q"], cwd=copy, check=True)
        subprocess.run(["dvc", "config", "--local", "cache.dir", cache], cwd=copy, check=True)
        env = dict(os.environ)
        if env.get("NAMES_DATA_DIR"):  # a relative folder is the project's, not the copy's
            env["NAMES_DATA_DIR"] = str(Path(env["NAMES_DATA_DIR"]).resolve())
        done = subprocess.run(["dvc", "repro", "matched"], cwd=copy, env=env)
        if done.returncode:
            raise ProjectError(f"dvc repro matched failed in the re-check's copy (exit {done.returncode}); see above")
        ladder = json.loads((copy / "metrics/ladder.json").read_text())
        matched = json.loads((copy / "metrics/matched.json").read_text())
    result = {"name": name, "settings": {".".join(keys): value for keys, value in settings},
              **{key: ladder[key] for key in KEPT}, "details": {key: matched[key] for key in DETAILS}}
    OUT.mkdir(exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


@cli
def main(argv):
    parser = Parser(prog="python -m tools.recheck", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the re-check's name: rechecks/NAME.json")
    parser.add_argument("settings", nargs="+", help="KEY=VALUE, a params.yaml key and its value for this re-check")
    args = parser.parse_args(argv)
    result = run(args.name, args.settings)
    held = ", ".join(h["step"] for h in result["holds"]) or "none"
    print(f"recheck {args.name} ({', '.join(args.settings)}): steps that hold: {held}; wrote {OUT / args.name}.json",
          file=sys.stdout)


if __name__ == "__main__":
    main()
