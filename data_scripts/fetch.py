"""Obtain an archive's bytes and check them: steps 1 and 2 of ``data_scripts.archives``.

1. **Obtain the bytes** from a URL: a download is streamed into ``<file>.part``; an
   interrupted transfer is kept and resumed with an HTTP Range request (in the same call
   while it makes progress, or by running the command again); the part is renamed to
   ``<file>`` once it is whole and checked.
2. **Check them** against a set of acceptable checksums (:class:`Checksum`): the file is
   good when its MD5 matches any one of them, and its size too where the checksum's
   source publishes one. Several sources publish different MD5s for "the same"
   official archive, so accepting only one would reject a good file for some users.
   A whole download that matches none is quarantined as ``<file>.bad-md5`` and not
   downloaded again (if the server changed its archive, every later run would fetch
   the same wrong bytes): it is installed once ``--md5`` names its MD5, and downloaded
   afresh once it is deleted or ``--md5`` names another.

Every failure is a :class:`DownloadError` whose message says what to do; a server that
cannot be reached at all is an :class:`UnreachableError`.

Used by ``data_scripts.archives``; tested in ``tests/test_archives.py`` against an HTTP
server on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import requests
from tqdm import tqdm

# Connect within 10 s (an unreachable network fails fast), then at most 60 s between two reads.
TIMEOUT = (10.0, 60.0)
CHUNK = 1 << 16
QUARANTINE_SUFFIX = ".bad-md5"


class DownloadError(RuntimeError):
    """Obtaining, checking or installing an archive failed; the message says what to do."""


class ChecksumError(DownloadError):
    """An archive's MD5 (or size) matches none of the acceptable checksums."""


class UnreachableError(DownloadError):
    """Not one byte came from ``url``: no network, a refused connection or a timeout."""

    def __init__(self, message: str, url: str):
        super().__init__(message)
        self.url = url


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


def quarantine_path(dest: Path) -> Path:
    """Where a download of ``dest`` that failed its check is kept: ``<dest>.bad-md5``."""
    return dest.with_name(dest.name + QUARANTINE_SUFFIX)


def _quarantine_advice(url: str, bad: Path) -> str:
    return (
        f"if {url} now serves a different archive, check where it comes from and pass its MD5 with --md5 "
        f"(it is then installed from {bad.name}, without a download); otherwise delete {bad} and run again "
        "to download it afresh"
    )


def _release_quarantine(url: str, dest: Path, checksums: Collection[Checksum] | None, retry: bool) -> None:
    """Deal with a download quarantined by an earlier run, before downloading ``dest`` again.

    It becomes ``dest`` when it now passes the check (``--md5`` names its MD5); it is
    deleted when ``retry`` (``--md5`` names another: a fresh download may match);
    otherwise :class:`ChecksumError`: the same server would send the same bytes.
    """
    bad = quarantine_path(dest)
    if not bad.exists():
        return
    try:
        verify(bad, checksums)
    except ChecksumError as error:
        if retry:
            bad.unlink()
            return
        raise ChecksumError(
            f"an earlier download is quarantined and not downloaded again: {error}; {_quarantine_advice(url, bad)}"
        ) from None
    os.replace(bad, dest)


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
    retry_quarantined: bool = False,
) -> Path:
    """Download ``url`` to ``dest`` through ``<dest>.part``, resuming a part left by an earlier run; return ``dest``.

    An existing ``dest`` that passes :func:`verify` is reused without a request; one that
    fails is kept (it may be a good file checked against a stale list) and reported. A
    dropped connection is resumed with an HTTP Range request, up to ``retries`` more
    times while each attempt makes progress; an attempt that gets no bytes (no network)
    fails at once (:class:`UnreachableError` when no connection was made), keeping the
    part for the next run. A whole part that fails the check is quarantined as
    ``<dest>.bad-md5`` (:func:`quarantine_path`): later calls raise
    :class:`ChecksumError` at once, without a request, until it is deleted or it passes
    the check; ``retry_quarantined`` (the caller passed ``--md5``) deletes one that does
    not pass and downloads afresh. ``timeout`` is (connect, read) in seconds.
    """
    return fetch_matching(
        url,
        Path(dest),
        checksums,
        retries=retries,
        timeout=timeout,
        progress=progress,
        retry_quarantined=retry_quarantined,
    )[0]


def fetch_matching(
    url: str,
    dest: Path,
    checksums: Collection[Checksum] | None,
    *,
    retries: int,
    timeout: tuple[float, float],
    progress: bool,
    retry_quarantined: bool = False,
) -> tuple[Path, Checksum | None]:
    """:func:`fetch`, also returning the checksum the file matched (``None``: none given)."""
    if not dest.exists():
        _release_quarantine(url, dest, checksums, retry_quarantined)
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
                message = (
                    f"could not download {url} ({type(error).__name__}: {error}); {kept:,} bytes are kept in "
                    f"{part}: check the network and run the same command again to resume, "
                    "or install from a copy of the archive with --archive PATH"
                )
                if kept <= before and isinstance(error, requests.ConnectionError | requests.Timeout):
                    raise UnreachableError(message, url) from error
                raise DownloadError(message) from error
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
        bad = quarantine_path(dest)
        os.replace(part, bad)
        found = str(error).replace(str(part), str(bad))  # the file is known by its new name
        raise ChecksumError(
            f"the download from {url} is not the expected archive: {found}. It is quarantined and will not "
            f"be downloaded again: {_quarantine_advice(url, bad)}"
        ) from None
    os.replace(part, dest)  # atomic: ``dest`` is always a whole, checked archive
    return dest, matched


__all__ = [
    "QUARANTINE_SUFFIX",
    "TIMEOUT",
    "Checksum",
    "ChecksumError",
    "DownloadError",
    "UnreachableError",
    "fetch",
    "fetch_matching",
    "md5sum",
    "quarantine_path",
    "verify",
]
