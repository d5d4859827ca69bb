"""Where the book keeps data and artefacts: environment variables first, the repository else."""

from __future__ import annotations

from pathlib import Path

from helpers.paths import BOOK_DATA, REPO_ROOT, artifacts_root, data_root


def test_the_environment_moves_both_folders(monkeypatch, tmp_path):
    monkeypatch.setenv("ALEXNET_DATA", str(tmp_path / "photos"))
    monkeypatch.setenv("ALEXNET_ARTIFACTS", str(tmp_path / "runs"))
    assert data_root() == tmp_path / "photos" and artifacts_root() == tmp_path / "runs"


def test_without_the_environment_both_live_in_the_repository(monkeypatch):
    monkeypatch.delenv("ALEXNET_DATA", raising=False)
    monkeypatch.delenv("ALEXNET_ARTIFACTS", raising=False)
    assert data_root() == REPO_ROOT / "data" and artifacts_root() == REPO_ROOT / "_artifacts"
    assert (REPO_ROOT / "_config.yml").is_file()


def test_the_book_tables_are_found_from_any_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert BOOK_DATA.is_absolute() and (BOOK_DATA / "paper_claims.csv").is_file()
    assert Path.cwd() == tmp_path
