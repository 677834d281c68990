"""The SeqIO task catalog: importing this package registers every task and mixture.

The engine (`xstilts_jax`) never imports it; gin files (`import tasks`) and `xstilts-jax tasks` do.
Each task is registered with its engine record (`xstilts_jax.data.task_records`) and each target
with its record (`xstilts_jax.experiments.targets`). See `tasks/registry.py` for the naming scheme
and `xstilts-jax tasks` for the full list.
"""

from tasks.catalog import UNAVAILABLE, register_all

register_all()

__all__ = ["UNAVAILABLE"]
