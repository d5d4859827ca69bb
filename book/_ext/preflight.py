"""Checks, in the first seconds of a build, what the chapters need; fetches their data.

Python packages come from ``requirements.txt``; a system program cannot, so a missing
one stops the build before any chapter runs, with the exact line that installs it,
instead of failing minutes later inside a chapter. Today that is Graphviz's ``dot``,
which ``keras.utils.plot_model`` calls in the model chapter.

Then the photographs: the data sets that the chapters would download on first use
(``helpers.datasets.downloads_needed``: Imagenette-160, Oxford 17 Flowers) are
downloaded here, once, through the same code, before any chapter runs, so that the
progress bar reaches the terminal (a chapter's own output does not). Without a network
the build goes on, after one line that says what the chapters use instead. Either way
the chapters of this build then download nothing themselves (``ALEXNET_DOWNLOAD=0`` in
the environment their kernels inherit): a failure is not retried by every chapter.
``ALEXNET_DOWNLOAD=0`` set by the reader turns the step off; a build that executes
nothing (``execute_notebooks: off``) skips it. When a set is installed and pages were
cached by an earlier build (which ran without it), that profile's execution cache is
cleared and every page executed again.

Checked by ``tests/test_preflight.py`` and ``tests/test_first_build_download.py``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sphinx.errors import ExtensionError
from sphinx.util import logging

from helpers import datasets
from helpers.datasets import dataset_label
from helpers.paths import data_root

LOGGER = logging.getLogger(__name__)
SYSTEM_PROGRAMS = {
    "dot": ("Graphviz draws the model diagram of book/07_model.ipynb",
            "sudo apt-get install graphviz   (Debian, Ubuntu; macOS: brew install "
            "graphviz; conda: conda install graphviz)"),
}
STAND_INS = {"imagenette2-160": "the chapters use drawn shapes",
             "flowers17": "the small-data chapter uses another set"}
"""What stands in for each set of ``helpers.datasets.DOWNLOADS`` when it is missing."""
INSTALLED = "alexnet_data_installed"
"""The Sphinx application's attribute that says a set was installed in this build."""


def missing_programs() -> dict[str, tuple[str, str]]:
    """The system programs of ``SYSTEM_PROGRAMS`` that are not on the PATH."""
    return {name: why for name, why in SYSTEM_PROGRAMS.items()
            if shutil.which(name) is None}


def _check(app: Any) -> None:
    missing = missing_programs()
    if missing:
        lines = [f"`{name}` is missing: {purpose}. Install it with:\n    {command}"
                 for name, (purpose, command) in missing.items()]
        raise ExtensionError("the book cannot build on this machine yet.\n"
                             + "\n".join(lines) + "\nthen run the build again.")


def fetch_data() -> list[str]:
    """Download the sets the chapters would download, log one line for each outcome,
    and turn the chapters' own downloads off; return the names of the sets installed.

    No network: one line, and the remaining sets are not tried (each try would wait for
    the connection to time out). Any other failure (a checksum, a server's error): one
    line with the data scripts' advice, and the next set is tried.
    """
    from data_scripts.fetch import DownloadError, UnreachableError

    root = data_root()
    if not datasets.downloads_enabled():
        LOGGER.info(f"data: downloads are off ({datasets.DOWNLOAD_VARIABLE}=0); the "
                    f"chapters use what {root} holds")
        return []
    needed = datasets.downloads_needed()
    os.environ[datasets.DOWNLOAD_VARIABLE] = "0"  # the chapters' kernels inherit it
    if not needed:
        LOGGER.info(f"data: nothing to download: {root} holds the chapters' data sets")
        return []
    installed = []
    for position, name in enumerate(needed):
        label, instead = dataset_label(name), STAND_INS[name]
        LOGGER.info(f"data: downloading {label} into {root}, once, before the chapters "
                    "run")
        try:
            datasets.install_download(name)
        except UnreachableError as error:
            labels = " and ".join(map(dataset_label, needed[position:]))
            LOGGER.info(f"data: no network ({urlparse(error.url).hostname} cannot be "
                        f"reached): {labels} not downloaded, so {instead}; connect and "
                        "build again, or install a copy: python -m data_scripts."
                        f"{datasets.DOWNLOADS[name].split()[0]} --help",
                        color="darkred")
            break
        except DownloadError as error:
            LOGGER.info(f"data: {label} not installed, so {instead}: {error}",
                        color="darkred")
        else:
            installed.append(name)
            LOGGER.info(f"data: {label} installed in {root / name}")
    return installed


def _fetch_data(app: Any) -> None:
    mode = getattr(app.config, "nb_execution_mode", "off")  # myst-nb's; off: no pages
    if mode == "off":
        return
    installed = fetch_data()
    setattr(app, INSTALLED, bool(installed))
    cache = Path(app.config.nb_execution_cache_path
                 or Path(app.outdir).parent / ".jupyter_cache")
    if installed and mode == "cache" and (cache / "global.db").is_file():
        from jupyter_cache import get_cache

        get_cache(cache).clear_cache()
        LOGGER.info(f"data: {cache} held pages executed without these data: cleared, "
                    "every page runs again")


def _reread_everything(app: Any, env: Any, added: set[str], changed: set[str],
                       removed: set[str]) -> list[str]:
    """After a data set was installed, pages an earlier build read are read again."""
    if not getattr(app, INSTALLED, False):
        return []
    return sorted(env.found_docs - added - changed)


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _check)
    app.connect("builder-inited", _fetch_data)  # after _check: a missing program first
    app.connect("env-get-outdated", _reread_everything)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
