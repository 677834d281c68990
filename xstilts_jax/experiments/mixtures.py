"""Multi-task intermediate mixtures declared in an experiment's gin file.

    register_mixtures.mixtures = {'intermediate.siqa_csqa': ['socialiqa', 'commonsenseqa']}

registers each as a seqio Mixture of already-registered tasks before the experiment runs, so a
multi-task intermediate phase needs no code. Rates: 'equal', or 'examples' (proportional to each
task's training examples, seqio's `mixing_rate_num_examples`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import gin
import seqio

from xstilts_jax.errors import ConfigError


@gin.configurable
def register_mixtures(mixtures: Mapping[str, Sequence[str]] | None = None, rate: str = "equal") -> list[str]:
    """Register the gin-declared mixtures (replacing same-named ones); returns their names."""
    mixtures = mixtures or {}
    if rate not in ("equal", "examples"):
        raise ConfigError(f"register_mixtures.rate must be 'equal' or 'examples', got {rate!r}.")
    for name, tasks in mixtures.items():
        missing = [t for t in tasks if t not in seqio.TaskRegistry.names()]
        if missing:
            raise ConfigError(f"Mixture {name!r} names unknown tasks {missing}; see `xstilts-jax tasks`.")
        seqio.MixtureRegistry.remove(name)
        default_rate = 1.0 if rate == "equal" else seqio.mixing_rate_num_examples
        seqio.MixtureRegistry.add(name, list(tasks), default_rate=default_rate)
    return list(mixtures)
