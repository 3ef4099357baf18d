"""One-line errors: a ProjectError is a problem the user can fix, reported as `error: …`, exit 1."""
import functools
import sys


class ProjectError(Exception):
    """A problem the user can fix; reported as one line, exit status 1."""


def cli(main):
    """Run a stage's main(argv) so that a ProjectError is one line on stderr, exit 1."""

    @functools.wraps(main)
    def run(argv=None):
        try:
            main(sys.argv[1:] if argv is None else argv)
        except ProjectError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(1)

    return run
