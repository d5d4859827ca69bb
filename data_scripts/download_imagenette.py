"""Download Imagenette (10 easy ImageNet classes) from fast.ai's public archive.

Imagenette keeps the ImageNet photographs of ten classes (tench, English springer,
cassette player, chain saw, church, French horn, garbage truck, gas pump, golf ball,
parachute): about 9,500 training and 3,900 validation images, in three sizes:
``160`` (shorter side 160 px, 94 MB), ``320`` (320 px, 326 MB) and ``full`` (1.5 GB).

The download is streamed with a progress bar into ``<name>.tgz.part``, resumed with an
HTTP Range request if a partial file is there, checked (size and MD5) and renamed into
place. The archive is extracted safely (no absolute paths, no ``..``, no links out of
the folder: ``tarfile``'s data filter plus our own check) into a temporary folder that
is renamed to ``<data>/imagenette2-<size>``. Running it again skips what is done.

    python -m data_scripts.download_imagenette --variant 160     # into $ALEXNET_DATA or <repo>/data
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

import requests
from tqdm import tqdm

from data_scripts import default_data_root

BASE_URL = "https://s3.amazonaws.com/fast-ai-imageclas"
# MD5 of each archive as published with torchvision's Imagenette data set.
VARIANTS = {
    "160": ("imagenette2-160", "e793b78cc4c9e9a4ccc0c1155377a412"),
    "320": ("imagenette2-320", "3df6f0d01a2c9592104656642f5e78a3"),
    "full": ("imagenette2", "fe2fc210e6bb7c5664d602c3cd71e612"),
}
COMPLETE_MARKER = ".complete"
CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A download or an extraction failed; the message says what to do."""


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(
    url: str,
    dest: Path,
    *,
    md5: str | None = None,
    size: int | None = None,
    retries: int = 3,
    timeout: float = 30.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest``, resuming ``dest.part`` if present; return ``dest``.

    The bytes go to ``<dest>.part``; an interrupted transfer is resumed with an HTTP
    Range request (up to ``retries`` times in this call, or by calling again). The
    file is checked against the server's length, ``size`` and ``md5`` (when given),
    then renamed to ``dest``. An existing ``dest`` that passes the checks is kept.
    """
    dest = Path(dest)
    if dest.exists() and (md5 is None or _md5(dest) == md5) and (size is None or dest.stat().st_size == size):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with requests.get(url, headers=headers, stream=True, timeout=timeout) as response:
                if response.status_code == 416:  # nothing left to send: the part is whole
                    total = have
                else:
                    response.raise_for_status()
                    if response.status_code != 206:  # the server ignored Range: start again
                        have = 0
                    length = response.headers.get("Content-Length")
                    total = have + int(length) if length is not None else None
                    with (
                        part.open("ab" if have else "wb") as file,
                        tqdm(
                            total=total,
                            initial=have,
                            unit="B",
                            unit_scale=True,
                            disable=not progress,
                            desc=dest.name,
                        ) as bar,
                    ):
                        for chunk in response.iter_content(CHUNK):
                            file.write(chunk)
                            bar.update(len(chunk))
            break
        except requests.RequestException as error:
            if attempt == retries:
                raise DownloadError(
                    f"downloading {url} failed ({error}); {part.stat().st_size if part.exists() else 0:,} "
                    "bytes are kept: run the same command again to resume"
                ) from error
    got = part.stat().st_size
    if (total is not None and got != total) or (size is not None and got != size):
        raise DownloadError(
            f"{url}: got {got:,} bytes, expected {size or total:,}; run the command again to resume"
        )
    if md5 is not None and _md5(part) != md5:
        part.unlink()
        raise DownloadError(
            f"{url}: MD5 checksum mismatch (expected {md5}); the corrupt file was removed, "
            "run the command again to download it afresh"
        )
    os.replace(part, dest)  # atomic: ``dest`` is always a whole, checked archive
    return dest


def _check_member(member: tarfile.TarInfo, root: str) -> None:
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts:
        raise DownloadError(f"refusing archive member {member.name!r}: absolute path or '..'")
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        resolved = os.path.normpath(
            os.path.join(root, str(name.parent) if member.issym() else "", str(target))
        )
        if target.is_absolute() or not (resolved + os.sep).startswith(root + os.sep):
            raise DownloadError(
                f"refusing archive member {member.name!r}: link to {member.linkname!r} "
                "points outside the folder"
            )


def safe_extract(archive: Path, dest_root: Path) -> list[str]:
    """Extract ``archive`` into ``dest_root`` after checking every member; return the top-level names.

    Members with absolute paths, ``..`` or links pointing outside are refused
    (``DownloadError``) before anything is written; ``tarfile``'s "data" filter is
    applied as a second line of defence.
    """
    dest_root = Path(dest_root)
    dest_root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        root = os.path.realpath(dest_root)
        for member in members:
            _check_member(member, root)
        try:
            tar.extractall(dest_root, members=members, filter="data")
        except tarfile.FilterError as error:
            raise DownloadError(f"refusing archive {archive}: {error}") from error
    return sorted({PurePosixPath(m.name).parts[0] for m in members if PurePosixPath(m.name).parts})


def install(url: str, name: str, data_dir: Path, *, md5: str | None = None, progress: bool = True) -> Path:
    """Download ``url`` (an archive whose top folder is ``name``) and extract it to ``data_dir/name``.

    Skips the download when the archive is there and checks out, and everything when
    ``data_dir/name`` is complete. Returns ``data_dir/name``.
    """
    data_dir = Path(data_dir)
    target = data_dir / name
    if (target / COMPLETE_MARKER).exists():
        print(f"{target} is already complete; nothing to do")
        return target
    archive = download(url, data_dir / "downloads" / f"{name}.tgz", md5=md5, progress=progress)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-extracting-", dir=data_dir))
    try:
        tops = safe_extract(archive, tmp)
        if name not in tops:
            raise DownloadError(f"{archive} holds {tops}, not the folder {name!r}; delete it and run again")
        (tmp / name / COMPLETE_MARKER).write_text(url + "\n")
        if target.exists():
            shutil.rmtree(target)  # an incomplete earlier extraction
        os.replace(tmp / name, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m data_scripts.download_imagenette",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--variant", choices=sorted(VARIANTS), default="160", help="image size (default: 160)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="data folder (default: $ALEXNET_DATA, else <repo>/data); the book reads it",
    )
    parser.add_argument("--url", default=None, help="download from this URL instead of fast.ai's (a mirror)")
    parser.add_argument(
        "--no-checksum", action="store_true", help="skip the MD5 check (for a mirror's archive)"
    )
    parser.add_argument("--keep-archive", action="store_true", help="keep the .tgz after extracting it")
    args = parser.parse_args(argv)
    name, md5 = VARIANTS[args.variant]
    url = args.url or f"{BASE_URL}/{name}.tgz"
    data_dir = args.data or default_data_root()
    try:
        target = install(url, name, data_dir, md5=None if args.no_checksum else md5)
    except DownloadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not args.keep_archive:
        (data_dir / "downloads" / f"{name}.tgz").unlink(missing_ok=True)
    counts = {split: sum(1 for _ in (target / split).glob("*/*")) for split in ("train", "val")}
    print(
        f"Imagenette ({args.variant}) in {target}: {counts['train']:,} train / {counts['val']:,} val images"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
