"""The engine-side registry of task heads."""

import pytest

from xstilts_jax.data import task_heads
from xstilts_jax.data.task_heads import TaskHead, get_task_head, head_id, heads_for, register_task_head
from xstilts_jax.errors import ConfigError
from xstilts_jax.models.heads import HeadSpec


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch):
    monkeypatch.setattr(task_heads, "_TASK_HEADS", {})


NLI = TaskHead("nli", HeadSpec("classification", 3), "class", ("entailment", "neutral", "contradiction"))


def test_head_id_is_stable_and_int32():
    import zlib

    assert head_id("nli") == zlib.crc32(b"nli") & 0x7FFFFFFF
    assert 0 <= head_id("a_very_long_head_name") < 2**31


def test_tasks_share_a_head_and_heads_for():
    register_task_head("mnli", NLI)
    register_task_head("xnli.de", NLI)
    register_task_head("copa", TaskHead("copa", HeadSpec("multiple_choice"), "choice"))
    assert heads_for(["mnli", "xnli.de", "copa"]) == {"nli": NLI.spec, "copa": HeadSpec("multiple_choice")}
    assert get_task_head("xnli.de").label_names[0] == "entailment"


def test_shared_head_must_agree_on_spec_and_labels():
    register_task_head("mnli", NLI)
    with pytest.raises(ConfigError, match="tasks sharing a head must share its spec and label order"):
        register_task_head("snli", TaskHead("nli", HeadSpec("classification", 3), "class", ("neutral", "entailment", "contradiction")))


def test_unknown_task_names_the_fix():
    with pytest.raises(ConfigError, match=r"No head registered for task 'xnlii'.*--module_import=tasks"):
        get_task_head("xnlii")
