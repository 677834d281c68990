"""The tests' tiny encoder, toy mesh and tiny models with the heads of registered catalog tasks.

Plain values and functions rather than fixtures: the multi-process workers build the same model and
settings in processes of their own.
"""

from xstilts_jax.evaluation.forward import EvalSettings
from xstilts_jax.models import EncoderConfig, Model, build_model
from xstilts_jax.partitioning import MeshConfig, Partitioner

TINY_CONFIG = EncoderConfig(
    name="tiny_test", vocab_size=128, hidden_size=32, num_layers=2, num_heads=4, mlp_dim=64, max_positions=66
)
TOY_MESH = MeshConfig(data=2, fsdp=4, rules="fsdp")  # 8 CPU devices, as gin/meshes/toy_cpu8.gin


def toy_features(vocab, rank: int = 1) -> dict:
    """Output features of a toy task: `inputs` of `rank` (2: choices), a scalar target, and `idx` and
    `head_id`, declared because a mixture keeps only output features."""
    import seqio

    return {
        "inputs": seqio.Feature(vocab, add_eos=False, rank=rank),
        "targets": seqio.Feature(vocab, add_eos=False, rank=0),
        "idx": seqio.Feature(vocab, add_eos=False, rank=0, required=False),
        "head_id": seqio.Feature(vocab, add_eos=False, rank=0, required=False),
    }


def catalog_config(**changes) -> EncoderConfig:
    """The tiny encoder over the catalog's vocabulary (the `catalog_env` fixture, or its variables in a worker)."""
    from tasks import vocabulary

    return TINY_CONFIG.replace(vocab_size=vocabulary.MODEL_VOCABULARY.vocab_size, **changes)


def catalog_model(*task_names: str, **config_changes) -> Model:
    """The tiny model (seed 0) over the catalog's vocabulary with the heads of registered `task_names`."""
    from xstilts_jax.data.task_records import heads_for

    return build_model(catalog_config(**config_changes), heads_for(task_names), seed=0)


def toy_eval_settings(length: int = 32) -> EvalSettings:
    """Evaluation in batches of 8 over the toy mesh."""
    return EvalSettings(8, length, Partitioner.from_config(TOY_MESH))
