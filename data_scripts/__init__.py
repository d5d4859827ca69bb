"""Command-line programs that fetch or make the book's data sets.

Each module runs as ``python -m data_scripts.<name> --help`` and is importable:

- ``download_imagenette``: Imagenette (10 ImageNet classes) from fast.ai's public archive;
- ``make_mini_imagenet``: the 16-class mini-ImageNet from a local ImageNet-style folder;
- ``make_offline_dataset``: a procedurally drawn set for machines without real images.

They install into the same folder the book reads (``helpers.paths.data_root()``):
``$ALEXNET_DATA``, else ``<repo>/data``. The rule is repeated here so that the scripts
run from the repository's root without the book's folder on ``sys.path``.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_VARIABLE = "ALEXNET_DATA"


def default_data_root() -> Path:
    """The data folder the book reads: ``$ALEXNET_DATA``, else ``<repo>/data``."""
    return Path(os.environ.get(DATA_VARIABLE) or REPO_ROOT / "data").expanduser()


__all__ = ["DATA_VARIABLE", "REPO_ROOT", "default_data_root"]
