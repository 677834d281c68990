"""Paths that are local or on a bucket (`gs://`), through `etils.epath`.

Every run directory, checkpoint, converted model, prediction and TensorBoard directory goes through
`as_path`, so a `gs://bucket/...` string stays a bucket path (never `os.path.abspath`'d into
`./gs:/bucket`) and a local path becomes absolute. What a bucket cannot do the way a disk does:

- no atomic rename of a directory: writers finish a directory by writing its marker file last
  (`config.json`, `DONE`), and readers look for that marker;
- no exclusive create through epath: `create_exclusive` asks GCS for it (`ifGenerationMatch=0`);
- no SQLite: a results database on a bucket is written locally and uploaded (`upload`);
- one object upload is atomic: `write_text_atomic` writes a bucket file in one request.

epath would use TensorFlow's gfile for `gs://` because TensorFlow is installed; this module sets
`EPATH_USE_TF=0` (unless already set) before any bucket path is used, so `gs://` always goes through
fsspec's gcsfs: one client, the one the tests run against a local GCS emulator (TensorFlow's cannot be
pointed at one). orbax writes its arrays through TensorStore's own GCS driver.
"""

from __future__ import annotations

import os
import uuid

from etils import epath

# epath caches the choice on first use of a bucket path, so it is made here, at import.
os.environ.setdefault("EPATH_USE_TF", "0")

PathLike = str | os.PathLike[str]


def is_remote(path: PathLike) -> bool:
    """Whether `path` names an object store (`gs://...`) rather than the local disk."""
    return "://" in os.fspath(path)


def as_path(path: PathLike) -> epath.Path:
    """`path` as an epath: a bucket URI unchanged, a local path made absolute."""
    text = os.fspath(path)
    return epath.Path(text if is_remote(text) else os.path.abspath(text))


def write_text_atomic(path: PathLike, text: str) -> None:
    """Write `path` so a reader sees the old content or the new, never a part: a local file through a
    sibling and a rename; a bucket object in one upload (GCS objects appear whole)."""
    target = as_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if is_remote(target):
        target.write_text(text)
        return
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(text)
    tmp.replace(target)


def create_exclusive(path: PathLike, text: str) -> bool:
    """Create `path` holding `text` unless it exists (then False), as one atomic step on disk and on GCS."""
    target = as_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not is_remote(target):
        try:
            fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return True
    import fsspec  # local: only bucket paths need it

    fs = fsspec.filesystem(str(target).split("://", 1)[0])
    try:
        fs.pipe_file(str(target), text.encode(), mode="create")  # GCS: ifGenerationMatch=0
    except FileExistsError:
        return False
    return True


def upload(local: PathLike, destination: PathLike) -> None:
    """Copy the local file `local` to `destination` (a bucket or a local path) so that readers see
    the whole file or the previous one."""
    target = as_path(destination)
    target.parent.mkdir(parents=True, exist_ok=True)
    if is_remote(target):
        epath.Path(local).copy(target, overwrite=True)  # one object upload: atomic on GCS
        return
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    epath.Path(local).copy(tmp, overwrite=True)
    tmp.replace(target)
