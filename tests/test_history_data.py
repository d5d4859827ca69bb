"""The small tables of the history chapter: every row has a source, every value is sane.

The reference numbers are the paper's own (abstract, Tables 1 and 2) and the ILSVRC
results pages; a typo in a CSV file fails here before it reaches a figure.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from conftest import BOOK_DIR

DATA = BOOK_DIR / "data"
BIB = (BOOK_DIR / "references.bib").read_text()
BIB_KEYS = set(re.findall(r"^@\w+\{([^,\s]+),", BIB, flags=re.MULTILINE))
NOT_HISTORY = {"paper_claims.csv", "full_profile_claims.csv"}  # the ledger's tables
# measured runs, checked by their own tests (test_figure1_study, test_full_profile_runs)
MEASURED = ("figure1_", "full_profile_", "quick_profile_")
CSV_FILES = sorted(p for p in DATA.glob("*.csv") if p.name not in NOT_HISTORY
                   and not p.name.startswith(MEASURED))


@pytest.fixture(scope="module")
def winners() -> pd.DataFrame:
    return pd.read_csv(DATA / "ilsvrc_winners.csv")


def test_the_data_folder_holds_the_history_tables():
    names = {path.name for path in CSV_FILES}
    assert {"ilsvrc_winners.csv", "human_top5_error.csv", "paper_table1_ilsvrc2010.csv",
            "paper_table2_ilsvrc2012.csv"} <= names


@pytest.mark.parametrize("path", CSV_FILES, ids=lambda p: p.name)
def test_every_row_cites_a_source_in_the_bibliography(path):
    table = pd.read_csv(path)
    assert "source_key" in table.columns, f"{path.name}: add a source_key column (a key of references.bib)"
    missing = table["source_key"].isna()
    assert not missing.any(), f"{path.name}: rows {list(table.index[missing])} have no source"
    unknown = sorted(set(table["source_key"]) - BIB_KEYS)
    assert not unknown, f"{path.name}: source keys not in book/references.bib: {unknown}"


@pytest.mark.parametrize("path", CSV_FILES, ids=lambda p: p.name)
def test_source_urls_are_https_addresses(path):
    table = pd.read_csv(path)
    if "source_url" in table.columns:
        bad = [url for url in table["source_url"] if not str(url).startswith("https://")]
        assert not bad, f"{path.name}: source_url must be an https:// address, got {bad}"


def test_winners_cover_every_year_from_2010_to_2017(winners):
    assert sorted(set(winners["year"])) == list(range(2010, 2018))
    assert winners.groupby("year")["winner"].sum().eq(1).all(), "exactly one winning entry per year"


def test_winners_errors_are_fractions_that_fall_every_year(winners):
    errors = winners["top5_error"]
    assert errors.between(0.0, 1.0).all(), "top5_error is a fraction in [0, 1], not a percentage"
    best = winners[winners["winner"]].sort_values("year")["top5_error"]
    assert best.is_monotonic_decreasing


def test_alexnet_rows_match_the_paper_abstract_and_table_2(winners):
    alexnet = winners[winners["year"] == 2012].set_index("extra_data")["top5_error"]
    table2 = pd.read_csv(DATA / "paper_table2_ilsvrc2012.csv").set_index("model")
    # Abstract: "a winning top-5 test error rate of 15.3%"; Table 2: 5 CNNs 16.4 %, 7 CNNs* 15.3 %.
    assert round(100 * alexnet[True], 1) == 15.3 == table2.loc["7 CNNs*", "top5_error_test"]
    assert round(100 * alexnet[False], 1) == 16.4 == table2.loc["5 CNNs", "top5_error_test"]
    # Abstract: "compared to 26.2% achieved by the second-best entry".
    assert table2.loc["SIFT + FVs", "top5_error_test"] == 26.2


def test_table_1_matches_the_paper_abstract():
    table1 = pd.read_csv(DATA / "paper_table1_ilsvrc2010.csv").set_index("model")
    # Abstract: "top-1 and top-5 error rates of 37.5% and 17.0%".
    assert tuple(table1.loc["CNN", ["top1_error_test", "top5_error_test"]]) == (37.5, 17.0)
    assert (table1["top1_error_test"] > table1["top5_error_test"]).all(), "top-1 error is never below top-5"


def test_table_2_top1_is_above_top5_and_ensembles_beat_single_nets():
    table2 = pd.read_csv(DATA / "paper_table2_ilsvrc2012.csv").set_index("model")
    both = table2.dropna(subset=["top1_error_val", "top5_error_val"])
    assert (both["top1_error_val"] > both["top5_error_val"]).all()
    assert table2.loc["5 CNNs", "top5_error_val"] < table2.loc["1 CNN", "top5_error_val"]
    assert table2.loc["7 CNNs*", "top5_error_val"] < table2.loc["1 CNN*", "top5_error_val"]


def test_human_estimate_is_russakovskys_five_point_one_percent():
    human = pd.read_csv(DATA / "human_top5_error.csv")
    assert len(human) == 1 and human.loc[0, "top5_error"] == pytest.approx(0.051)
    assert human.loc[0, "source_key"] == "russakovsky2015imagenet"
