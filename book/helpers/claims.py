"""The claims ledger: every numbered claim of the paper, and what this build measured.

``book/data/paper_claims.csv`` lists the paper's claims (id, section, claim, the paper's
value, the chapter that reproduces or cites it). A chapter that computes a claim calls
``record_claim`` in the cell that computes it; the value goes to a small JSON file under
``artifacts_root()/claims/<profile>/``, written atomically. The ledger page joins the list
with what this build recorded and, where present, with the full profile's reference
values (``book/data/full_profile_claims.csv``).

Verdicts, one of ``VERDICTS``: "reproduced" (the number or the effect, at this scale),
"direction reproduced" (the effect points the paper's way but its size differs),
"not reproduced" (measured, and it does not hold here), "not reproducible here" (needs
ImageNet or the full profile), "cited only" (nothing to compute).

Used by every chapter; the ledger is ``book/12_claims_ledger.ipynb``; checked by
``tests/test_claims.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from helpers.paths import BOOK_DATA, artifacts_root
from helpers.profile import get_profile

CLAIMS_FILE = BOOK_DATA / "paper_claims.csv"
FULL_PROFILE_FILE = BOOK_DATA / "full_profile_claims.csv"
VERDICTS = ("reproduced", "direction reproduced", "not reproduced", "not reproducible here",
            "cited only")


def paper_claims() -> pd.DataFrame:
    """The paper's claims, indexed by ``id``: section, claim, paper_value, chapter."""
    return pd.read_csv(CLAIMS_FILE, index_col="id")


def _folder(profile: str | None) -> Path:
    return artifacts_root() / "claims" / (profile or get_profile().name)


def record_claim(claim_id: str, measured: str, verdict: str, *, profile: str | None = None) -> dict:
    """Record what this build measured for claim ``claim_id``; returns the record.

    ``measured``: the value as the page prints it (e.g. ``"4.1x fewer epochs"``);
    ``verdict``: one of ``VERDICTS``.
    """
    claims = paper_claims()
    if claim_id not in claims.index:
        raise ValueError(f"record_claim: unknown claim {claim_id!r}; add it to {CLAIMS_FILE.name} "
                         f"first (known: {', '.join(claims.index[:5])}, ...)")
    if verdict not in VERDICTS:
        raise ValueError(f"record_claim: verdict must be one of {VERDICTS}, got {verdict!r}")
    record = {"id": claim_id, "measured": str(measured), "verdict": verdict}
    folder = _folder(profile)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{claim_id}.json.tmp"
    tmp.write_text(json.dumps(record))
    os.replace(tmp, folder / f"{claim_id}.json")
    return record


def recorded_claims(profile: str | None = None) -> pd.DataFrame:
    """What the chapters recorded for ``profile`` (default: the current one), indexed by ``id``."""
    records = [json.loads(p.read_text()) for p in sorted(_folder(profile).glob("*.json"))]
    return pd.DataFrame(records, columns=["id", "measured", "verdict"]).set_index("id")


def ledger(profile: str | None = None) -> pd.DataFrame:
    """One row per claim: the paper's value, this build's value and verdict, the full profile's."""
    table = paper_claims().join(recorded_claims(profile))
    table["verdict"] = table["verdict"].fillna("not computed in this build")
    table["measured"] = table["measured"].fillna("")
    full = (pd.read_csv(FULL_PROFILE_FILE, index_col="id")["measured"] if FULL_PROFILE_FILE.exists()
            else pd.Series(dtype=str))
    table["full profile"] = full.reindex(table.index).fillna("not measured yet")
    return table
