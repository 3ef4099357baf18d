"""names-rnn-lstm: the pipeline's stages (prepare, train, baseline, evaluate, report), the
predict command, and the small modules they share, each named after its one job."""
