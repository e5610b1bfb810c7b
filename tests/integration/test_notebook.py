"""The hit-rate tuning notebook runs, top to bottom, on the bundled sample (so it never rots)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "hit_rate_tuning.ipynb"

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture
def venv_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernel spec that runs this very interpreter (the project's venv), whatever kernels the
    machine has installed."""
    spec_dir = tmp_path / "jupyter" / "kernels" / "semcached-test"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "semcached test kernel",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return "semcached-test"


def test_notebook_executes_on_the_bundled_sample(
    venv_kernel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("SEMCACHED_NOTEBOOK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SEMCACHED_CONFIG_FILE", "")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name=venv_kernel,
        timeout=600,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "sample_pairs.jsonl" in text
    assert "configured policy" in text
    assert "target 0.80" in text
    assert any("image/png" in o.get("data", {}) for o in outputs if o.output_type == "display_data")
