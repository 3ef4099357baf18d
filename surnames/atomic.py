"""Atomic writes: every file and folder is written under a temporary name and renamed, so a
crash, a kill or a refused stage never leaves half an output.

Two ways to write, chosen by what you call, never by hidden state:
- `write_bytes(path, data)` (and `write_text`, `write_json`, `write_csv`) renames at once;
- a stage's whole output set: `with output_set() as out:` then `out.write_json(path, ...)`,
  `out.write_csv(...)`, `with out.folder(path) as tmp:` ... Nothing is renamed until the
  block has succeeded; then every rename runs with Ctrl-C and kill held off. A failure
  anywhere, a failed rename included (it is rolled back), removes every temporary and keeps
  all of the previous outputs, never a mix.
  Files written inside `out.folder()`'s temporary folder (by this process or a worker) use
  the plain functions: the folder itself is what is renamed later.

Written files and folders get the modes git gives (0666/0777 less the umask), not the
private modes of temporary files.
"""
import csv
import io
import json
import math
import os
import shutil
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path

from surnames.errors import ProjectError, user_path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temporary(path: Path) -> str:
    return f".{path.name}.tmp-"


def _remove_stale(path: Path) -> None:
    """Temporaries that a killed run left beside `path` (SIGKILL runs no cleanup)."""
    for stale in path.parent.glob(f"{_temporary(path)}*"):
        shutil.rmtree(stale) if stale.is_dir() and not stale.is_symlink() else stale.unlink(missing_ok=True)


def _rename(tmp: Path, path: Path) -> None:
    if path.is_dir() and not path.is_symlink() and tmp.is_dir():
        shutil.rmtree(path)
    os.replace(tmp, path)


def _set_aside(path: Path) -> Path | None:
    """Move an existing output to a temporary sibling (the commit's undo); None if there is none."""
    if not (path.exists() or path.is_symlink()):
        return None
    aside = path.parent / f"{_temporary(path)}previous-{os.getpid()}"
    os.replace(path, aside)
    return aside


def _roll_back(replaced: list[tuple[Path, Path | None, bool]]) -> None:
    """Undo a failed commit, last rename first: remove each new output, put its previous one back."""
    for path, aside, installed in reversed(replaced):
        if installed:
            _discard(path)
        if aside is not None:
            os.replace(aside, path)


def _discard(tmp: Path) -> None:
    shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)


def _os_error(path: Path, error: OSError) -> ProjectError:
    """The user's path and the reason, never the temporary name."""
    return ProjectError(f"cannot write {user_path(path)}: {error.strerror or error}")


def json_bytes(data) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def csv_bytes(frame, float_format: str | None = "%.6g") -> bytes:
    """A DataFrame as CSV; float_format=None writes floats in full (they read back exactly)."""
    return frame.to_csv(index=False, lineterminator="\n", float_format=float_format).encode("utf-8")


def table_bytes(columns: list[str], rows: list[list]) -> bytes:
    """Rows of plain values as CSV, byte for byte what csv_bytes writes for the same DataFrame
    (floats as %.6g, NaN empty), without importing pandas (0.3 s of a scoring stage)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return out.getvalue().encode("utf-8")


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else "%.6g" % value
    return str(value)


def _beside(path: Path, make):
    """make(dir=, prefix=) of a temporary sibling of `path` (tempfile.mkstemp or mkdtemp),
    after removing a killed run's stale ones; an OS error names the user's path."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(path)
        return make(dir=path.parent, prefix=_temporary(path))
    except OSError as error:
        raise _os_error(path, error) from None


def _write_temporary(path: Path, data: bytes) -> Path:
    """`data` in a temporary sibling of `path`, with the final file's mode; its path."""
    fd, tmp = _beside(path, tempfile.mkstemp)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
    except BaseException as error:
        _discard(Path(tmp))
        if isinstance(error, OSError):
            raise _os_error(path, error) from None
        raise
    return Path(tmp)


def write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary sibling and rename now, so a crash never leaves half a file."""
    path = Path(path)
    tmp = _write_temporary(path, data)
    try:
        _rename(tmp, path)
    except OSError as error:
        _discard(tmp)
        raise _os_error(path, error) from None


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, data) -> None:
    write_bytes(path, json_bytes(data))


def write_csv(path: Path, frame) -> None:
    write_bytes(path, csv_bytes(frame))


class OutputSet:
    """The outputs of one stage, renamed into place together by `output_set()`, or not at all."""

    def __init__(self):
        self._renames: list[tuple[Path, Path]] = []  # (temporary, final), in the order written

    def write_bytes(self, path: Path, data: bytes) -> None:
        path = Path(path)
        self._renames.append((_write_temporary(path, data), path))

    def write_text(self, path: Path, text: str) -> None:
        self.write_bytes(path, text.encode("utf-8"))

    def write_json(self, path: Path, data) -> None:
        self.write_bytes(path, json_bytes(data))

    def write_csv(self, path: Path, frame) -> None:
        self.write_bytes(path, csv_bytes(frame))

    @contextmanager
    def folder(self, path: Path):
        """A temporary folder that replaces `path` when the set commits, if this block succeeds."""
        path = Path(path)
        tmp = Path(_beside(path, tempfile.mkdtemp))
        try:
            os.chmod(tmp, 0o777 & ~_umask())
            yield tmp
        except BaseException as error:
            _discard(tmp)
            if isinstance(error, OSError):
                raise _os_error(error.filename or path, error) from None
            raise
        self._renames.append((tmp, path))

    def commit(self) -> None:
        """Rename every temporary into place, with Ctrl-C and kill held off until all are done.

        Each previous output is first moved aside. If any rename fails, every output already
        replaced gets its previous version back (one that did not exist is removed): the set
        stays the previous one, never a mix. A folder where a file belongs, or a file where a
        folder belongs, is refused before anything is touched."""
        for tmp, path in self._renames:
            if (path.exists() or path.is_symlink()) and path.is_dir() != tmp.is_dir():
                kind = "folder" if path.is_dir() else "file"
                raise ProjectError(f"cannot write {user_path(path)}: a {kind} is in its place; "
                                   "move it away and run again")
        held = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
        replaced: list[tuple[Path, Path | None, bool]] = []  # (final, its previous version aside, installed)
        try:
            for tmp, path in self._renames:
                try:
                    aside = _set_aside(path)
                    replaced.append((path, aside, False))
                    os.replace(tmp, path)
                    replaced[-1] = (path, aside, True)
                except OSError as error:
                    _roll_back(replaced)
                    raise _os_error(path, error) from None
            for _, aside, _ in replaced:
                if aside is not None:
                    _discard(aside)
            self._renames.clear()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)

    def discard(self) -> None:
        """Remove every temporary not renamed yet (after a failure in the block or the commit)."""
        for tmp, _ in self._renames:
            _discard(tmp)
        self._renames.clear()


@contextmanager
def output_set():
    """All of a stage's outputs, or none: `with output_set() as out:` and write through `out`."""
    out = OutputSet()
    try:
        yield out
        out.commit()
    finally:
        out.discard()
