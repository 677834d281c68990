"""Per-language pretraining corpora (CC-100 release files, mC4 and wiki40b through TFDS), their
document-stream rows and α language sampling, on a small multilingual corpus the tests write."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import gin
import jax
import numpy as np
import pytest
import seqio
import tensorflow as tf
from etils import epath
from scipy import stats
from corpus_fixtures import SAMPLE, sample_documents, write_cc100
from tfds_mocks import mock_tfds

from tasks import vocabulary
from tasks.sources import corpora as corpus_sources
from xstilts_jax.data import iterator_state
from xstilts_jax.data.batches import BatchSpec, host_batches, training_batches
from xstilts_jax.data.iterator_state import GroupBatches
from xstilts_jax.data.packing import batch_fill
from xstilts_jax.data.sampling import language_rates, rate_table
from xstilts_jax.data.task_records import get_task_record
from xstilts_jax.errors import ConfigError
from xstilts_jax.experiments.mixtures import register_mixtures
from xstilts_jax.tools import prepare_cli

pytestmark = pytest.mark.usefixtures("catalog_env")


def _texts(task: str, split: str, **kwargs) -> list[str]:
    source = seqio.get_mixture_or_task(task).source
    return [ex["text"].decode() for ex in source.get_dataset(split, shuffle=False, **kwargs).as_numpy_iterator()]


def _original_ids(ex: dict) -> np.ndarray:
    return np.where(ex["targets"] >= 0, ex["targets"], ex["inputs"])


def test_cc100_reads_release_files_splits_and_shards_by_document(tmp_path: Path) -> None:
    docs = sample_documents(60)
    write_cc100(tmp_path / "cc100", {"sw": docs})
    gin.bind_parameter("cc100.validation_every", 10)
    train, val = _texts("cc100.sw", "train"), _texts("cc100.sw", "validation")
    assert val == docs[9::10] and train == [d for i, d in enumerate(docs) if i % 10 != 9]
    shards = [_texts("cc100.sw", "train", shard_info=seqio.ShardInfo(i, 3)) for i in range(3)]
    assert [len(s) for s in shards] == [18, 18, 18] and sorted(sum(shards, [])) == sorted(train)
    assert shards[1] == train[1::3]
    source = seqio.get_mixture_or_task("cc100.sw").source
    assert (source.num_input_examples("train"), source.num_input_examples("validation")) == (54, 6)
    assert json.loads((tmp_path / "cc100" / "counts.json").read_text()) == {"sw": 60}


def test_cc100_missing_file_names_the_path_and_the_download(tmp_path: Path) -> None:
    write_cc100(tmp_path / "cc100", {})
    with pytest.raises(ConfigError, match=r"cc100\.de: .*de\.txt\.xz not found.*data\.statmt\.org/cc-100/de\.txt\.xz"):
        _texts("cc100.de", "train")


def test_corpus_rows_are_full_document_stream_rows(tmp_path: Path) -> None:
    v = vocabulary.MODEL_VOCABULARY
    docs = sample_documents(40)
    write_cc100(tmp_path / "cc100", {"de": docs})
    task = seqio.get_mixture_or_task("cc100.de")
    rows = list(task.get_dataset({"inputs": 32}, split="train", shuffle=False, num_epochs=1, seed=0).as_numpy_iterator())
    assert all(len(r["inputs"]) == 32 and r["inputs"][0] == v.bos_id for r in rows)
    assert all(v.pad_id not in _original_ids(r) for r in rows[:-1])  # only the pass's last row is padded
    stream = np.concatenate([_original_ids(r)[1:] for r in rows])
    stream = stream[stream != v.pad_id].tolist()
    expected = [t for d in docs for t in [*v.encode(d), v.eos_id]]
    assert stream == expected  # every document, in order, each followed by </s>
    record = get_task_record("cc100.de")
    assert (record.head, record.label_kind, record.language) == ("mlm", "tokens", "de")
    # Full rows: the training batches are all real tokens (XLM-R's stream), far above 95%.
    batch = next(host_batches(BatchSpec("cc100.de", "train", length=64, batch_size=8), v.pad_id, v.pad_id + 1))
    assert batch_fill(batch["input_ids"], v.pad_id) == 1.0
    one_pass = host_batches(BatchSpec("cc100.de", "train", length=64, batch_size=4, repeat=False), v.pad_id, v.pad_id + 1)
    ids = np.concatenate([b["input_ids"] for b in one_pass])
    assert batch_fill(ids, v.pad_id) >= 0.95


def test_alpha_sampling_draws_languages_at_n_to_the_alpha(tmp_path: Path) -> None:
    v = vocabulary.MODEL_VOCABULARY
    words = {"en": "the", "de": "und", "sw": "na"}  # one word per language, so a row's ids name its language
    ids = {lang: set(v.encode(w)) for lang, w in words.items()}
    assert all(ids[a].isdisjoint(ids[b]) for a in ids for b in ids if a < b)
    counts = {"en": 1000, "de": 100, "sw": 10}
    write_cc100(tmp_path / "cc100", {lang: [f"{words[lang]} {words[lang]}"] * n for lang, n in counts.items()})
    gin.bind_parameter("cc100.validation_every", 10_000)  # every document trains
    register_mixtures(  # as an experiment gin file declares it
        mixtures={"pretrain.three": [f"cc100.{lang}" for lang in counts]}, rates={"pretrain.three": "alpha:0.3"}
    )
    mixture = seqio.get_mixture_or_task("pretrain.three")
    expected = language_rates(counts, 0.3)
    table = rate_table(mixture)
    assert "cc100.sw" in table and f"{100 * expected['sw']:6.2f}%" in table and "0.90%" in table  # sw: 10 of 1110 docs
    draws = 3000
    rows = mixture.get_dataset({"inputs": 8}, split="train", shuffle=False, seed=1, num_epochs=None).take(draws)
    seen = {lang: 0 for lang in counts}
    for row in rows.as_numpy_iterator():
        (lang,) = [lang for lang, s in ids.items() if s & set(_original_ids(row).tolist())]
        seen[lang] += 1
    observed = [seen[lang] for lang in counts]
    chi2 = stats.chisquare(observed, [draws * expected[lang] for lang in counts])
    assert chi2.pvalue > 1e-3, (observed, expected)
    # the draws follow n^0.3, not the data's shares (a proportional mixture would give sw ~1%)
    assert seen["sw"] / draws > 0.1


def test_language_rates() -> None:
    rates = language_rates({"a": 1000, "b": 10}, 0.3)
    assert rates["a"] / rates["b"] == pytest.approx(100**0.3)
    assert language_rates({"a": 1000, "b": 10}, 0.0) == {"a": 0.5, "b": 0.5}
    with pytest.raises(ConfigError, match="alpha must lie in"):
        language_rates({"a": 1}, 1.5)
    with pytest.raises(ConfigError, match=r"no examples counted for \['b'\]"):
        language_rates({"a": 3, "b": 0}, 0.3)


def test_mc4_reads_tfds_language_splits() -> None:
    raw = {
        "sw": [{"text": d, "url": "u", "timestamp": "t", "content-length": "1", "content-type": "c"} for d in SAMPLE[:5]],
        "sw-validation": [{"text": SAMPLE[9], "url": "u", "timestamp": "t", "content-length": "1", "content-type": "c"}],
    }
    with mock_tfds(raw):
        spec = corpus_sources.mc4("sw")
        assert spec.splits == {"train": "sw", "validation": "sw-validation"}
        train = [ex["text"].decode() for ex in spec.canonicalize(spec.source.get_dataset("train", shuffle=False)).as_numpy_iterator()]
        assert train == SAMPLE[:5]
        rows = seqio.get_mixture_or_task("mc4.sw").get_dataset({"inputs": 16}, split="validation", shuffle=False, num_epochs=1)
        assert len(list(rows.as_numpy_iterator())) >= 1


def test_wiki40b_markup_becomes_plain_lines() -> None:
    text = "\n_START_ARTICLE_\nBoat\n_START_SECTION_\nHistory\n_START_PARAGRAPH_\nThe boat drifted._NEWLINE_It sank.\n"
    with mock_tfds({"train": [{"text": text, "wikidata_id": "Q1", "version_id": "1"}]}):
        spec = corpus_sources.wiki40b("de")
        (ex,) = spec.canonicalize(spec.source.get_dataset("train", shuffle=False)).as_numpy_iterator()
    assert ex["text"].decode() == "Boat\nHistory\nThe boat drifted.\nIt sank."
    assert "wiki40b.zh_cn" in seqio.TaskRegistry.names() and "cc100.zh_Hans" in seqio.TaskRegistry.names()
    with pytest.raises(ConfigError, match="wiki40b: unknown language 'xx'"):
        corpus_sources.wiki40b("xx")


def _prepared_documents(directory: Path, split: str) -> list[list[str]]:
    """The documents of each prepared shard file of `split`, in file order."""
    marker = json.loads((directory / "prepared.json").read_text())
    files = sorted((directory / marker["attempt"]).glob(f"{split}-*.tfrecord"))
    assert len(files) == marker["files"]
    return [[r.decode() for r in tf.data.TFRecordDataset(str(f)).as_numpy_iterator()] for f in files]


def test_cc100_prepared_shards_hold_the_xz_documents_and_hosts_read_their_own_files(tmp_path: Path, capsys) -> None:
    docs = sample_documents(50)
    write_cc100(tmp_path / "cc100", {"sw": docs})
    gin.bind_parameter("cc100.validation_every", 10)
    assert prepare_cli.main(["cc100.sw", "--gin.cc100.shard_files=6", "--dry_run"]) == 0
    assert capsys.readouterr().out == "would prepare cc100.sw\n" and not (tmp_path / "cc100" / "prepared").exists()
    assert prepare_cli.main(["cc100.sw", "--gin.cc100.shard_files=6"]) == 0
    assert "prepared cc100.sw in " in capsys.readouterr().out
    prepared = tmp_path / "cc100" / "prepared" / "sw"
    marker = json.loads((prepared / "prepared.json").read_text())
    assert {k: marker[k] for k in ("files", "documents", "train", "validation")} == {
        "files": 6, "documents": 50, "train": 45, "validation": 5}
    assert list(corpus_sources.read_cc100_documents(str(tmp_path / "cc100" / "sw.txt.xz"))) == docs
    train = [d for i, d in enumerate(docs) if i % 10 != 9]
    assert _prepared_documents(prepared, "train") == [train[k::6] for k in range(6)]  # train document k in file k % 6
    assert _prepared_documents(prepared, "validation") == [docs[9::10][k::6] for k in range(6)]
    assert _texts("cc100.sw", "train") == train and _texts("cc100.sw", "validation") == docs[9::10]
    source = seqio.get_mixture_or_task("cc100.sw").source
    read_files: list[list[str]] = []
    real_interleaved = corpus_sources._interleaved
    with mock.patch.object(corpus_sources, "_interleaved", lambda files: read_files.append(list(files)) or real_interleaved(files)):
        # 3 shards divide the 6 files: shard 1 reads files 1 and 4 only, and still gets train[1::3]
        assert _texts("cc100.sw", "train", shard_info=seqio.ShardInfo(1, 3)) == train[1::3]
    assert read_files == [[source.list_shards("train")[k] for k in (1, 4)]]
    # 4 shards do not divide 6 files: every file is read, documents kept by index
    assert [_texts("cc100.sw", "train", shard_info=seqio.ShardInfo(i, 4)) for i in range(4)] == [train[i::4] for i in range(4)]
    assert json.loads((tmp_path / "cc100" / "counts.json").read_text()) == {"sw": 50}


def test_cc100_half_written_preparation_is_redone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = sample_documents(30)
    write_cc100(tmp_path / "cc100", {"de": docs})
    gin.bind_parameter("cc100.validation_every", 10)
    gin.bind_parameter("cc100.shard_files", 2)
    real = corpus_sources.read_cc100_documents

    def interrupted(path: str):
        for i, doc in enumerate(real(path)):
            if i == 12:
                raise KeyboardInterrupt  # the process dies mid-preparation
            yield doc

    monkeypatch.setattr(corpus_sources, "read_cc100_documents", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _texts("cc100.de", "train")
    prepared = tmp_path / "cc100" / "prepared" / "de"
    assert not (prepared / "prepared.json").exists() and len(list(prepared.glob("shards-*/train-*"))) == 2
    monkeypatch.setattr(corpus_sources, "read_cc100_documents", real)
    assert _texts("cc100.de", "train") == [d for i, d in enumerate(docs) if i % 10 != 9]  # prepared again, whole
    attempt = json.loads((prepared / "prepared.json").read_text())["attempt"]
    assert sum(len(f) for f in _prepared_documents(prepared, "train")) == 27
    # a different validation split is a different preparation
    gin.bind_parameter("cc100.validation_every", 5)
    assert _texts("cc100.de", "validation") == docs[4::5]
    assert json.loads((prepared / "prepared.json").read_text())["attempt"] != attempt


def test_cc100_unreadable_unwritable_or_multi_host_preparation_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cc100(tmp_path / "cc100", {"sw": sample_documents(5), "zh-Hans": sample_documents(5)})
    with monkeypatch.context() as patch, pytest.raises(
        ConfigError, match=r"cc100\.zh-Hans: its document shards are not prepared .*multi-host run: "
        r"`xstilts-jax prepare cc100\.zh_Hans --gin\.cc100\.directory="
    ):
        patch.setattr(jax, "process_count", lambda: 4)
        _texts("cc100.zh_Hans", "train")
    assert not (tmp_path / "cc100" / "prepared").exists()
    whole = (tmp_path / "cc100" / "sw.txt.xz").read_bytes()
    (tmp_path / "cc100" / "sw.txt.xz").write_bytes(whole[: len(whole) // 2])  # a download cut short
    with pytest.raises(ConfigError, match=r"cc100\.sw: .*sw\.txt\.xz cannot be read as UTF-8 xz text \(EOFError.*download it again"):
        _texts("cc100.sw", "train")
    (tmp_path / "cc100" / "sw.txt.xz").write_bytes(whole)
    (tmp_path / "blocked").write_text("a file, not a folder")
    gin.bind_parameter("cc100.prepared_directory", str(tmp_path / "blocked"))
    with pytest.raises(ConfigError, match=r"cc100\.sw: cannot write its document shards under .*blocked/sw .*cc100\.prepared_directory"):
        _texts("cc100.sw", "train")


def test_a_cc100_mixture_run_resumes_its_iterators_without_replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    v = vocabulary.MODEL_VOCABULARY
    # seqio keeps a split under 10k documents in memory (`ds.cache()`), whose checkpoint would hold the data
    # itself; a real CC-100 language is far larger, so the iterators here read the shards as a real run does
    monkeypatch.setattr(seqio.dataset_providers, "_MAX_EXAMPLES_TO_MEM_CACHE", 0)
    write_cc100(tmp_path / "cc100", {"en": sample_documents(40), "sw": sample_documents(20, start=7)})
    gin.bind_parameter("cc100.shard_files", 4)
    register_mixtures(mixtures={"pretrain.two": ["cc100.en", "cc100.sw"]}, rates={"pretrain.two": "alpha:0.3"})
    spec = BatchSpec("pretrain.two", "train", length=32, batch_size=4, seed=3, data_shards=2)

    def open_group(name: str):
        return training_batches(spec, pad_id=v.pad_id, position_offset=v.pad_id + 1)

    data = GroupBatches(open_group, {})
    batches = data.batches("pretrain.two")
    for _ in range(6):
        next(batches)
    data.save(epath.Path(tmp_path / "iterators"))
    expected = [next(batches) for _ in range(3)]
    saved = {p.name for p in (tmp_path / "iterators" / "pretrain.two").iterdir()}
    assert saved == {f"shard_{k}-of-2.{ext}" for k in range(2) for ext in ("index", "data-00000-of-00001")}  # no .replay

    def refuse(iterator, batches):
        raise AssertionError(f"replayed {batches} batches where the iterator state should have been restored")

    monkeypatch.setattr(iterator_state, "replay", refuse)
    resumed = GroupBatches(open_group, data.position())
    resumed.resume(epath.Path(tmp_path / "iterators"), step=6)
    got = [next(resumed.batches("pretrain.two")) for _ in range(3)]
    for a, b in zip(got, expected):
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
