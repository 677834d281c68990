"""Every gin knob the README documents, bound and seen to take effect (issue 13, item 4).

Everything is imported before any binding, as a gin file's `import` lines do, so a knob read at
import, or cached by a constructor that ran earlier, does not see the binding and fails here.
`test_the_readme_documents_exactly_the_tested_knobs` fails when the README documents a knob
that has no check below.
"""

from __future__ import annotations

import lzma
import re
from pathlib import Path
from typing import Callable

import gin
import jax.numpy as jnp
import numpy as np
import pytest
import seqio
import tensorflow as tf
from vocab_fixtures import write_wordpiece_dir

import tasks  # noqa: F401  (registers the catalog)
from tasks import mlm, qa_features, vocabulary
from tasks.sources.files import data_dir, exists_under_data_dir
from xstilts_jax.data.batches import count_examples, default_length
from xstilts_jax.data.task_records import get_task_record
from xstilts_jax.distributed import DistributedConfig
from xstilts_jax.errors import ConfigError
from xstilts_jax.evaluation.forward import EvalSettings
from xstilts_jax.experiments.grid import Grid
from xstilts_jax.experiments.mixtures import register_mixtures
from xstilts_jax.experiments.pipeline import Experiment, model_for
from xstilts_jax.experiments.results.store import results_db
from xstilts_jax.gin_utils import REPO_ROOT, parse_gin
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.partitioning import MeshConfig, Partitioner
from xstilts_jax.planning import study
from xstilts_jax.training.optimizer import OptimizerConfig
from xstilts_jax.training.trainer import TrainConfig

TRAIN = ["TrainConfig.task = 'xnli'", "TrainConfig.steps = 1"]


def _bind(*lines: str) -> None:
    gin.parse_config(list(lines))


def _eval_settings() -> EvalSettings:
    """What `run` and `eval` build where a run is configured: its gin-bound fields read the bindings."""
    return EvalSettings(8, None, Partitioner.from_config(MeshConfig()))


def _is_gin_knob(name: str) -> bool:
    try:
        gin.parse_config(f"{name} = None")
        return True
    except (ValueError, KeyError):
        return False
    finally:
        gin.clear_config()


def documented_knobs() -> set[str]:
    """`Configurable.param` names the README mentions (plain, `--gin.`, scoped, `X.{a, b}`, `X.a`, `.b`)."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8").replace("--gin.", " ")
    text = re.sub(r"\b\w+/(?=[A-Za-z_]\w*\.\w)", "", text)  # gin scopes: mlm/TrainConfig.steps
    names = set(re.findall(r"(?<![\w./-])([A-Za-z_]\w*\.[A-Za-z_]\w*)", text))
    for configurable, params in re.findall(r"`(\w+)\.\{([^}]*)\}`", text):
        names |= {f"{configurable}.{p.strip()}" for p in params.split(",")}
    for configurable, rest in re.findall(r"`(\w+)\.\w+`((?:,\s*`\.\w+`)+)", text):
        names |= {f"{configurable}{p}" for p in re.findall(r"`(\.\w+)`", rest)}
    return {name for name in names if _is_gin_knob(name)}


# --- checks: each binds its knob and observes the object or data a run builds from it --------


def _train_examples(**_: object) -> None:
    """`plan --study` turns a grid gin's epochs into steps with these counts (tests/planning/test_study.py)."""
    assert study.train_examples() == {}
    _bind("train_examples.counts = {'mnli': 392702}")
    assert study.train_examples() == {"mnli": 392702}


def _field(make: Callable[[], object], knob: str, value: str, *base: str) -> Callable[..., None]:
    """A check for a configurable dataclass: the object a run builds carries the bound value."""

    def check(**_: object) -> None:
        _bind(*base)
        before = getattr(make(), knob.split(".")[1])
        _bind(f"{knob} = {value}")
        after = getattr(make(), knob.split(".")[1])
        assert after == eval(value) != before, (knob, before, after)

    return check


def _input_length(kind: str, task: str) -> Callable[..., None]:
    def check(**_: object) -> None:
        assert default_length(task, _eval_settings().input_lengths) != 77
        _bind(f"default_max_length.{kind} = 77")
        assert default_length(task, _eval_settings().input_lengths) == 77
        assert default_length(task, TrainConfig(task=task, steps=1).input_lengths) == 77

    return check


