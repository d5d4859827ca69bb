"""The GitHub workflows are valid (actionlint) and do what the README says."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from conftest import REPO_ROOT, book_extension

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))


def test_the_expected_workflows_exist():
    assert {path.name for path in WORKFLOWS} >= {"tests.yml", "book.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_passes(path):
    actionlint = shutil.which("actionlint")
    assert actionlint, "actionlint is missing: pip install -r requirements.txt"
    result = subprocess.run([actionlint, "-shellcheck=", "-pyflakes=", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_tests_workflow_runs_the_readme_test_command():
    readme = (REPO_ROOT / "README.md").read_text()
    workflow = (REPO_ROOT / ".github" / "workflows" / "tests.yml").read_text()
    ci_script = (REPO_ROOT / ".ci" / "run").read_text()
    command = "python -m pytest"
    assert command in readme and command in workflow and command in ci_script


def test_book_workflow_uses_gpu_label_from_a_variable_and_deploys_pages():
    workflow = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "book.yml").read_text())
    text = (REPO_ROOT / ".github" / "workflows" / "book.yml").read_text()
    assert "vars.GPU_RUNNER" in text
    assert "tensorflow[and-cuda]" in text
    assert "actions/deploy-pages" in text
    assert "_build/html/reports" in text
    assert "us-docker.pkg.dev/colab-images/public/runtime" in text
    assert set(workflow["jobs"]) >= {"build", "deploy", "colab"}


def test_book_workflow_keeps_the_execution_cache_its_profile_uses():
    """book/_ext/profile_cache.py names one cache per profile; the workflow keeps that one."""
    profile_cache = book_extension("profile_cache")
    workflow = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "book.yml").read_text())
    steps = workflow["jobs"]["build"]["steps"]
    path = next(step for step in steps if step.get("name") == "Cache executed notebooks")["with"]["path"]
    for profile in ("quick", "full"):  # the job's ALEXNET_PROFILE is one of the two
        folder = profile_cache.cache_folder_name({"ALEXNET_PROFILE": profile})
        assert path.replace("${{ env.ALEXNET_PROFILE }}", profile) == f"_build/{folder}"


def test_ci_installs_all_backends_and_the_real_photographs():
    ci_script = (REPO_ROOT / ".ci" / "run").read_text()
    assert "requirements-backends.txt" in ci_script and "ALEXNET_ALL_BACKENDS=1" in ci_script
    for archive in ("imagenette2-160.tgz", "17flowers.tgz"):
        assert archive in ci_script and f"{archive}.md5" in ci_script
    assert ci_script.rstrip().splitlines()[-2].strip() == (
        "python -m pip install -r requirements.txt && python -m pytest")


def test_tests_workflow_runs_the_portable_tests_on_every_backend():
    workflow = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "tests.yml").read_text())
    job = workflow["jobs"]["tests"]
    assert job["strategy"]["matrix"]["backend"] == ["tensorflow", "jax", "torch"]
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert "python -m pytest tests/portable" in runs
    assert "--index-url https://download.pytorch.org/whl/cpu" in runs


def test_readers_requirements_install_the_backend_of_the_two_device_chapter():
    """Chapter 07 runs the paper's two-GPU layout in a JAX process: README command 1
    (``pip install -r requirements.txt``) must install JAX, not only CI's extras."""
    from helpers.distribute import TWO_DEVICES_ENV

    lines = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    names = {line.split("==")[0].split("[")[0].strip() for line in lines
             if line.strip() and not line.startswith(("#", "-"))}
    assert TWO_DEVICES_ENV["KERAS_BACKEND"] in names
