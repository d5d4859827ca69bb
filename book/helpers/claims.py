"""The claims ledger: every numbered claim of the paper, and what this build measured.

``book/data/paper_claims.csv`` lists the paper's claims (id, section, claim, the paper's
value, the chapter that reproduces or cites it). A chapter that computes a claim calls
``record_claim`` in the cell that computes it; the value goes to a small JSON file under
``artifacts_root()/claims/<profile>/``, written atomically. The ledger page joins the
list with what this build recorded and, where present, with the full profile's values
(``book/data/full_profile_claims.csv``, written by ``save_full_profile_claims`` after a
full-profile build, or what a committed reference run measured:
``helpers.reference_run.reference_claims``).

Verdicts, one of ``VERDICTS``: "reproduced" (the number or the effect, at this scale),
"direction reproduced" (the effect points the paper's way but its size differs),
"not reproduced" (measured, and it does not hold here), "not reproducible here" (needs
ImageNet, or an effect too small to measure at this scale), "cited only" (nothing to
compute: the page cites the paper's value).

Used by every chapter; the ledger is ``book/12_claims_ledger.ipynb``; checked by
``tests/portable/test_claims.py``.
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from helpers.paths import BOOK_DATA, REPO_ROOT, artifacts_root, write_text_atomic
from helpers.profile import get_profile

CLAIMS_FILE = BOOK_DATA / "paper_claims.csv"
FULL_PROFILE_FILE = BOOK_DATA / "full_profile_claims.csv"
VERDICTS = ("reproduced", "direction reproduced", "not reproduced",
            "not reproducible here", "cited only")
NOT_COMPUTED = "not computed in this build"
CHAPTER_NOT_RUN = "chapter not executed in this build"
NOT_MEASURED = "not measured yet"


class FullValue(NamedTuple):
    """A full-profile value for the ledger: what was measured, and the verdict its
    numbers give (``""`` where a value alone gives none, e.g. a schedule's epochs)."""

    measured: str
    verdict: str = ""


def paper_claims() -> pd.DataFrame:
    """The paper's claims, indexed by ``id``: section, claim, paper_value, chapter."""
    return pd.read_csv(CLAIMS_FILE, index_col="id", dtype=str)


def _folder(profile: str | None) -> Path:
    return artifacts_root() / "claims" / (profile or get_profile().name)


def record_claim(claim_id: str, measured: object, verdict: str, *,
                 profile: str | None = None) -> dict[str, str]:
    """Record what this build measured for claim ``claim_id``; returns the record.

    ``measured``: the value as the page prints it (e.g. ``"4.1x fewer epochs"``);
    ``verdict``: one of ``VERDICTS``. The record replaces any earlier one of the same
    claim and profile in one atomic step (a reader never sees half a file).
    """
    claims = paper_claims()
    if claim_id not in claims.index:
        raise ValueError(f"record_claim: unknown claim {claim_id!r}; use an id of "
                         f"{CLAIMS_FILE.name} (or add a row there): "
                         + ", ".join(claims.index))
    if verdict not in VERDICTS:
        raise ValueError("record_claim: verdict must be one of "
                         f"{', '.join(VERDICTS)}; got {verdict!r}")
    if not str(measured).strip():
        raise ValueError(f"record_claim: say what was measured for {claim_id!r} "
                         "(for a cited claim, the value cited)")
    record = {"id": claim_id, "measured": str(measured), "verdict": verdict,
              "chapter": claims.loc[claim_id, "chapter"]}
    folder = _folder(profile)
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / f"{claim_id}.json", json.dumps(record))
    return record


def overfitting_verdict(gap_without: float, gap_with: float, yardstick: float,
                        val_without: float, val_with: float, *, isolated: bool) -> str:
    """The verdict on a claim that a remedy reduces overfitting, from two runs, one
    without the remedy and one with it: their gaps (training minus validation accuracy)
    and their validation accuracies.

    "not reproduced" when the gap is not smaller with the remedy. "reproduced" only when
    it is smaller by more than ``yardstick`` (in the gaps' unit, e.g. two standard
    errors of their difference), the run with the remedy generalises at least as well
    (``val_with >= val_without``: a gap narrowed only by fitting the training images
    more slowly does not count), and the runs differ in that remedy alone
    (``isolated``). Else "direction reproduced". Used by ``book/10_small_data.ipynb``.
    """
    if gap_with >= gap_without:
        return "not reproduced"
    if gap_without - gap_with > yardstick and val_with >= val_without and isolated:
        return "reproduced"
    return "direction reproduced"


def recorded_claims(profile: str | None = None) -> pd.DataFrame:
    """What the chapters recorded for ``profile`` (default: the current one), by ``id``.

    Columns ``measured`` and ``verdict``; empty when nothing was recorded.
    """
    files = sorted(_folder(profile).glob("*.json"))
    records = [json.loads(path.read_text()) for path in files]
    table = pd.DataFrame(records, columns=["id", "measured", "verdict"], dtype=str)
    return table.set_index("id")


