"""The SeqIO task catalog: importing this package registers every task and mixture.

The engine (`xstilts_jax`) never imports it; gin files and the CLI do. The registries
arrive with the task-catalog issues.
"""
