"""Fetch an archive, check it, extract it safely and install it atomically.

The one job the download scripts (``download_imagenette``, ``download_flowers17``)
share, in four steps that are the same for every archive:

1. **Obtain the bytes**, from a URL (``data_scripts.fetch``: downloaded into
   ``<data>/downloads/<file>.part``, resumed after an interruption) or from a local file
   (``--archive PATH``: a copy or a mirror), which is only ever read: never moved,
   modified or deleted.
2. **Check them** against a set of acceptable checksums (``data_scripts.fetch.verify``:
   any one of the published MD5s will do). A download that fails is quarantined as
   ``<file>.bad-md5`` and not downloaded again until it is deleted or ``--md5`` is given.
3. **Extract safely**: every member is checked before anything is written (no absolute
   paths, no ``..``, no links that point out of the folder), and ``tarfile``'s "data"
   filter is applied as a second line of defence.
4. **Install atomically**: extraction (and any rearrangement) happens in a temporary
   folder beside the target, which gets a ``.complete`` marker and is then renamed into
   place. A target with the marker is never touched again: re-running does nothing.

Every failure is a ``DownloadError`` whose message says what to do.

Used by ``data_scripts.download_imagenette`` and ``data_scripts.download_flowers17``;
tested in ``tests/test_archives.py``.
"""

from __future__ import annotations

import json
import os
import tarfile
import zlib
from collections.abc import Callable, Collection, Mapping
from pathlib import Path, PurePosixPath

from data_scripts.fetch import TIMEOUT, Checksum, DownloadError, fetch_matching, verify
from data_scripts.folders import staging_folder, swap_in

COMPLETE_MARKER = ".complete"


def _check_member(member: tarfile.TarInfo, root: str) -> None:
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts:
        raise DownloadError(f"refusing archive member {member.name!r}: absolute path or '..'")
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        # A symbolic link is relative to its own folder; a hard link to the archive's root.
        base = os.path.join(root, str(name.parent)) if member.issym() else root
        resolved = os.path.normpath(os.path.join(base, str(target)))
        if target.is_absolute() or not (resolved + os.sep).startswith(root + os.sep):
            raise DownloadError(
                f"refusing archive member {member.name!r}: link to {member.linkname!r} points outside the folder"
            )


def safe_extract(archive: Path, dest_root: Path) -> list[str]:
    """Extract ``archive`` into ``dest_root`` after checking every member; return the top-level names.

    Members with absolute paths, ``..`` or links pointing outside are refused
    (:class:`DownloadError`) before anything is written; ``tarfile``'s "data" filter is
    applied as a second line of defence. A damaged archive raises :class:`DownloadError`.
    """
    dest_root = Path(dest_root)
    dest_root.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            root = os.path.realpath(dest_root)
            for member in members:
                _check_member(member, root)
            tar.extractall(dest_root, members=members, filter="data")
    except tarfile.FilterError as error:
        raise DownloadError(f"refusing archive {archive}: {error}") from error
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise DownloadError(
            f"{archive} is not a readable .tgz archive ({type(error).__name__}: {error}); it is damaged or "
            "incomplete: fetch it again"
        ) from error
    return sorted({PurePosixPath(m.name).parts[0] for m in members if PurePosixPath(m.name).parts})


def read_marker(folder: Path) -> dict | None:
    """What the ``.complete`` marker of ``folder`` records (source, md5, settings), or ``None`` without one."""
    try:
        return json.loads((Path(folder) / COMPLETE_MARKER).read_text())
    except FileNotFoundError:
        return None
    except ValueError:  # an older marker: a line of text
        return {}


Arrange = Callable[[Path, Path], None]


