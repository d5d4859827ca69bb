"""Code on the page and the run context: ``helpers.show``."""

from __future__ import annotations

import pytest
from helpers import show
from helpers.datasets import DataSource
from helpers.optim import PaperSGD, PlateauSchedule
from helpers.show import DRAWN_DATA_WARNING, show_context, show_source, source_of


def test_source_of_a_function_can_leave_out_its_docstring():
    with_doc = source_of(show.source_of)
    without = source_of(show.source_of, skip_docstring=True)
    assert '"""' in with_doc and '"""' not in without
    assert without.startswith("def source_of(") and "inspect.getsource" in without
    assert len(without.splitlines()) < len(with_doc.splitlines())


def test_source_of_a_method_is_dedented_and_a_class_keeps_its_body():
    method = source_of(PaperSGD.update_step, skip_docstring=True)
    assert method.startswith("def update_step(") and "self.l2" in method
    schedule = source_of(PlateauSchedule)
    assert schedule.startswith("@dataclass") and "def update(" in schedule


def test_show_source_renders_python_code_for_every_front_end():
    code = show_source(PaperSGD.update_step, PaperSGD.decays, skip_docstring=True)
    assert "def update_step(" in code.data and "def decays(" in code.data
    assert "highlight" in code._repr_html_()  # pygments markup: the site, Jupyter, Colab


def test_context_of_photographs_prints_no_warning(capsys, monkeypatch):
    shown = []
    monkeypatch.setattr(show, "display", shown.append)
    show_context(DataSource("flowers17", None, True, "Oxford 17 Flowers, 17 classes"))
    assert "data: Oxford 17 Flowers, 17 classes" in capsys.readouterr().out
    assert shown == []


@pytest.mark.parametrize("data", [DataSource("offline", None, False, "drawn shapes")])
def test_context_of_the_drawn_set_shows_a_visible_warning(capsys, monkeypatch, data):
    shown = []
    monkeypatch.setattr(show, "display", shown.append)
    show_context(data)
    assert "drawn shapes" in capsys.readouterr().out
    assert len(shown) == 1 and "admonition warning" in shown[0].data
    assert "not photographs" in shown[0].data and "download_imagenette" in DRAWN_DATA_WARNING


def test_context_without_data_says_so(capsys):
    show_context()
    assert "none (this chapter loads no data set)" in capsys.readouterr().out


def test_a_dry_run_says_so_in_a_visible_warning(capsys, monkeypatch):
    monkeypatch.setenv("ALEXNET_MAX_EPOCHS", "1")
    shown = []
    monkeypatch.setattr(show, "display", shown.append)
    show_context(DataSource("flowers17", None, True, "Oxford 17 Flowers, 17 classes"))
    assert "a dry run: at most 1 epoch(s)" in capsys.readouterr().out
    assert len(shown) == 1 and "A dry run, not the experiment" in shown[0].data
    assert "ALEXNET_MAX_EPOCHS=1 caps every experiment" in shown[0].data
