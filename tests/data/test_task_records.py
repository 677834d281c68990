"""The engine-side registry of task records."""

import pytest
import seqio

from xstilts_jax.data import task_records
from xstilts_jax.data.task_records import TaskRecord, expand_tasks, get_provider, get_task_record, head_id, heads_for, register_task
from xstilts_jax.errors import ConfigError
from xstilts_jax.models.heads import HeadSpec

NLI_LABELS = ("entailment", "neutral", "contradiction")
TOY = ("toy_mnli", "toy_xnli.de", "toy_copa", "toy_snli")


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch):
    monkeypatch.setattr(task_records, "_RECORDS", {})
    yield
    for name in TOY:
        seqio.TaskRegistry.remove(name)
    seqio.MixtureRegistry.remove("toy_mix")


def _seqio_task(name: str) -> seqio.Task:
    source = seqio.FunctionDataSource(lambda split, shuffle_files: None, splits=["validation"])
    return seqio.Task(name, source=source, preprocessors=[], output_features={})


def _nli(name: str, labels=NLI_LABELS, **kwargs) -> TaskRecord:
    return TaskRecord(name, "nli", HeadSpec("classification", 3), "class", labels, **kwargs)


def _register(record: TaskRecord) -> None:
    register_task(record, _seqio_task(record.name))


def test_head_id_is_stable_and_int32():
    import zlib

    assert head_id("nli") == zlib.crc32(b"nli") & 0x7FFFFFFF
    assert 0 <= head_id("a_very_long_head_name") < 2**31


def test_one_registration_adds_the_seqio_task_and_its_record():
    _register(_nli("toy_mnli"))
    _register(_nli("toy_xnli.de", role="eval", language="de", scoring_split="test"))
    _register(TaskRecord("toy_copa", "copa", HeadSpec("multiple_choice"), "choice"))
    assert seqio.TaskRegistry.get("toy_xnli.de").name == "toy_xnli.de"
    record = get_task_record("toy_xnli.de")
    assert (record.role, record.language, record.scoring_split, record.label_names[0]) == ("eval", "de", "test", "entailment")
    assert heads_for(["toy_mnli", "toy_xnli.de", "toy_copa"]) == {"nli": HeadSpec("classification", 3), "copa": HeadSpec("multiple_choice")}


def test_shared_head_must_agree_on_spec_and_labels():
    _register(_nli("toy_mnli"))
    with pytest.raises(ConfigError, match="tasks sharing a head must share its spec and label order"):
        _register(_nli("toy_snli", labels=("neutral", "entailment", "contradiction")))
    assert "toy_snli" not in seqio.TaskRegistry.names()  # nothing half-registered


def test_a_record_names_its_seqio_task_and_a_valid_role():
    with pytest.raises(ConfigError, match="registered with a seqio task named 'toy_snli'"):
        register_task(_nli("toy_mnli"), _seqio_task("toy_snli"))
    with pytest.raises(ConfigError, match="role must be one of"):
        _nli("toy_mnli", role="dev")


def test_expand_tasks_keeps_order_and_drops_repeats():
    for name in ("toy_mnli", "toy_snli"):
        _register(_nli(name))
    seqio.MixtureRegistry.add("toy_mix", ["toy_mnli", "toy_snli"], default_rate=1.0)
    assert expand_tasks(["toy_snli", "toy_mix"]) == ["toy_snli", "toy_mnli"]


def test_unknown_names_suggest_close_ones_and_the_catalog_import():
    _register(_nli("toy_mnli"))
    with pytest.raises(ConfigError, match=r"No task 'toy_mnlii' is registered\. Did you mean 'toy_mnli'\?.*`import tasks`"):
        get_task_record("toy_mnlii")
    with pytest.raises(ConfigError, match=r"Unknown task or mixture 'toy_mnlii'\. Did you mean 'toy_mnli'.*`import tasks`"):
        get_provider("toy_mnlii")
