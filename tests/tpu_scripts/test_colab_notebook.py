"""tpu_scripts/colab_demo.ipynb runs headless on CPU (nbclient) in a temporary working copy."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "tpu_scripts" / "colab_demo.ipynb"
# the demo grid cut to its smallest cell, the smallest size, baseline UD-POS for 4 steps without MLM: the
# notebook is what is tested here (kernel, devices, the demo's table and plot); the demo runs in test_cli_demo.py
SHORT = [
    "--gin.Experiment.mlm=None",
    "--gin.Grid.models=['toy_s']",
    "--gin.Grid.seeds=[0]",
    "--gin.Grid.intermediates=[None]",
    "--gin.Grid.targets=['udpos']",
    "--gin.target/TrainConfig.steps=4",
]


def outputs(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts.extend(str(v) for k, v in out.get("data", {}).items() if k in ("text/plain", "text/markdown"))
    return "\n".join(parts)


@pytest.mark.slow
def test_colab_demo_notebook_executes_on_cpu(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    for name in ("gin", "tasks"):
        (work / name).symlink_to(REPO / name)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "the notebook needs exactly one cell tagged 'parameters'"
    # injected after the parameters cell, as papermill does
    nb.cells.insert(params[0] + 1, nbformat.v4.new_code_cell(f"WORKDIR = {str(work)!r}\nDEMO_OVERRIDES = {SHORT!r}"))
    env = dict(os.environ, JAX_PLATFORMS="cpu", MPLBACKEND="Agg")  # headless; the notebook displays figures itself
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=env)

    text = "\n".join(outputs(c) for c in nb.cells if c.cell_type == "code")
    assert f"working directory: {work}" in text
    assert "8 cpu devices" in text
    assert (work / "runs" / "demo" / "results.sqlite").is_file()
    table = [line for line in text.splitlines() if line.startswith("| udpos |")]
    assert {line.split("|")[2].strip() for line in table} >= {"en", "de", "ar", "zh"}
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "the plot cell displayed no figure"
