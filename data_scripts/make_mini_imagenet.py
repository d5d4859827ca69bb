"""Build a small ImageNet subset (by default classes 0-15) from a local ImageNet-style folder.

The default is the 16-class mini-ImageNet of the original annotated AlexNet: ImageNet
classes 0-15, tench to robin (WordNet ids n01440764 ... n01558993). ``--classes``
picks others, by WordNet id or by name (names are looked up in the source's
``LOC_synset_mapping.txt`` when it has one).

The source is any folder with ``train/<wnid>/`` (and ``val/<wnid>/``), for example
Kaggle's ``imagenet-mini``, or ILSVRC's ``Data/CLS-LOC`` (whose flat ``val/`` folder
is sorted into classes with ``LOC_val_solution.csv``). Without validation images, a
seeded fraction of the training images becomes the validation set. Files are copied,
or hard-linked with ``--link`` (no extra disk space), into ``<data>/mini-imagenet/
{train,val}/<wnid>/``, which the book finds by default.

    python -m data_scripts.make_mini_imagenet --source ~/imagenet-mini
    python -m data_scripts.make_mini_imagenet --source ~/ILSVRC --classes tench goldfish --out ~/data/fish

Tested in ``tests/test_make_mini_imagenet.py``.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
from pathlib import Path

from helpers.datasets import WNID_NAMES, stratified_holdout
from helpers.paths import data_root

from data_scripts.cli import script_parser
from data_scripts.folders import staging_folder, swap_in

# ImageNet classes 0-15 (tench to robin), in ImageNet's order: the first sixteen entries
# of the book's one WordNet table, helpers.datasets.WNID_NAMES.
MINI_IMAGENET_CLASSES = {wnid: WNID_NAMES[wnid] for wnid in list(WNID_NAMES)[:16]}
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".bmp", ".webp"}
MANIFEST = "manifest.json"


def _find(source: Path, *candidates: str) -> Path | None:
    return next((source / c for c in candidates if (source / c).exists()), None)


def synset_names(source: Path) -> dict[str, str]:
    """WordNet id -> first name, from the source's ``LOC_synset_mapping.txt`` if any, plus the 16 defaults."""
    names = dict(MINI_IMAGENET_CLASSES)
    mapping = _find(source, "LOC_synset_mapping.txt", "../LOC_synset_mapping.txt", "../../../LOC_synset_mapping.txt")
    if mapping is not None:
        for line in mapping.read_text().splitlines():
            wnid, _, words = line.partition(" ")
            if wnid:
                names[wnid] = words.split(",")[0].strip()
    return names


def resolve_classes(requested: list[str] | None, names: dict[str, str]) -> list[str]:
    """WordNet ids of ``requested`` (ids or names, case-insensitive); ``None``: the 16 defaults."""
    if not requested:
        return list(MINI_IMAGENET_CLASSES)
    by_name = {name.lower(): wnid for wnid, name in names.items()}
    wnids = []
    for item in requested:
        wnid = item if item in names or (item.startswith("n") and item[1:].isdigit()) else by_name.get(item.lower())
        if wnid is None:
            raise ValueError(
                f"unknown class {item!r}: give a WordNet id (e.g. n01440764) or a name the source's "
                "LOC_synset_mapping.txt lists"
            )
        wnids.append(wnid)
    return wnids


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def collect(source: Path, wnids: list[str], *, val_fraction: float = 0.1,
            seed: int = 2012) -> dict[str, dict[str, list[Path]]]:
    """{split: {wnid: [image paths]}} for ``wnids`` found in ``source`` (see the module's docstring)."""
    source = Path(source).expanduser()
    base = _find(source, "Data/CLS-LOC", "ILSVRC/Data/CLS-LOC", ".") or source
    train_dir = _find(base, "train")
    if train_dir is None:
        raise ValueError(f"{source} has no train/ folder; point --source at Kaggle's imagenet-mini or at ILSVRC")
    missing = [w for w in wnids if not (train_dir / w).is_dir()]
    if missing:
        raise ValueError(f"{train_dir} lacks the class folders {missing}; check --classes and --source")
    splits = {"train": {w: _images(train_dir / w) for w in wnids}, "val": {w: [] for w in wnids}}
    val_dir = _find(base, "val", "validation")
    if val_dir is not None and any((val_dir / w).is_dir() for w in wnids):
        splits["val"] = {w: _images(val_dir / w) if (val_dir / w).is_dir() else [] for w in wnids}
    elif val_dir is not None:  # ILSVRC: flat val/ folder, labels in LOC_val_solution.csv
        solution = _find(source, "LOC_val_solution.csv", "../LOC_val_solution.csv", "../../../LOC_val_solution.csv")
        if solution is not None:
            with solution.open() as file:
                for row in csv.DictReader(file):
                    wnid = row["PredictionString"].split()[0]
                    if wnid in splits["val"]:
                        splits["val"][wnid].append(val_dir / f"{row['ImageId']}.JPEG")
    if not any(splits["val"].values()):  # no validation images: hold out a seeded fraction of train
        splits["train"], splits["val"] = stratified_holdout(splits["train"], seed, fraction=val_fraction)
    return splits


