"""The offline data set: ten classes of shapes and textures, drawn procedurally.

The book's training chapters need images even on a machine with no network. This
script draws a class-per-folder set of 128x128 PNG images: eight shapes (circle,
square, triangle, star, ring, cross, crescent, hourglass) and two textures (stripes,
checkerboard), each with a random colour, position, scale and rotation, on a random
gradient background with clutter (lines and small blobs). Colour and position carry
no information about the class, so a linear model on raw pixels does poorly while a
small convolutional network learns the shapes.

The set is deterministic: image ``i`` of class ``c`` in split ``s`` is drawn from a
random generator seeded with ``(seed, s, c, i)``, so the same seed gives the same
bytes every time. It is written to a temporary folder and renamed into place, so an
interrupted run never leaves half a set behind.

    python -m data_scripts.make_offline_dataset               # into $ALEXNET_DATA/offline
    python -m data_scripts.make_offline_dataset --out /tmp/offline --train-per-class 50

Tested in ``tests/test_make_offline_dataset.py``.
"""

from __future__ import annotations

import json
import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from helpers.paths import data_root
from PIL import Image, ImageDraw

from data_scripts.cli import script_parser
from data_scripts.folders import staging_folder, swap_in

CLASS_NAMES = (
    "circle",
    "square",
    "triangle",
    "star",
    "ring",
    "cross",
    "crescent",
    "hourglass",
    "stripes",
    "checkerboard",
)
FORMAT_VERSION = 1
"""Bumped whenever the drawing changes, so that a cached set of an older version is redrawn."""
MANIFEST = "manifest.json"
SPLITS = ("train", "val")
_DEFAULTS = {"train_per_class": 300, "val_per_class": 60, "image_size": 128, "seed": 2012}
"""The set the book uses: 10 x (300 + 60) images of 128 x 128 (about 30 MB)."""
_SUPERSAMPLE = 2  # masks are drawn at twice the size and averaged down: anti-aliased edges


def _regular_polygon(cx: float, cy: float, radius: float, sides: int, angle: float) -> list[tuple[float, float]]:
    return [
        (
            cx + radius * math.cos(angle + 2 * math.pi * k / sides),
            cy + radius * math.sin(angle + 2 * math.pi * k / sides),
        )
        for k in range(sides)
    ]


def _rotated(points: list[tuple[float, float]], cx: float, cy: float, angle: float) -> list[tuple[float, float]]:
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + c * x - s * y, cy + s * x + c * y) for x, y in points]


