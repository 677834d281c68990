"""One entry point: `xstilts-jax <command> [flags]`.

Commands live in their own modules and are imported lazily, so `xstilts-jax --help`
stays fast. Errors of the `XstiltsError` family, unusable paths (`OSError` naming a file) and a
corrupted results database print one clear line (no traceback unless `--verbose`); a preempted run
prints where it stopped and exits 75 (`Preempted.EXIT_CODE`: unfinished, rerun to resume). Every command starts
from an empty gin configuration, also when called in-process (tests, notebooks), and with the library
messages that tell the user nothing filtered (`logging_setup`; `--verbose` shows them).
"""

from __future__ import annotations

import importlib
import sqlite3
import sys
from typing import Callable, Sequence

import gin

from xstilts_jax.errors import Preempted, XstiltsError
from xstilts_jax.logging_setup import import_quietly, quiet_libraries

# command -> (module:function, one-line help). Each function takes argv and returns an exit code.
COMMANDS: dict[str, tuple[str, str]] = {
    "params": ("xstilts_jax.tools.param_count:main", "print a model's parameter breakdown"),
    "convert": ("xstilts_jax.tools.convert_cli:main", "convert a local Hugging Face checkpoint"),
    "grow": ("xstilts_jax.tools.grow_cli:main", "initialize a larger rung from the one below (function-preserving growth)"),
    "embed": ("xstilts_jax.tools.embed:main", "embed one sentence per line with a checkpoint"),
    "tasks": ("xstilts_jax.tools.list_tasks:main", "list the task catalog (tasks, heads, mixtures)"),
    "prepare": ("xstilts_jax.tools.prepare_cli:main", "download and prepare the TFDS datasets of targets, mixtures or tasks"),
    "vocab": ("xstilts_jax.tools.vocab:main", "train a SentencePiece vocabulary with language sampling, or reuse XLM-R's"),
    "train": ("xstilts_jax.tools.train_cli:main", "train one phase from gin (t5x style): --gin_file=gin/runs/target.gin ..."),
    "eval": ("xstilts_jax.tools.eval_cli:main", "zero-shot evaluation of a checkpoint on tasks (gin): predictions + scores"),
    "run": ("xstilts_jax.tools.run_cli:main", "run an experiment's phases (gin): mlm, intermediate, target, eval"),
    "grid": ("xstilts_jax.tools.grid_cli:main", "list (--dry_run) or run the cells of an experiment grid"),
    "demo": ("xstilts_jax.demo:main", "the three-phase recipe on the tiny model and sample data"),
    "results": ("xstilts_jax.tools.results_cli:main", "list, export, aggregate, import and submit stored results"),
    "analyze": ("xstilts_jax.analysis.cli:main", "gains vs model size: CIs, scaling verdicts, plots, HTML report"),
    "plan": ("xstilts_jax.tools.plan:main", "compile the train step for a TPU topology on this CPU: memory, FLOPs, verdict"),
}


def _load(target: str, quiet: bool = True) -> Callable[[Sequence[str]], int]:
    module, func = target.split(":")
    return getattr(import_quietly(module) if quiet else importlib.import_module(module), func)


def usage() -> str:
    lines = ["usage: xstilts-jax <command> [--verbose] [flags]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a command; print XstiltsError messages without a traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv
    argv = [a for a in argv if a != "--verbose"]
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"xstilts-jax: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    gin.clear_config()
    if not verbose:  # --verbose shows every library message
        quiet_libraries()
    try:
        return int(_load(COMMANDS[name][0], quiet=not verbose)(rest) or 0)
    except XstiltsError as e:
        if verbose:
            raise
        print(f"xstilts-jax {name}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # an unwritable or missing run, convert or results path
        if verbose or e.filename is None:
            raise
        print(f"xstilts-jax {name}: error: cannot use {e.filename}: {e.strerror}; choose a path this user can "
              "write (or create it), then rerun.", file=sys.stderr)
        return 1
    except sqlite3.DatabaseError as e:  # a corrupted results file
        if verbose:
            raise
        print(f"xstilts-jax {name}: error: the results database cannot be read ({e}); restore it from a backup or "
              "set a new results file, then rerun (scores are also in each run's eval/scores.json).", file=sys.stderr)
        return 1
    except Preempted as e:  # the state is saved; the scheduler restarts the same command to resume
        print(f"xstilts-jax {name}: {e}", flush=True)
        return Preempted.EXIT_CODE


if __name__ == "__main__":
    sys.exit(main())
