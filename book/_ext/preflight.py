"""Checks, in the first seconds of a build, what the chapters need from the system.

Python packages come from ``requirements.txt``; a system program cannot, so a missing
one stops the build before any chapter runs, with the exact line that installs it,
instead of failing minutes later inside a chapter. Today that is Graphviz's ``dot``,
which ``keras.utils.plot_model`` calls in the model chapter.

Checked by ``tests/test_preflight.py``.
"""

from __future__ import annotations

import shutil
from typing import Any

from sphinx.errors import ExtensionError

SYSTEM_PROGRAMS = {
    "dot": ("Graphviz draws the model diagram of book/07_model.ipynb",
            "sudo apt-get install graphviz   (Debian, Ubuntu; macOS: brew install "
            "graphviz; conda: conda install graphviz)"),
}


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


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
