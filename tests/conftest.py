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
    from xstilts_jax.models import EncoderConfig

    return EncoderConfig(
        name="tiny_test", vocab_size=128, hidden_size=32, num_layers=2, num_heads=4, mlp_dim=64, max_positions=66
    )


@pytest.fixture(autouse=True)
def _clear_gin():
    """Gin bindings are global: never let one test's gin files configure another's objects."""
    import gin

    gin.clear_config()
    yield
    gin.clear_config()


@pytest.fixture(scope="session")
def catalog_vocab_dir(tmp_path_factory):
    """A SentencePiece vocabulary trained on the shipped sample text (once per session)."""
    from vocab_fixtures import write_sentencepiece_dir

    return write_sentencepiece_dir(tmp_path_factory.mktemp("catalog_spm"))


@pytest.fixture
def catalog_env(monkeypatch, catalog_vocab_dir):
    """The task catalog reading the shipped sample data with the sample vocabulary."""
    from pathlib import Path

    from tasks import sources, vocabulary

    data = Path(sources.__file__).resolve().parents[1] / "data"
    monkeypatch.setenv("XSTILTS_VOCAB_DIR", str(catalog_vocab_dir))
    monkeypatch.setenv(sources.ENV_DATA_DIR, str(data))
    vocabulary.reset()
    yield data
    vocabulary.reset()
