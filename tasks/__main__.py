"""`python -m tasks`: the README's table of task sources (source, license, how to obtain)."""

from __future__ import annotations

from tasks import retrieval
from tasks.catalog import INTERMEDIATE, TARGETS, UNAVAILABLE
from tasks.sources import SourceSpec


def _row(name: str, spec: SourceSpec, role: str) -> str:
    cells = [f"`{name}`", role, spec.citation, spec.license, spec.how_to_obtain]
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def sources_table() -> str:
    """One row per task family: intermediate tasks, then targets (English train + eval languages)."""
    rows = ["| task | role | source | license | how to obtain |", "|---|---|---|---|---|"]
    for name, task in INTERMEDIATE.items():
        if name in UNAVAILABLE:
            rows.append(f"| `{name}` | intermediate | (data not found) | see `xstilts-jax tasks` | see `xstilts-jax tasks` |")
        else:
            rows.append(_row(name, task.source(), "intermediate"))
    for name, target in TARGETS.items():
        langs = f"target, {len(target.languages)} languages"
        rows.append(_row(f"{name}.<lang>", target.eval_source(target.languages[0]), langs))
        if target.train_source is not None:
            rows.append(_row(target.train_task, target.train_source(), f"English training data of `{name}`"))
    rows.extend(_row(name, spec, role) for name, spec, role in retrieval.source_rows())
    return "\n".join(rows)


if __name__ == "__main__":
    print(sources_table())
