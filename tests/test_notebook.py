"""notebooks/analysis.ipynb runs top to bottom against the micro study's MLflow store."""
import nbformat
from nbclient import NotebookClient

from tests.conftest import REPO


def test_the_analysis_notebook_redraws_table1_and_the_accuracy_plot(micro_project, monkeypatch):
    root, _ = micro_project
    monkeypatch.setenv("SELFSYNTH_ROOT", str(root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
    nb = nbformat.read(REPO / "notebooks/analysis.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(root)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "".join(o.get("text", "") for o in outputs)
    assert "seeds [0]" in text and "rounds 1..2" in text
    markdown = "".join(o["data"].get("text/markdown", "") for o in outputs if "data" in o)
    assert "| ours (Z* + rejection sampling) |" in markdown and "round 2" in markdown
    assert any("image/png" in o.get("data", {}) for o in outputs)
