"""The runtime profile: chosen by ALEXNET_PROFILE or the device, one object of sizes."""

from __future__ import annotations

import keras
import pytest
from helpers import profile as profile_module
from helpers.profile import PROFILE_NAMES, describe, get_profile


def test_environment_variable_chooses_the_profile(monkeypatch):
    monkeypatch.setenv("ALEXNET_PROFILE", "full")
    assert get_profile().name == "full"
    monkeypatch.setenv("ALEXNET_PROFILE", " Quick ")
    assert get_profile().name == "quick"


def test_argument_overrides_environment(monkeypatch):
    monkeypatch.setenv("ALEXNET_PROFILE", "full")
    assert get_profile("quick").name == "quick"


@pytest.mark.parametrize("gpus, expected", [([], "quick"), (["GPU 0"], "full")])
def test_default_follows_the_device(monkeypatch, gpus, expected):
    monkeypatch.delenv("ALEXNET_PROFILE", raising=False)
    monkeypatch.setattr(profile_module, "accelerator_names", lambda: gpus)
    assert get_profile().name == expected


def test_this_machine_has_no_accelerator_or_names_it():
    names = profile_module.accelerator_names()
    assert isinstance(names, list) and all(isinstance(name, str) for name in names)


def test_unknown_profile_says_what_to_use(monkeypatch):
    monkeypatch.setenv("ALEXNET_PROFILE", "turbo")
    with pytest.raises(ValueError, match="use one of quick, full"):
        get_profile()


def test_both_profiles_size_the_same_experiments():
    quick, full = (get_profile(name) for name in PROFILE_NAMES)
    assert set(quick.experiments) == set(full.experiments)
    for experiment in quick.experiments:
        small, large = quick[experiment], full[experiment]
        assert small.image_size <= large.image_size
        assert small.epochs <= large.epochs
        assert (small.subset_size or 10**9) <= (large.subset_size or 10**9)


def test_full_profile_follows_the_paper():
    alexnet = get_profile("full")["alexnet"]
    assert (alexnet.image_size, alexnet.batch_size) == (227, 128)  # §3.5, §4
    assert alexnet.model_variant == "paper" and alexnet.learning_rate == 0.01  # §5


def test_unknown_experiment_lists_known_ones():
    with pytest.raises(KeyError, match="alexnet"):
        get_profile("quick")["alexnett"]


def test_describe_names_profile_device_backend_and_data(monkeypatch):
    monkeypatch.setenv("ALEXNET_PROFILE", "quick")
    text = describe(data="Oxford 17 Flowers")
    fields = dict(line.strip().split(": ", 1) for line in text.splitlines())
    assert fields["profile"].startswith("quick")
    assert fields["device"].startswith(("CPU", "1 accelerator", "2 accelerator"))
    assert f"backend {keras.backend.backend()} " in fields["versions"]
    assert f"Keras {keras.__version__}" in fields["versions"]
    assert fields["data"] == "Oxford 17 Flowers"


def test_training_precision_follows_the_device_and_the_variable(monkeypatch):
    monkeypatch.delenv("ALEXNET_PRECISION", raising=False)
    monkeypatch.setattr(profile_module, "accelerator_names", lambda: ["GPU 0"])
    assert profile_module.training_precision() == "mixed_float16"
    monkeypatch.setattr(profile_module, "accelerator_names", lambda: [])
    monkeypatch.setattr(profile_module, "cpu_has_bfloat16_units", lambda: True)
    expected = "mixed_bfloat16" if keras.backend.backend() == "tensorflow" else "float32"
    assert profile_module.training_precision() == expected
    monkeypatch.setattr(profile_module, "cpu_has_bfloat16_units", lambda: False)
    assert profile_module.training_precision() == "float32"
    monkeypatch.setenv("ALEXNET_PRECISION", "float32")
    monkeypatch.setattr(profile_module, "cpu_has_bfloat16_units", lambda: True)
    assert profile_module.training_precision() == "float32"


def test_the_bfloat16_check_reads_the_cpu_flags():
    with open("/proc/cpuinfo") as cpuinfo:
        flags = next((line for line in cpuinfo if line.startswith("flags")), "")
    assert profile_module.cpu_has_bfloat16_units() == (" amx_bf16" in flags)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_an_epoch_cap_shortens_every_experiment_and_nothing_else(monkeypatch, name):
    uncapped = get_profile(name)
    monkeypatch.setenv("ALEXNET_MAX_EPOCHS", "2")
    capped = get_profile(name)
    assert capped.epoch_cap == 2 and uncapped.epoch_cap is None
    for experiment, settings in uncapped.experiments.items():
        short = capped[experiment]
        assert short.epochs == min(settings.epochs, 2)
        assert (short.image_size, short.batch_size, short.subset_size,
                short.model_variant) == (settings.image_size, settings.batch_size,
                                         settings.subset_size, settings.model_variant)
    assert "a dry run: at most 2 epoch(s)" in describe(profile=capped)
    assert "dry run" not in describe(profile=uncapped)


@pytest.mark.parametrize("text", ["0", "-1", "one", "1.5"])
def test_a_bad_epoch_cap_says_what_to_use(monkeypatch, text):
    monkeypatch.setenv("ALEXNET_MAX_EPOCHS", text)
    with pytest.raises(ValueError, match="ALEXNET_MAX_EPOCHS=1, or unset it"):
        get_profile("full")
