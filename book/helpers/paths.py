"""Where the book keeps downloaded data and training artefacts.

Both folders live outside version control. Readers move them with environment
variables, for example to a larger disk or to Google Drive on Colab:

- ``ALEXNET_DATA``: data sets (Imagenette, mini-ImageNet, the offline set).
- ``ALEXNET_ARTIFACTS``: checkpoints, histories and caches the chapters write.

The book's own small tables live in ``BOOK_DATA`` (``book/data``), committed with it.
``write_text_atomic`` writes the files that must never be seen half written (training
state, claims, tables); ``read_on_record`` reads a committed table of runs and its
record.

Taught in ``book/06_data_augmentation.ipynb``; checked by
``tests/portable/test_paths.py``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository's root folder (the one holding ``_config.yml``)."""
BOOK_DATA = REPO_ROOT / "book" / "data"
"""The book's small tables (CSV files), committed with the chapters."""


def data_root() -> Path:
    """The folder that holds data sets: ``$ALEXNET_DATA``, else ``<repo>/data``."""
    return Path(os.environ.get("ALEXNET_DATA") or REPO_ROOT / "data").expanduser()


def artifacts_root() -> Path:
    """Checkpoints and caches: ``$ALEXNET_ARTIFACTS``, else ``<repo>/_artifacts``."""
    folder = os.environ.get("ALEXNET_ARTIFACTS") or REPO_ROOT / "_artifacts"
    return Path(folder).expanduser()


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` in one step: a reader (or another process writing
    the same file) sees the old text or the new one, never half of either."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.",
                                     suffix=".tmp", delete=False) as tmp:
        tmp.write(text)
    try:  # atomic within one file system
        os.replace(tmp.name, path)
    except BaseException:
        Path(tmp.name).unlink(missing_ok=True)
        raise


def read_on_record(path: Path, command: str, cost: str
                   ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A table of runs the book keeps (``path``, a CSV file) and their record (the JSON
    file beside it). When either is missing, the error names the ``command`` that
    writes them and what it ``cost``s."""
    record = path.with_suffix(".json")
    for needed in (path, record):
        if not needed.is_file():
            raise FileNotFoundError(f"{needed} is missing: `{command}` writes it "
                                    f"({cost})")
    return pd.read_csv(path), json.loads(record.read_text())
