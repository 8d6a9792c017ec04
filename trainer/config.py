"""Typed configuration of the models and their training, as frozen pydantic models.

Each field is declared once, with its type, default, bounds and a one-line
help (``description``).  The pipeline configuration (``pipeline/config.py``)
embeds :class:`TrainingConfig`; Transform gets it as ``custom_config`` and each
Trainer an :class:`ArmConfig` (the same fields plus the arm the pipeline
assigns it), both in their JSON form (:meth:`ConfigModel.to_dict`), read back
with :meth:`ConfigModel.from_dict`.  An invalid value raises
:class:`ConfigError` naming the field (``training.batch_size: must be >= 1, got 0``).

Why pydantic: one library gives typed fields with bounds and help, validation
errors located by field path, and the JSON round trip; simple-parsing would
still need hand-written validation.

This module must not import ``pipeline/`` or ``components/``: it runs inside
TFX executors, Beam workers and Kubeflow containers.
"""

import json
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from trainer import backbone_registry, contract

Arm = Literal[contract.ALL_ARMS]
FixedArm = Literal[contract.FIXED_ARMS]
Interpolation = Literal["bilinear", "bicubic", "area", "nearest"]
ResizeMode = Literal["stretch", "pad"]
Precision = Literal["auto", "float32", "mixed_float16", "mixed_bfloat16"]
Optimizer = Literal["sgd", "adam"]
ImageCache = Literal["auto", "memory", "disk"]
TrainingProcess = Literal["child", "same"]
Backbone = Literal[tuple(backbone_registry.BACKBONES)]
BackboneInput = Literal["auto", "unit", "imagenet"]

INTERPOLATIONS = get_args(Interpolation)
RESIZE_MODES = get_args(ResizeMode)
IMAGE_CACHES = get_args(ImageCache)
BACKBONES = get_args(Backbone)

# The smallest height and width each backbone accepts.
BACKBONE_MIN_SIZES = {name: spec.min_side for name, spec in backbone_registry.BACKBONES.items()}
# What keras.Model.load_weights reads.
WEIGHTS_FILE_SUFFIXES = (".weights.h5", ".weights.json", ".keras", ".h5", ".hdf5")


class ConfigError(ValueError):
    """An invalid configuration value; its message is ``<field>: <message>``.

    Args:
        field: the value's dotted path (``training.epochs``).
        message: what is wrong with it, in words.
    """

    def __init__(self, field, message):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def __reduce__(self):  # pickled with its two arguments: a Trainer's child process sends it back
        return type(self), (self.field, self.message)


# --- pydantic errors -> ConfigError ---------------------------------------------------------------

def _dotted(loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _describe(error: dict) -> str:
    """A short message in the project's words for one pydantic error."""
    kind, ctx, got = error["type"], error.get("ctx") or {}, error.get("input")
    bounds = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"),
              "less_than_equal": ("<=", "le"), "less_than": ("<", "lt")}
    if kind in bounds:
        sign, key = bounds[kind]
        return f"must be {sign} {ctx[key]}, got {got!r}"
    if kind == "literal_error":
        return f"{got!r} is not one of {ctx['expected'].replace(' or ', ', ')}"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "is required"
    if kind == "string_pattern_mismatch":
        return f"{got!r} does not match {ctx['pattern']}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "value_error":
        return str(ctx["error"])
    expected = {"int": "an integer", "float": "a number", "bool": "true or false"}.get(kind.split("_")[0])
    if expected and kind.endswith(("_parsing", "_type", "_from_float")):
        return f"must be {expected}, got {got!r}"
    return f"{error['msg'][0].lower()}{error['msg'][1:]}, got {got!r}"


def config_error(error: ValidationError) -> ConfigError:
    """The first of pydantic's errors as a :class:`ConfigError` with the field's dotted path.

    Args:
        error: pydantic's ValidationError.

    Returns:
        The :class:`ConfigError` (a cross-field check's own ConfigError keeps its message, under its path).
    """
    first = error.errors()[0]
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, ConfigError):  # raised by a cross-field check inside a (nested) model
        field = _dotted(tuple(first["loc"]) + (cause.field,))
        return ConfigError(field, cause.message)
    return ConfigError(_dotted(first["loc"]) or "config", _describe(first))


