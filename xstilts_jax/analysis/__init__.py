"""Diminishing-returns analysis: gains of intermediate-task training vs model size, with bootstrap
intervals, scaling verdicts, plots and a self-contained HTML report (``run_analysis``)."""

from xstilts_jax.analysis.run import run_analysis

__all__ = ["run_analysis"]