def _long_tagging_mode(**_: object) -> None:
    split = count_examples("udpos", "train", 16)
    _bind("long_tagging_sentences.mode = 'truncate'")
    assert count_examples("udpos", "train", 16) < split  # long sentences are no longer split into pieces


def _embedding_head(tiny_config: EncoderConfig):
    model = model_for(tiny_config, ["tatoeba.de"], 0, None, MeshConfig(), _eval_settings().representation)
    return model.heads[get_task_record("tatoeba.de").head]


def _embedding_layer(tiny_config: EncoderConfig, **_: object) -> None:
    assert _embedding_head(tiny_config).encoder_layers == 1  # round(14/24 × 2)
    _bind("embedding_representation.layer = 2")
    assert _embedding_head(tiny_config).encoder_layers == 2


def _embedding_pooling(tiny_config: EncoderConfig, **_: object) -> None:
    assert _embedding_head(tiny_config).pooling == "mean"
    _bind("embedding_representation.pooling = 'first'")
    assert _embedding_head(tiny_config).pooling == "first"


def _span_decoding(knob: str, value: str) -> Callable[..., None]:
    return _field(lambda: _eval_settings().spans, knob, value)


CONTEXT = "Kibo is the highest cone of the mountain, and Uhuru Peak on its rim rises 5,895 metres. " * 3


def _qa_windows(question: str = "How high?", answer: str = "5,895 metres") -> list[dict]:
    """The windows `encode_qa` (the QA tasks' preprocessor) builds at input length 40."""
    ds = tf.data.Dataset.from_tensor_slices(
        {"idx": [0], "id": ["a"], "question": [question], "context": [CONTEXT], "answers": [[answer]],
         "answer_starts": [[CONTEXT.index("5,895")]]}
    )  # fmt: skip
    features = {"inputs": seqio.Feature(vocabulary=vocabulary.MODEL_VOCABULARY, add_eos=False, dtype=tf.int32)}
    return list(qa_features.encode_qa(ds, features, {"inputs": 40}, allow_no_answer=False, task="knob").as_numpy_iterator())


def _qa_doc_stride(**_: object) -> None:
    windows = len(_qa_windows())
    _bind("qa_featurization.doc_stride = 4")
    assert len(_qa_windows()) > windows


def _qa_max_query_length(**_: object) -> None:
    question = "How high does the peak on its rim rise?"

    def question_tokens() -> int:
        return int(np.argmax(_qa_windows(question)[0]["offsets"][:, 0] >= 0))  # tokens before the context

    full = question_tokens()
    _bind("qa_featurization.max_query_length = 3")
    assert question_tokens() < full


def _qa_bad_input(**_: object) -> None:
    with pytest.raises(tf.errors.OpError, match="does not match"):
        _qa_windows(answer="Kilimanjaro")
    _bind("qa_featurization.bad_input = 'skip'")
    assert all(w["start_positions"] == -1 for w in _qa_windows(answer="Kilimanjaro"))


def _mlm_lines() -> dict[str, list[str]]:
    spec = mlm.mlm_source()
    return {
        split: [ex["text"].decode() for ex in spec.source.get_dataset(split, shuffle=False).as_numpy_iterator()]
        for split in ("train", "validation")
    }


def _mlm_files(tmp_path: Path, **_: object) -> None:
    (tmp_path / "corpus.txt").write_text("only line\n", encoding="utf-8")
    _bind(f"mlm_corpus.files = ['{tmp_path / '*.txt'}']")
    assert _mlm_lines() == {"train": ["only line"], "validation": []}


def _mlm_validation_every(**_: object) -> None:
    every_20th = len(_mlm_lines()["validation"])
    _bind("mlm_corpus.validation_every = 2")
    assert len(_mlm_lines()["validation"]) > 5 * every_20th


def _mlm_masking_rate(**_: object) -> None:
    def chosen() -> float:
        ds = seqio.get_mixture_or_task(mlm.TASK).get_dataset({"inputs": 32}, split="train", shuffle=False, seed=0)
        rows = list(ds.as_numpy_iterator())
        return sum(int((r["targets"] >= 0).sum()) for r in rows) / sum(len(r["targets"]) for r in rows)

    rate = chosen()
    _bind("mlm_masking.rate = 0.6")
    assert chosen() > 2 * rate


