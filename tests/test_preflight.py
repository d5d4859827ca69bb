"""The build's first seconds: it stops, saying what to install, when Graphviz is missing,
and it picks the execution cache of the profile it builds."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import nbformat
import pytest
import yaml
from conftest import REPO_ROOT, book_extension

preflight = book_extension("preflight")
profile_cache = book_extension("profile_cache")


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


@pytest.mark.parametrize(("environ", "name"), [
    ({}, ".jupyter_cache/default"),
    ({"ALEXNET_PROFILE": ""}, ".jupyter_cache/default"),
    ({"ALEXNET_PROFILE": " Full "}, ".jupyter_cache/full"),
    ({"ALEXNET_PROFILE": "quick"}, ".jupyter_cache/quick"),
    ({"ALEXNET_PROFILE": "full", "ALEXNET_MAX_EPOCHS": "1"}, ".jupyter_cache/full-max1"),
])
def test_each_profile_and_dry_run_has_its_own_execution_cache(environ, name):
    assert profile_cache.cache_folder_name(environ) == name


def test_a_real_build_uses_the_profiles_cache_unless_the_config_names_one(tmp_path):
    """A one-page book with the extension: myst-nb reports the cache it uses."""
    page = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A page"),
                                           nbformat.v4.new_code_cell("print(1)")])
    nbformat.write(page, tmp_path / "intro.ipynb")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    config = {"title": "t", "execute": {"execute_notebooks": "cache"},
              "sphinx": {"local_extensions": {"profile_cache": str(REPO_ROOT / "book" / "_ext")}}}
    env = {**os.environ, "ALEXNET_PROFILE": "full", "ALEXNET_MAX_EPOCHS": "1"}
    for cache, expected in [(None, tmp_path / "_build" / ".jupyter_cache" / "full-max1"),
                            (str(tmp_path / "mine"), tmp_path / "mine")]:
        if cache:
            config["execute"]["cache"] = cache
        (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
        result = subprocess.run(["jupyter-book", "build", str(tmp_path)], env=env,
                                capture_output=True, text=True, timeout=300)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        assert f"Using jupyter-cache at: {expected}" in output, output[-3000:]
        assert (expected / "global.db").is_file(), "the cache was not created"
        # `jupyter-book clean` empties _build but keeps the profiles' caches
        subprocess.run(["jupyter-book", "clean", str(tmp_path)], check=True,
                       capture_output=True, timeout=120)
        assert not (tmp_path / "_build" / "html").exists()
        assert (expected / "global.db").is_file(), f"clean deleted {expected}"