def ledger(profile: str | None = None,
           full: Mapping[str, FullValue] | None = None) -> pd.DataFrame:
    """One row per claim: the paper's value, this build's value and verdict, the full
    profile's value and verdict.

    A claim nobody recorded has the verdict ``NOT_COMPUTED``; its ``measured`` says
    ``CHAPTER_NOT_RUN`` when its chapter recorded no claim at all in this build. The
    full profile's values come from a saved full-profile build (``FULL_PROFILE_FILE``);
    ``full`` (claim id to ``FullValue``, e.g. a reference run's) fills the claims it
    lacks. Column ``full verdict``: the verdict of that value, else ``""``.
    """
    table = paper_claims().join(recorded_claims(profile))
    missing = table["verdict"].isna()
    ran = set(table.loc[~missing, "chapter"])
    table["measured"] = table["measured"].where(
        ~missing, table["chapter"].map(lambda c: "" if c in ran else CHAPTER_NOT_RUN))
    table["verdict"] = table["verdict"].fillna(NOT_COMPUTED)
    given = dict(full or {})
    values = {claim: value.measured for claim, value in given.items()}
    verdicts = {claim: value.verdict for claim, value in given.items()}
    if FULL_PROFILE_FILE.exists():
        saved = pd.read_csv(FULL_PROFILE_FILE, index_col="id", dtype=str)
        values.update(saved["measured"].dropna())
        verdicts.update(saved["verdict"].dropna())
    table["full profile"] = pd.Series(values, dtype=str).reindex(table.index).fillna(
        NOT_MEASURED)
    table["full verdict"] = pd.Series(verdicts, dtype=str).reindex(table.index).fillna(
        "")
    return table


def save_full_profile_claims(path: Path = FULL_PROFILE_FILE) -> Path:
    """Write what the full profile recorded to ``path`` (commit it with the book)."""
    recorded = recorded_claims("full")
    if recorded.empty:
        raise ValueError("save_full_profile_claims: nothing recorded for the full "
                         "profile; build the book with ALEXNET_PROFILE=full first")
    recorded.to_csv(path)
    return path


@functools.cache  # the ledger asks once per claim; a chapter is read once
def chapter_title(chapter: str) -> str:
    """The title (first heading) of ``book/<chapter>.ipynb``; else ``chapter``."""
    path = REPO_ROOT / "book" / f"{chapter}.ipynb"
    if path.exists():
        for cell in json.loads(path.read_text())["cells"]:
            text = "".join(cell["source"]).lstrip()
            if cell["cell_type"] == "markdown" and text.startswith("# "):
                return text.splitlines()[0][2:].strip()
    return chapter


VERDICT_COLOURS = {"reproduced": "#d4edda", "direction reproduced": "#e8f4d4",
                   "not reproduced": "#f8d7da", "not reproducible here": "#fff3cd",
                   "cited only": "#e2e3e5", NOT_COMPUTED: "#ffffff"}
COLUMNS = {"section": ("§", 5), "claim": ("The paper's claim", 27),
           "paper_value": ("Paper", 13), "chapter": ("Where in the book", 15),
           "measured": ("This build", 15), "full profile": ("Full profile", 11),
           "verdict": ("Verdict (this build)", 14)}
"""Ledger columns: heading and width in percent (they wrap inside a page's column)."""


def ledger_html(table: pd.DataFrame) -> str:
    """``ledger()`` as an HTML table that wraps its text to the page's width.

    Chapters link to their pages (``<chapter>.html``, titled from the notebook); each
    verdict is tinted by ``VERDICT_COLOURS``, and so is each full-profile value by its
    ``full verdict`` (said at its end).
    """
    cols = "".join(f'<col style="width:{width}%">' for _, width in COLUMNS.values())
    head = "".join(f"<th>{html.escape(title)}</th>" for title, _ in COLUMNS.values())
    rows = []
    for _, row in table.iterrows():
        cells = []
        for column in COLUMNS:
            text = html.escape(str(row[column]))
            tint = row[column] if column == "verdict" else ""
            if column == "full profile" and row.get("full verdict", ""):
                tint = row["full verdict"]
                text += html.escape(f": {tint}")
            if column == "chapter":  # the title up to its colon: "Dropout", ...
                title = html.escape(chapter_title(row[column]).split(":")[0])
                text = f'<a href="{html.escape(row[column])}.html">{title}</a>'
            style = ""
            if tint:
                style = f' style="background:{VERDICT_COLOURS.get(tint, "#ffffff")}"'
            cells.append(f"<td{style}>{text}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    css = ("<style>.claims-ledger th, .claims-ledger td {vertical-align: top; "
           "padding: 0.3em 0.4em; border-bottom: 1px solid #ddd}</style>")
    return (css + '<table class="claims-ledger" style="table-layout:fixed;width:100%;'
            'font-size:0.8em;overflow-wrap:break-word;hyphens:auto">'
            f"<colgroup>{cols}</colgroup><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")