class ConfigModel(BaseModel):
    """The base of every configuration model: frozen, no unknown fields, :class:`ConfigError` on bad values.

    Raises:
        ConfigError: (when made) the first invalid value, naming its field, instead of pydantic's
            ValidationError.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    def __init__(self, **values):
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise config_error(error) from None

    @classmethod
    def from_dict(cls, values: dict | None):
        """Validates ``values`` (e.g. :meth:`to_dict`'s output, or JSON) into this model."""
        try:
            return cls.model_validate(dict(values or {}))
        except ValidationError as error:
            raise config_error(error) from None

    def to_dict(self) -> dict:
        """The JSON form: what ``custom_config`` and the Kubeflow RuntimeConfig step carry."""
        return self.model_dump(mode="json")

    def replace(self, **changes):
        """A validated copy with ``changes``."""
        return type(self).from_dict({**self.model_dump(), **changes})


# --- field types that also read their command-line form ----------------------------------------

def _listed(value: Any) -> Any:
    """``"a,b"`` (command line) or a JSON list string -> a list; anything else as it is."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"cannot parse {value!r} as a JSON list: {error}") from None
    return [item.strip() for item in text.split(",") if item.strip()]


def _size(value: Any) -> Any:
    value = _listed(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    return value


def json_object(value: Any) -> Any:
    """A JSON object string (command line) -> a dict; anything else as it is.

    Raises:
        ValueError: a string that is no JSON.
    """
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(f"cannot parse {value!r} as a JSON object: {error}") from None


# (height, width); "300,300" or 300 on the command line.
Size = Annotated[tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]], BeforeValidator(_size)]
# "a,b" or a JSON list on the command line.
Strings = Annotated[tuple[str, ...], BeforeValidator(_listed)]
# Arm names, "learnable_resizer,muller" on the command line.
Arms = Annotated[tuple[Arm, ...], BeforeValidator(_listed)]
# Positive integers, "8,16,32" on the command line.
PositiveInts = Annotated[tuple[Annotated[int, Field(ge=1)], ...], BeforeValidator(_listed)]


class MullerConfig(ConfigModel):
    """MULLER's settings (Tu, Milanfar & Talebi 2023; the reference code's defaults): ``training.muller``."""

    layers: int = Field(2, ge=1, description="Laplacian layers, each with one learned weight and bias")
    kernel_size: int = Field(5, ge=3, description="side of the Gaussian blur kernel (odd)")
    sigma: float = Field(1.0, gt=0, description="standard deviation of the Gaussian blur, in pixels")

    @model_validator(mode="after")
    def _odd_kernel(self):
        if self.kernel_size % 2 == 0:
            raise ConfigError("kernel_size", f"must be odd, got {self.kernel_size}")
        return self


# --- the configuration ------------------------------------------------------------------------------

class TrainingConfig(ConfigModel):
    """Model and training hyperparameters (``training.*``); defaults are the seed example's.

    The pipeline configuration embeds it; Transform reads the part :meth:`transform_custom_config` hands it,
    every Trainer an :class:`ArmConfig` made by :meth:`for_arm`.  Each field's ``description`` is its
    command-line help.
    """

    image_size: Size = Field((300, 300), description="height,width Transform resizes every image to")
    target_size: Size = Field((150, 150), description="height,width the backbone sees (the resizers' output)")
    backbone: Backbone = Field(
        "densenet121", description="the model behind the resizing stage: a keras.applications model, or "
                                   "small_convnet (4 blocks, for smoke tests, not for results)")
    backbone_weights: str = Field(
        "", description="Keras weights file of the backbone without its top (include_top=False): .weights.h5, "
                        ".keras or .h5; empty: random initial weights (seeded)")
    backbone_input: BackboneInput = Field(
        "auto", description="what the backbone is fed: unit: [0, 1] images (the seed's); imagenet: its "
                            "keras.applications preprocess_input; auto: imagenet with backbone_weights, else unit")
    candidates: Arms = Field(
        contract.DEFAULT_CANDIDATES,
        description="the candidate arms, each compared with the baseline: learnable_resizer, muller, or a fixed "
                    "resize (bilinear_antialias, lanczos3_antialias, bicubic, area, bilinear_baseline)")
    baseline: FixedArm = Field(contract.DEFAULT_BASELINE,
                               description="the arm every candidate is compared with (a fixed resize)")
    filters: int = Field(16, ge=1, description="channels inside the learnable resizer")
    num_res_blocks: int = Field(1, ge=1, description="residual blocks in the learnable resizer")
    interpolation: Interpolation = Field("bilinear", description="the learnable resizer's inner resize method")
    muller: MullerConfig = Field(default_factory=MullerConfig, description="the MULLER arm's settings")
    num_classes: int = Field(2, ge=2, description="number of classes")
    class_names: Strings = Field((), description="class names in label order (a,b); empty: read from the examples")
    batch_size: int = Field(64, ge=1, description="images per training step")
    epochs: int = Field(5, ge=1, description="training epochs")
    steps_per_epoch: int = Field(0, ge=0, description="steps per epoch; 0: one pass over the training split")
    optimizer: Optimizer = Field("sgd", description="the optimizer")
    learning_rate: float = Field(0.01, gt=0, description="the optimizer's learning rate")
    momentum: float = Field(0.0, ge=0, lt=1, description="SGD momentum")
    label_smoothing: float = Field(0.1, ge=0, lt=1, description="label smoothing of the cross-entropy loss")
    batchnorm_momentum: float = Field(
        0.99, ge=0, lt=1, description="momentum of every BatchNorm layer (short runs need less than Keras' 0.99)")
    precise_batchnorm: bool = Field(
        False, description="after training, set every BatchNorm layer's moving statistics to the training split's "
                           "population statistics under the trained weights (PreciseBN, Wu & Johnson 2021): one "
                           "forward pass over the split; short runs' moving averages still hold earlier weights'")
    warm_start_epochs: int = Field(
        0, ge=0, description="the paper's control experiment: epochs of the bilinear baseline trained first; both "
                             "arms then continue from its backbone and head for `epochs` more (0: both from scratch)")
    seed: int = Field(42, description="seed of the initial weights and the data order (the same for every arm)")
    precision: Precision = Field("auto", description="auto: mixed_float16 on GPUs, float32 on CPUs")
    jit_compile: bool = Field(False, description="compile the training step with XLA")
    deterministic: bool = Field(
        False, description="TensorFlow op determinism: bit-identical reruns on GPUs too (CPU runs already are)")
    image_cache: ImageCache = Field(
        "auto", description="where decoded training images live: memory, disk (memory-mapped), or auto: the "
                            "pipeline's decoded images memory-mapped where they lie; images decoded in the "
                            "Trainer in memory when a split takes at most half of the memory available")
    process: TrainingProcess = Field(
        "child", description="child: each Trainer trains in a fresh Python process of its own, whose memory "
                             "(TensorFlow's pool) goes back to the system when it ends (about 5 s to start); "
                             "same: in the Trainer component's process (a local run keeps what it took)")
    resize_mode: ResizeMode = Field(
        "stretch", description="stretch: plain resize to image_size; pad: keep the aspect ratio, pad with black")
    picture_images: int = Field(6, ge=0, description="evaluation images drawn in the resizer picture")

    @model_validator(mode="after")
    def _fields_agree(self):
        smallest = BACKBONE_MIN_SIZES[self.backbone]
        if min(self.target_size) < smallest:
            raise ConfigError("target_size", f"backbone {self.backbone} needs at least {smallest}x{smallest}, "
                                             f"got {self.target_size}")
        if self.backbone_weights and not self.backbone_weights.endswith(WEIGHTS_FILE_SUFFIXES):
            raise ConfigError("backbone_weights", f"{self.backbone_weights!r} is no Keras weights file (one of "
                                                  f"{', '.join(WEIGHTS_FILE_SUFFIXES)})")
        if any(t > i for t, i in zip(self.target_size, self.image_size)):
            raise ConfigError("target_size", f"{self.target_size} is larger than image_size {self.image_size}: "
                                             "the resizer downscales")
        if self.class_names and len(self.class_names) != self.num_classes:
            raise ConfigError("class_names", f"{len(self.class_names)} names for num_classes={self.num_classes}")
        if not self.candidates:
            raise ConfigError("candidates", "needs at least one candidate arm")
        repeated = sorted({arm for arm in self.candidates if self.candidates.count(arm) > 1})
        if repeated:
            raise ConfigError("candidates", f"lists {', '.join(repeated)} more than once")
        if self.baseline in self.candidates:
            raise ConfigError("candidates", f"{self.baseline} is the baseline; a candidate must be another arm")
        return self

    @property
    def arms(self) -> tuple[str, ...]:
        """Every arm this configuration trains: the baseline first, then the candidates in their order."""
        return (self.baseline, *self.candidates)

    def for_arm(self, arm: str) -> "ArmConfig":
        """What the Trainer of ``arm`` runs with."""
        return ArmConfig.from_dict({**self.model_dump(), "arm": arm})

    def warm_start_custom_config(self, code_fingerprint: str = "") -> dict:
        """The control experiment's first Trainer: the baseline arm for ``warm_start_epochs`` epochs."""
        first = self.model_copy(update={"epochs": self.warm_start_epochs, "warm_start_epochs": 0})
        return {**first.for_arm(self.baseline).to_custom_config(code_fingerprint),
                contract.WARM_START_SOURCE_KEY: True}

    def to_custom_config(self, code_fingerprint: str = "") -> dict:
        """What the pipeline hands to Transform and a Trainer as ``custom_config``.

        ``code_fingerprint`` (a hash of the ``trainer`` package's sources) makes
        TFX's cache notice code changes: module functions are referenced by
        dotted path, so the path alone would not change.
        """
        return {contract.TRAINING_CONFIG_KEY: self.to_dict(), contract.CODE_FINGERPRINT_KEY: code_fingerprint}

    def transform_custom_config(self, code_fingerprint: str = "") -> dict:
        """Transform's ``custom_config``: only what ``preprocessing_fn`` reads.

        So that changing a training setting (the seed of a sweep, epochs) keeps
        Transform's cached output.
        """
        # target_size only so the partial config validates (it must not exceed image_size).
        fields = {"image_size": list(self.image_size), "target_size": list(self.target_size),
                  "resize_mode": self.resize_mode}
        return {contract.TRAINING_CONFIG_KEY: fields, contract.CODE_FINGERPRINT_KEY: code_fingerprint}

    @classmethod
    def from_custom_config(cls, custom_config: dict | None):
        """Validates the ``training`` entry of a Transform's or Trainer's ``custom_config`` (empty: defaults)."""
        return cls.from_dict(dict(custom_config or {}).get(contract.TRAINING_CONFIG_KEY, {}))


