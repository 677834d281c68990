"""TensorBoard event files: what is written can be read back."""

import glob

import tensorflow as tf

from xstilts_jax.training.summaries import SummaryWriter


def _events(logdir):
    out = {}
    for path in glob.glob(f"{logdir}/events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                out.setdefault(value.tag, []).append((event.step, tf.make_ndarray(value.tensor)))
    return out


def test_scalars_and_text_round_trip(tmp_path):
    writer = SummaryWriter(tmp_path)
    writer.scalars(1, {"train/loss": 2.5, "train/learning_rate": 1e-5})
    writer.scalars(2, {"train/loss": 1.5})
    writer.text(0, "config", "EncoderConfig.num_layers = 2")
    writer.close()
    events = _events(tmp_path)
    assert [(s, float(v)) for s, v in events["train/loss"]] == [(1, 2.5), (2, 1.5)]
    assert float(events["train/learning_rate"][0][1]) == tf.constant(1e-5).numpy()
    assert events["config"][0][1].item().decode().startswith("EncoderConfig")


def test_disabled_writer_writes_nothing(tmp_path):
    writer = SummaryWriter(tmp_path / "off", enabled=False)
    writer.scalars(1, {"x": 1.0})
    writer.close()
    assert not (tmp_path / "off").exists()
