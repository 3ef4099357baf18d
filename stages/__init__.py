"""The DVC stages' entry points, one module per stage command in dvc.yaml (`python -m
stages.<name>`), each thin: its arguments, then one call into the `surnames` library.

Importing this package sets the process up for a stage, before torch loads; the library
itself never does."""
import os
import signal
import sys

# OpenMP threads that spin while they wait collapse throughput when two runs share few cores
# (two 2-thread trainings on 2 cores: 20x slower each, not 2x). Passive waiting must be set
# before torch loads its OpenMP runtime, and every stage imports this package first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _stopped_while_starting(signum, frame):
    """Ctrl-C or kill while torch is still importing: nothing is written yet, so exit at once
    with the same one line as later (errors.cli takes the signals over when main starts)."""
    os.write(2, b"error: interrupted\n" if signum == signal.SIGINT else b"error: terminated\n")
    os._exit(128 + signum)


if sys.argv[:1] == ["-m"]:  # `python -m stages.<name>` (argv[0] is "-m" while the package imports)
    signal.signal(signal.SIGINT, _stopped_while_starting)
    signal.signal(signal.SIGTERM, _stopped_while_starting)


def finish() -> None:
    """Exit at once after a stage's main has written everything: the interpreter's teardown
    of torch's modules alone takes about 0.7 s here, in each of the 19 stages."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
