"""The results database on gs:// (a local GCS emulator): staged locally, uploaded whole, writers queued."""

import subprocess
import sys

import pytest
from jobs import REPO, process_env

from xstilts_jax import storage
from xstilts_jax.experiments.results.records import ResultsError, RunInfo
from xstilts_jax.experiments.results.store import ResultsStore


def _run(i: int, writer: str = "w") -> RunInfo:
    return RunInfo(run_id=f"{writer}-{i}", model="tiny", model_params=1, target="xnli", seed=i)


def test_recorded_on_gcs_and_read_back(gcs_dir):
    db = f"{gcs_dir}/results.sqlite"
    with pytest.raises(ResultsError, match="does not exist"):
        ResultsStore(db, create=False)
    with ResultsStore(db) as store:
        store.record_run(_run(0))
        store.record_scores("w-0", "eval", "xnli.de", "validation", {"de": {"accuracy": 0.5}})
        assert storage.as_path(f"{db}.LOCK").exists()  # held while writing
    assert not storage.as_path(f"{db}.LOCK").exists()
    with ResultsStore(db) as store:  # a second writer starts from the first one's upload
        store.record_run(_run(1))
    with ResultsStore(db, create=False) as store:
        assert [r.run_id for r in store.runs()] == ["w-0", "w-1"]
        assert [(r.language, r.value) for r in store.scores(run_id="w-0")] == [("de", 0.5)]


def test_a_held_lock_makes_a_writer_wait_then_fail_naming_it(gcs_dir):
    db = f"{gcs_dir}/results.sqlite"
    with ResultsStore(db):
        with pytest.raises(ResultsError, match=r"another writer holds .*results.sqlite.LOCK"):
            ResultsStore(db, timeout=0.5)


WRITER = """
import sys
from xstilts_jax.experiments.results.records import RunInfo
from xstilts_jax.experiments.results.store import ResultsStore
db, name = sys.argv[1], sys.argv[2]
for i in range(4):
    with ResultsStore(db, timeout=120) as store:
        store.record_run(RunInfo(run_id=f"{name}-{i}", model="tiny", model_params=1, target="xnli", seed=i))
"""


@pytest.mark.slow
def test_concurrent_writers_on_two_machines_lose_no_row(gcs_dir):
    db = f"{gcs_dir}/results.sqlite"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, db, name], cwd=REPO, env=process_env(1), stderr=subprocess.PIPE, text=True)
        for name in ("a", "b")
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    with ResultsStore(db, create=False) as store:
        assert sorted(r.run_id for r in store.runs()) == sorted(f"{n}-{i}" for n in "ab" for i in range(4))
