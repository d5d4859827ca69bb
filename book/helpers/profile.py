"""Runtime profiles: one setting decides how big every experiment in the book is.

``ALEXNET_PROFILE=quick`` runs every chapter in minutes on a laptop CPU (small
images, small subsets, few epochs); ``ALEXNET_PROFILE=full`` runs the experiments
the way the paper did, which wants a GPU. Unset, the profile is ``full`` when the
Keras backend sees a GPU and ``quick`` otherwise.

Every chapter prints its profile, device and data first (``helpers.show.show_context``);
checked by ``tests/portable/test_profile.py``. ``ALEXNET_MAX_EPOCHS`` (``epoch_cap``)
makes a dry run, with which ``tests/test_full_profile_dry_run.py`` executes every
chapter in the full profile on a CPU.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

PROFILE_VARIABLE = "ALEXNET_PROFILE"
PRECISION_VARIABLE = "ALEXNET_PRECISION"
EPOCH_CAP_VARIABLE = "ALEXNET_MAX_EPOCHS"
PROFILE_NAMES = ("quick", "full")


@dataclass(frozen=True)
class ExperimentSettings:
    """How large one experiment runs.

    ``image_size`` is the side of the (square) network input in pixels;
    ``subset_size`` the number of training images used (``None``: all of them);
    ``batch_size`` and ``epochs`` are what the optimiser sees; ``model_variant`` and
    ``learning_rate`` say which AlexNet (``helpers.model.build_alexnet``) trains and how
    fast it starts, for the experiments that train one.
    """

    image_size: int
    subset_size: int | None
    batch_size: int
    epochs: int
    model_variant: str = "paper"
    learning_rate: float = 0.01  # §5


def _frozen(settings: dict[str, ExperimentSettings]) -> MappingProxyType:
    return MappingProxyType(dict(settings))


# One entry per experiment of the book. The full profile follows the paper
# (§3.5, §4: 224/227-pixel crops, batch 128, about 90 epochs); the quick profile
# keeps each chapter within minutes on two CPU cores.
_SETTINGS: dict[str, Mapping[str, ExperimentSettings]] = {
    "quick": _frozen({
        # Figure 1: a subset memorised to 25% training error within the epochs
        "relu_vs_tanh": ExperimentSettings(image_size=32, subset_size=500,
                                           batch_size=32, epochs=30),
        # §4.2: long enough for the run with dropout to reach 25% training error
        "dropout": ExperimentSettings(image_size=32, subset_size=500, batch_size=32,
                                      epochs=40),
        # 06: the training size, so that 08 and 09 reuse the decoded images
        "data": ExperimentSettings(image_size=67, subset_size=None, batch_size=128,
                                   epochs=1),
        # 08: the paper's N(0, 0.01) network does not leave chance within a few CPU
        # epochs (these settings on all the images: 9.9% validation top-1 after four,
        # book/data/quick_profile_paper.*, shown in 08); the modern variant (batch
        # norm, He init) at batch 64 with helpers.train.profile_recipe's warm-up passed
        # 60% in 4 epochs (measured)
        "alexnet": ExperimentSettings(image_size=67, subset_size=None, batch_size=64,
                                      epochs=4, model_variant="modern",
                                      learning_rate=0.01),
        # 09: fc7 neighbours among 2,000 training images; inference in batches of 250
        "evaluation": ExperimentSettings(image_size=67, subset_size=2_000,
                                         batch_size=250, epochs=1),
        # 08 trains the annotated original's set-ups for whole epochs only in the full
        # profile (below); every profile names the same experiments
        "comparison": ExperimentSettings(image_size=67, subset_size=640, batch_size=64,
                                         epochs=3, model_variant="modern"),
        # python -m helpers.ablation; not run in the quick build (see 08)
        "ablation": ExperimentSettings(image_size=67, subset_size=2_000, batch_size=64,
                                       epochs=10),
        # Oxford 17 Flowers (all 1,088 training images), four runs; 08's recipe (batch
        # 64, learning rate 0.01 after a one-epoch warm-up): eight epochs open the gap
        "small_data": ExperimentSettings(image_size=67, subset_size=None, batch_size=64,
                                         epochs=8, model_variant="modern",
                                         learning_rate=0.01),
    }),
    "full": _frozen({
        "relu_vs_tanh": ExperimentSettings(image_size=32, subset_size=None,
                                           batch_size=32, epochs=40),
        "dropout": ExperimentSettings(image_size=32, subset_size=None, batch_size=32,
                                      epochs=60),
        "data": ExperimentSettings(image_size=227, subset_size=None, batch_size=128,
                                   epochs=1),
        "alexnet": ExperimentSettings(image_size=227, subset_size=None, batch_size=128,
                                      epochs=90),
        "evaluation": ExperimentSettings(image_size=227, subset_size=None,
                                         batch_size=128, epochs=1),
        "comparison": ExperimentSettings(image_size=227, subset_size=None,
                                         batch_size=128, epochs=30),
        "ablation": ExperimentSettings(image_size=227, subset_size=None, batch_size=128,
                                       epochs=30),
        # 1,088 images: 17 steps of 64 an epoch; the modern variant, as tutorials do
        "small_data": ExperimentSettings(image_size=227, subset_size=None,
                                         batch_size=64, epochs=30,
                                         model_variant="modern", learning_rate=0.01),
    }),
}


@dataclass(frozen=True)
class Profile:
    """A named set of experiment sizes; ``profile["alexnet"].epochs`` and so on.

    ``epoch_cap``: at most that many epochs per experiment (a dry run), else ``None``.
    """

    name: str
    experiments: Mapping[str, ExperimentSettings] = field(repr=False)
    epoch_cap: int | None = None

    def __getitem__(self, experiment: str) -> ExperimentSettings:
        try:
            return self.experiments[experiment]
        except KeyError:
            known = ", ".join(sorted(self.experiments))
            raise KeyError(f"profile {self.name!r} has no experiment {experiment!r}; "
                           f"known: {known}") from None


def accelerator_names() -> list[str]:
    """Names of the GPUs (or TPUs) the Keras backend computes on; empty on a CPU."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        devices = tf.config.list_physical_devices()
        return [d.name for d in devices if d.device_type in ("GPU", "TPU")]
    if backend == "jax":
        import jax

        return [f"{d.device_kind} ({d})" for d in jax.devices() if d.platform != "cpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i)
                for i in range(torch.cuda.device_count())]
    return []


