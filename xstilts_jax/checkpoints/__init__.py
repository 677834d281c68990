"""Both checkpoint formats: `pretrained` (a converted model directory: config, gin, parameters,
vocabulary) and `run` (a run's train-state checkpoints, `Checkpointer`); `params` holds what they
share (flat parameter names, shape checks, restoring the encoder and shared heads into a model);
`export` writes a finished phase's parameters in the first format."""
