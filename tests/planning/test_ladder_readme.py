"""The README's ladder table has the command's format, and its analytic columns recompute exactly."""

import re
from pathlib import Path

import pytest

from xstilts_jax.models.ladder import model_config
from xstilts_jax.planning.flops import train_step_flops
from xstilts_jax.planning.ladder_table import HEADER, TABLE_GENERATIONS, TABLE_MODELS, Workload, candidate_topologies
from xstilts_jax.planning.topology import GENERATIONS, GIB, parse_topology
from xstilts_jax.models.param_count import count_params

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(
    r"^\| `(?P<model>\w+)` \| (?P<params>[\d.]+)B \| (?P<tpu>[\w-]+) \| (?P<chips>\d+) \| (?P<mesh>[\w ]+) \| (?P<remat>\w+) "
    r"\| (?P<mem>[\d.]+) GiB \| (?P<hbm>\d+) GiB \| (?P<ms>[\d,]+) ms \| (?P<compile>\d+) s \|$"
)


def table_rows() -> list[re.Match]:
    text = README.read_text()
    assert HEADER in text, "README lacks the ladder table; run `xstilts-jax plan --ladder_table`"
    after = text[text.index(HEADER) + len(HEADER) :].lstrip("\n")
    lines = []
    for line in after.splitlines():
        if not line.startswith("|"):
            break
        lines.append(line)
    bad = [line for line in lines if not ROW.match(line)]
    assert not bad, f"rows not in the command's format: {bad}"
    return [ROW.match(line) for line in lines]


def test_readme_ladder_rows_are_consistent():
    rows = table_rows()
    work = Workload()
    assert any(r["model"] in ("encoder_30b", "encoder_60b", "encoder_100b") and r["tpu"].startswith("v5p") for r in rows)
    seen = set()
    for r in rows:
        name, topology = r["model"], parse_topology(r["tpu"])
        gen = topology.generation
        assert name in TABLE_MODELS and gen.name in TABLE_GENERATIONS and (name, gen.name) not in seen
        seen.add((name, gen.name))
        assert int(r["chips"]) == topology.chips
        assert int(r["hbm"]) == round(gen.hbm_bytes / GIB)
        assert float(r["mem"]) <= gen.hbm_bytes / GIB  # a row is a plan that fits
        config = model_config(name, dtype=work.dtype)
        params = count_params(config)
        assert float(r["params"]) == pytest.approx(params / 1e9, abs=0.005)
        assert topology in candidate_topologies(params, gen.name)  # never below the fp32 state floor
        flops = train_step_flops(config, work.per_chip_batch * topology.chips, work.seq_len).total
        assert int(r["ms"].replace(",", "")) == round(flops / (topology.chips * gen.peak_flops) * 1e3)


def test_candidates_start_at_the_fp32_state_floor():
    params = count_params(model_config("encoder_100b"))
    first = candidate_topologies(params, "v4")[0]
    assert 16 * params / first.chips <= GENERATIONS["v4"].hbm_bytes
    assert 16 * params / (first.chips // 2) > GENERATIONS["v4"].hbm_bytes
