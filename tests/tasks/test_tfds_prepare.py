"""Real TFDS preparation, no mocks: `xstilts-jax prepare squad` runs the `squad/v1.1` builder's
`download_and_prepare` in the project's own virtualenv, from SQuAD's release files served on loopback,
and the catalog task then reads the prepared dataset.

Only the builder's download URL is redirected (to the loopback server); TFDS downloads, parses and
writes its TFRecords as it would from rajpurkar.github.io."""

import functools
import http.server
import json
import threading
from pathlib import Path
from typing import Iterator

import pytest
import seqio

from xstilts_jax.tools import prepare_cli


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


def _question_ids(path: Path) -> list[str]:
    return [qa["id"] for article in json.loads(path.read_text())["data"]
            for paragraph in article["paragraphs"] for qa in paragraph["qas"]]


def test_prepare_downloads_squad_and_the_catalog_reads_it(
    squad_release_server: str, catalog_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from tensorflow_datasets.datasets.squad import squad_dataset_builder

    monkeypatch.setattr(squad_dataset_builder, "_URL", squad_release_server)
    assert prepare_cli.main(["squad", f"--data_dir={tmp_path / 'tfds'}"]) == 0
    assert "prepared squad/v1.1:3.0.0 in " in capsys.readouterr().out

    train_ids, dev_ids = (_question_ids(catalog_data / "squad" / f) for f in ("train-v1.1.json", "dev-v1.1.json"))
    seqio.set_tfds_data_dir_override(str(tmp_path / "tfds"))
    try:
        source = seqio.get_mixture_or_task("squad").source
        read = [ex["id"].decode() for ex in source.get_dataset("validation", shuffle=False).as_numpy_iterator()]
        assert source.num_input_examples("train") == len(train_ids)
    finally:
        seqio.set_tfds_data_dir_override(None)
    assert read == dev_ids


def test_prepare_lists_what_a_target_reads(capsys) -> None:
    assert prepare_cli.main(["xnli", "udpos", "--dry_run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("read from files under the data directory, not TFDS") and "udpos (" in out[0]
    assert out[1:] == ["would prepare multi_nli:1.1.0", "would prepare xnli:1.1.0"]


def test_prepare_names_an_unknown_target() -> None:
    from xstilts_jax.errors import ConfigError

    with pytest.raises(ConfigError, match="'xnly' is no target, mixture or task"):
        prepare_cli.main(["xnly", "--dry_run"])
