"""The file-based sources' data directory, file layouts, and sources that read files (or TFDS when they are absent)."""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Mapping, Sequence

import gin
import seqio
import tensorflow as tf

from xstilts_jax.errors import ConfigError

ENV_DATA_DIR = "XSTILTS_DATA_DIR"


@gin.configurable("data_dir")
def _configured_data_dir(path: str | None = None) -> str | None:
    return path


def configured_data_dir() -> str | None:
    """The data directory bound in gin or XSTILTS_DATA_DIR, None when neither is set."""
    return _configured_data_dir() or os.environ.get(ENV_DATA_DIR)


def data_dir() -> str:
    """Root of the file-based data (xtreme's `download/` folder plus `ccg/`, `commonsenseqa/`).

    Bind `data_dir.path` in gin, or set the environment variable XSTILTS_DATA_DIR.
    """
    # The check lives outside the gin configurable so its message is not wrapped by gin.
    path = configured_data_dir()
    if not path:
        raise ConfigError(
            f"No data directory: bind gin `data_dir.path` or set the environment variable {ENV_DATA_DIR}."
        )
    return path


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where a file-based task's files live under `data_dir()`, their format and how to get them."""

    task: str
    file_format: str
    how_to_obtain: str
    note: str = ""

    def find(self, *candidates: str) -> str:
        """The first existing path among `candidates` (relative to `data_dir()`), else a ConfigError."""
        help_text = f"Expected format: {self.file_format} How to obtain: {self.how_to_obtain}" + (
            f" Note: {self.note}" if self.note else ""
        )
        try:
            root = data_dir()
        except ConfigError as e:
            raise ConfigError(
                f"{self.task}: {e} The task reads {' or '.join(candidates)} under it. {help_text}"
            ) from None
        paths = [os.path.join(root, c) for c in candidates]
        for p in paths:
            if tf.io.gfile.exists(p):
                return p
        raise ConfigError(f"{self.task}: data file not found; looked for: {', '.join(paths)}. {help_text}")


class CountedSource(seqio.DataSource):
    """A source whose example count per split is what it yields, counted once per data directory.

    seqio's examples-proportional mixing rates need `num_input_examples`; file readers cannot know
    it without reading, and TFDS reports a whole split where a task keeps only some of its rows
    (TyDiQA-GoldP's English train rows): `counts`, a predicate on raw examples, selects the rows the
    task's canonicalize keeps (the source still yields every row, so `idx` names the raw row).
    """

    def __init__(
        self,
        inner: seqio.DataSource,
        counts: Callable[[Mapping[str, tf.Tensor]], tf.Tensor] | None = None,
    ):
        self._inner, self._counts_row = inner, counts
        self._counts: dict[tuple[str, str | None], int] = {}
        super().__init__(splits=inner.splits, num_input_examples=None, caching_permitted=inner.caching_permitted)

    @property
    def supports_arbitrary_sharding(self) -> bool:
        return False

    def get_dataset(self, split: str = "train", shuffle: bool = True, seed: int | None = None, shard_info=None, *args, **kwargs):
        return self._inner.get_dataset(split, shuffle=shuffle, seed=seed, shard_info=shard_info)

    def num_input_examples(self, split: str = "train") -> int:
        key = (split, configured_data_dir())
        if key not in self._counts:
            known = self._inner.num_input_examples(split) if self._counts_row is None else None
            if known is None:
                ds = self.get_dataset(split, shuffle=False)
                ds = ds if self._counts_row is None else ds.filter(self._counts_row)
                known = int(ds.reduce(0, lambda n, _: n + 1))
            self._counts[key] = known
        return self._counts[key]

    def list_shards(self, split: str) -> Sequence[str]:
        return self._inner.list_shards(split)


def file_source(read_split: Callable[[str], tf.data.Dataset], splits: Mapping[str, str]) -> seqio.DataSource:
    """A source whose split names are ours, counting its examples; `read_split` gets the file's split name."""

    def dataset_fn(split: str, shuffle_files: bool, seed: int | None = None) -> tf.data.Dataset:
        del shuffle_files, seed  # one file per split: nothing to shuffle at file level
        if split not in splits:
            raise ConfigError(f"Unknown split {split!r}; this source has {sorted(splits)}.")
        return read_split(splits[split])

    return CountedSource(seqio.FunctionDataSource(dataset_fn, splits=tuple(splits)))


def check_layout(task: str, layout: str, files_name: str) -> str:
    """The layout name with the task's own name for its files ("xtreme", "superglue") mapped to "files"."""
    if layout in ("auto", "tfds"):
        return layout
    if layout == files_name:
        return "files"
    raise ConfigError(f"{task}: unknown layout {layout!r}; use 'auto', 'tfds' or {files_name!r}.")


class _FilesOrTfds(seqio.DataSource):
    """Reads a file layout when its files exist under `data_dir()`, else TFDS, deciding at read time.

    The choice cannot be made when the catalog registers its tasks: gin's `data_dir.path` is
    bound later, so the spec's canonicalizer must accept the raw examples of both. Reading a
    split the files lack is a ConfigError ending with `missing_split_help`.
    """

    def __init__(
        self,
        task: str,
        files: seqio.DataSource,
        tfds_source: seqio.DataSource,
        files_present: Callable[[], bool],
        missing_split_help: str = "",
    ):
        self._task, self._files, self.tfds_source = task, files, tfds_source
        self._files_present, self._help = files_present, missing_split_help
        super().__init__(splits=tfds_source.splits, num_input_examples=None)

    def reads_files(self) -> bool:
        """Whether a read now goes to the files (they exist under the configured data directory)."""
        return self._files_present()

    @property
    def supports_arbitrary_sharding(self) -> bool:
        return False

    def get_dataset(self, split: str = "train", shuffle: bool = True, seed: int | None = None, shard_info=None, *args, **kwargs):
        if self.reads_files():
            if split not in self._files.splits:
                raise ConfigError(
                    f"{self._task}: the file layout found under the data directory {data_dir()} has no {split!r} "
                    f"split (it has {list(self._files.splits)}). {self._help}"
                )
            return self._files.get_dataset(split, shuffle=shuffle, seed=seed)
        return self.tfds_source.get_dataset(split, shuffle=shuffle, seed=seed, shard_info=shard_info)

    def num_input_examples(self, split: str = "train") -> int | None:
        source = self._files if self.reads_files() else self.tfds_source
        return source.num_input_examples(split)

    def list_shards(self, split: str) -> Sequence[str]:
        return self._files.list_shards(split) if self.reads_files() else self.tfds_source.list_shards(split)


def pick_layout(
    layout: str,
    task: str,
    files: seqio.DataSource,
    tfds_source: seqio.DataSource,
    files_present: Callable[[], bool],
    missing_split_help: str = "",
) -> seqio.DataSource:
    """The source of a checked layout ("tfds", "files" or "auto")."""
    if layout == "tfds":
        return tfds_source
    if layout == "files":
        return files
    return _FilesOrTfds(task, files, tfds_source, files_present, missing_split_help)


def exists_under_data_dir(*relative: str) -> bool:
    """Whether a data directory is configured and holds any of `relative` (checked when called)."""
    root = configured_data_dir()
    return bool(root) and any(tf.io.gfile.exists(os.path.join(root, r)) for r in relative)


def read_text(path: str) -> str:
    with tf.io.gfile.GFile(path, "r") as f:
        return f.read()


XTREME_DOWNLOAD = (
    "in a google-research/xtreme checkout run `bash scripts/download_data.sh` ({fn}) and point "
    f"{ENV_DATA_DIR} (or gin `data_dir.path`) at the `download/` folder it writes."
)
