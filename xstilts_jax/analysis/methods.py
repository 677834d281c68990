"""The methods an intermediate phase can follow: X-STILTs and the paper's two alternatives (Phang et al. 2020).

One record per method: its label, and the suffix that names its intermediate mixtures after the X-STILTs
intermediate task they build on, ``intermediate.<task><suffix>`` (the catalog's ``<task>_translate_train``
mixtures, ``intermediate.mnli_mlm`` in ``gin/experiments/alternatives.gin``). Every other intermediate is plain
X-STILTs, compared with itself. The analysis shows the label as a column and compares each alternative with
X-STILTs on the task it builds on (``method_of``); a new method is one more row of ``METHODS``.
"""

from __future__ import annotations

import dataclasses

MIXTURE_PREFIX = "intermediate."


@dataclasses.dataclass(frozen=True)
class Method:
    """How the intermediate phase trains: ``label`` in the tables, ``suffix`` of its mixtures' names."""

    label: str
    suffix: str
    description: str


XSTILTS = Method("X-STILTs", "", "English intermediate-task training, then target training")
METHODS = (
    XSTILTS,
    Method("MLM continued", "_mlm", "the intermediate task mixed with MLM on the target languages"),
    Method("translate-train", "_translate_train", "the intermediate task with machine translations of its training data"),
)


def method_of(intermediate: str) -> tuple[Method, str]:
    """The method of an intermediate task or mixture, and the X-STILTs intermediate it is compared with
    (itself for X-STILTs): ``intermediate.mnli_mlm`` -> (MLM continued, ``mnli``)."""
    if intermediate.startswith(MIXTURE_PREFIX):
        name = intermediate[len(MIXTURE_PREFIX):]
        for method in METHODS:
            if method.suffix and name.endswith(method.suffix) and len(name) > len(method.suffix):
                return method, name[: -len(method.suffix)]
    return XSTILTS, intermediate


def label(intermediate: str) -> str:
    """The method's label of an intermediate, e.g. ``translate-train``."""
    return method_of(intermediate)[0].label


def sort_key(intermediate: str) -> tuple[str, int, str]:
    """Order intermediates so that each alternative follows the X-STILTs task it builds on."""
    method, base = method_of(intermediate)
    return base, METHODS.index(method), intermediate
