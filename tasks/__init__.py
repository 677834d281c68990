"""The SeqIO task catalog: importing this package registers every task and mixture.

The engine (`xstilts_jax`) never imports it; gin files (`import tasks`) and the CLI
(`--module_import=tasks`) do. See `tasks/registry.py` for the naming scheme and
`xstilts-jax tasks` for the full list.
"""

from tasks.catalog import UNAVAILABLE, register_all

register_all()

__all__ = ["UNAVAILABLE"]
