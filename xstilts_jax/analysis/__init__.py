"""Diminishing-returns analysis: gains of intermediate-task training vs model size, with t-intervals,
trend, hinge and curvature tests corrected across the table, power planning, plots and a self-contained HTML report (``run_analysis``)."""

from xstilts_jax.analysis.run import run_analysis

__all__ = ["run_analysis"]
