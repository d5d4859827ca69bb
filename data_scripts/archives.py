"""Fetch an archive, check it, extract it safely and install it atomically.

The one job the download scripts (``download_imagenette``, ``download_flowers17``)
share, in four steps that are the same for every archive:

1. **Obtain the bytes**, from a URL or from a local file. A download is streamed into
   ``<data>/downloads/<file>.part``; an interrupted transfer is kept and resumed with an
   HTTP Range request (in the same call while it makes progress, or by running the
   command again); the part is renamed to ``<file>`` once it is whole and checked.
   A local archive (``--archive PATH``: a copy or a mirror) is only ever read: never
   moved, modified or deleted.
2. **Check them** against a set of acceptable checksums (:class:`Checksum`): the file is
   good when its MD5 matches any one of them, and its size too where the checksum's
   source publishes one. Several sources publish different MD5s for "the same"
   official archive, so accepting only one would reject a good file for some users.
3. **Extract safely**: every member is checked before anything is written (no absolute
   paths, no ``..``, no links that point out of the folder), and ``tarfile``'s "data"
   filter is applied as a second line of defence.
4. **Install atomically**: extraction (and any rearrangement) happens in a temporary
   folder beside the target, which gets a ``.complete`` marker and is then renamed into
   place. A target with the marker is never touched again: re-running does nothing.

Every failure is a :class:`DownloadError` whose message says what to do.

Used by ``data_scripts.download_imagenette`` and ``data_scripts.download_flowers17``;
tested in ``tests/test_archives.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import zlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import requests
from tqdm import tqdm

from data_scripts.folders import staging_folder, swap_in

COMPLETE_MARKER = ".complete"
# Connect within 10 s (an unreachable network fails fast), then at most 60 s between two reads.
TIMEOUT = (10.0, 60.0)
CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """Obtaining, checking or installing an archive failed; the message says what to do."""


class ChecksumError(DownloadError):
    """An archive's MD5 (or size) matches none of the acceptable checksums."""


@dataclass(frozen=True)
class Checksum:
    """One published checksum of an archive: its MD5 and, where the source gives it, its size in bytes."""

    md5: str
    size: int | None = None
    source: str = ""

    def __str__(self) -> str:
        notes = [note for note in (f"{self.size:,} bytes" if self.size else "", self.source) if note]
        return self.md5 + (f" ({', '.join(notes)})" if notes else "")


def md5sum(path: Path) -> str:
    """The MD5 of the file at ``path``, as ``md5sum`` prints it (32 lowercase hex digits)."""
    digest = hashlib.md5()
    with Path(path).open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, checksums: Collection[Checksum] | None, *, advice: str = "") -> Checksum | None:
    """Check ``path`` against ``checksums``; return the one it matches (``None`` when there is nothing to check).

    A checksum matches when the MD5 is equal and, if the checksum has a size, the size
    too. When every checksum has a size and the file's size matches none, the file is
    refused without reading it. Raises :class:`ChecksumError` (its message ends with
    ``advice``) when no checksum matches.
    """
    if checksums is None:
        return None
    path = Path(path)
    size = path.stat().st_size
    sizes = {checksum.size for checksum in checksums}
    digest = None if None not in sizes and size not in sizes else md5sum(path)
    for checksum in checksums:
        if checksum.md5 == digest and checksum.size in (None, size):
            return checksum
    accepted = "; ".join(str(checksum) for checksum in checksums) or "none"
    found = f"MD5 {digest}" if digest else "an MD5 not computed: the size alone rules it out"
    raise ChecksumError(
        f"{path} ({size:,} bytes, {found}) matches none of the accepted checksums [{accepted}]"
        + (f"; {advice}" if advice else "")
    )


def _http_error(url: str, response: requests.Response) -> DownloadError:
    return DownloadError(
        f"{url} answered HTTP {response.status_code} {response.reason}; check the URL (--url), "
        "or install from a copy of the archive with --archive PATH"
    )


def _range_total(response: requests.Response) -> int | None:
    """The full length from ``Content-Range: bytes a-b/N`` or ``bytes */N``, if the server sent it."""
    value = response.headers.get("Content-Range", "")
    total = value.rpartition("/")[2]
    return int(total) if total.isdigit() else None


