"""Install Imagenette (10 easy ImageNet classes) from fast.ai's public archive or a local copy.

Imagenette keeps the ImageNet photographs of ten classes (tench, English springer,
cassette player, chain saw, church, French horn, garbage truck, gas pump, golf ball,
parachute): 9,469 training and 3,925 validation images, in three sizes: ``160``
(shorter side 160 px, 99 MB), ``320`` (320 px, 342 MB) and ``full`` (1.6 GB).

The archive is downloaded (resumably) or read from ``--archive``, checked, extracted
safely and installed atomically as ``<data>/imagenette2-<size>/{train,val}/<wnid>/``
(see ``data_scripts.archives``). Running it again does nothing once that folder is
complete. Without ``--md5`` the archive must match one of the checksums published for
the official file (torchvision's or fastai's: they differ); with ``--md5`` only that one.

    python -m data_scripts.download_imagenette --variant 160      # into $ALEXNET_DATA or <repo>/data
    python -m data_scripts.download_imagenette --variant 160 --archive ../shared/data/imagenette2-160.tgz \\
        --md5 "$(cut -d' ' -f1 ../shared/data/imagenette2-160.tgz.md5)"     # a local mirror

From Python, ``ensure_imagenette()`` installs the 160 px set on first use.
Tested in ``tests/test_download_imagenette.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from helpers.datasets import IMAGENETTE_FOLDERS
from helpers.paths import data_root

from data_scripts.archives import COMPLETE_MARKER, install
from data_scripts.cli import add_source_arguments, count_images, parse_source_arguments, run_install, script_parser
from data_scripts.fetch import Checksum

BASE_URL = "https://s3.amazonaws.com/fast-ai-imageclas"
# The official archives' published checksums. They differ between the two sources (the
# archives were re-uploaded), so either is accepted. torchvision publishes MD5s only
# (torchvision/datasets/imagenette.py, Imagenette._ARCHIVES, pytorch/vision at 051ba34);
# fastai publishes size and MD5 (fastai/data/checks.txt, fastai/fastai at 29be53d).
CHECKSUMS = {
    "160": (
        Checksum("e793b78cc4c9e9a4ccc0c1155377a412", source="torchvision"),
        Checksum("c475f8f7617a200ba35b9facc48443c3", 99_003_388, source="fastai"),
    ),
    "320": (
        Checksum("3df6f0d01a2c9592104656642f5e78a3", source="torchvision"),
        Checksum("1f1f74f133caff120e575856659b87a2", 341_663_724, source="fastai"),
    ),
    "full": (
        Checksum("fe2fc210e6bb7c5664d602c3cd71e612", source="torchvision"),
        Checksum("2c774ecb40005b35d7937d50f5d42336", 1_557_161_267, source="fastai"),
    ),
}


def official_url(variant: str = "160") -> str:
    """The URL of fast.ai's archive for ``variant`` (``"160"``, ``"320"`` or ``"full"``)."""
    return f"{BASE_URL}/{IMAGENETTE_FOLDERS[_check_variant(variant)]}.tgz"


def _check_variant(variant: str) -> str:
    if variant not in IMAGENETTE_FOLDERS:
        raise ValueError(f"Imagenette has the variants {sorted(IMAGENETTE_FOLDERS)}, not {variant!r}; use one of them")
    return variant


def install_imagenette(
    data_dir: Path | None = None,
    variant: str = "160",
    *,
    archive: Path | None = None,
    url: str | None = None,
    md5: str | None = None,
    keep_archive: bool = False,
    progress: bool = True,
) -> Path:
    """Install Imagenette ``variant`` as ``<data_dir>/imagenette2-<variant>`` and return that folder.

    From the local file ``archive`` if given, else downloaded from ``url`` (default:
    fast.ai's). With ``md5`` only that checksum is accepted, else any published one of
    the official archive. ``data_dir`` defaults to ``helpers.paths.data_root()``.
    Raises ``DownloadError`` with what to do when anything fails.
    """
    checksums = (Checksum(md5.lower(), source="--md5"),) if md5 else CHECKSUMS[_check_variant(variant)]
    return install(
        IMAGENETTE_FOLDERS[variant],
        Path(data_dir) if data_dir is not None else data_root(),
        url=None if archive is not None else url or official_url(variant),
        archive=archive,
        checksums=checksums,
        keep_archive=keep_archive,
        progress=progress,
        retry_quarantined=md5 is not None,
    )


def ensure_imagenette(data_dir: Path | None = None, variant: str = "160", *, progress: bool = True) -> Path:
    """Imagenette ``variant`` in ``data_dir`` (default: the data folder), downloaded on first use; its folder.

    Nothing is downloaded when ``<data_dir>/imagenette2-<variant>/.complete`` exists.
    Otherwise the official archive is downloaded with a progress bar, checked and
    installed. Raises ``DownloadError`` when that fails; an unreachable network fails
    within the 10-second connect timeout, so a caller can fall back to another data set.
    """
    data_dir = Path(data_dir) if data_dir is not None else data_root()
    folder = data_dir / IMAGENETTE_FOLDERS[_check_variant(variant)]
    if (folder / COMPLETE_MARKER).exists():
        return folder
    return install_imagenette(data_dir, variant, progress=progress)


def main(argv: list[str] | None = None) -> int:
    parser = script_parser("download_imagenette", __doc__)
    parser.add_argument(
        "--variant", choices=sorted(IMAGENETTE_FOLDERS), default="160", help="image size (default: 160)"
    )
    add_source_arguments(parser, official="fast.ai's")
    args = parse_source_arguments(parser, argv)

    def report(target: Path) -> str:
        counts = count_images(target)
        return f"Imagenette ({args.variant}) in {target}: {counts['train']:,} train / {counts['val']:,} val images"

    return run_install(
        lambda: install_imagenette(
            args.data, args.variant, archive=args.archive, url=args.url, md5=args.md5, keep_archive=args.keep_archive
        ),
        report,
    )


if __name__ == "__main__":
    sys.exit(main())
