"""One-line errors: a ProjectError is a problem the user can fix, reported as `error: …`, exit 1.

Every stage's main runs under `cli`, which also turns Ctrl-C (exit 130), a `kill` (SIGTERM,
exit 143) and an OS error (a full or read-only disk, exit 1) into one line, after the
stage's temporary files have been removed by the unwinding (see surnames/atomic.py)."""
import argparse
import functools
import re
import signal
import sys
import threading


class ProjectError(Exception):
    """A problem the user can fix; reported as one line, exit status 1."""


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that cleanup code runs."""


_TEMPORARY = re.compile(r"\.([^/]+)\.tmp-[^/]+")  # surnames/atomic.py's temporary names


def user_path(path) -> str:
    """`path` with every temporary name in it (`.models.tmp-x1y2/`) back to the user's (`models/`)."""
    return _TEMPORARY.sub(r"\1", str(path))


class Parser(argparse.ArgumentParser):
    """argparse with a usage error in one line (exit 2, as argparse), pointing to --help."""

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def _terminate(signum, frame):
    raise Terminated()


def _fail(message: str, status: int):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)


def cli(main):
    """Run a stage's main(argv) so that every failure a user can meet is one line on stderr."""

    @functools.wraps(main)
    def run(argv=None):
        in_main_thread = threading.current_thread() is threading.main_thread()
        if in_main_thread:  # Ctrl-C raises KeyboardInterrupt again, so that cleanup code runs
            previous = (signal.signal(signal.SIGTERM, _terminate),
                        signal.signal(signal.SIGINT, signal.default_int_handler))
        try:
            main(sys.argv[1:] if argv is None else argv)
        except ProjectError as error:
            _fail(str(error), 1)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Terminated:
            _fail("terminated", 143)
        except MemoryError:
            _fail("out of memory", 1)
        except OSError as error:
            where = f" {user_path(error.filename)}" if error.filename else ""
            _fail(f"cannot access{where}: {error.strerror or error}", 1)
        finally:
            if in_main_thread:
                signal.signal(signal.SIGTERM, previous[0])
                signal.signal(signal.SIGINT, previous[1])

    return run