class TuningConfig(ConfigModel):
    """The hyperparameter search: TFX's Tuner with KerasTuner's random search, one Tuner per arm.

    Each arm's Tuner fits ``trials`` models on the train split for ``epochs`` epochs each and ranks them by
    their loss on the validation split (never test); the Trainer of that arm then trains with the best
    values. The learnable resizer searches ``filters``, ``num_res_blocks`` and the learning rate; every other
    arm, the baseline included, the learning rate alone (``contract.TUNED_HYPERPARAMETERS``).
    """

    trials: int = Field(0, ge=0, description="hyperparameter trials per arm (TFX's Tuner, KerasTuner's random "
                                             "search on train and validation); 0: no search")
    epochs: int = Field(2, ge=1, description="epochs of each trial (batch size and steps per epoch: training's)")
    filters: PositiveInts = Field((8, 16, 32), description="the learnable resizer's filters to choose from")
    num_res_blocks: PositiveInts = Field((1, 2, 3),
                                         description="the learnable resizer's residual blocks to choose from")
    learning_rate_min: float = Field(1e-4, gt=0, description="the smallest learning rate tried (log-uniform)")
    learning_rate_max: float = Field(1e-2, gt=0, description="the largest learning rate tried (log-uniform)")

    @model_validator(mode="after")
    def _fields_agree(self):
        for field in (contract.HP_FILTERS, contract.HP_NUM_RES_BLOCKS):
            values = getattr(self, field)
            if not values:
                raise ConfigError(field, "needs at least one value to choose from")
            if len(set(values)) != len(values):
                raise ConfigError(field, f"lists a value more than once: {list(values)}")
        if self.learning_rate_min >= self.learning_rate_max:
            raise ConfigError("learning_rate_max", f"{self.learning_rate_max} must be larger than "
                                                   f"learning_rate_min {self.learning_rate_min}")
        return self

    @classmethod
    def from_custom_config(cls, custom_config: dict | None) -> "TuningConfig":
        """The search a Tuner's or Trainer's ``custom_config`` carries (``trials`` 0 when it carries none)."""
        return cls.from_dict(dict(custom_config or {}).get(contract.TUNING_CONFIG_KEY, {}))


