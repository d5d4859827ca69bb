"""The claims ledger: ``helpers.claims`` and ``book/data/paper_claims.csv``."""

from __future__ import annotations

import json
import os
import re

import pandas as pd
import pytest
from helpers import claims, paths
from helpers.claims import (
    CHAPTER_NOT_RUN,
    NOT_COMPUTED,
    NOT_MEASURED,
    VERDICTS,
    FullValue,
    ledger,
    ledger_html,
    overfitting_verdict,
    paper_claims,
    record_claim,
    recorded_claims,
)
from helpers.paths import REPO_ROOT


@pytest.fixture
def artifacts(tmp_path, monkeypatch):
    """A fresh artefacts folder, the quick profile, and no full-profile file."""
    monkeypatch.setenv("ALEXNET_ARTIFACTS", str(tmp_path))
    monkeypatch.setenv("ALEXNET_PROFILE", "quick")
    monkeypatch.setattr(claims, "FULL_PROFILE_FILE", tmp_path / "absent.csv")
    return tmp_path


# The list itself ----------------------------------------------------------------------

def test_the_list_is_well_formed():
    table = pd.read_csv(claims.CLAIMS_FILE, dtype=str)
    assert list(table.columns) == ["id", "section", "claim", "paper_value", "chapter"]
    assert table["id"].is_unique, table["id"][table["id"].duplicated()].tolist()
    assert table.notna().all().all(), table[table.isna().any(axis=1)]
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", i) for i in table["id"]), table["id"]
    bad = [s for s in table["section"] if not re.fullmatch(r"§[1-7](\.[1-5])?", s)]
    assert not bad, f"sections must look like §N or §N.M (the paper's 1-7): {bad}"
    missing = {c for c in table["chapter"] if not (REPO_ROOT / "book" / f"{c}.ipynb").exists()}
    assert not missing, f"chapters named in paper_claims.csv that do not exist: {missing}"


def test_the_list_follows_the_papers_order_and_holds_its_headline_numbers():
    table = paper_claims()
    order = [tuple(int(n) for n in s[1:].split(".")) for s in table["section"]]
    assert order == sorted(order), "keep paper_claims.csv in the order of the paper's sections"
    # the values a reader checks first, as the paper states them
    assert "60M" in table.loc["params", "paper_value"]
    assert "650,000" in table.loc["params", "claim"]
    assert table.loc["table1", "paper_value"].startswith("37.5 / 17.0%")
    assert "39.0 / 18.3%" in table.loc["ten_view_gain", "claim"]
    assert "67.4 / 40.9%" in table.loc["fall2009", "paper_value"]
    assert table.loc["augment_2048", "paper_value"] == "2048"


# Recording ----------------------------------------------------------------------------

def test_record_and_read_back(artifacts):
    record = record_claim("relu_6x", "4.1x fewer epochs", "direction reproduced")
    assert record == {"id": "relu_6x", "measured": "4.1x fewer epochs",
                      "verdict": "direction reproduced", "chapter": "02_relu_vs_tanh"}
    path = artifacts / "claims" / "quick" / "relu_6x.json"
    assert json.loads(path.read_text()) == record
    table = recorded_claims()
    assert table.loc["relu_6x"].to_dict() == {"measured": "4.1x fewer epochs",
                                              "verdict": "direction reproduced"}


def test_a_new_record_replaces_the_old_one_and_leaves_no_temporary_file(artifacts):
    record_claim("relu_6x", "1.2x", "not reproduced")
    record_claim("relu_6x", 4.1, "reproduced")  # numbers are stored as the page prints them
    folder = artifacts / "claims" / "quick"
    assert sorted(p.name for p in folder.iterdir()) == ["relu_6x.json"]
    assert recorded_claims().loc["relu_6x", "measured"] == "4.1"


def test_profiles_are_kept_apart(artifacts):
    record_claim("relu_6x", "6.2x", "reproduced", profile="full")
    assert recorded_claims("quick").empty
    assert recorded_claims("full").loc["relu_6x", "measured"] == "6.2x"


def test_an_interrupted_write_leaves_the_previous_record(artifacts, monkeypatch):
    record_claim("relu_6x", "4.1x", "reproduced")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as patch, pytest.raises(OSError, match="disk full"):
        patch.setattr(paths.os, "replace", crash)  # claims write through paths
        record_claim("relu_6x", "0.5x", "not reproduced")
    assert recorded_claims().loc["relu_6x", "measured"] == "4.1x"
    assert [p.name for p in (artifacts / "claims" / "quick").iterdir()] == ["relu_6x.json"]


def test_unknown_id_is_refused_with_the_known_ids(artifacts):
    with pytest.raises(ValueError, match=r"unknown claim 'relu_six'.*relu_6x"):
        record_claim("relu_six", "4x", "reproduced")
    assert not (artifacts / "claims").exists()


def test_bad_verdict_is_refused_with_the_valid_ones(artifacts):
    with pytest.raises(ValueError, match="verdict must be one of reproduced, direction"):
        record_claim("relu_6x", "4x", "confirmed")


def test_empty_measurement_is_refused(artifacts):
    with pytest.raises(ValueError, match="say what was measured"):
        record_claim("relu_6x", "  ", "reproduced")


# The ledger ---------------------------------------------------------------------------