def _transfer(url: str, part: Path, *, timeout: tuple[float, float], progress: bool, desc: str) -> int | None:
    """One request appending the rest of ``url`` to ``part``; return the full length when the server says it."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with requests.get(url, headers=headers, stream=True, timeout=timeout) as response:
        if response.status_code == 416:  # nothing past ``have``: the part is whole, or longer than the file
            return _range_total(response) or have
        if response.status_code >= 400:
            if response.status_code < 500:
                raise _http_error(url, response)
            response.raise_for_status()  # 5xx: a passing fault, retried like a dropped connection
        if response.status_code != 206:  # the server ignored Range: it sends everything again
            have = 0
        length = response.headers.get("Content-Length")
        total = _range_total(response) if response.status_code == 206 else None
        if total is None and length is not None:
            total = have + int(length)
        with (
            part.open("ab" if have else "wb") as file,
            tqdm(total=total, initial=have, unit="B", unit_scale=True, disable=not progress, desc=desc) as bar,
        ):
            for chunk in response.iter_content(CHUNK):
                file.write(chunk)
                bar.update(len(chunk))
    return total


def fetch(
    url: str,
    dest: Path,
    *,
    checksums: Collection[Checksum] | None = None,
    retries: int = 3,
    timeout: tuple[float, float] = TIMEOUT,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` through ``<dest>.part``, resuming a part left by an earlier run; return ``dest``.

    An existing ``dest`` that passes :func:`verify` is reused without a request; one that
    fails is kept (it may be a good file checked against a stale list) and reported. A
    dropped connection is resumed with an HTTP Range request, up to ``retries`` more
    times while each attempt makes progress; an attempt that gets no bytes (no network)
    fails at once, keeping the part for the next run. A whole part that fails the check
    is removed. ``timeout`` is (connect, read) in seconds.
    """
    return _fetch(url, Path(dest), checksums, retries=retries, timeout=timeout, progress=progress)[0]


def _fetch(
    url: str,
    dest: Path,
    checksums: Collection[Checksum] | None,
    *,
    retries: int,
    timeout: tuple[float, float],
    progress: bool,
) -> tuple[Path, Checksum | None]:
    """:func:`fetch`, also returning the checksum the file matched."""
    if dest.exists():
        advice = (
            "it is kept: if it is the archive you want, pass its MD5 with --md5; "
            f"otherwise delete it and run again to download {url}"
        )
        return dest, verify(dest, checksums, advice=advice)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        before = part.stat().st_size if part.exists() else 0
        try:
            total = _transfer(url, part, timeout=timeout, progress=progress, desc=dest.name)
            break
        except requests.RequestException as error:
            kept = part.stat().st_size if part.exists() else 0
            if attempt == retries or kept <= before:
                raise DownloadError(
                    f"could not download {url} ({type(error).__name__}: {error}); {kept:,} bytes are kept in "
                    f"{part}: check the network and run the same command again to resume, "
                    "or install from a copy of the archive with --archive PATH"
                ) from error
    got = part.stat().st_size if part.exists() else 0
    if total is not None and got < total:
        raise DownloadError(
            f"{url}: got {got:,} of {total:,} bytes; they are kept in {part}: run the same command again to resume"
        )
    if total is not None and got > total:
        part.unlink()
        raise DownloadError(
            f"{part} held {got:,} bytes but {url} has {total:,}: it was not part of this file and was removed; "
            "run the same command again to download it afresh"
        )
    try:
        matched = verify(part, checksums)
    except ChecksumError as error:
        part.unlink()
        raise ChecksumError(
            f"the download from {url} is not the expected archive: {error}. It was removed: run the same "
            "command again to download it afresh; if the server now publishes a different archive, "
            "pass its MD5 with --md5"
        ) from None
    os.replace(part, dest)  # atomic: ``dest`` is always a whole, checked archive
    return dest, matched


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
        source, matched = _fetch(url, dest, checksums, retries=retries, timeout=timeout, progress=progress)
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


__all__ = [
    "COMPLETE_MARKER",
    "TIMEOUT",
    "Checksum",
    "ChecksumError",
    "DownloadError",
    "fetch",
    "install",
    "md5sum",
    "read_marker",
    "safe_extract",
    "verify",
]
