"""Test setup: CPU only, 8 host devices for toy meshes, no network."""

import os
from pathlib import Path

os.environ["JAX_PLATFORMS"] = "cpu"
# Tests run tiny programs, so XLA's compile time, not run time, is what they wait for: compile
# without LLVM's expensive optimizations (halves the compile time; every comparison a test makes is
# between programs compiled alike, or within a tolerance).
TEST_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
os.environ["XLA_FLAGS"] = " ".join([os.environ.get("XLA_FLAGS", ""), TEST_XLA_FLAGS, "--xla_force_host_platform_device_count=8"]).strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["NO_GCE_CHECK"] = "true"
# JAX's persistent compilation cache, shared by the xdist workers and every subprocess the tests start
# (they inherit os.environ): a program compiled once in the run loads from disk everywhere else.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "jax-tests"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.3")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Property tests are deterministic by default so `make test` (and CI) cannot fail on a new random
# draw; `pytest --hypothesis-profile=explore` searches fresh examples with more of them.
settings.register_profile("default", derandomize=True, print_blob=True)
settings.register_profile("explore", max_examples=500, derandomize=False, print_blob=True)
settings.load_profile("default")


@pytest.fixture(scope="session")
def tiny_config():
    """A tiny XLM-R shaped encoder config for fast tests."""
    from tiny import TINY_CONFIG

    return TINY_CONFIG


@pytest.fixture(autouse=True)
def _clear_gin():
    """Gin bindings are global: never let one test's gin files configure another's objects."""
    import gin

    gin.clear_config()
    yield
    gin.clear_config()


@pytest.fixture(scope="session")
def spm_dir(tmp_path_factory):
    """An XLM-R style SentencePiece vocabulary trained on the shipped sample text (once per session, read-only)."""
    from vocab_fixtures import write_sentencepiece_dir

    return write_sentencepiece_dir(tmp_path_factory.mktemp("xlmr"))


@pytest.fixture(scope="session")
def bert_dir(tmp_path_factory):
    """A BERT WordPiece `vocab.txt` built from the shipped sample text (once per session, read-only)."""
    from vocab_fixtures import write_wordpiece_dir

    return write_wordpiece_dir(tmp_path_factory.mktemp("bert"))


@pytest.fixture(scope="session")
def catalog_data():
    """The sample data shipped with the task catalog (`tasks/data`)."""
    from pathlib import Path

    from tasks import sources

    return Path(sources.__file__).resolve().parents[1] / "data"


@pytest.fixture
def catalog_env(monkeypatch, catalog_data, spm_dir):
    """The task catalog reading the shipped sample data with the sample vocabulary; yields the data directory.

    The variables are set in `os.environ`, so subprocesses started meanwhile (`jobs.process_env`) inherit them."""
    from tasks import sources, vocabulary

    monkeypatch.setenv("XSTILTS_VOCAB_DIR", str(spm_dir))
    monkeypatch.setenv(sources.ENV_DATA_DIR, str(catalog_data))
    vocabulary.reset()
    yield catalog_data
    vocabulary.reset()


@pytest.fixture
def offline(monkeypatch):
    """Python-level network use fails loudly (an AssertionError naming the address)."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def pytest_collection_modifyitems(session, config, items):
    """Slow tests first: the parallel workers then share them out, rather than one finishing them alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# --- compile report: `pytest --compile_report=N` lists the N tests that spent most time compiling ----------
_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
_compile_totals: dict[str, list[float]] = {}  # test id → [compiles, seconds] (this process only)


def pytest_addoption(parser):
    parser.addoption("--compile_report", type=int, default=0, metavar="N",
                     help="after the run, list the N tests with the most XLA compile time (in-process compiles only)")


def _record_compile(event: str, duration: float, **kwargs) -> None:
    if event == _BACKEND_COMPILE and _current_test:
        counts = _compile_totals.setdefault(_current_test[0], [0, 0.0])
        counts[0] += 1
        counts[1] += duration


_current_test: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if not item.config.getoption("compile_report"):
        yield
        return
    if not _compile_totals:
        import jax

        jax.monitoring.register_event_duration_secs_listener(_record_compile)
        _compile_totals[""] = [0, 0.0]
    _current_test[:] = [item.nodeid]
    yield
    _current_test.clear()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    top = config.getoption("compile_report")
    if not top or not _compile_totals:
        return
    rows = sorted(((s, n, test) for test, (n, s) in _compile_totals.items() if test), reverse=True)[:top]
    terminalreporter.write_sep("=", f"XLA compiles of the {len(rows)} tests with the most compile time (this process)")
    for seconds, count, test in rows:
        terminalreporter.write_line(f"{seconds:8.2f}s {count:5d} compiles  {test}")


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory):
    """A local GCS emulator on loopback for the whole session (`tests/gcs_emulator.py`)."""
    from gcs_emulator import Emulator

    emulator = Emulator(tmp_path_factory.mktemp("gcs"))
    yield emulator
    emulator.stop()


@pytest.fixture
def gcs_dir(gcs_emulator, monkeypatch, request):
    """A fresh `gs://` directory on the emulator, with this process (and its subprocesses) pointed at it."""
    import re
    import uuid

    from gcs_emulator import use_emulator

    use_emulator(gcs_emulator, monkeypatch)
    return f"{gcs_emulator.bucket}/{re.sub(r'[^A-Za-z0-9_.-]', '_', request.node.name)}-{uuid.uuid4().hex[:6]}"
