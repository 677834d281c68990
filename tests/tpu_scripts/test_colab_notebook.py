"""tpu_scripts/colab_demo.ipynb: the install makes its own uv venv with the Python pod.sh installs and the
kernel never imports the project (so Colab's runtime needs no restart); its text names what
gin/experiments/demo.gin runs; and (slow) it runs headless on CPU in a temporary working copy."""

import ast
import os
import re
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "tpu_scripts" / "colab_demo.ipynb"
# The demo grid cut to its smallest size and one seed, few steps: the notebook is what is tested here (kernel,
# install skipped, devices, the demo's table and figures); the whole demo runs in test_cli_demo.py.
SHORT = [
    "--gin.Grid.models=['toy_s']",
    "--gin.Grid.seeds=[0]",
    "--gin.intermediate/TrainConfig.steps=2",
    "--gin.target/TrainConfig.steps=4",
    "--gin.target/TrainConfig.eval_every=2",
]


def notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


def cell_with(nb, text: str, kind: str = "code") -> str:
    """The source of the one cell of ``kind`` that contains ``text``."""
    (source,) = [c.source for c in nb.cells if c.cell_type == kind and text in c.source]
    return source


def parameters_index(nb) -> int:
    params = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "the notebook needs exactly one cell tagged 'parameters'"
    return params[0]


def test_the_kernel_never_imports_the_project_or_jax():
    """Colab's kernel has its own jax 0.7.2 and no TensorFlow: importing the project there would need a restart, and
    importing jax would hold the TPU that the demo's process needs. Every step runs the venv's command instead."""
    imported = set()
    for cell in notebook().cells:
        if cell.cell_type == "code":
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.Import):
                    imported |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom):
                    imported.add(node.module.split(".")[0])
    assert not imported & {"xstilts_jax", "tasks", "jax", "tensorflow", "seqio"}, imported


def test_install_makes_a_uv_venv_with_the_python_pod_sh_installs(tmp_path, monkeypatch):
    nb = notebook()
    namespace: dict = {}
    exec(nb.cells[parameters_index(nb)].source, namespace)
    pod_python = re.search(r"^PYTHON_VERSION=(\S+)", (REPO / "tpu_scripts" / "pod.sh").read_text(), re.M).group(1)
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert namespace["PYTHON"] == pod_python and namespace["PYTHON"] + ".0" in SpecifierSet(requires)

    # a checkout without a venv, and a `uv` on the PATH that records its calls and makes the venv's directory
    checkout = tmp_path / "xstilts-jax"
    for name in ("gin", "tasks"):
        (checkout / name).mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("")
    calls = tmp_path / "uv_calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uv").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n[ "$1" = venv ] && mkdir -p "$4/bin"\nexit 0\n')
    (bin_dir / "uv").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(checkout / "tasks")  # found from a directory inside the checkout
    install = cell_with(nb, '"venv", "--python", PYTHON')
    exec(install, namespace)
    venv = checkout / ".venv"
    assert calls.read_text().splitlines() == [
        f"venv --python {pod_python} {venv}",
        f"pip install -q --python {venv}/bin/python -e {checkout}[tpu]",
    ]
    assert namespace["CLI"] == venv / "bin" / "xstilts-jax" and namespace["WORKDIR"] == checkout
    # installed: a second run of the cell installs nothing
    namespace["CLI"].touch()
    namespace.update(WORKDIR=None, VENV=None)
    exec(install, namespace)
    assert len(calls.read_text().splitlines()) == 2


def test_the_text_names_what_demo_gin_runs():
    from xstilts_jax.data.task_records import get_task_record
    from xstilts_jax.demo import DEFAULT_GIN
    from xstilts_jax.experiments.pipeline import Experiment
    from xstilts_jax.models.ladder import config_from_gin, model_gin_file
    from xstilts_jax.models.param_count import count_params
    from xstilts_jax.tools.grid_cli import configure, load_cells

    cells = load_cells(DEFAULT_GIN)
    configure(cells[0])
    languages = [get_task_record(task).language for task in Experiment().eval_tasks]
    intro = notebook().cells[0].source
    assert "gin/experiments/demo.gin" in intro and "tiny model" not in intro
    for model in dict.fromkeys(cell.model for cell in cells):
        size = count_params(config_from_gin([str(model_gin_file(model))]))
        assert f"`{model}`" in intro and f"{round(size / 1000)}K" in intro, model
    assert f"{len({cell.seed for cell in cells})} seeds" in intro
    for name in {cell.intermediate for cell in cells} - {None} | {cell.target for cell in cells} | set(languages):
        assert f"`{name}`" in intro, name


@pytest.mark.slow
def test_colab_demo_notebook_executes_on_cpu(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    for name in ("gin", "tasks"):
        (work / name).symlink_to(REPO / name)
    nb = notebook()
    # injected after the parameters cell, as papermill does; the test's venv has the command, so nothing is installed
    venv = Path(sys.executable).parent.parent
    injected = f"WORKDIR = {str(work)!r}\nVENV = {str(venv)!r}\nDEMO_OVERRIDES = {SHORT!r}"
    nb.cells.insert(parameters_index(nb) + 1, nbformat.v4.new_code_cell(injected))
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=env)

    def outputs(cell) -> str:
        parts = []
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.extend(str(v) for k, v in out.get("data", {}).items() if k in ("text/plain", "text/markdown"))
        return "\n".join(parts)

    text = "\n".join(outputs(c) for c in nb.cells if c.cell_type == "code")
    assert f"working directory: {work}" in text and "venv --python" not in text  # installed: nothing to install
    assert re.search(r"JAX [\d.]+: 8 cpu devices", text)
    assert "does the gain shrink with model size?" in text and "intermediate phase done" in text
    assert (work / "runs" / "demo" / "results.sqlite").is_file()
    table = [line.split("|") for line in text.splitlines() if line.startswith("| toy_s | udpos |")]
    assert {row[3].strip() for row in table} == {"en", "de", "ar", "zh"}
    assert all(re.fullmatch(r" [+-]\d+\.\d\d ", row[-2]) for row in table)  # the gain column
    assert "runs/demo/report/gain_udpos.png" in text
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 2, "the figure cell displayed no gain and per-language figures"
