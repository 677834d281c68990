"""Exception families. Each message names the offending thing and says what to do."""


class XstiltsError(Exception):
    """Base class: the CLI prints these without a traceback unless --verbose."""


class ConfigError(XstiltsError):
    """A model, mesh or run configuration is invalid (unknown name, bad size, ...)."""


class MissingSplitError(ConfigError):
    """One language's data has no file for the split asked (a UD treebank without a test set here).

    Zero-shot evaluation records that task as unscored, saying why, and scores the other languages;
    it never scores another split in its place."""


class CheckpointError(XstiltsError):
    """A checkpoint or Hugging Face directory cannot be read or does not match the model."""


class InputError(XstiltsError):
    """An input batch or file does not fit the model (too long, wrong shape, ...)."""


class DivergenceError(XstiltsError):
    """Training produced a non-finite loss or gradient; the last good checkpoint is kept."""


class Preempted(BaseException):
    """Training stopped at a preemption notice after saving a checkpoint; rerunning resumes it.

    Not an error, but the run is unfinished: the CLI exits with `EXIT_CODE` (75, EX_TEMPFAIL of
    sysexits.h), so `train && next` stops and a relaunch loop knows to rerun the same command.
    A BaseException so that `except Exception` handlers (e.g. `grid --keep_going`) do not swallow
    it and carry on with other work.
    """

    EXIT_CODE = 75

    def __init__(self, step: int, checkpoint: str):
        super().__init__(f"preempted at step {step}; saved; rerun to resume (checkpoint {checkpoint})")
        self.step, self.checkpoint = step, checkpoint
