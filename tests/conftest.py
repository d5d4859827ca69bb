"""Fixtures shared by the tests: the repository's paths and one executed build of the book."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from types import ModuleType

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
BOOK_DIR = REPO_ROOT / "book"
# The browser of the site tests (test_site.py): Debian's Chromium by default; CHROMIUM_PATH names
# another (GitHub's runners ship Google Chrome).
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))


def missing_browser() -> str | None:
    """Why the site tests cannot drive a browser, with the line that installs what is missing; None if they can."""
    if not CHROMIUM.exists():
        return (f"{CHROMIUM} is missing: install Debian's browser with `apt-get install chromium` (.ci/run does "
                "this when it runs as root), or name another Chromium or Chrome in CHROMIUM_PATH")
    if importlib.util.find_spec("playwright") is None:
        return "Playwright's Python package is missing: `python -m pip install -r requirements.txt`"
    return None


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected what they leave out
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stop in the session's first seconds, not after the book build, when the selected tests include the site
    tests and no browser can run them."""
    problem = missing_browser() if any(item.get_closest_marker("browser") for item in items) else None
    if problem:
        pytest.exit(f"the site tests need a browser. {problem}. (To run the other tests without it: "
                    "python -m pytest -m 'not browser'.)", returncode=pytest.ExitCode.TESTS_FAILED)


@pytest.fixture()
def isolated_folders(tmp_path, monkeypatch) -> Path:
    """The data and artefact folders under ``tmp_path``, downloads off; returns the data folder."""
    monkeypatch.setenv("ALEXNET_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ALEXNET_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("ALEXNET_DOWNLOAD", "0")
    return tmp_path / "data"


def book_extension(name: str) -> ModuleType:
    """A Sphinx extension of ``book/_ext`` (beside the book, not in a package), loaded from its file."""
    spec = importlib.util.spec_from_file_location(name, BOOK_DIR / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chapter_notebooks() -> list[Path]:
    """The chapters listed in ``_toc.yml`` that are notebooks, in reading order."""
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    files = [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]
    return [REPO_ROOT / f"{file}.ipynb" for file in files if (REPO_ROOT / f"{file}.ipynb").exists()]


def record_build_times(log: str, total_seconds: float) -> Path:
    """Write each chapter's execution time and the whole build's to test-artifacts/."""
    rows = re.findall(r"book/(\S+)\.ipynb: Executed notebook in ([\d.]+) seconds", log)
    path = REPO_ROOT / "test-artifacts" / "book-build-times.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["chapter,seconds"] + [f"{name},{seconds}" for name, seconds in rows]
    path.write_text("\n".join([*lines, f"whole build,{total_seconds:.1f}"]) + "\n")
    return path


@pytest.fixture(scope="session")
def built_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the whole book once per test session, executing every chapter afresh.

    The build uses the quick profile, ``execute_notebooks: force`` (as CI does) and
    ``-W`` so that any warning or failing cell fails it. Training artefacts go to a
    temporary folder so that nothing a reader left behind is reused. Returns the
    folder holding the HTML site.
    """
    out = tmp_path_factory.mktemp("book")
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "force"
    # The copied configuration lives elsewhere: make its local paths absolute.
    extensions = config["sphinx"].get("local_extensions", {})
    config["sphinx"]["local_extensions"] = {name: str(REPO_ROOT / path) for name, path in extensions.items()}
    config_path = out / "_config.yml"
    config_path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "ALEXNET_PROFILE": "quick", "ALEXNET_ARTIFACTS": str(out / "artifacts")}
    command = [
        shutil.which("jupyter-book") or "jupyter-book", "build", str(REPO_ROOT),
        "--config", str(config_path), "--path-output", str(out), "-W", "--keep-going",
    ]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    log = out / "build.log"
    log.write_text(result.stdout + "\n" + result.stderr)
    record_build_times(result.stdout + result.stderr, time.perf_counter() - start)
    if result.returncode != 0:
        pytest.fail(f"the book build failed (exit {result.returncode}); log in {log}:\n"
                    f"{result.stdout[-6000:]}\n{result.stderr[-4000:]}")
    return out / "_build" / "html"