def _place(src: Path, dst: Path, link: bool) -> None:
    if link:
        try:
            os.link(src, dst)
            return
        except OSError:  # another file system, or links not allowed: copy instead
            pass
    shutil.copy2(src, dst)


def build(
    source: Path,
    out: Path,
    wnids: list[str],
    *,
    link: bool = False,
    val_fraction: float = 0.1,
    seed: int = 2012,
) -> dict[str, dict[str, int]]:
    """Copy (or hard-link) the images of ``wnids`` into ``out/{train,val}/<wnid>/``; return the counts.

    Written into a temporary folder and renamed, so ``out`` is either complete or absent.
    """
    splits = collect(source, wnids, val_fraction=val_fraction, seed=seed)
    out = Path(out).expanduser()
    with staging_folder(out) as scratch:
        new = scratch / out.name
        for split, classes in splits.items():
            for wnid, files in classes.items():
                (new / split / wnid).mkdir(parents=True)
                for path in files:
                    _place(path, new / split / wnid / path.name, link)
        counts = {split: {w: len(files) for w, files in classes.items()} for split, classes in splits.items()}
        (new / MANIFEST).write_text(json.dumps({"source": str(source), "classes": wnids, "counts": counts}, indent=2))
        swap_in(new, out, scratch)
    return counts


def format_counts(counts: dict[str, dict[str, int]], names: dict[str, str]) -> str:
    """A small table: one line per class with its train and val counts, and a total."""
    lines = [f"{'class':<12} {'name':<20} {'train':>7} {'val':>6}"]
    for wnid in counts["train"]:
        lines.append(f"{wnid:<12} {names.get(wnid, ''):<20} {counts['train'][wnid]:>7,} {counts['val'][wnid]:>6,}")
    lines.append(f"{'total':<33} {sum(counts['train'].values()):>7,} {sum(counts['val'].values()):>6,}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = script_parser("make_mini_imagenet", __doc__)
    parser.add_argument("--source", type=Path, required=True, help="ImageNet-style folder (imagenet-mini, ILSVRC)")
    parser.add_argument("--out", type=Path, default=None, help="default: $ALEXNET_DATA/mini-imagenet")
    parser.add_argument(
        "--classes",
        nargs="+",
        default=None,
        help="WordNet ids or names (default: ImageNet classes 0-15, tench ... robin)",
    )
    parser.add_argument("--link", action="store_true", help="hard-link instead of copying")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="held out when the source has no val/")
    parser.add_argument("--seed", type=int, default=2012)
    parser.add_argument("--force", action="store_true", help="rebuild even if the output is complete")
    args = parser.parse_args(argv)
    out = args.out or data_root() / "mini-imagenet"
    names = synset_names(args.source)
    try:
        wnids = resolve_classes(args.classes, names)
        manifest = out / MANIFEST
        if not args.force and manifest.exists() and json.loads(manifest.read_text())["classes"] == wnids:
            print(f"{out} already holds these {len(wnids)} classes; nothing to do (use --force to rebuild)")
            print(format_counts(json.loads(manifest.read_text())["counts"], names))
            return 0
        counts = build(args.source, out, wnids, link=args.link, val_fraction=args.val_fraction, seed=args.seed)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {len(wnids)} classes to {out}")
    print(format_counts(counts, names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
