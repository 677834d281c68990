"""Real TFDS preparation, no mocks: `download_and_prepare` of the `squad/v1.1` builder in the project's
own virtualenv, from SQuAD's release files served on loopback, then read through the catalog task.

Only the builder's download URL is redirected (to the loopback server); TFDS downloads, checks,
parses and writes its TFRecords as it would from rajpurkar.github.io."""

import functools
import http.server
import json
import threading
from pathlib import Path
from typing import Iterator

import pytest
import seqio
import tensorflow_datasets as tfds


@pytest.fixture
def squad_release_server(catalog_data: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving SQuAD v1.1's `train-v1.1.json` and `dev-v1.1.json`."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(catalog_data / "squad"))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _questions(path: Path) -> list[str]:
    return [qa["id"] for article in json.loads(path.read_text())["data"]
            for paragraph in article["paragraphs"] for qa in paragraph["qas"]]


def test_squad_is_downloaded_prepared_and_read_by_the_catalog(
    squad_release_server: str, catalog_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tensorflow_datasets.datasets.squad import squad_dataset_builder

    import tasks  # noqa: F401  (registers the catalog)

    monkeypatch.setattr(squad_dataset_builder, "_URL", squad_release_server)
    builder = tfds.builder("squad/v1.1:3.0.0", data_dir=str(tmp_path / "tfds"))
    builder.download_and_prepare(download_dir=str(tmp_path / "downloads"))

    train_ids, dev_ids = (_questions(catalog_data / "squad" / f) for f in ("train-v1.1.json", "dev-v1.1.json"))
    assert builder.info.splits["train"].num_examples == len(train_ids)
    assert builder.info.splits["validation"].num_examples == len(dev_ids)

    seqio.set_tfds_data_dir_override(str(tmp_path / "tfds"))
    try:
        source = seqio.get_mixture_or_task("squad").source
        read = [ex["id"].decode() for ex in source.get_dataset("validation", shuffle=False).as_numpy_iterator()]
        assert source.num_input_examples("train") == len(train_ids)
    finally:
        seqio.set_tfds_data_dir_override(None)
    assert read == dev_ids