def install(
    name: str,
    data_dir: Path,
    *,
    url: str | None = None,
    archive: Path | None = None,
    filename: str | None = None,
    checksums: Collection[Checksum] | None = None,
    arrange: Arrange | None = None,
    settings: Mapping[str, object] | None = None,
    keep_archive: bool = False,
    retries: int = 3,
    timeout: tuple[float, float] = TIMEOUT,
    progress: bool = True,
    retry_quarantined: bool = False,
) -> Path:
    """Install the archive from ``url`` or the local file ``archive`` as ``data_dir/name``; return that folder.

    The archive is fetched into ``data_dir/downloads/<filename>`` (default
    ``<name>.tgz``) or read in place, checked against ``checksums``, and extracted into
    a temporary folder. ``arrange(extracted, out)`` then builds the folder ``out`` from
    the extracted tree (default: the archive's top folder must be ``name`` and is used
    as it is). The result gets a ``.complete`` marker recording the source, its MD5 and
    ``settings``, and is renamed to ``data_dir/name``. A folder that already has the
    marker is returned untouched; if its ``settings`` differ, :class:`DownloadError`.
    A downloaded archive is deleted afterwards unless ``keep_archive``; a local one never.
    A download that failed its check stays quarantined (``data_scripts.fetch.fetch``)
    unless ``retry_quarantined`` (the caller was given ``--md5``).
    """
    if (url is None) == (archive is None):
        raise ValueError("install: pass exactly one of url= (download) and archive= (a local file)")
    data_dir = Path(data_dir).expanduser()
    target = data_dir / name
    settings = {key: settings[key] for key in sorted(settings or {})}
    if _already_installed(target, settings):
        if progress:
            print(f"{target} is already complete; nothing to do")
        return target
    if archive is not None:
        source = Path(archive).expanduser()
        if not source.is_file():
            raise DownloadError(f"{source}: no such file; check the path given with --archive")
        if progress:
            print(f"checking {source}")
        matched = verify(
            source,
            checksums,
            advice=f"the file was left untouched. Check it against where it came from (md5sum {source}); "
            "if it is a different copy or a mirror, pass its MD5 with --md5; or run without --archive to "
            "download the official archive",
        )
    else:
        dest = data_dir / "downloads" / (filename or f"{name}.tgz")
        source, matched = fetch_matching(
            url,
            dest,
            checksums,
            retries=retries,
            timeout=timeout,
            progress=progress,
            retry_quarantined=retry_quarantined,
        )
    marker = {"source": str(url or source.resolve()), "md5": matched.md5 if matched else None, "settings": settings}
    _extract_and_install(source, target, arrange, marker, local=archive is not None, progress=progress)
    if archive is None and not keep_archive:
        source.unlink(missing_ok=True)
        try:
            source.parent.rmdir()  # only when nothing else is in downloads/
        except OSError:
            pass
    return target


def _already_installed(target: Path, settings: dict) -> bool:
    marker = read_marker(target)
    if marker is None:
        return False
    installed = marker.get("settings", {})
    if settings and installed != settings:
        raise DownloadError(
            f"{target} is complete but was installed with {installed or 'other settings'}, not {settings}; "
            f"delete {target} and run again to install it with the new settings"
        )
    return True


def _extract_and_install(
    source: Path, target: Path, arrange: Arrange | None, marker: dict, *, local: bool, progress: bool
) -> None:
    with staging_folder(target) as scratch:
        extracted, out = scratch / "extracted", scratch / target.name
        if progress:
            print(f"extracting {source.name}")
        try:
            tops = safe_extract(source, extracted)
        except DownloadError as error:
            where = "the file was left untouched" if local else f"delete {source} and run again to download it"
            raise DownloadError(f"{error}; {where}") from None
        if arrange is not None:
            arrange(extracted, out)
        elif target.name in tops:
            os.replace(extracted / target.name, out)
        else:
            raise DownloadError(
                f"{source} holds {tops}, not the folder {target.name!r}; it is not the expected archive: "
                + ("check the file given with --archive" if local else "delete it and run again")
            )
        (out / COMPLETE_MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        if read_marker(target) is None:  # else another run finished first: keep its copy
            swap_in(out, target, scratch)  # an incomplete earlier install goes with ``scratch``


__all__ = ["COMPLETE_MARKER", "install", "read_marker", "safe_extract"]
