"""names-rnn-lstm: the DVC pipeline's stages, one module per stage."""