def test_ledger_joins_the_list_with_this_builds_records(artifacts):
    record_claim("relu_6x", "4.1x", "direction reproduced")
    table = ledger()
    assert list(table.index) == list(paper_claims().index)
    assert table.loc["relu_6x", "measured"] == "4.1x"
    assert table.loc["relu_6x", "verdict"] == "direction reproduced"
    # same chapter, not recorded: the chapter ran, this claim was not computed
    assert table.loc["relu_no_normalisation", "verdict"] == NOT_COMPUTED
    assert table.loc["relu_no_normalisation", "measured"] == ""
    # a chapter that recorded nothing did not run in this build
    assert table.loc["table1", "verdict"] == NOT_COMPUTED
    assert table.loc["table1", "measured"] == CHAPTER_NOT_RUN
    assert set(table["full profile"]) == {NOT_MEASURED}


def test_ledger_shows_the_full_profiles_values_when_saved(artifacts, monkeypatch):
    record_claim("relu_6x", "5.8x", "reproduced", profile="full")
    saved = claims.save_full_profile_claims(artifacts / "full.csv")
    monkeypatch.setattr(claims, "FULL_PROFILE_FILE", saved)
    table = ledger()
    assert table.loc["relu_6x", "full profile"] == "5.8x"
    assert table.loc["table1", "full profile"] == NOT_MEASURED


def test_a_saved_full_build_wins_over_other_full_profile_values(artifacts, monkeypatch):
    reference = {"relu_6x": FullValue("from a reference run"),
                 "recipe": FullValue("drops at 14, 24, 27")}
    table = ledger(full=reference)
    assert table.loc["recipe", "full profile"] == "drops at 14, 24, 27"
    assert table.loc["table1", "full profile"] == NOT_MEASURED
    record_claim("relu_6x", "5.8x", "reproduced", profile="full")
    monkeypatch.setattr(claims, "FULL_PROFILE_FILE",
                        claims.save_full_profile_claims(artifacts / "full.csv"))
    table = ledger(full=reference)
    assert table.loc["relu_6x", "full profile"] == "5.8x"
    assert table.loc["recipe", "full profile"] == "drops at 14, 24, 27"


def test_the_full_profiles_verdict_comes_from_the_saved_build_or_the_given_value(
        artifacts, monkeypatch):
    full = {"pca_gain": FullValue("top-1 -0.08, +0.33 points", "not reproduced"),
            "overlap_overfit": FullValue("gap +0.37 points", "direction reproduced"),
            "recipe": FullValue("rate divided by 10 before epochs 15, 26, 31")}
    table = ledger(full=full)
    assert table.loc["pca_gain", "full verdict"] == "not reproduced"
    assert table.loc["overlap_overfit", "full verdict"] == "direction reproduced"
    assert table.loc["recipe", "full verdict"] == ""  # a value, no verdict
    assert table.loc["table1", "full verdict"] == ""  # not measured
    record_claim("relu_6x", "5.8x", "reproduced", profile="full")
    monkeypatch.setattr(claims, "FULL_PROFILE_FILE",
                        claims.save_full_profile_claims(artifacts / "full.csv"))
    table = ledger(full=full)
    assert table.loc["relu_6x", "full verdict"] == "reproduced"
    page = ledger_html(table)
    assert "5.8x: reproduced" in page  # the saved verdict is said in the cell
    tinted = f'style="background:{claims.VERDICT_COLOURS["direction reproduced"]}"'
    assert f"<td {tinted}>gap +0.37 points: direction reproduced</td>" in page


# Overfitting verdicts ------------------------------------------------------------------

def test_a_gap_that_does_not_shrink_is_not_reproduced():
    assert overfitting_verdict(10, 10, 1, 0.5, 0.6, isolated=True) == "not reproduced"
    assert overfitting_verdict(10, 12, 1, 0.5, 0.6, isolated=True) == "not reproduced"


def test_reproduced_needs_a_clear_shrink_no_worse_validation_and_one_remedy():
    assert overfitting_verdict(20, 4, 9, 0.50, 0.52, isolated=True) == "reproduced"
    within_noise = overfitting_verdict(20, 12, 9, 0.50, 0.52, isolated=True)
    slower_fit = overfitting_verdict(20, 4, 9, 0.53, 0.46, isolated=True)
    two_remedies = overfitting_verdict(20, 4, 9, 0.50, 0.52, isolated=False)
    assert within_noise == slower_fit == two_remedies == "direction reproduced"


def test_saving_an_empty_full_profile_is_refused(artifacts):
    with pytest.raises(ValueError, match="ALEXNET_PROFILE=full"):
        claims.save_full_profile_claims(artifacts / "full.csv")


def test_ledger_html_links_chapters_escapes_text_and_fixes_column_widths(artifacts):
    record_claim("relu_6x", "<4x & more>", "reproduced")
    page = ledger_html(ledger())
    assert page.count("<tr>") == len(paper_claims()) + 1  # one heading row
    assert 'href="02_relu_vs_tanh.html"' in page
    assert "&lt;4x &amp; more&gt;" in page and "<4x" not in page
    assert "table-layout:fixed" in page and page.count("<col ") == len(claims.COLUMNS)
    assert sum(width for _, width in claims.COLUMNS.values()) == 100
    assert claims.VERDICT_COLOURS["reproduced"] in page


def test_every_verdict_has_a_colour():
    assert set(VERDICTS) | {NOT_COMPUTED} == set(claims.VERDICT_COLOURS)


def test_chapter_titles_come_from_the_notebooks():
    assert claims.chapter_title("10_small_data").startswith("Small data")
    assert claims.chapter_title("no_such_chapter") == "no_such_chapter"


def test_records_survive_a_missing_folder(artifacts):
    assert recorded_claims().empty
    assert os.listdir(artifacts) == []  # reading creates nothing
