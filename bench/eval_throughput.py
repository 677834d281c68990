"""Evaluation throughput: zero-shot evaluation of one target over all its languages, tokens/s
of the project's jitted forward vs HF PyTorch inference on the same batches.

The batches come from the task catalog (`<target>.<lang>` validation splits, read by
`xstilts_jax.data.batches.host_batches`) for every language whose sample data ships in
tasks/data, tokenized by a SentencePiece vocabulary trained on the shipped multilingual
sample (as `make demo` does). The sample dev sets hold only a few sentences per language,
so each language's set is cycled to `batches_per_language` full batches. The forward is
the tagging/classification head of the target, untrained (throughput does not depend on
the weights). tokens/s counts non-padding tokens.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable


from bench.common import Batch, BenchShape, hf_model, interleaved_medians, project_forward, real_tokens, to_torch
from xstilts_jax.data.batches import BatchSpec, host_batches
from xstilts_jax.errors import ConfigError
from xstilts_jax.gin_utils import REPO_ROOT

HF_KINDS = {"tagging": "tagging", "classification": "classification"}


def catalog_batches(
    target: str, shape: BenchShape, batches_per_language: int, pad_id: int, position_offset: int
) -> tuple[list[str], list[Batch], Any]:
    """Languages found, their batches, and the target's head spec, from the shipped sample data."""
    import tasks  # noqa: F401  (registers the catalog)
    from tasks import catalog, sources
    from xstilts_jax.data.task_records import get_task_record

    if target not in catalog.TARGETS:
        raise ConfigError(f"Unknown target {target!r} for the evaluation benchmark; known: {sorted(catalog.TARGETS)}.")
    languages, batches = [], []
    for lang in catalog.TARGETS[target].languages:
        try:
            spec = BatchSpec(f"{target}.{lang}", "validation", shape.seq_len, shape.batch_size, shuffle=False)
            it = host_batches(spec, pad_id, position_offset)
            lang_batches = [next(it) for _ in range(batches_per_language)]
        except ConfigError as e:  # a language without sample data is skipped; other errors are not
            if "data file not found" in str(e):
                continue
            raise
        languages.append(lang)
        batches.extend(lang_batches)
    if not languages:
        raise ConfigError(f"No sample data for any language of target {target!r} under {sources.data_dir()}.")
    return languages, batches, get_task_record(f"{target}.{languages[0]}").spec


def train_sample_vocabulary(directory: Path, vocab_size: int = 800) -> None:
    """An XLM-R style SentencePiece model (`sentencepiece.bpe.model`) trained on the shipped sample text."""
    import sentencepiece

    sample, prefix = REPO_ROOT / "tasks" / "data" / "multilingual.txt", directory / "spm"
    sentencepiece.SentencePieceTrainer.train(
        input=str(sample), model_prefix=str(prefix), vocab_size=vocab_size, model_type="unigram", minloglevel=2
    )
    Path(f"{prefix}.model").replace(directory / "sentencepiece.bpe.model")


def with_sample_catalog(fn: Callable[[], Any]) -> Any:
    """Run `fn` with the catalog reading tasks/data and a SentencePiece vocabulary trained on the sample."""
    from tasks import sources, vocabulary

    saved = {k: os.environ.get(k) for k in (vocabulary.ENV_VAR, sources.ENV_DATA_DIR)}
    with tempfile.TemporaryDirectory() as tmp:
        train_sample_vocabulary(Path(tmp))
        os.environ[vocabulary.ENV_VAR], os.environ[sources.ENV_DATA_DIR] = tmp, str(REPO_ROOT / "tasks" / "data")
        vocabulary.reset()
        try:
            return fn()
        finally:
            vocabulary.reset()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def eval_benchmark(shape: BenchShape, steps: int, target: str = "udpos", batches_per_language: int = 2) -> dict[str, Any]:
    """Tokens/s of one full zero-shot evaluation pass (every language's batches), project vs HF."""
    import torch

    config = shape.encoder_config()
    languages, batches, head = with_sample_catalog(
        lambda: catalog_batches(target, shape, batches_per_language, config.pad_id, config.position_offset)
    )
    top = max(int(b["input_ids"].max()) for b in batches)
    if top >= config.vocab_size:
        raise ConfigError(
            f"BenchShape {shape.name!r}: vocab_size={config.vocab_size} is smaller than the sample vocabulary "
            f"(token id {top} occurs); give the evaluation shape a vocab_size of at least {top + 1}."
        )
    if head.kind not in HF_KINDS:
        raise ConfigError(f"The evaluation benchmark compares {sorted(HF_KINDS)} heads; {target!r} has {head.kind!r}.")
    features = ("input_ids", "segment_ids", "positions", "cls_positions", "token_type_ids")
    model_batches = [{k: v for k, v in b.items() if k in features} for b in batches]
    forward = project_forward(config, head)
    hf = hf_model(config, HF_KINDS[head.kind], head.num_labels).eval()
    torch_batches = [to_torch(b, config.pad_id) for b in model_batches]

    def hf_pass(_: int) -> None:
        with torch.inference_mode():
            for b in torch_batches:
                hf(input_ids=b["input_ids"], attention_mask=b["attention_mask"])

    def project_pass(_: int) -> None:
        for b in model_batches:
            forward(b)

    medians = interleaved_medians({"project": project_pass, "hf": hf_pass}, steps, warmup=1)
    tokens = sum(real_tokens(b, config.pad_id) for b in model_batches)
    sides = {name: {"pass_s": s, "tokens_per_s": tokens / s} for name, s in medians.items()}
    return {
        "shape": shape.name,
        "target": target,
        "languages": languages,
        "batches": len(model_batches),
        "batch": [shape.batch_size, shape.seq_len],
        "real_tokens_per_pass": tokens,
        "passes": steps,
        **sides,
        "ratio": sides["project"]["tokens_per_s"] / sides["hf"]["tokens_per_s"],
    }
