"""Serving hand-written raw examples through TFDS builders, offline (shared by tests).

The raw examples go through the builder's own `features.encode_example`, so they follow its
feature spec; `tfds.testing.mock_data(policy=USE_CODE)` needs no metadata files or network.
"""

import contextlib
from typing import Any, Iterator
from unittest import mock

import numpy as np
import seqio
import tensorflow as tf
import tensorflow_datasets as tfds


@contextlib.contextmanager
def mock_tfds(raw: dict[str, list[dict]]) -> Iterator[None]:
    """Serve `raw[split]` (examples as the builder's generator yields them) for any TFDS builder."""

    def as_dataset(self, split=None, *, shuffle_files=False, decoders=None, read_config=None, as_supervised=False,
                   batch_size=None, **kwargs):
        # Replaces `DatasetBuilder.as_dataset` itself: TFDS's mocked one swaps epath's file backend
        # process-wide while it runs, which redirects the files a background orbax save writes meanwhile.
        assert not as_supervised and batch_size is None, "the catalog reads TFDS datasets as feature dicts"
        features = self.info.features
        signature = tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape, t.tf_dtype), features.get_tensor_info())
        rows = [as_arrays(signature, features.encode_example(ex)) for ex in raw[str(split)]]
        return tf.data.Dataset.from_generator(lambda: iter(rows), output_signature=signature)

    def size(self, split):  # seqio asks for split sizes (in-memory caching); the raw examples have them
        return len(raw[str(self._map_split(split))])

    with (
        tfds.testing.mock_data(policy=tfds.testing.MockPolicy.USE_CODE),
        mock.patch.object(tfds.core.DatasetBuilder, "as_dataset", as_dataset),
        mock.patch.object(seqio.utils.LazyTfdsLoader, "size", size),
    ):
        yield


def as_arrays(spec: Any, value: Any) -> Any:
    """Encoded TFDS values (lists of 0-d arrays included) as numpy arrays of the spec's dtypes."""
    if isinstance(spec, dict):
        return {k: as_arrays(s, value[k]) for k, s in spec.items()}
    if spec.dtype == tf.string:  # Text features encode to 0-d object arrays, also inside sequences
        return np.array(
            [np.asarray(x).item() for x in value] if spec.shape.rank else np.asarray(value).item(), dtype=object
        )
    return np.asarray(value, spec.dtype.as_numpy_dtype)


def squad_json_examples(path: Any, v2: bool = False) -> list[dict]:
    """Raw TFDS examples of a SQuAD-format JSON file (e.g. the catalog's QA samples), parsed by the
    TFDS builders' own generators: `squad/v2.0`'s for `v2`, else the shared SQuAD-like one."""
    if v2:
        from tensorflow_datasets.datasets.squad.squad_dataset_builder import _generate_v2_examples as generate
    else:
        from tensorflow_datasets.question_answering.qa_utils import generate_squadlike_examples as generate
    return [example for _, example in generate(str(path))]
