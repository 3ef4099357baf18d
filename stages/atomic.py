"""Atomic writes: every file and directory is written under a temporary name and renamed,
so a crash, a kill or a refused stage never leaves half an output.

Inside `output_set()` the renames wait until the whole block has succeeded: a stage that
fails while writing its third output keeps all of its previous outputs, never a mix.
Written files and folders get the modes git gives (0666/0777 less the umask), not the
private modes of temporary files."""
import json
import os
import shutil
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path

from stages.errors import ProjectError, user_path

_pending: list[tuple[Path, Path]] | None = None  # (temporary, final) renames of the open output set
_staging: list[Path] = []  # temporary folders being filled: what is written inside them is renamed at once


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


def _inside_staging(path: Path) -> bool:
    return any(path.resolve().is_relative_to(folder.resolve()) for folder in _staging)


def _rename(tmp: Path, path: Path) -> None:
    if path.is_dir() and not path.is_symlink() and tmp.is_dir():
        shutil.rmtree(path)
    os.replace(tmp, path)


def _place(tmp: Path, path: Path) -> None:
    """Rename `tmp` to `path` now, or when the open output set succeeds."""
    if _pending is not None and not _inside_staging(path):
        _pending.append((tmp, path))
    else:
        _rename(tmp, path)


def _discard(tmp: Path) -> None:
    shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)


def _os_error(path: Path, error: OSError) -> ProjectError:
    """The user's path and the reason, never the temporary name."""
    return ProjectError(f"cannot write {user_path(path)}: {error.strerror or error}")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary sibling and rename, so a crash never leaves half a file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temporary(path))
    except OSError as error:
        raise _os_error(path, error) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        _place(Path(tmp), path)
    except BaseException as error:
        _discard(Path(tmp))
        if isinstance(error, OSError):
            raise _os_error(path, error) from None
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json(path: Path, data) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_csv(path: Path, frame) -> None:
    write_text_atomic(path, frame.to_csv(index=False, lineterminator="\n", float_format="%.6g"))


@contextmanager
def staged_dir(path: Path):
    """Yield a temporary directory that replaces `path` only if the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(path)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=_temporary(path)))
        os.chmod(tmp, 0o777 & ~_umask())
    except OSError as error:
        raise _os_error(path, error) from None
    _staging.append(tmp)
    try:
        yield tmp
        _staging.remove(tmp)
        _place(tmp, path)
    except BaseException as error:
        _discard(tmp)
        if tmp in _staging:
            _staging.remove(tmp)
        if isinstance(error, OSError):
            raise _os_error(error.filename or path, error) from None
        raise


@contextmanager
def output_set():
    """All of a stage's outputs, or none: writes inside the block are renamed into place
    only after the block succeeds; on any failure every temporary is removed."""
    global _pending
    if _pending is not None:  # nested: the outer set decides
        yield
        return
    _pending = []
    try:
        yield
        _commit(_pending)
    finally:
        for tmp, _ in _pending:  # what was not renamed: a failure in the block or in the commit
            _discard(tmp)
        _pending = None


def _commit(renames: list[tuple[Path, Path]]) -> None:
    """Rename every temporary into place, with Ctrl-C and kill held off until all are done;
    what is renamed leaves the list, so a failure leaves only the rest to discard."""
    held = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        while renames:
            tmp, path = renames[0]
            try:
                _rename(tmp, path)
            except OSError as error:
                raise _os_error(path, error) from None
            renames.pop(0)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
