"""Static checks of the chapters as they are committed (no execution)."""

from __future__ import annotations

import json
import re

import nbformat
import pytest
import yaml
from conftest import REPO_ROOT, chapter_notebooks

CHAPTERS = chapter_notebooks()
EXPECTED_CHAPTERS = [
    "01_history", "02_relu_vs_tanh", "03_convolution_shapes", "04_local_response_normalization",
    "05_dropout", "06_data_augmentation", "07_model", "08_training", "09_evaluation", "10_small_data",
    "11_discussion", "12_claims_ledger",
]


def code_cells(path):
    notebook = json.loads(path.read_text())
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def source(cell) -> str:
    return "".join(cell["source"])


def test_toc_lists_the_chapters_in_order():
    assert [path.stem for path in CHAPTERS] == EXPECTED_CHAPTERS


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_a_valid_notebook_whose_cells_have_ids(path):
    """nbformat 4.5, as Jupyter, Colab and the build write it: every cell has its own id."""
    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nbformat.validate(notebook)  # raises, naming the offending field
    assert (notebook.nbformat, notebook.nbformat_minor) >= (4, 5), f"{path.name}: upgrade to 4.5"
    ids = [cell.get("id") for cell in notebook.cells]
    assert all(ids) and len(set(ids)) == len(ids), f"{path.name}: missing or repeated cell ids"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_committed_without_outputs(path):
    for index, cell in enumerate(code_cells(path)):
        assert cell.get("outputs") == [], f"{path.name}: code cell {index} carries outputs; clear them first"
        assert cell.get("execution_count") is None, f"{path.name}: code cell {index} has an execution count"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_opens_with_title_bootstrap_and_run_context(path):
    notebook = json.loads(path.read_text())
    assert notebook["cells"][0]["cell_type"] == "markdown"
    assert source(notebook["cells"][0]).startswith("# "), f"{path.name}: first cell must be the title"
    first, second = code_cells(path)[:2]
    assert "remove-cell" in first["metadata"].get("tags", []), f"{path.name}: bootstrap cell must be hidden"
    assert "show_context(" in source(second), f"{path.name}: the first visible code cell must call show_context()"


def test_bootstrap_cell_is_the_same_in_every_chapter():
    bootstraps = {path.stem: source(code_cells(path)[0]) for path in CHAPTERS}
    reference = bootstraps[CHAPTERS[0].stem]
    different = [name for name, text in bootstraps.items() if text != reference]
    assert not different, f"bootstrap cell differs from {CHAPTERS[0].stem} in: {different}"


def test_bootstrap_clones_the_repository_named_in_config():
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    bootstrap = source(code_cells(CHAPTERS[0])[0])
    urls = re.findall(r'"(https://github\.com/[^"]+)"', bootstrap)
    assert urls == [config["repository"]["url"]]


def test_bootstrap_does_nothing_outside_colab():
    """Run the bootstrap cell here: no clone, no install, no change of folder."""
    import os
    import sys

    bootstrap = source(code_cells(CHAPTERS[0])[0])
    assert "google.colab" not in sys.modules
    before = os.getcwd(), list(sys.path)
    exec(compile(bootstrap, "bootstrap", "exec"), {})
    assert (os.getcwd(), list(sys.path)) == before


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_code_cells_are_short(path):
    for index, cell in enumerate(code_cells(path)):
        lines = source(cell).count("\n") + 1
        assert lines <= 30, f"{path.name}: code cell {index} has {lines} lines; split it (style: ~25 at most)"


# A cell that draws: it shows a Matplotlib figure, a Keras diagram or one of helpers.plots.
DRAWS = re.compile(r"plt\.show\(\)|plot_model\(|plot_history\(|plot_confusion\(|image_grid\(")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_figure_has_alt_text(path):
    """Screen readers and the site's figure test need a description of every figure."""
    for index, cell in enumerate(code_cells(path)):
        if DRAWS.search(source(cell)):
            alt = cell["metadata"].get("mystnb", {}).get("image", {}).get("alt", "")
            assert len(alt) >= 40, (
                f"{path.name}: code cell {index} draws a figure without alt text; give it "
                "the metadata mystnb: {image: {alt: ...}} describing what the figure shows")
