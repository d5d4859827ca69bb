"""The helper code a chapter teaches stays on its page, short enough to read there.

A chapter puts a helper's code on the page with ``show_source(...)`` (``helpers.show``).
These tests read those calls from the stored chapters without running them: each shown
name is resolved through the chapter's own ``helpers`` imports, and what the page shows
of it is ``helpers.show.source_of`` with the call's ``skip_docstring``, the function
``show_source`` itself uses.
"""

from __future__ import annotations

import ast
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import chapter_notebooks
from helpers.show import source_of
from IPython.core.inputtransformer2 import TransformerManager

MAX_LINES = 30
"""The most lines one shown function or method may have on the page."""

# What the book promises to show where it teaches it: module.qualified_name per chapter.
PROMISED = {
    "03_convolution_shapes": ["helpers.layers.conv2d", "helpers.layers.max_pool2d"],
    "04_local_response_normalization": [
        "helpers.layers.local_response_normalization", "helpers.lrn.band_matrix",
        "helpers.lrn.LocalResponseNormalization.call"],
    "05_dropout": ["helpers.layers.dropout"],
    "06_data_augmentation": ["helpers.augment.crop_and_flip", "helpers.augment.augment_batch",
                             "helpers.augment.pca_color_shift"],
    "07_model": ["helpers.model.build_alexnet", "helpers.distribute.tower_program",
                 "helpers.distribute.lrn_across_towers"],
    "08_training": ["helpers.optim.PaperSGD.update_step", "helpers.optim.PlateauSchedule.update",
                    "helpers.distribute.data_parallel"],
}
CHAPTERS = {path.stem: path for path in chapter_notebooks()}


@dataclass(frozen=True)
class Shown:
    """One object a ``show_source`` call puts on the page."""

    expression: str  # as the chapter writes it: "conv2d", "PaperSGD.update_step"
    obj: Any
    skip_docstring: bool

    @property
    def name(self) -> str:
        return f"{self.obj.__module__}.{self.obj.__qualname__}"

    @property
    def lines(self) -> int:
        return len(source_of(self.obj, skip_docstring=self.skip_docstring).splitlines())


def _parse(source: str) -> ast.Module:
    """A code cell as Python, its magics and shell lines turned into calls as IPython does."""
    return ast.parse(TransformerManager().transform_cell(source))


def _imported(module: str, name: str) -> Any:
    """What ``from <module> import <name>`` binds: an attribute or a submodule."""
    parent = importlib.import_module(module)
    if hasattr(parent, name):
        return getattr(parent, name)
    try:
        return importlib.import_module(f"{module}.{name}")
    except ModuleNotFoundError:
        raise AssertionError(f"`from {module} import {name}`: {module} has no {name}") from None


def shown_in(cells: list[str]) -> list[Shown]:
    """Every object the ``show_source`` calls of these code cells show, in order."""
    trees = [_parse(cell) for cell in cells]
    names: dict[str, Any] = {}
    for node in (node for tree in trees for node in ast.walk(tree)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("helpers"):
            names.update({alias.asname or alias.name: _imported(node.module, alias.name)
                          for alias in node.names})
        elif isinstance(node, ast.Import):
            names.update({alias.asname: importlib.import_module(alias.name)
                          for alias in node.names if alias.asname and alias.name.startswith("helpers")})
    shown = []
    for node in (node for tree in trees for node in ast.walk(tree)):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "show_source"):
            continue
        skip = any(k.arg == "skip_docstring" and ast.literal_eval(k.value) for k in node.keywords)
        for argument in node.args:
            expression = ast.unparse(argument)
            first, *rest = expression.split(".")
            assert first in names, f"show_source({expression}): {first} is not imported from helpers"
            obj = names[first]
            for attribute in rest:
                obj = getattr(obj, attribute)
            shown.append(Shown(expression, obj, skip))
    return shown


def shown_in_chapter(stem: str) -> list[Shown]:
    notebook = json.loads(Path(CHAPTERS[stem]).read_text())
    return shown_in(["".join(cell["source"]) for cell in notebook["cells"]
                     if cell["cell_type"] == "code"])


@pytest.mark.parametrize("chapter", sorted(PROMISED))
def test_each_chapter_shows_the_code_it_teaches(chapter):
    assert chapter in CHAPTERS, f"{chapter} is not a chapter of _toc.yml"
    shown = {item.name for item in shown_in_chapter(chapter)}
    missing = [name for name in PROMISED[chapter] if name not in shown]
    assert not missing, f"{chapter} no longer shows {missing} (it shows {sorted(shown)})"


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_shown_code_is_short_enough_to_read_on_the_page(chapter):
    long = [f"{item.expression}: {item.lines} lines" for item in shown_in_chapter(chapter)
            if item.lines > MAX_LINES]
    assert not long, (f"{chapter} shows code over {MAX_LINES} lines: {long}; move its argument checks "
                      "into small _check_* helpers, or show a shorter function")


def test_the_reader_resolves_names_aliases_and_methods_and_counts_the_shown_lines():
    cells = ["from helpers import layers as L\nfrom helpers.optim import PlateauSchedule as P",
             "%matplotlib inline\nshow_source(L.conv2d, skip_docstring=True)\n!ls\nx = (1\n     != 2)",
             "show_source(P.update)"]
    conv2d, update = shown_in(cells)
    assert (conv2d.name, conv2d.skip_docstring) == ("helpers.layers.conv2d", True)
    assert (update.name, update.skip_docstring) == ("helpers.optim.PlateauSchedule.update", False)
    with_docstring = len(source_of(update.obj).splitlines())
    assert update.lines == with_docstring > len(source_of(update.obj, skip_docstring=True).splitlines())
    with pytest.raises(AssertionError, match="not imported from helpers"):
        shown_in(["show_source(conv2d)"])
