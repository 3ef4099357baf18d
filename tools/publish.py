"""Release one model: the commit's data on the DVC remote, then the tag `<cell>@v<version>`.

    python -m tools.publish lstm 1.0.0        (make publish CELL=lstm VERSION=1.0.0)

`dvc push` alone cannot be trusted to release: where cache files are missing it warns and
exits 0 (in a fresh clone it says "Everything is up to date" and pushes nothing), and a tag
pushed then names models nobody can fetch. So every check runs first, and each one that fails
stops with one line saying what to do; git is touched only once the remote holds everything:
  1. the cell is an artifact of dvc.yaml, the version is X.Y.Z, the tag is new;
  2. the workspace is the commit (a branch, nothing modified), git has an `origin`, and the
     committed .dvc/config names a default DVC remote (the one `dvc artifacts get` reads);
  3. every output the commit's dvc.lock names is in the DVC cache;
  4. `dvc push`, then the remote holds every one of them (`dvc data status --not-in-remote`);
  5. the annotated tag, and `git push origin <branch> <tag>` (both: a tag alone in a new
     origin leaves `dvc artifacts get` without a default branch to read).
"""
import json
import re
import subprocess
import sys

from surnames import dvc_yaml
from surnames.errors import Parser, ProjectError, cli

DVC = [sys.executable, "-m", "dvc"]


def _run(command: list[str], what: str) -> None:
    """`command`, its output shown; a failure is a ProjectError naming `what`."""
    status = subprocess.run(command).returncode
    if status != 0:
        raise ProjectError(f"publish: {what} failed (exit {status}, its message above)")


def _quiet(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True)


def _listed(paths: list[str]) -> str:
    shown = ", ".join(paths[:3])
    return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def check_release(cell: str, version: str) -> str:
    try:
        artifacts = dvc_yaml.artifacts()
    except ProjectError as error:
        raise ProjectError(f"publish: {error}") from None
    if cell not in artifacts:
        raise ProjectError(f"publish: {cell!r} is not an artifact of dvc.yaml; choose one of {', '.join(artifacts)}")
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise ProjectError(f"publish: version {version!r} is not X.Y.Z (semantic versioning), e.g. 1.0.0")
    tag = f"{cell}@v{version}"
    if _quiet(["git", "rev-parse", "-q", "--verify", f"refs/tags/{tag}"]).returncode == 0:
        raise ProjectError(f"publish: the tag {tag} exists already; release a new version (e.g. bump {version})")
    return tag


def check_workspace() -> str:
    """The branch to push. The release is the commit, so the workspace must be it."""
    branch = _quiet(["git", "symbolic-ref", "-q", "--short", "HEAD"]).stdout.strip()
    if not branch:
        raise ProjectError("publish: HEAD is not on a branch; check one out (git switch main) and publish from it")
    status = _quiet(["git", "status", "--porcelain", "--untracked-files=no"]).stdout
    changed = [line[3:] for line in status.splitlines()]
    if ".dvc/config" in changed:
        raise ProjectError('publish: .dvc/config is not committed; commit the DVC remote: '
                           'git commit -m "DVC remote" .dvc/config')
    if changed:
        raise ProjectError(f"publish: the workspace differs from the commit ({_listed(changed)}); commit it "
                           "(git commit -am \"…\") or return to the commit (git checkout HEAD -- . && dvc checkout)")
    if _quiet(["git", "remote", "get-url", "origin"]).returncode != 0:
        raise ProjectError("publish: git has no remote 'origin' to push the tag to; "
                           "add one: git remote add origin <URL>")
    if _quiet([*DVC, "config", "--project", "core.remote"]).returncode != 0:
        raise ProjectError("publish: .dvc/config names no default DVC remote; add one "
                           "(dvc remote add -d storage <URL>, docs/machines.md) and commit .dvc/config")
    return branch


def data_status() -> dict:
    """What `dvc data status` says of the cache and the remote. Its warnings (the missing files
    again, a line each) are dropped: the error that stops publishing lists them once."""
    result = _quiet([*DVC, "data", "status", "--not-in-remote", "--json"])
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")] or ["no message"]
        raise ProjectError(f"publish: dvc data status failed: {errors[-1].removeprefix('ERROR: ')}")
    return json.loads(result.stdout)


@cli
def main(argv):
    parser = Parser(prog="python -m tools.publish", description=__doc__.splitlines()[0])
    parser.add_argument("cell", help="an artifact of dvc.yaml, e.g. lstm")
    parser.add_argument("version", help="X.Y.Z; the tag is <cell>@vX.Y.Z")
    args = parser.parse_args(argv)
    tag = check_release(args.cell, args.version)
    branch = check_workspace()
    missing = data_status().get("not_in_cache") or []
    if missing:
        raise ProjectError(f"publish: not in the DVC cache: {_listed(missing)}; get them (dvc pull from a remote "
                           "that has them, or make repro and commit what changes), then publish again")
    _run([*DVC, "push"], "dvc push")
    unpushed = data_status().get("not_in_remote") or []
    if unpushed:
        raise ProjectError(f"publish: dvc push left {_listed(unpushed)} off the DVC remote; nothing was tagged. "
                           "Check the remote (docs/machines.md) and publish again")
    _run(["git", "tag", "-a", tag, "-m", f"Release {args.cell} v{args.version}"], "git tag")
    try:
        _run(["git", "push", "origin", branch, tag], "git push")
    except ProjectError:
        _quiet(["git", "tag", "-d", tag])  # no local tag that origin lacks: publishing again starts clean
        raise
    print(f"published {tag}: {branch} and the tag on origin, the data on the DVC remote")


if __name__ == "__main__":
    main()
