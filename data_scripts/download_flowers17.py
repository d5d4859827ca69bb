"""Install the Oxford 17 Category Flower Dataset, split into class folders for training and validation.

The data set (Nilsback & Zisserman, 2006) has 1,360 photographs of 17 British flowers,
80 per class. Its official archive ``17flowers.tgz`` is flat: ``jpg/image_0001.jpg`` to
``jpg/image_1360.jpg`` plus ``jpg/files.txt``; the class of ``image_NNNN.jpg`` is
``(NNNN - 1) // 80`` in the order of ``FLOWERS17_CLASSES``. This script downloads it
(resumably) or reads it from ``--archive``, checks it, extracts it safely, and installs
it atomically as ``<data>/flowers17/{train,val}/<class>/image_NNNN.jpg`` with a seeded,
stratified split: ``--val-per-class`` images of every class (default 16: 1,088 train /
272 val), the same for the same ``--seed``. The official page also publishes three
train/val/test splits (``datasplits.mat``); this script makes its own two-way split.

Checks: the VGG page publishes no checksum, but the archive's MD5 is given by several
loaders that verify it on download (google-deepmind/dm_nevis,
``dm_nevis/datasets_storage/handlers/oxford_flowers_17.py``, and others); without
``--md5`` the archive must match it, with ``--md5`` only that one. The content is
checked too, whatever the checksum: the archive should hold exactly 1,360
``image_NNNN.jpg``, 80 per class (otherwise a warning), and every image must decode
with PIL (a broken one is skipped with a warning naming it; the rest are installed).

    python -m data_scripts.download_flowers17                 # into $ALEXNET_DATA or <repo>/data
    python -m data_scripts.download_flowers17 --archive ../shared/data/17flowers.tgz \\
        --md5 "$(cut -d' ' -f1 ../shared/data/17flowers.tgz.md5)"     # a local mirror

Tested in ``tests/test_download_flowers17.py``.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path

from helpers.datasets import stratified_holdout
from helpers.paths import data_root
from PIL import Image

from data_scripts.archives import install
from data_scripts.cli import add_source_arguments, count_images, parse_source_arguments, run_install, script_parser
from data_scripts.fetch import Checksum, DownloadError

URL = "https://www.robots.ox.ac.uk/~vgg/data/flowers/17/17flowers.tgz"
FOLDER = "flowers17"
# The official 17flowers.tgz as verified by google-deepmind/dm_nevis (commit 7dc53a2) and
# other loaders; no size is published with it.
CHECKSUMS = (Checksum("b59a65d8d1a99cd66944d474e1289eab", source="dm_nevis"),)
FLOWERS17_CLASSES = (  # the official order: image_NNNN.jpg is class (NNNN - 1) // 80
    "daffodil",
    "snowdrop",
    "lily of the valley",
    "bluebell",
    "crocus",
    "iris",
    "tigerlily",
    "tulip",
    "fritillary",
    "sunflower",
    "daisy",
    "colts' foot",
    "dandelion",
    "cowslip",
    "buttercup",
    "windflower",
    "pansy",
)
IMAGES_PER_CLASS = 80
IMAGE_NAME = re.compile(r"image_(\d{4})\.jpg")


def class_folder(name: str) -> str:
    """The folder name of a class: lowercase, underscores for spaces, no apostrophes (``colts_foot``)."""
    return name.lower().replace("'", "").replace(" ", "_")


FLOWERS17_FOLDERS = tuple(class_folder(name) for name in FLOWERS17_CLASSES)


def stratified_split(
    numbers_by_class: Mapping[int, list[int]], *, val_per_class: int, seed: int
) -> dict[str, dict[int, list[int]]]:
    """Split each class's image numbers into ``train`` and ``val`` (``val_per_class`` each), seeded.

    ``helpers.datasets.stratified_holdout``: the split depends only on the seed and the
    numbers. Returns ``{"train": {class: sorted numbers}, "val": {class: sorted numbers}}``.
    """
    try:
        train, val = stratified_holdout(numbers_by_class, seed, count=val_per_class)
    except ValueError as error:
        raise DownloadError(f"{error}; use a smaller --val-per-class") from None
    return {"train": train, "val": val}


def _decodes(path: Path) -> str | None:
    """``None`` when PIL decodes the whole image, else why it cannot."""
    try:
        with Image.open(path) as image:
            image.load()
    except Exception as error:  # PIL raises OSError, SyntaxError, ValueError... for broken files
        return f"{type(error).__name__}: {error}"
    return None


def arrange_flowers17(
    extracted: Path, out: Path, *, val_per_class: int, seed: int, images_per_class: int = IMAGES_PER_CLASS
) -> dict[str, int]:
    """Move the official flat layout ``extracted/jpg/image_NNNN.jpg`` into ``out/{train,val}/<class>/``.

    Image ``NNNN`` is class ``(NNNN - 1) // images_per_class`` (80 in the official
    archive; tests pass fewer). Warns when the archive does not hold exactly
    ``images_per_class`` images of each of the 17 classes, and skips (with a warning
    naming it) an image PIL cannot decode. Returns the number of images per split.
    """
    jpg = Path(extracted) / "jpg"
    if not jpg.is_dir():
        found = sorted(path.name for path in Path(extracted).iterdir())
        raise DownloadError(
            f"the archive holds {found}, not the folder 'jpg' of the official 17flowers.tgz; check the archive"
        )
    by_class: dict[int, list[int]] = {label: [] for label in range(len(FLOWERS17_CLASSES))}
    for path in jpg.iterdir():
        match = IMAGE_NAME.fullmatch(path.name)
        if match and 1 <= int(match[1]) <= images_per_class * len(FLOWERS17_CLASSES):
            by_class[(int(match[1]) - 1) // images_per_class].append(int(match[1]))
    counts = {FLOWERS17_CLASSES[label]: len(numbers) for label, numbers in by_class.items()}
    if set(counts.values()) != {images_per_class}:
        odd = {name: count for name, count in counts.items() if count != images_per_class}
        warnings.warn(
            f"the archive holds {sum(counts.values()):,} images, not {images_per_class} per class "
            f"({images_per_class * len(FLOWERS17_CLASSES):,}): {odd}; it may be incomplete or not the official "
            "17flowers.tgz; the split is made from the images it holds",
            stacklevel=2,
        )
    installed = {"train": 0, "val": 0}
    for split, labels in stratified_split(by_class, val_per_class=val_per_class, seed=seed).items():
        for label, numbers in labels.items():
            folder = out / split / FLOWERS17_FOLDERS[label]
            folder.mkdir(parents=True)
            for number in numbers:
                name = f"image_{number:04d}.jpg"
                problem = _decodes(jpg / name)
                if problem is not None:
                    warnings.warn(f"{name} cannot be decoded ({problem}); skipped", stacklevel=2)
                    continue
                os.replace(jpg / name, folder / name)
                installed[split] += 1
    return installed


def install_flowers17(
    data_dir: Path | None = None,
    *,
    archive: Path | None = None,
    url: str | None = None,
    md5: str | None = None,
    seed: int = 2012,
    val_per_class: int = 16,
    keep_archive: bool = False,
    progress: bool = True,
    images_per_class: int = IMAGES_PER_CLASS,
) -> Path:
    """Install the 17 flowers as ``<data_dir>/flowers17/{train,val}/<class>/`` and return that folder.

    From the local file ``archive`` if given, else downloaded from ``url`` (default: the
    VGG page). With ``md5`` only that checksum is accepted, else the published one.
    ``data_dir`` defaults to ``helpers.paths.data_root()``. The split (``seed``,
    ``val_per_class``) is recorded in the ``.complete`` marker; asking for another
    split of an installed set raises ``DownloadError`` (delete the folder first).
    ``images_per_class`` is 80 for the official archive (tests use smaller ones).
    """
    if val_per_class < 0:
        raise ValueError(f"val_per_class must be 0 or more, not {val_per_class}")
    return install(
        FOLDER,
        Path(data_dir) if data_dir is not None else data_root(),
        url=None if archive is not None else url or URL,
        archive=archive,
        filename="17flowers.tgz",
        checksums=(Checksum(md5.lower(), source="--md5"),) if md5 else CHECKSUMS,
        arrange=lambda extracted, out: arrange_flowers17(
            extracted, out, val_per_class=val_per_class, seed=seed, images_per_class=images_per_class
        ),
        settings={"seed": seed, "val_per_class": val_per_class},
        keep_archive=keep_archive,
        progress=progress,
        retry_quarantined=md5 is not None,
    )


def main(argv: list[str] | None = None) -> int:
    parser = script_parser("download_flowers17", __doc__)
    add_source_arguments(parser, official="the VGG page")
    parser.add_argument(
        "--seed", type=int, default=2012, metavar="SEED", help="seed of the train/val split (default: 2012)"
    )
    parser.add_argument(
        "--val-per-class", type=int, default=16, metavar="N", help="validation images per class (default: 16, of 80)"
    )
    args = parse_source_arguments(parser, argv)
    if args.val_per_class < 0:
        parser.error(f"--val-per-class must be 0 or more, not {args.val_per_class}")

    def report(target: Path) -> str:
        counts = count_images(target, "*/*.jpg")
        return f"17 flowers in {target}: {counts['train']:,} train / {counts['val']:,} val images"

    return run_install(
        lambda: install_flowers17(
            args.data,
            archive=args.archive,
            url=args.url,
            md5=args.md5,
            seed=args.seed,
            val_per_class=args.val_per_class,
            keep_archive=args.keep_archive,
        ),
        report,
    )


if __name__ == "__main__":
    sys.exit(main())