class ArmConfig(TrainingConfig):
    """One Trainer's configuration: the training fields plus the arm the pipeline assigns (not a user setting)."""

    arm: Arm = Field(description="the model this Trainer trains")


def code_fingerprint(package_dir=None):
    """SHA-256 over the ``trainer`` package's Python sources (sorted by name).

    Args:
        package_dir: the package's directory (default: this module's).

    Returns:
        The first 16 hex digits of the SHA-256 over each ``*.py`` file's name and bytes.
    """
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


def check_class_names(configured, data_names, source: str = "the data") -> None:
    """Raises :class:`ConfigError` when configured class names disagree with the data's label names.

    Label ``i`` of every example is the class ``data_names[i]``; a served
    model reports ``class_names[label]``, so a list in another order (or with
    another spelling) would report the wrong class for every example.

    Args:
      configured: ``training.class_names`` (empty: nothing is configured, so
        nothing can disagree).
      data_names: the label names the examples were written with, in label
        order (``label_names.txt`` of the Examples artifact).
      source: where ``data_names`` come from, named in the error (a path).

    Raises:
      ConfigError: on field ``training.class_names``, naming both lists and
        whether they differ in order alone or in spelling.
    """
    configured, data_names = list(configured or ()), list(data_names)
    if not configured or configured == data_names:
        return
    if sorted(configured) == sorted(data_names):
        how = "the same names in another order, so labels would be served as the wrong class"
    else:
        only_configured = [name for name in configured if name not in data_names]
        only_data = [name for name in data_names if name not in configured]
        how = (f"names only in the configuration: {only_configured}, only in the data: {only_data}"
               if only_configured or only_data else "a name repeated")
    raise ConfigError(
        "training.class_names",
        f"{configured} disagrees with the data's label names {data_names} (label order, from {source}): {how}; "
        f"set training.class_names to {','.join(data_names)} or leave it empty to use the data's names")
