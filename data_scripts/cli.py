"""The command lines of the data scripts: one parser style and one set of source options.

``download_imagenette`` and ``download_flowers17`` take the same options for where the
archive comes from (``--archive``, ``--md5``, ``--url``, ``--data``, ``--keep-archive``)
and report a failed install the same way: one line on standard error, exit status 1.
Tested through the scripts' ``main`` in ``tests/test_download_*.py``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from data_scripts.fetch import DownloadError


def md5_argument(text: str) -> str:
    """``text`` as an MD5 (32 hex digits, lowercased); the type of ``--md5``."""
    if not re.fullmatch(r"[0-9a-fA-F]{32}", text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not an MD5 (32 hex digits), as `md5sum FILE` prints it")
    return text.strip().lower()


def script_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """A parser for ``python -m data_scripts.<module>`` whose help is the module's docstring."""
    return argparse.ArgumentParser(
        prog=f"python -m data_scripts.{module}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_source_arguments(parser: argparse.ArgumentParser, official: str) -> None:
    """``--archive``, ``--md5``, ``--data``, ``--url``, ``--keep-archive``; ``official`` names the host."""
    parser.add_argument(
        "--archive",
        type=Path,
        default=None,
        metavar="PATH",
        help="install from this local .tgz (read only, never deleted)",
    )
    parser.add_argument(
        "--md5",
        type=md5_argument,
        default=None,
        metavar="HEX",
        help="accept only this MD5 (for a mirror's own archive)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        metavar="DIR",
        help="data folder (default: $ALEXNET_DATA, else <repo>/data)",
    )
    parser.add_argument(
        "--url",
        default=None,
        metavar="URL",
        help=f"download from this URL instead of {official} (a mirror)",
    )
    parser.add_argument("--keep-archive", action="store_true", help="keep the downloaded .tgz after installing")


def parse_source_arguments(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parser.parse_args(argv)``, refusing ``--archive`` together with ``--url``."""
    args = parser.parse_args(argv)
    if args.archive is not None and args.url is not None:
        parser.error("--archive and --url exclude each other: install from a file or from a URL")
    return args


def run_install(install: Callable[[], Path], report: Callable[[Path], str]) -> int:
    """Run ``install``; print ``report(folder)`` and return 0, or the error and return 1."""
    try:
        folder = install()
    except DownloadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report(folder))
    return 0


def count_images(folder: Path, pattern: str = "*/*") -> dict[str, int]:
    """Files per split of an installed set: ``{"train": n, "val": m}``."""
    return {split: sum(1 for _ in (folder / split).glob(pattern)) for split in ("train", "val")}


__all__ = [
    "add_source_arguments",
    "count_images",
    "md5_argument",
    "parse_source_arguments",
    "run_install",
    "script_parser",
]
