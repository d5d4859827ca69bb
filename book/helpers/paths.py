"""Where the book keeps downloaded data and training artefacts.

Both folders live outside version control. Readers move them with environment
variables, for example to a larger disk or to Google Drive on Colab:

- ``ALEXNET_DATA``: data sets (Imagenette, mini-ImageNet, the offline set).
- ``ALEXNET_ARTIFACTS``: checkpoints, histories and caches the chapters write.

The book's own small tables live in ``BOOK_DATA`` (``book/data``), committed with it.
Checked by ``tests/portable/test_paths.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

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
