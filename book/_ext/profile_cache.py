"""One execution cache per profile, so that a build never shows another profile's pages.

``execute_notebooks: cache`` reuses a chapter's outputs while its code is unchanged. The
cache does not see ``ALEXNET_PROFILE`` or ``ALEXNET_MAX_EPOCHS``, which change what the
same code computes: a ``full`` build after a ``quick`` one on the same machine would
show the quick pages. So each setting gets its own cache, all of them inside
``_build/.jupyter_cache``, the one folder that ``jupyter-book clean`` keeps (a full
profile's cache spares re-executing its chapters on a GPU): ``.jupyter_cache/default``
(neither variable set), ``.jupyter_cache/full``, ``.jupyter_cache/full-max1`` (a dry
run), ...
A cache named in ``_config.yml`` (``execute: cache:``) is left alone.

Checked by ``tests/test_preflight.py``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from helpers.profile import EPOCH_CAP_VARIABLE, PROFILE_VARIABLE

VARIABLES = {PROFILE_VARIABLE: "{}", EPOCH_CAP_VARIABLE: "max{}"}
"""The settings that change what a chapter computes, and how each names its cache."""


def cache_folder_name(environ: Mapping[str, str]) -> str:
    """``.jupyter_cache/``, then the value of each variable set (or ``default``)."""
    parts = [form.format(environ[name].strip().lower())
             for name, form in VARIABLES.items() if environ.get(name, "").strip()]
    return f".jupyter_cache/{'-'.join(parts) or 'default'}"


def _choose_cache(app: Any, config: Any) -> None:
    if not config.nb_execution_cache_path:  # jupyter-book's default: _build/...
        folder = Path(app.outdir).parent / cache_folder_name(os.environ)
        config.nb_execution_cache_path = str(folder)


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _choose_cache)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