def _shape_mask(name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A soft mask in [0, 1] of shape ``(size, size)`` for one object of class ``name``."""
    big = size * _SUPERSAMPLE
    cx, cy = rng.uniform(0.32, 0.68, size=2) * big
    r = rng.uniform(0.2, 0.3) * big  # the object spans 40-60 % of the image
    angle = rng.uniform(0, 2 * math.pi)
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    if name == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    elif name == "square":
        draw.polygon(_regular_polygon(cx, cy, r, 4, angle), fill=255)
    elif name == "triangle":
        draw.polygon(_regular_polygon(cx, cy, r * 1.1, 3, angle), fill=255)
    elif name == "star":
        outer = _regular_polygon(cx, cy, r * 1.1, 5, angle)
        inner = _regular_polygon(cx, cy, r * 0.45, 5, angle + math.pi / 5)
        draw.polygon([p for pair in zip(outer, inner, strict=True) for p in pair], fill=255)
    elif name == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        inner = r * rng.uniform(0.5, 0.65)
        draw.ellipse([cx - inner, cy - inner, cx + inner, cy + inner], fill=0)
    elif name == "cross":
        w = r * rng.uniform(0.28, 0.38)
        for bar in ([(-r, -w), (r, -w), (r, w), (-r, w)], [(-w, -r), (w, -r), (w, r), (-w, r)]):
            draw.polygon(_rotated(bar, cx, cy, angle), fill=255)
    elif name == "crescent":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        dx, dy = 0.45 * r * math.cos(angle), 0.45 * r * math.sin(angle)
        draw.ellipse([cx + dx - r, cy + dy - r, cx + dx + r, cy + dy + r], fill=0)
    elif name == "hourglass":
        draw.polygon(_rotated([(-r, -r), (r, -r), (0, 0)], cx, cy, angle), fill=255)
        draw.polygon(_rotated([(-r, r), (r, r), (0, 0)], cx, cy, angle), fill=255)
    elif name in ("stripes", "checkerboard"):
        # Textures fill a disk or a square: the class is in the pattern, not the outline.
        if rng.random() < 0.5:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        else:
            draw.polygon(_regular_polygon(cx, cy, r * 1.2, 4, angle), fill=255)
        region = np.asarray(mask, dtype=np.float32) / 255.0
        ys, xs = np.mgrid[0:big, 0:big].astype(np.float32)
        u = (xs - cx) * math.cos(angle) + (ys - cy) * math.sin(angle)
        v = -(xs - cx) * math.sin(angle) + (ys - cy) * math.cos(angle)
        period = rng.uniform(0.25, 0.4) * r
        pattern = np.floor(u / period) % 2
        if name == "checkerboard":
            pattern = (pattern + np.floor(v / period)) % 2
        mask = Image.fromarray((region * pattern * 255).astype(np.uint8))
    else:
        raise ValueError(f"unknown offline class {name!r}; use one of {', '.join(CLASS_NAMES)}")
    small = mask.resize((size, size), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 255, size=3).astype(np.float32)


def _luminance(rgb: np.ndarray) -> float:
    return float(rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32))


def _background(size: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A gradient between two random colours, with random lines and blobs; returns (image, mean luminance)."""
    a, b = _colour(rng), _colour(rng)
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    t = np.clip(0.5 + (xs - 0.5) * math.cos(angle) + (ys - 0.5) * math.sin(angle), 0, 1)[..., None]
    image = Image.fromarray(((1 - t) * a + t * b).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(3, 7)):  # clutter: thin lines across the image
        x0, y0, x1, y1 = rng.uniform(0, size, size=4)
        draw.line([x0, y0, x1, y1], fill=tuple(int(c) for c in _colour(rng)), width=int(rng.integers(1, 4)))
    for _ in range(rng.integers(1, 4)):  # clutter: small blobs, much smaller than the object
        x, y = rng.uniform(0, size, size=2)
        s = rng.uniform(0.03, 0.07) * size
        draw.ellipse([x - s, y - s, x + s, y + s], fill=tuple(int(c) for c in _colour(rng)))
    return np.asarray(image, dtype=np.float32), 0.5 * (_luminance(a) + _luminance(b))


def draw_image(class_index: int, rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """One image of class ``CLASS_NAMES[class_index]``: uint8 ``(size, size, 3)``."""
    background, lum = _background(size, rng)
    for _ in range(20):  # a colour that stands out from the background (luminance gap >= 60)
        fg = _colour(rng)
        if abs(_luminance(fg) - lum) >= 60:
            break
    alpha = _shape_mask(CLASS_NAMES[class_index], size, rng)[..., None]
    image = background * (1 - alpha) + fg * alpha
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _draw_folder(folder: Path, split_index: int, class_index: int, count: int, *, image_size: int, seed: int) -> None:
    folder.mkdir(parents=True)
    name = CLASS_NAMES[class_index]
    for i in range(count):
        rng = np.random.default_rng([seed, split_index, class_index, i])  # one stream per image: order-free
        image = Image.fromarray(draw_image(class_index, rng, image_size))
        image.save(folder / f"{name}_{i:04d}.png", format="PNG", compress_level=6)


def make_offline_dataset(
    out: Path,
    *,
    train_per_class: int = _DEFAULTS["train_per_class"],
    val_per_class: int = _DEFAULTS["val_per_class"],
    image_size: int = _DEFAULTS["image_size"],
    seed: int = _DEFAULTS["seed"],
    workers: int | None = None,
) -> Path:
    """Draw the set into ``out`` (``out/train/<class>/*.png``, ``out/val/<class>/*.png``) and return ``out``.

    The images are drawn into a temporary folder beside ``out`` that is renamed to
    ``out`` only when complete. An existing ``out`` is replaced.
    """
    if train_per_class < 1 or val_per_class < 1 or image_size < 16:
        raise ValueError("make_offline_dataset: use at least 1 image per class per split and image_size >= 16")
    out = Path(out)
    with staging_folder(out) as scratch:
        new = scratch / out.name
        counts = {"train": train_per_class, "val": val_per_class}
        jobs = [
            (new / split / name, split_index, class_index, counts[split])
            for split_index, split in enumerate(SPLITS)
            for class_index, name in enumerate(CLASS_NAMES)
        ]
        # NumPy and PIL release the GIL while they draw and compress, so threads use every core.
        with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            list(pool.map(lambda job: _draw_folder(*job, image_size=image_size, seed=seed), jobs))
        manifest = {
            "version": FORMAT_VERSION,
            "classes": list(CLASS_NAMES),
            "train_per_class": train_per_class,
            "val_per_class": val_per_class,
            "image_size": image_size,
            "seed": seed,
        }
        (new / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        try:
            swap_in(new, out, scratch)
        except OSError:
            if not _is_complete(out, manifest):  # another process finished the same set first: keep it
                raise
    return out


def _is_complete(folder: Path, expected: dict) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return manifest == expected


def ensure_offline_dataset(root: Path | None = None) -> Path:
    """The offline set under ``root`` (default: the data folder), drawn on first use; returns its folder.

    ``root`` is the data folder (like ``$ALEXNET_DATA``); the set lives in ``root/offline``
    with ``train/<class>/*.png`` and ``val/<class>/*.png``. A complete set of the
    current version is reused; anything else is redrawn.
    """
    folder = Path(root if root is not None else data_root()) / "offline"
    expected = {"version": FORMAT_VERSION, "classes": list(CLASS_NAMES), **_DEFAULTS}
    if not _is_complete(folder, expected):
        make_offline_dataset(folder, **_DEFAULTS)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = script_parser("make_offline_dataset", __doc__)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: $ALEXNET_DATA/offline, else <repo>/data/offline)",
    )
    for option, default in _DEFAULTS.items():
        parser.add_argument(
            f"--{option.replace('_', '-')}", type=int, default=default, metavar="N", help=f"default: {default}"
        )
    args = parser.parse_args(argv)
    out = args.out or data_root() / "offline"
    make_offline_dataset(
        out,
        train_per_class=args.train_per_class,
        val_per_class=args.val_per_class,
        image_size=args.image_size,
        seed=args.seed,
    )
    print(
        f"wrote {len(CLASS_NAMES)} classes x ({args.train_per_class} train + {args.val_per_class} val) "
        f"images of {args.image_size}x{args.image_size} to {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
