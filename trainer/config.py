"""Typed configuration of the models and their training.

This is the one definition of every model/training field.  The pipeline
configuration (``pipeline/config.py``) embeds it; the Trainer receives it as
``custom_config`` (a plain dict, see :meth:`TrainingConfig.to_dict`) and turns
it back into this dataclass with :meth:`TrainingConfig.from_dict`, which
validates every field and names the bad one.
"""

import dataclasses
from typing import Optional, Tuple

ARMS = ("learnable_resizer", "bilinear_baseline")
INTERPOLATIONS = ("bilinear", "bicubic", "area", "nearest")
RESIZE_MODES = ("stretch", "pad")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
OPTIMIZERS = ("sgd", "adam")
IMAGE_CACHES = ("memory", "disk")
CUSTOM_CONFIG_KEY = "training"


class ConfigError(ValueError):
    """An invalid configuration value; the message names the field."""

    def __init__(self, field, message):
        super().__init__(f"{field}: {message}")
        self.field = field


def _size(field, value):
    if isinstance(value, int):
        value = (value, value)
    try:
        value = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(field, f"expected an int or (height, width), got {value!r}")
    if len(value) != 2 or min(value) < 1:
        raise ConfigError(field, f"expected two positive ints (height, width), got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Model and training hyperparameters; defaults are the seed example's."""

    arm: str = "learnable_resizer"
    image_size: Tuple[int, int] = (300, 300)     # what Transform resizes to
    target_size: Tuple[int, int] = (150, 150)    # what the backbone sees
    filters: int = 16
    num_res_blocks: int = 1
    interpolation: str = "bilinear"
    num_classes: int = 2
    # Class names in label order; empty means "read them from the examples".
    class_names: Tuple[str, ...] = ()
    batch_size: int = 64
    epochs: int = 5
    # 0 means one pass over the training split per epoch.
    steps_per_epoch: int = 0
    optimizer: str = "sgd"
    learning_rate: float = 0.01
    momentum: float = 0.0
    label_smoothing: float = 0.1
    # Keras' default is 0.99; short runs need faster-moving statistics.
    batchnorm_momentum: float = 0.99
    seed: int = 42
    precision: str = "auto"
    jit_compile: bool = False
    # TensorFlow op determinism: bit-identical reruns on GPUs too (CPU kernels already are).
    deterministic: bool = False
    # Where the decoded training images live: "memory", or "disk" (a memory-mapped temp file).
    image_cache: str = "memory"
    resize_mode: str = "stretch"
    # Evaluation images drawn in the resizer picture.
    picture_images: int = 6

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        set_("image_size", _size("image_size", self.image_size))
        set_("target_size", _size("target_size", self.target_size))
        set_("class_names", tuple(str(n) for n in self.class_names))
        self.validate()

    def validate(self):
        def choice(field, allowed):
            value = getattr(self, field)
            if value not in allowed:
                raise ConfigError(field, f"{value!r} is not one of {', '.join(allowed)}")

        def positive(field, minimum=1):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
                raise ConfigError(field, f"must be a number >= {minimum}, got {value!r}")

        choice("arm", ARMS)
        choice("interpolation", INTERPOLATIONS)
        choice("resize_mode", RESIZE_MODES)
        choice("precision", PRECISIONS)
        choice("optimizer", OPTIMIZERS)
        choice("image_cache", IMAGE_CACHES)
        for field in ("filters", "num_res_blocks", "batch_size", "epochs"):
            positive(field)
        positive("num_classes", 2)
        positive("steps_per_epoch", 0)
        positive("picture_images", 0)
        if not 0 < self.learning_rate:
            raise ConfigError("learning_rate", f"must be > 0, got {self.learning_rate!r}")
        if not 0 <= self.momentum < 1:
            raise ConfigError("momentum", f"must be in [0, 1), got {self.momentum!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError("label_smoothing", f"must be in [0, 1), got {self.label_smoothing!r}")
        if not 0 <= self.batchnorm_momentum < 1:
            raise ConfigError("batchnorm_momentum", f"must be in [0, 1), got {self.batchnorm_momentum!r}")
        if min(self.target_size) < 32:
            raise ConfigError("target_size", f"DenseNet-121 needs at least 32x32, got {self.target_size}")
        if any(t > i for t, i in zip(self.target_size, self.image_size)):
            raise ConfigError(
                "target_size",
                f"{self.target_size} is larger than image_size {self.image_size}: "
                "the resizer downscales",
            )
        if self.class_names and len(self.class_names) != self.num_classes:
            raise ConfigError(
                "class_names",
                f"{len(self.class_names)} names for num_classes={self.num_classes}",
            )

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """A JSON-friendly dict (what TFX's ``custom_config`` carries)."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    def to_custom_config(self, code_fingerprint=""):
        """What the pipeline hands to Transform and Trainer as ``custom_config``.

        ``code_fingerprint`` (a hash of the ``trainer`` package's sources) makes
        TFX's cache notice code changes: module functions are referenced by
        dotted path, so the path alone would not change.
        """
        return {CUSTOM_CONFIG_KEY: self.to_dict(), "code_fingerprint": code_fingerprint}

    @classmethod
    def from_custom_config(cls, custom_config: Optional[dict]):
        custom_config = dict(custom_config or {})
        return cls.from_dict(custom_config.get(CUSTOM_CONFIG_KEY, {}))

    @classmethod
    def from_dict(cls, values: Optional[dict]):
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown field (known: {', '.join(sorted(known))})")
        return cls(**values)


def code_fingerprint(package_dir=None):
    """SHA-256 over the ``trainer`` package's Python sources (sorted by name)."""
    import hashlib
    import os

    package_dir = package_dir or os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for name in sorted(os.listdir(package_dir)):
        if name.endswith(".py"):
            digest.update(name.encode())
            with open(os.path.join(package_dir, name), "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()[:16]
