"""The encoder family: packing, padding, scan/remat, dtypes, dropout, logical axes, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from xstilts_jax.errors import ConfigError, InputError
from xstilts_jax.models import HeadSpec, build_model
from xstilts_jax.models.encoder import positions_from_segments
from xstilts_jax.partitioning import LOGICAL_AXES


@nnx.jit(static_argnames=("num_layers", "hidden"))
def _encode(model, batch, num_layers=None, hidden=False):
    """Jitted `model.encode` (eager scans recompile on every call)."""
    return model.encode(batch, num_layers=num_layers, output_hidden_states=hidden)[0]


def _ids(config, lengths, total):
    rng = np.random.default_rng(1)
    rows = []
    for n in lengths:
        row = np.full(total, config.pad_id, np.int32)
        row[:n] = rng.integers(3, config.vocab_size, n)
        row[0], row[n - 1] = 0, 2
        rows.append(row)
    return jnp.asarray(np.stack(rows))


def test_positions_restart_per_segment():
    seg = jnp.array([[1, 1, 1, 2, 2, 3, 0, 0]])
    assert positions_from_segments(seg, offset=2, pad_position=1).tolist() == [[2, 3, 4, 2, 3, 2, 1, 1]]
    assert positions_from_segments(seg, offset=0, pad_position=0).tolist() == [[0, 1, 2, 0, 1, 0, 0, 0]]


@pytest.mark.parametrize("norm_style", ["post", "pre"])
def test_packed_row_equals_separate_examples(tiny_config, norm_style):
    """Packed examples must not attend across segments, and positions restart in each."""
    config = tiny_config.replace(norm_style=norm_style)
    model = build_model(config, seed=3)
    a, b = _ids(config, [5], 5)[0], _ids(config, [7], 7)[0]
    packed = jnp.concatenate([a, b, jnp.full(4, config.pad_id, jnp.int32)])[None]
    segments = jnp.array([[1] * 5 + [2] * 7 + [0] * 4])
    enc = _encode(model, {"input_ids": packed, "segment_ids": segments})
    sep_a = _encode(model, {"input_ids": a[None]})
    sep_b = _encode(model, {"input_ids": b[None]})
    np.testing.assert_allclose(enc.last_hidden_state[0, :5], sep_a.last_hidden_state[0], atol=1e-5)
    np.testing.assert_allclose(enc.last_hidden_state[0, 5:12], sep_b.last_hidden_state[0], atol=1e-5)


def test_padding_does_not_change_real_tokens(tiny_config):
    model = build_model(tiny_config, seed=0)
    short = _ids(tiny_config, [6], 6)
    padded = jnp.concatenate([short, jnp.full((1, 10), tiny_config.pad_id, jnp.int32)], axis=1)
    e1 = _encode(model, {"input_ids": short})
    e2 = _encode(model, {"input_ids": padded})
    np.testing.assert_allclose(e1.last_hidden_state, e2.last_hidden_state[:, :6], atol=1e-5)
    np.testing.assert_allclose(e1.pooled, e2.pooled, atol=1e-5)


def test_multiple_choice_is_one_batched_pass(tiny_config):
    model = build_model(tiny_config, {"mc": HeadSpec("multiple_choice")}, seed=0)
    ids = _ids(tiny_config, [5, 8, 6, 9, 4, 7], 10).reshape(2, 3, 10)
    logits = model({"input_ids": ids}, "mc")["logits"]
    assert logits.shape == (2, 3)
    # each choice scored alone gives the same number
    head = model.heads["mc"]
    for i in range(2):
        for c in range(3):
            enc = _encode(model, {"input_ids": ids[i, c][None]})
            score = head.out(jnp.tanh(head.dense(enc.last_hidden_state[:, 0])))[0, 0]
            np.testing.assert_allclose(logits[i, c], score, atol=1e-5)


def test_remat_policies_and_unrolling_do_not_change_loss_or_grads(tiny_config):
    ids = _ids(tiny_config, [6, 9], 10)
    batch = {"input_ids": ids, "labels": jnp.array([0, 2])}
    results = []
    unrolled = {"scan_unroll": tiny_config.num_layers}
    for change in [{}, {"remat": "full"}, {"remat": "save_dots"}, unrolled, {**unrolled, "remat": "full"}]:
        model = build_model(tiny_config.replace(**change), {"c": HeadSpec("classification", 3)}, seed=0)
        graphdef, params = nnx.split(model, nnx.Param)

        def loss(p):
            return nnx.merge(graphdef, p).loss(batch, "c")[0]

        results.append(jax.jit(jax.value_and_grad(loss))(params))
    for value, grads in results[1:]:
        np.testing.assert_allclose(value, results[0][0], atol=1e-6)
        for g, r in zip(jax.tree.leaves(grads), jax.tree.leaves(results[0][1])):
            np.testing.assert_allclose(g, r, atol=1e-6)


def test_bf16_compute_keeps_fp32_params(tiny_config):
    model32 = build_model(tiny_config, seed=0)
    model16 = build_model(tiny_config.replace(dtype="bfloat16"), seed=0)
    assert model16.encoder.layers.query[...].dtype == jnp.float32
    ids = _ids(tiny_config, [8, 5], 8)
    h16 = model16.encode({"input_ids": ids})[0].last_hidden_state
    h32 = model32.encode({"input_ids": ids})[0].last_hidden_state
    assert h16.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(h16, np.float32), h32, atol=0.1)


def test_dropout_only_with_a_key(tiny_config):
    model = build_model(tiny_config, {"c": HeadSpec("classification", 2)}, seed=0)
    batch = {"input_ids": _ids(tiny_config, [8, 8], 8)}
    det1, det2 = model(batch, "c")["logits"], model(batch, "c")["logits"]
    np.testing.assert_array_equal(det1, det2)
    d1 = model(batch, "c", dropout_rng=jax.random.key(1))["logits"]
    d2 = model(batch, "c", dropout_rng=jax.random.key(2))["logits"]
    assert not np.allclose(d1, det1) and not np.allclose(d1, d2)


def test_every_parameter_has_logical_axes(tiny_config):
    model = build_model(
        tiny_config.replace(norm_style="pre"),
        {k: HeadSpec(k, 3) for k in ["classification", "multiple_choice", "span", "tagging", "mlm"]},
    )
    for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        axes = var.get_metadata().get("out_sharding")
        assert axes is not None and len(axes) == var.get_value().ndim, path
        assert all(a is None or a in LOGICAL_AXES for a in axes), (path, axes)
        if path[:2] == ("encoder", "layers"):
            assert axes[0] == "layers"


def test_inner_layer_equals_hidden_state(tiny_config):
    model = build_model(tiny_config.replace(num_layers=3), seed=0)
    ids = _ids(tiny_config, [7], 9)
    full = _encode(model, {"input_ids": ids}, hidden=True)
    assert full.hidden_states.shape[0] == 4
    np.testing.assert_allclose(full.hidden_states[-1], full.last_hidden_state)
    for k in range(4):
        part = _encode(model, {"input_ids": ids}, num_layers=k)
        np.testing.assert_allclose(part.last_hidden_state, full.hidden_states[k], atol=1e-6)


def test_embedding_head_mean_and_first(tiny_config):
    model = build_model(tiny_config, {"m": HeadSpec("embedding", layer=1), "f": HeadSpec("embedding", pooling="first")})
    ids = _ids(tiny_config, [4, 7], 8)
    full = _encode(model, {"input_ids": ids}, hidden=True)
    mean = model({"input_ids": ids}, "m")["embedding"]
    np.testing.assert_allclose(mean[0], full.hidden_states[1][0, :4].mean(0), atol=1e-6)
    np.testing.assert_allclose(mean[1], full.hidden_states[1][1, :7].mean(0), atol=1e-6)
    np.testing.assert_allclose(model({"input_ids": ids}, "f")["embedding"], full.last_hidden_state[:, 0], atol=1e-6)


def test_mlm_head_is_tied_to_input_embeddings(tiny_config):
    model = build_model(tiny_config, {"mlm": HeadSpec("mlm")}, seed=0)
    ids = _ids(tiny_config, [6], 6)
    target = next(t for t in range(3, tiny_config.vocab_size) if t not in np.asarray(ids))
    labels = jnp.full((1, 6), -1).at[0, 2].set(target)
    graphdef, params = nnx.split(model, nnx.Param)
    grads = jax.grad(lambda p: nnx.merge(graphdef, p).loss({"input_ids": ids, "labels": labels}, "mlm")[0])(params)
    word_grad = np.asarray(grads["encoder"]["embeddings"]["word"][...])
    # the embedding row of the target gets gradient although that token is not in the input
    assert np.abs(word_grad[target]).sum() > 0
    assert model({"input_ids": ids}, "mlm")["logits"].shape == (1, 6, tiny_config.vocab_size)


def test_span_and_tagging_heads(tiny_config):
    model = build_model(tiny_config, {"s": HeadSpec("span"), "t": HeadSpec("tagging", 5)}, seed=0)
    ids = _ids(tiny_config, [6, 9], 9)
    out = model({"input_ids": ids}, "s")
    assert out["start_logits"].shape == (2, 9)
    np.testing.assert_allclose(out["no_answer_score"], out["start_logits"][:, 0] + out["end_logits"][:, 0])
    assert out["start_logits"][0, 8] < -1e30  # padding can never be a span boundary
    loss, n = model.loss(
        {"input_ids": ids, "start_positions": jnp.array([2, 0]), "end_positions": jnp.array([3, 0])}, "s"
    )
    assert int(n) == 2 and np.isfinite(loss)
    tags = jnp.full((2, 9), -1).at[:, 1].set(3)
    loss, n = model.loss({"input_ids": ids, "labels": tags}, "t")
    assert int(n) == 2


def test_packed_classification_reads_each_segment(tiny_config):
    model = build_model(tiny_config, {"c": HeadSpec("classification", 3)}, seed=0)
    a, b = _ids(tiny_config, [5], 5)[0], _ids(tiny_config, [4], 4)[0]
    packed = {
        "input_ids": jnp.concatenate([a, b, jnp.full(3, tiny_config.pad_id, jnp.int32)])[None],
        "segment_ids": jnp.array([[1] * 5 + [2] * 4 + [0] * 3]),
        "cls_positions": jnp.array([[0, 5]]),
    }
    logits = model(packed, "c")["logits"]
    np.testing.assert_allclose(logits[0, 0], model({"input_ids": a[None]}, "c")["logits"][0], atol=1e-5)
    np.testing.assert_allclose(logits[0, 1], model({"input_ids": b[None]}, "c")["logits"][0], atol=1e-5)


def test_sequence_longer_than_position_table(tiny_config):
    model = build_model(tiny_config)
    too_long = jnp.zeros((1, tiny_config.max_length + 1), jnp.int32)
    with pytest.raises(InputError, match=r"exceeds the position table .*max_positions=66.*at most 64 tokens"):
        model.encode({"input_ids": too_long})


def test_head_errors(tiny_config):
    with pytest.raises(ConfigError, match="Unknown head kind 'regression'"):
        build_model(tiny_config, {"x": HeadSpec("regression")})
    model = build_model(tiny_config, {"c": HeadSpec("classification", 2)})
    with pytest.raises(ConfigError, match=r"no head 'xnli'; its heads are \['c'\]"):
        model({"input_ids": jnp.zeros((1, 4), jnp.int32)}, "xnli")


@pytest.mark.parametrize(
    "change, match",
    [
        ({"num_heads": 5}, "not divisible by num_heads=5"),
        ({"remat": "sometimes"}, "remat='sometimes'"),
        ({"norm_style": "sandwich"}, "norm_style must be 'post' or 'pre'"),
        ({"num_layers": 0}, "num_layers must be positive"),
        ({"scan_unroll": 0}, "scan_unroll must be >= 1"),
    ],
)
def test_bad_config_is_clear(tiny_config, change, match):
    with pytest.raises(ConfigError, match=match):
        tiny_config.replace(**change)
