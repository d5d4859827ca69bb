"""The full profile, dry: every chapter executes with ``ALEXNET_PROFILE=full`` on a CPU.

The website is built with the full profile on a GPU runner. A dry run
(``ALEXNET_MAX_EPOCHS=1``: one epoch per experiment, ``helpers.profile.epoch_cap``) on a
dozen photographs per class executes every full-profile code path of every chapter (the
227-pixel inputs, batches of 128, the paper's network, the prose and tables written from
the full profile's settings, every value the prose takes from them), so the GPU build
cannot fail on something a CPU could have caught. ``portable/test_full_profile_smoke.py``
checks single steps of the same settings.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from conftest import BOOK_DIR, chapter_notebooks
from helpers.paths import data_root
from nbclient import NotebookClient

pytestmark = pytest.mark.book

GLUE_ROLE = re.compile(r"\{glue:(?:text|md)\}`([^`:]+)")
"""A number or phrase the prose takes from the computation: {glue:text}`name:.1f`."""
PER_CLASS = {"imagenette2-160": {"train": 12, "val": 4}, "flowers17": {"train": 6, "val": 2}}
"""Images per class and split in the small copy: enough for every chapter's splits."""


def small_copy(source: Path, target: Path) -> Path:
    """Hard links (copies across file systems) to the first images of every class."""
    for name, splits in PER_CLASS.items():
        for split, count in splits.items():
            classes = sorted(p for p in (source / name / split).iterdir() if p.is_dir())
            for folder in classes:
                out = target / name / split / folder.name
                out.mkdir(parents=True)
                for image in sorted(folder.iterdir())[:count]:
                    try:
                        os.link(image, out / image.name)
                    except OSError:
                        (out / image.name).write_bytes(image.read_bytes())
    return target


@pytest.fixture(scope="module")
def dry_run_folders(tmp_path_factory) -> dict[str, str]:
    """The environment of a dry run: the small copy, fresh artefacts, no downloads."""
    source = data_root()
    missing = [name for name in PER_CLASS if not (source / name / "train").is_dir()]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed in {source} (.ci/run installs "
                    "both with data_scripts)")
    root = tmp_path_factory.mktemp("dry-run")
    return {"ALEXNET_PROFILE": "full", "ALEXNET_MAX_EPOCHS": "1",
            "ALEXNET_DATA": str(small_copy(source, root / "data")),
            "ALEXNET_ARTIFACTS": str(root / "artifacts"), "ALEXNET_DOWNLOAD": "0"}


@pytest.mark.parametrize("chapter", chapter_notebooks(), ids=lambda path: path.stem)
def test_every_chapter_runs_the_full_profile_dry(chapter, dry_run_folders, monkeypatch):
    for name, value in dry_run_folders.items():
        monkeypatch.setenv(name, value)  # the kernel inherits this environment
    notebook = nbformat.read(chapter, as_version=4)
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(BOOK_DIR)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs]
    printed = "".join(output.get("text", "") for output in outputs)
    shown = "".join(str(output.get("data", {}).get("text/html", "")) for output in outputs)
    assert "profile: full" in printed and "a dry run: at most 1 epoch(s)" in printed
    assert "A dry run, not the experiment" in shown  # the page's visible warning
    assert "Drawn shapes, not photographs" not in shown  # it ran on the small copy
    referenced = {name for cell in notebook.cells if cell.cell_type == "markdown"
                  for name in GLUE_ROLE.findall(cell.source)}
    glued = [name for output in outputs
             if (name := output.get("metadata", {}).get("scrapbook", {}).get("name"))]
    missing = sorted(referenced - set(glued))  # the full build (-W) fails on these
    assert not missing, f"{chapter.stem}: the prose needs values never glued: {missing}"
    repeated = sorted({name for name in glued if glued.count(name) > 1})  # and on these
    assert not repeated, f"{chapter.stem}: values glued twice: {repeated}"
