"""Write a data folder so that readers see the old one or the whole new one, never a part.

Every script here builds its output in a scratch folder beside the target (the same file
system) and swaps it in with renames; an interrupted run leaves only the scratch folder,
which is removed on the way out.

    with staging_folder(out) as scratch:
        ...write scratch / "new"...
        swap_in(scratch / "new", out, scratch)

Used by ``archives``, ``make_mini_imagenet`` and ``make_offline_dataset``; tested in
``tests/test_folders.py``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staging_folder(target: Path) -> Iterator[Path]:
    """A new, empty scratch folder beside ``target``, removed on exit whatever happens."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-partial-", dir=target.parent))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def swap_in(new: Path, target: Path, scratch: Path) -> None:
    """Rename the finished folder ``new`` to ``target``; an old ``target`` moves into ``scratch``.

    Both are renames on one file system, so ``target`` is never half written or half
    deleted; the old copy goes when ``staging_folder`` removes ``scratch``. Raises
    ``OSError`` when another process puts a folder at ``target`` between the two renames.
    """
    if Path(target).exists():
        os.replace(target, Path(scratch) / f"old-{Path(target).name}")
    os.replace(new, target)


__all__ = ["staging_folder", "swap_in"]
