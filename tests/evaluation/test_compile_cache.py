"""Evaluation compiles its forward once per (model graph, head, padded shape): the languages of a task,
later evaluations and every dev evaluation of a training run reuse it."""

import collections
import contextlib
from typing import Iterator

import jax
import pytest
from flax import nnx
from tiny import TOY_MESH, catalog_model

import tasks  # noqa: F401  (registers the catalog)
from xstilts_jax.data.label_kinds import InputLengths
from xstilts_jax.evaluation.evaluator import evaluate_tasks
from xstilts_jax.evaluation.forward import EvalSettings, placed_params
from xstilts_jax.partitioning import Partitioner
from xstilts_jax.training.dev_eval import dev_evaluator

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"  # recorded for every XLA compile (or cache load)
LANGUAGES = ["udpos.en", "udpos.de", "udpos.ar", "udpos.zh"]
PARTITIONER = Partitioner.from_config(TOY_MESH)


pytestmark = pytest.mark.usefixtures("catalog_env")


@contextlib.contextmanager
def compiles() -> Iterator[collections.Counter]:
    """Count XLA compiles by function name while the context is open."""
    counts: collections.Counter = collections.Counter()

    def listener(event: str, duration: float, **kwargs) -> None:
        if event == BACKEND_COMPILE:
            counts[kwargs.get("fun_name", "?")] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield counts
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def _model():
    # a model shape no other test uses, so the session's earlier evaluations cannot have compiled it
    return catalog_model("udpos.en", mlp_dim=40)


def _forward_compiles(counts: collections.Counter) -> int:
    return sum(n for name, n in counts.items() if "_forward" in name)


def test_languages_of_a_task_compile_once_per_padded_shape():
    model = _model()
    with compiles() as first:
        evaluate_tasks(model, LANGUAGES[:1], "validation", EvalSettings(8, 32, PARTITIONER))
    assert _forward_compiles(first) == 1, first
    with compiles() as other_languages:
        scores = evaluate_tasks(model, LANGUAGES[1:], "validation", EvalSettings(8, 32, PARTITIONER))
    assert set(scores) == set(LANGUAGES[1:])
    assert sum(other_languages.values()) == 0, other_languages
    with compiles() as again:
        evaluate_tasks(model, LANGUAGES, "validation", EvalSettings(8, 32, PARTITIONER))
    assert sum(again.values()) == 0, again
    with compiles() as new_shape:  # another input length is another padded shape: one more compile
        evaluate_tasks(model, LANGUAGES, "validation", EvalSettings(8, 24, PARTITIONER))
    assert _forward_compiles(new_shape) == 1, new_shape


def test_dev_evaluation_reuses_the_forward_across_steps():
    model = _model()
    evaluate = dev_evaluator(LANGUAGES[:2], 8, 40, PARTITIONER, InputLengths())
    graphdef, params = nnx.split(model, nnx.Param)
    evaluate(nnx.merge(graphdef, params), 1)
    # the trainer hands each dev evaluation a model merged from the current train state
    updated = jax.tree.map(lambda x: x * 0.5, params)
    with compiles() as later:
        metrics = evaluate(nnx.merge(graphdef, updated), 2)
    assert sum(later.values()) == 0, later
    assert "eval/mean/f1" in metrics


def test_placed_parameters_are_not_placed_again():
    graphdef, params = placed_params(_model(), PARTITIONER)
    _, again = placed_params(nnx.merge(graphdef, params), PARTITIONER)
    assert all(a is b for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(again)))
