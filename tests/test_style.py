"""The Python code of the book lints clean (ruff, configured in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess

from conftest import REPO_ROOT


def test_ruff_passes_on_helpers_scripts_and_tests():
    ruff = shutil.which("ruff")
    assert ruff, "ruff is missing: pip install -r requirements.txt"
    paths = ["book/helpers", "book/_ext", "data_scripts", "tests"]
    result = subprocess.run([ruff, "check", *paths], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