def epoch_cap() -> int | None:
    """``$ALEXNET_MAX_EPOCHS`` as a whole number, or ``None`` when it is unset.

    A dry run: ``ALEXNET_PROFILE=full ALEXNET_MAX_EPOCHS=1`` runs every code path of
    the full profile (its image sizes, batches and models) with one epoch each, so a
    CPU finds what would fail on a GPU before the GPU's hours are spent.
    """
    text = os.environ.get(EPOCH_CAP_VARIABLE, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{EPOCH_CAP_VARIABLE}={text!r} is not a number of epochs; "
                         f"use a whole number from 1, e.g. {EPOCH_CAP_VARIABLE}=1, "
                         f"or unset it")
    return int(text)


def get_profile(name: str | None = None) -> Profile:
    """The profile named by ``name``, else by ``$ALEXNET_PROFILE``, else by the device.

    With ``$ALEXNET_MAX_EPOCHS`` set (``epoch_cap``), no experiment trains longer.

    Raises ``ValueError`` for an unknown name, saying which names exist.
    """
    chosen = name or os.environ.get(PROFILE_VARIABLE, "").strip().lower()
    if not chosen:
        chosen = "full" if accelerator_names() else "quick"
    if chosen not in _SETTINGS:
        raise ValueError(
            f"unknown profile {chosen!r} (from {PROFILE_VARIABLE} or the argument); "
            f"use one of {', '.join(PROFILE_NAMES)}, e.g. {PROFILE_VARIABLE}=quick"
        )
    cap = epoch_cap()
    experiments = _SETTINGS[chosen] if cap is None else _frozen({
        experiment: replace(settings, epochs=min(settings.epochs, cap))
        for experiment, settings in _SETTINGS[chosen].items()})
    return Profile(name=chosen, experiments=experiments, epoch_cap=cap)


def cpu_has_bfloat16_units() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (Intel AMX, Linux)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return any(line.startswith("flags") and " amx_bf16" in line
                       for line in cpuinfo)
    except OSError:
        return False


def training_precision() -> str:
    """The Keras dtype policy AlexNet trains under here (``helpers.train``).

    ``mixed_float16`` on a GPU; ``mixed_bfloat16`` on a CPU with bfloat16 matrix units
    and the TensorFlow backend (oneDNN uses them: about 1.3 times the training speed);
    ``float32`` elsewhere. ``ALEXNET_PRECISION`` overrides it (e.g. ``float32``).
    """
    import keras

    chosen = os.environ.get(PRECISION_VARIABLE, "").strip()
    if chosen:
        return chosen
    if accelerator_names():
        return "mixed_float16"
    if keras.backend.backend() == "tensorflow" and cpu_has_bfloat16_units():
        return "mixed_bfloat16"
    return "float32"


def device_description() -> str:
    """One line naming where Keras computes: the accelerators, else the CPU."""
    accelerators = accelerator_names()
    if accelerators:
        return f"{len(accelerators)} accelerator(s): {', '.join(accelerators)}"
    return f"CPU ({os.cpu_count()} cores, {platform.machine()})"


def backend_version() -> str:
    """The Keras backend and its engine's version, e.g. ``jax 0.10.2``."""
    import keras

    backend = keras.backend.backend()
    engine = {"torch": "torch", "jax": "jax"}.get(backend, "tensorflow")
    return f"{backend} {importlib.metadata.version(engine)}"


def machine_record() -> dict[str, str]:
    """Where and when a measurement ran, for the files that keep it: device, Keras and
    its backend, Python, the date (UTC)."""
    import keras

    now = datetime.datetime.now(datetime.UTC)
    return {"device": device_description(),
            "backend": f"keras {keras.__version__}, {backend_version()}",
            "python": platform.python_version(),
            "date": now.strftime("%Y-%m-%d %H:%M UTC")}


def describe(data: str = "none (this chapter loads no data set)",
             profile: Profile | None = None) -> str:
    """The run context every chapter prints first: profile, device, versions, data.

    ``data`` names the data set the chapter runs on, as the data helpers describe it
    (``DataSource.description``). ``helpers.show.show_context`` prints it.
    """
    import keras

    profile = profile or get_profile()
    cap = (f"; a dry run: at most {profile.epoch_cap} epoch(s) per experiment "
           f"({EPOCH_CAP_VARIABLE})" if profile.epoch_cap else "")
    lines = {
        "profile": f"{profile.name} (set {PROFILE_VARIABLE}=quick|full to change){cap}",
        "device": f"{device_description()}; AlexNet trains in {training_precision()}",
        "versions": f"Keras {keras.__version__}, backend {backend_version()}, "
                    f"Python {platform.python_version()}",
        "data": data,
    }
    return "\n".join(f"{key:>8}: {value}" for key, value in lines.items())
