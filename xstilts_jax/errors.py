"""Exception families. Each message names the offending thing and says what to do."""


class XstiltsError(Exception):
    """Base class: the CLI prints these without a traceback unless --verbose."""


class ConfigError(XstiltsError):
    """A model, mesh or run configuration is invalid (unknown name, bad size, ...)."""


class CheckpointError(XstiltsError):
    """A checkpoint or Hugging Face directory cannot be read or does not match the model."""


class InputError(XstiltsError):
    """An input batch or file does not fit the model (too long, wrong shape, ...)."""
