"""The build stops in its first seconds, saying what to install, when Graphviz is missing."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import time

import pytest
from conftest import REPO_ROOT

# A Sphinx extension lives beside the book, not in a package: load it from its file.
_spec = importlib.util.spec_from_file_location("preflight", REPO_ROOT / "book" / "_ext" / "preflight.py")
preflight = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(preflight)


def test_nothing_is_missing_on_a_machine_set_up_by_the_readme():
    assert preflight.missing_programs() == {}, "install graphviz (apt.txt) to build the book"


def test_a_missing_program_is_reported_with_the_line_that_installs_it(monkeypatch):
    monkeypatch.setattr(preflight.shutil, "which", lambda name: None)
    with pytest.raises(Exception, match="apt-get install graphviz"):
        preflight._check(app=None)


def test_the_real_build_fails_fast_without_dot(tmp_path):
    """jupyter-book build with a PATH that has no `dot`: fails before any chapter executes."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("jupyter-book", "python", "python3"):
        target = shutil.which(program)
        if target:
            (bin_dir / program).symlink_to(target)
    env = {**os.environ, "PATH": str(bin_dir), "ALEXNET_ARTIFACTS": str(tmp_path / "art")}
    start = time.perf_counter()
    result = subprocess.run(["jupyter-book", "build", str(REPO_ROOT), "--path-output",
                             str(tmp_path / "out")], env=env, capture_output=True, text=True,
                            timeout=300)
    seconds = time.perf_counter() - start
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "apt-get install graphviz" in output, output[-3000:]
    assert "Executing notebook" not in output, "a chapter ran before the check"
    assert seconds < 120, f"the build took {seconds:.0f} s to say graphviz is missing"