def _data_dir(tmp_path: Path, **_: object) -> None:
    (tmp_path / "marker.txt").write_text("", encoding="utf-8")
    assert not exists_under_data_dir("marker.txt")
    _bind(f"data_dir.path = '{tmp_path}'")
    assert data_dir() == str(tmp_path) and exists_under_data_dir("marker.txt")


def _vocabulary_dir(tmp_path: Path, **_: object) -> None:
    sample = vocabulary.MODEL_VOCABULARY.vocab_size
    _bind(f"vocabulary_dir.path = '{write_wordpiece_dir(tmp_path)}'")
    vocabulary.reset()  # the catalog's vocabulary loads on first use: here, after the binding
    assert vocabulary.MODEL_VOCABULARY.vocab_size != sample


def _results_db(tmp_path: Path, **_: object) -> None:
    _bind(f"results_db.path = '{tmp_path / 'r.sqlite'}'")
    assert results_db() == str(tmp_path / "r.sqlite")  # what `run` and `results` open


def _mesh_fsdp(**_: object) -> None:
    _bind("MeshConfig.data = 2", "MeshConfig.fsdp = -1")
    assert dict(Partitioner.from_config(MeshConfig()).mesh.shape) == {"data": 2, "fsdp": 4, "tensor": 1}


def _mesh_tensor(**_: object) -> None:
    _bind("MeshConfig.fsdp = -1", "MeshConfig.tensor = 2", "MeshConfig.rules = 'fsdp_tensor'")
    partitioner = Partitioner.from_config(MeshConfig())
    assert dict(partitioner.mesh.shape) == {"data": 1, "fsdp": 4, "tensor": 2} and partitioner.batch_shards == 4


def _mesh_rules(**_: object) -> None:
    from jax.sharding import PartitionSpec

    assert Partitioner.from_config(MeshConfig()).batch_shards == 8  # fsdp over all 8
    _bind("MeshConfig.rules = 'data_parallel'", "MeshConfig.fsdp = 1", "MeshConfig.tensor = -1")
    assert Partitioner.from_config(MeshConfig()).spec(("batch",)) == PartitionSpec("tensor")


def _mesh_topology(**_: object) -> None:
    """A rung's slice: what `plan --study` prices it on, and the devices `grid` runs it on."""
    from xstilts_jax.experiments.grid import Cell, check_rung, rung_devices

    cell = Cell("tiny", None, "xnli", 0, ("gin/models/tiny.gin",), ())
    assert rung_devices(cell, MeshConfig(), 8) == 8
    _bind("MeshConfig.topology = 'v5p-8'")
    assert rung_devices(cell, MeshConfig(), None) == 4 and study.rung_slice(cell, {}).user_name == "v5p-8"
    with pytest.raises(ConfigError, match="planned on MeshConfig.topology='v5p-8' .4 chips., but this grid runs on 8 devices"):
        check_rung(cell, MeshConfig(), {}, 8)


def _register_mixtures(**_: object) -> None:
    _bind("register_mixtures.mixtures = {'intermediate.knob': ['mnli', 'squad']}")
    try:
        assert register_mixtures() == ["intermediate.knob"]
        assert sorted(t.name for t in seqio.get_subtasks(seqio.get_mixture_or_task("intermediate.knob"))) == ["mnli", "squad"]
    finally:
        seqio.MixtureRegistry.remove("intermediate.knob")


