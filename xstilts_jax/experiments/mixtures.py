"""Multi-task intermediate mixtures declared in an experiment's gin file.

    register_mixtures.mixtures = {'intermediate.siqa_csqa': ['socialiqa', 'commonsenseqa']}

registers each as a seqio Mixture of already-registered tasks before the experiment runs, so a
multi-task intermediate phase needs no code. Rates (`rate` for all, `rates` per mixture): 'equal',
'examples' (proportional to each task's training examples, seqio's `mixing_rate_num_examples`),
or 'alpha:A' (n^A: language sampling, `xstilts_jax.data.sampling`; XLM-R's A = 0.3). A member may
be a mixture declared before it (seqio sub-mixture; its share is its 'equal' rate, 1).
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import gin
import seqio

from xstilts_jax.data.sampling import alpha_rate, parse_alpha
from xstilts_jax.errors import ConfigError


def _rate(rate: str, name: str) -> float | Callable[[seqio.Task], float]:
    alpha = parse_alpha(rate)
    if alpha is not None:
        return alpha_rate(alpha)
    if rate == "equal":
        return 1.0
    if rate == "examples":
        return seqio.mixing_rate_num_examples
    raise ConfigError(f"Mixture {name!r}: rate must be 'equal', 'examples' or 'alpha:A' (e.g. 'alpha:0.3'), got {rate!r}.")


@gin.configurable
def register_mixtures(
    mixtures: Mapping[str, Sequence[str]] | None = None, rate: str = "equal", rates: Mapping[str, str] | None = None
) -> list[str]:
    """Register the gin-declared mixtures (replacing same-named ones); returns their names.

    `rates` names the rate of single mixtures; the others take `rate`.
    """
    mixtures, rates = mixtures or {}, rates or {}
    unknown = sorted(set(rates) - set(mixtures))
    if unknown:
        raise ConfigError(f"register_mixtures.rates names {unknown}, which register_mixtures.mixtures does not declare.")
    for name, tasks in mixtures.items():
        known = set(seqio.TaskRegistry.names()) | set(seqio.MixtureRegistry.names())
        missing = [t for t in tasks if t not in known]
        if missing:
            raise ConfigError(
                f"Mixture {name!r} names unknown tasks {missing}; see `xstilts-jax tasks` (a mixture declared "
                "here may hold one declared before it)."
            )
        default_rate = _rate(rates.get(name, rate), name)
        seqio.MixtureRegistry.remove(name)
        seqio.MixtureRegistry.add(name, list(tasks), default_rate=default_rate)
    return list(mixtures)
