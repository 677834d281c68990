"""Test setup: CPU only, 8 host devices for toy meshes, no network."""

import os

os.environ["JAX_PLATFORMS"] = "cpu"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["NO_GCE_CHECK"] = "true"

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