def _cc100_documents(directory: Path, n: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with lzma.open(directory / "sw.txt.xz", "wt", encoding="utf-8") as f:
        f.write("".join(f"document {i}\n\n" for i in range(n)))


def _cc100_texts(split: str) -> list[str]:
    source = seqio.get_mixture_or_task("cc100.sw").source
    return [ex["text"].decode() for ex in source.get_dataset(split, shuffle=False).as_numpy_iterator()]


def _cc100_directory(tmp_path: Path, **_: object) -> None:
    _cc100_documents(tmp_path / "corpus", 3)
    with pytest.raises(ConfigError, match="cc100.sw: .*sw.txt.xz not found"):
        _cc100_texts("train")
    _bind(f"cc100.directory = '{tmp_path / 'corpus'}'")
    assert _cc100_texts("train") == ["document 0", "document 1", "document 2"]


def _cc100_prepared_directory(tmp_path: Path, **_: object) -> None:
    _cc100_documents(tmp_path / "corpus", 3)
    _bind(f"cc100.directory = '{tmp_path / 'corpus'}'", f"cc100.prepared_directory = '{tmp_path / 'shards'}'")
    assert _cc100_texts("train") == ["document 0", "document 1", "document 2"]
    assert (tmp_path / "shards" / "sw" / "prepared.json").exists() and not (tmp_path / "corpus" / "prepared").exists()


def _cc100_shard_files(tmp_path: Path, **_: object) -> None:
    _cc100_documents(tmp_path, 5)
    _bind(f"cc100.directory = '{tmp_path}'", "cc100.shard_files = 3")
    assert _cc100_texts("train") == [f"document {i}" for i in range(5)]
    assert len(list((tmp_path / "prepared" / "sw").glob("shards-*/train-*-of-00003.tfrecord"))) == 3


def _cc100_validation_every(tmp_path: Path, **_: object) -> None:
    _cc100_documents(tmp_path, 2000)
    _bind(f"cc100.directory = '{tmp_path}'")
    assert len(_cc100_texts("validation")) == 2  # every 1000th document
    _bind("cc100.validation_every = 10")
    assert len(_cc100_texts("validation")) == 200


def _register_mixtures_rates(**_: object) -> None:
    _bind("register_mixtures.mixtures = {'intermediate.knob': ['mnli', 'squad']}")
    try:
        register_mixtures()
        assert seqio.get_mixture_or_task("intermediate.knob").get_rate(seqio.get_mixture_or_task("mnli")) == 1.0
        _bind("register_mixtures.rates = {'intermediate.knob': 'alpha:0.5'}")
        register_mixtures()
        rate = seqio.get_mixture_or_task("intermediate.knob")._task_to_rate["mnli"]
        assert callable(rate) and rate(type("Counted", (), {"num_input_examples": lambda self, split: 400, "name": "x"})()) == 20.0
    finally:
        seqio.MixtureRegistry.remove("intermediate.knob")


def _encoder_dtype(**_: object) -> None:
    parse_gin(["gin/models/tiny.gin"])
    assert EncoderConfig().dtype == "float32"
    _bind("EncoderConfig.dtype = 'bfloat16'")
    assert EncoderConfig().compute_dtype == jnp.bfloat16


def _encoder_scan_unroll(**_: object) -> None:
    """The bound unroll reaches the scan: an unrolled 2-layer scan traces both layers' bodies into one loop step."""
    import jax

    from xstilts_jax.models import build_model

    def traced() -> str:
        model = build_model(EncoderConfig().replace(num_layers=2, hidden_size=32, num_heads=2, mlp_dim=64, vocab_size=100), {})
        return str(jax.make_jaxpr(lambda ids: model.encoder(ids).last_hidden_state)(jnp.ones((2, 8), jnp.int32)))

    parse_gin(["gin/models/tiny.gin"])
    rolled = traced()
    _bind("EncoderConfig.scan_unroll = 2")
    assert EncoderConfig().scan_unroll == 2
    unrolled = traced()
    assert unrolled.count("dot_general") == 2 * rolled.count("dot_general") or "unroll=2" in unrolled


def _encoder_attention(**_: object) -> None:
    """The bound kernel is the one the encoder traces: splash is a Pallas call, XLA's is not."""
    import jax

    from xstilts_jax.models import build_model

    def traced() -> str:
        model = build_model(EncoderConfig().replace(num_layers=1, hidden_size=32, num_heads=2, mlp_dim=64, vocab_size=100), {})
        return str(jax.make_jaxpr(lambda ids: model.encoder(ids).last_hidden_state)(jnp.ones((2, 128), jnp.int32)))

    assert "pallas_call" not in traced()  # "auto" on the CPU: XLA
    _bind("EncoderConfig.attention = 'splash'")
    assert "pallas_call" in traced()


GRID = ["Grid.models = ['tiny']", "Grid.targets = ['xnli']"]
KNOBS: dict[str, Callable[..., None]] = {
    **{f"default_max_length.{kind}": _input_length(kind, task) for kind, task in (
        ("classification", "xnli.de"), ("multiple_choice", "xcopa.zh"), ("tagging", "udpos.de"),
        ("span", "squad"), ("retrieval", "tatoeba.de"), ("masked_lm", "mlm"),
    )},  # fmt: skip
    "long_tagging_sentences.mode": _long_tagging_mode,
    "embedding_representation.layer": _embedding_layer,
    "embedding_representation.pooling": _embedding_pooling,
    "span_decoding.n_best_size": _span_decoding("span_decoding.n_best_size", "7"),
    "span_decoding.max_answer_length": _span_decoding("span_decoding.max_answer_length", "9"),
    "span_decoding.null_score_diff_threshold": _span_decoding("span_decoding.null_score_diff_threshold", "1.5"),
    "qa_featurization.doc_stride": _qa_doc_stride,
    "qa_featurization.max_query_length": _qa_max_query_length,
    "qa_featurization.bad_input": _qa_bad_input,
    "mlm_corpus.files": _mlm_files,
    "mlm_corpus.validation_every": _mlm_validation_every,
    "mlm_masking.rate": _mlm_masking_rate,
    "data_dir.path": _data_dir,
    "vocabulary_dir.path": _vocabulary_dir,
    "results_db.path": _results_db,
    "register_mixtures.mixtures": _register_mixtures,
    "register_mixtures.rates": _register_mixtures_rates,
    "cc100.directory": _cc100_directory,
    "cc100.validation_every": _cc100_validation_every,
    "cc100.prepared_directory": _cc100_prepared_directory,
    "cc100.shard_files": _cc100_shard_files,
    "MeshConfig.fsdp": _mesh_fsdp,
    "MeshConfig.data": _mesh_fsdp,
    "MeshConfig.tensor": _mesh_tensor,
    "MeshConfig.rules": _mesh_rules,
    "MeshConfig.topology": _mesh_topology,
    "MeshConfig.dcn_data": _field(MeshConfig, "MeshConfig.dcn_data", "2"),
    "OptimizerConfig.learning_rate": _field(OptimizerConfig, "OptimizerConfig.learning_rate", "0.5"),
    "OptimizerConfig.name": _field(OptimizerConfig, "OptimizerConfig.name", "'adafactor'"),
    "OptimizerConfig.b2": _field(OptimizerConfig, "OptimizerConfig.b2", "0.98"),
    "OptimizerConfig.eps": _field(OptimizerConfig, "OptimizerConfig.eps", "1e-6"),
    "OptimizerConfig.mu_dtype": _field(OptimizerConfig, "OptimizerConfig.mu_dtype", "'bfloat16'"),
    "OptimizerConfig.warmup_fraction": _field(OptimizerConfig, "OptimizerConfig.warmup_fraction", "0.05"),
    "OptimizerConfig.warmup_steps": _field(OptimizerConfig, "OptimizerConfig.warmup_steps", "100"),
    "OptimizerConfig.adafactor_decay": _field(OptimizerConfig, "OptimizerConfig.adafactor_decay", "0.9"),
    "TrainConfig.batch_tokens": _field(TrainConfig, "TrainConfig.batch_tokens", "1024", *TRAIN, "TrainConfig.length = 64"),
    "TrainConfig.seed": _field(TrainConfig, "TrainConfig.seed", "3", *TRAIN),
    "TrainConfig.task": _field(TrainConfig, "TrainConfig.task", "'udpos'", *TRAIN),
    "TrainConfig.steps": _field(TrainConfig, "TrainConfig.steps", "7", *TRAIN),
    "TrainConfig.epochs": _field(TrainConfig, "TrainConfig.epochs", "3", *TRAIN),
    "TrainConfig.length": _field(TrainConfig, "TrainConfig.length", "64", *TRAIN),
    "TrainConfig.eval_tasks": _field(TrainConfig, "TrainConfig.eval_tasks", "('xnli.de',)", *TRAIN),
    "TrainConfig.eval_every": _field(TrainConfig, "TrainConfig.eval_every", "3", *TRAIN),
    "TrainConfig.best_metric": _field(
        TrainConfig, "TrainConfig.best_metric", "'eval/xnli.de/accuracy'", *TRAIN, "TrainConfig.eval_tasks = ('xnli.de',)"
    ),
    "TrainConfig.data_shards": _field(TrainConfig, "TrainConfig.data_shards", "4", *TRAIN),
    "TrainConfig.pack": _field(TrainConfig, "TrainConfig.pack", "True", *TRAIN),
    "TrainConfig.accumulate_steps": _field(TrainConfig, "TrainConfig.accumulate_steps", "2", *TRAIN),
    "Experiment.target": _field(Experiment, "Experiment.target", "'pawsx'", "Experiment.target = 'xnli'"),
    "Experiment.target_train": _field(Experiment, "Experiment.target_train", "'snli'", "Experiment.target = 'xnli'"),
    "Experiment.eval_tasks": _field(Experiment, "Experiment.eval_tasks", "('xnli.de',)", "Experiment.target = 'xnli'"),
    "Experiment.eval_per_device_batch_size": _field(
        Experiment, "Experiment.eval_per_device_batch_size", "4", "Experiment.target = 'xnli'"
    ),
    "Experiment.intermediate": _field(Experiment, "Experiment.intermediate", "'squad'", "Experiment.target = 'xnli'"),
    "Experiment.root": _field(Experiment, "Experiment.root", "'elsewhere'", "Experiment.target = 'xnli'"),
    "Experiment.pretrained": _field(Experiment, "Experiment.pretrained", "'ckpt'", "Experiment.target = 'xnli'"),
    "Experiment.mlm": _field(Experiment, "Experiment.mlm", "'mlm'", "Experiment.target = 'xnli'"),
    # its effect on disk: tests/experiments/test_phase_exports.py
    "Experiment.keep_train_state": _field(Experiment, "Experiment.keep_train_state", "True", "Experiment.target = 'xnli'"),
    "Grid.models": _field(Grid, "Grid.models", "('tiny', 'xlmr_base')", *GRID),
    "Grid.targets": _field(Grid, "Grid.targets", "('xnli', 'pawsx')", *GRID),
    "Grid.intermediates": _field(Grid, "Grid.intermediates", "(None, 'squad')", *GRID),
    "Grid.seeds": _field(Grid, "Grid.seeds", "(0, 1)", *GRID),
    "Grid.pretrained": _field(Grid, "Grid.pretrained", "{'tiny': 'ckpt'}", *GRID),
    "Grid.eval_tasks": _field(Grid, "Grid.eval_tasks", "{'xnli': ('xnli.de',)}", *GRID),
    "DistributedConfig.coordinator_address": _field(
        DistributedConfig, "DistributedConfig.coordinator_address", "'10.0.0.1:1234'"
    ),
    "DistributedConfig.local_device_ids": _field(DistributedConfig, "DistributedConfig.local_device_ids", "(0, 1)"),
    "EncoderConfig.dtype": _encoder_dtype,
    "EncoderConfig.attention": _encoder_attention,
    "EncoderConfig.scan_unroll": _encoder_scan_unroll,
    "train_examples.counts": _train_examples,
}


def test_the_readme_documents_exactly_the_tested_knobs():
    documented = documented_knobs()
    assert documented - set(KNOBS) == set(), "documented knobs without a check in KNOBS"
    assert set(KNOBS) - documented == set(), "checked knobs the README does not document"


@pytest.mark.parametrize("knob", sorted(KNOBS))
def test_documented_knob_takes_effect(knob, catalog_env, tiny_config, tmp_path):
    KNOBS[knob](tiny_config=tiny_config, tmp_path=tmp_path)


def test_a_knob_read_before_binding_fails_its_check(catalog_env, tiny_config, tmp_path):
    """The checks can fail: a value captured before the binding (as a read at import was) is stale."""
    stale = _eval_settings()
    _bind("span_decoding.n_best_size = 7")
    assert stale.spans.n_best_size == 20
    with pytest.raises(AssertionError):
        _field(lambda: stale.spans, "span_decoding.n_best_size", "7")()
    with pytest.raises(ConfigError, match="n_best_size and max_answer_length must be >= 1"):
        _bind("span_decoding.n_best_size = 0")
        _eval_settings()


def test_only_the_command_layer_replaces_gin_config():
    """Library code never calls `gin.clear_config()`: only `cli.main` and the commands in `tools/` own gin's
    global config, so a caller's bindings survive every library call."""
    package = REPO_ROOT / "xstilts_jax"
    commands = {package / "cli.py", *package.glob("tools/*.py")}
    callers = {
        path.relative_to(REPO_ROOT).as_posix()
        for path in [*package.rglob("*.py"), *(REPO_ROOT / "tasks").rglob("*.py")]
        if path not in commands and "clear_config(" in path.read_text(encoding="utf-8")
    }
    assert callers == set()
