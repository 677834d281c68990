"""Analytic FLOPs agree with the real model's weight shapes."""

import math

from xstilts_jax.models.ladder import model_config
from xstilts_jax.planning.flops import matmul_params_per_token, train_step_flops
from xstilts_jax.models.param_count import param_shapes

BLOCK_WEIGHTS = ("query", "key", "value", "out", "mlp_in", "mlp_out")


def test_matmul_params_equal_the_block_kernels_of_the_model():
    for name in ("tiny", "xlmr_large"):
        config = model_config(name)
        shapes = param_shapes(config)
        kernels = sum(math.prod(s) for k, s in shapes.items() if k.split("/")[-1] in BLOCK_WEIGHTS)
        assert matmul_params_per_token(config, "classification") == kernels
        # the MLM head adds its transform and the tied vocabulary decoder
        word = math.prod(shapes["encoder/embeddings/word"])
        extra = matmul_params_per_token(config, "mlm") - kernels
        assert extra == word + config.hidden_size**2


def test_step_flops_are_six_n_tokens_plus_attention():
    config = model_config("xlmr_large")
    flops = train_step_flops(config, batch=8, seq_len=128, head="mlm")
    n = matmul_params_per_token(config, "mlm")
    assert flops.tokens == 1024
    assert flops.matmul_flops == 6 * n * 1024
    # QK^T and AV: 2 matmuls x 2 FLOPs x 3 (forward + backward) per layer, head and key position
    assert flops.attention_flops == 12 * 24 * 128 * 1024 * 1024
    assert flops.total == flops.matmul_flops + flops.attention_flops
