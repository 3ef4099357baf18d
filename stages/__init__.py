"""names-rnn-lstm: the pipeline's stages (prepare, train, baseline, evaluate, report), the
predict command, and the small modules they share, each named after its one job."""
import os

# OpenMP threads that spin while they wait collapse throughput when two runs share few cores
# (two 2-thread trainings on 2 cores: 20x slower each, not 2x). Passive waiting must be set
# before torch loads its OpenMP runtime, and every stage imports this package first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
