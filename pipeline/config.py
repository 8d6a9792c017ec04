"""One typed configuration for the whole pipeline, with the ``demo`` and ``full`` profiles.

Frozen pydantic models (see ``trainer/config.py`` for why pydantic): each
field is declared once with its type, default, bounds and one-line help, and
the command line offers each one (``--training.epochs 3`` or ``--set
training.epochs=3``, :func:`with_overrides`).  Values are validated before
anything runs; an invalid one raises :class:`ConfigError` naming the field.
The JSON form (``config.to_dict()`` / ``PipelineConfig.from_dict``) is what
the Kubeflow RuntimeConfig step receives.

Adding a field is one line in its model; it then appears on the command line,
in ``--help``, in the JSON round trip and in the validation.
"""

import os
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from components import demo_data, image_records, sources, splits
from trainer.config import ConfigError, ConfigModel, Strings, TrainingConfig, TuningConfig, json_object
from trainer.contract import (
    BILINEAR_ANTIALIAS_ARM,
    LEARNABLE_RESIZER_ARM,
    MULLER_ARM,
    REQUIRED_SPLITS,
    SERVED_MODEL_NAME,
    TEST_SPLIT,
    TRAIN_SPLIT,
    TUNING_CONFIG_KEY,
    VALIDATION_SPLIT,
)

__all__ = ["ConfigError", "DataConfig", "EvalConfig", "PipelineConfig", "PROFILES", "TrainingConfig",
           "TuningConfig", "demo_profile", "field_paths", "full_profile", "parse_assignments", "profile",
           "with_overrides"]

Runner = Literal["local", "beam"]

# A JSON object on the command line.
SplitBuckets = Annotated[dict[str, int], BeforeValidator(json_object)]
TfdsSplits = Annotated[dict[str, str], BeforeValidator(json_object)]


def _set_by(option):
    """Marks a field the user does not set as a field: ``option`` sets it (not offered as --FIELD or --set)."""
    return {"set_by": option}


class DataConfig(ConfigModel):
    """Where the images come from and how bad input is handled (``data.*``).

    Raises:
        ConfigError: naming the field, when the splits are not exactly train, validation and test (the old
            ``eval`` split is named as such), or a split string or bucket count is invalid.
    """

    source: str = Field(sources.IMAGE_FOLDER_SOURCE,
                        description="the ingestion source (components/sources.py): image_folder (a folder of class "
                                    "folders) or tfds (TFDS)")
    image_dir: str = Field("", description="image_folder: the root/<class>/<files> folder; empty: the demo set")
    demo_images_per_class: int = Field(demo_data.DEFAULT_PER_CLASS, ge=4, description="images per class, demo set")
    demo_seed: int = Field(demo_data.DEFAULT_SEED, description="seed of the demo set (same seed, same files)")
    split_buckets: SplitBuckets = Field(
        default_factory=lambda: dict(splits.DEFAULT_SPLIT_BUCKETS),
        description='image_folder: {split: hash buckets} as JSON, e.g. {"train": 8, "validation": 1, "test": 1}')
    tfds_name: str = Field(splits.DEFAULT_TFDS_DATASET, min_length=1, description="tfds: the dataset name")
    tfds_data_dir: str = Field("", description="tfds: the TFDS data dir; empty: TFDS's default")
    tfds_splits: TfdsSplits = Field(
        default_factory=lambda: dict(splits.DEFAULT_TFDS_SPLITS),
        description='tfds: {split: TFDS split} as JSON, e.g. {"train": "train[:90%]", '
                    '"validation": "train[90%:95%]", "test": "train[95%:]"}')
    schema_file: str = Field(
        "", description="a schema for ImportSchemaGen; empty: the curated one when the class names are known, "
                        "else SchemaGen infers one")
    max_pixels: int = Field(image_records.DEFAULT_MAX_PIXELS, ge=1, description="skip images with more pixels")
    max_bad_fraction: float = Field(
        image_records.DEFAULT_MAX_BAD_FRACTION, ge=0, le=1,
        description="fail the ExampleGen when more than this fraction of the files is skipped")
    ignore_empty_class_folders: bool = Field(
        False, description="image_folder: instead of failing, leave class folders with no file out of the "
                           "classes, and go on when a class folder's files are all skipped (that class keeps "
                           "its label with no example); both listed in the ingest report")
    keep_label_conflicts: bool = Field(
        False, description="image_folder: train on identical files filed under two classes (always reported; "
                           "by default they are skipped as label_conflict)")
    continue_on_anomalies: bool = Field(
        False, description="train even when the ExampleValidator finds anomalies in a label or image feature "
                           "(by default the DataGate stops the run before Transform, naming each anomaly)")

    @field_validator("split_buckets")
    @classmethod
    def _valid_buckets(cls, value):
        return dict(splits.parse_split_buckets(value))

    @field_validator("tfds_splits")
    @classmethod
    def _valid_tfds_splits(cls, value):
        return dict(splits.parse_tfds_splits(value))

    @field_validator("source")
    @classmethod
    def _known_source(cls, value):
        sources.get_source(value)
        return value

    @model_validator(mode="after")
    def _required_splits(self):
        # Only the source's own split settings are checked, with its own parser.
        source = sources.get_source(self.source)
        field = source.split_field
        try:
            names = dict(source.parse_splits(getattr(self, field)))
        except ValueError as error:
            raise ConfigError(field, f"not valid for data.source={self.source!r}: {error}") from None
        if set(names) == set(REQUIRED_SPLITS):
            return self
        wanted = ", ".join(map(repr, REQUIRED_SPLITS))
        if "eval" in names:
            raise ConfigError(field, f"{names} has the old two-split form: 'eval' is now two splits, 'validation' "
                                     f"(Keras validation, anything tuned on it) and 'test' (read only by the "
                                     f"Evaluator and the gate); give exactly {wanted}")
        raise ConfigError(field, f"needs exactly the splits {wanted}, got {sorted(names)}")


class EvalConfig(ConfigModel):
    """The gate (``evaluation.*``): when a candidate passes, and the best one that does is blessed and pushed.

    Read by the PairedComparison alone (on the test split), so changing it never reruns the Evaluator.  The
    latency settings count serving calls of one test image at batch 1, per arm.
    """

    accuracy_margin: float = Field(
        0.0, ge=-1, le=1,
        description="a candidate's test accuracy must beat the baseline's by more than this (a tie never does)")
    accuracy_floor: float = Field(0.5, ge=0, le=1, description="...and reach at least this")
    significance_level: float = Field(
        0.05, ge=0, lt=1,
        description="...and the exact McNemar test, Holm-adjusted across the candidates, must reject 'no "
                    "difference' at this level (0: no test)")
    latency_calls: int = Field(
        20, ge=0, description="timed serving calls per arm at batch 1 for the verdict's latency (0: not measured)")
    latency_warmup: int = Field(3, ge=0, description="untimed serving calls per arm before the timed ones")


class ServabilityConfig(ConfigModel):
    """The servability check before the push (components/servability_check.py; docs/deploy.md)."""

    num_images: int = Field(2, ge=1, le=64, description="validation images per request of the servability check "
                                                        "(and in its warm-up records)")
    timeout_seconds: int = Field(600, ge=10, description="seconds the check's serving process may take")


class PipelineConfig(ConfigModel):
    """The whole pipeline's configuration: names, runner, and one section per part (data, training, ...).

    Build it with :func:`profile` (a profile plus command-line overrides) or ``PipelineConfig.from_dict``;
    every value is validated then, and the object is frozen (``replace`` gives a validated copy).  Every path
    the run writes is under ``output_dir``: ``pipeline_root``, ``metadata_path``, ``serving_dir``,
    ``report_dir`` and ``demo_data_dir``.

    Raises:
        ConfigError: naming the field, for any invalid value, and when the generated demo set is used with image
            and target sizes that would break its class cue (``components/demo_data.py``).
    """

    profile: str = Field("demo", description="the profile this configuration started from",
                         json_schema_extra=_set_by("--profile"))
    pipeline_name: str = Field("resizer_tfx", pattern=r"^[A-Za-z0-9_-]+$",
                               description="the TFX pipeline name (letters, digits, '_', '-')")
    output_dir: str = Field("outputs/demo", min_length=1, description="everything the run writes goes under it")
    model_name: str = Field(SERVED_MODEL_NAME, pattern=r"^[^/]+$", description="the name the pushed model is served as")
    runner: Runner = Field("local", description="local: TFX's LocalDagRunner; beam: BeamDagRunner")
    enable_cache: bool = Field(True, description="reuse the outputs of components whose inputs did not change")
    beam_pipeline_args: Strings = Field(
        ("--direct_running_mode=in_memory", "--direct_num_workers=1"),
        description="Beam arguments of every component (a,b; more after --)")
    data: DataConfig = Field(default_factory=DataConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    evaluation: EvalConfig = Field(default_factory=EvalConfig)
    tuning: TuningConfig = Field(default_factory=TuningConfig)
    servability: ServabilityConfig = Field(default_factory=ServabilityConfig)

    def arm_custom_config(self, arm: str, code_fingerprint: str = "") -> dict:
        """The ``custom_config`` of ``arm``'s Trainer and, with ``tuning.trials`` > 0, of its Tuner.

        Args:
            arm: one of ``training.arms``.
            code_fingerprint: :func:`trainer.config.code_fingerprint` (TFX's cache notices code changes).

        Returns:
            ``{"training": the ArmConfig dict, "code_fingerprint": ...}``, plus ``{"tuning": the TuningConfig
            dict}`` when the arm's hyperparameters are searched.
        """
        custom_config = self.training.for_arm(arm).to_custom_config(code_fingerprint)
        if self.tuning.trials:
            custom_config[TUNING_CONFIG_KEY] = self.tuning.to_dict()
        return custom_config

    # Locations, all under output_dir.
    @property
    def pipeline_root(self):
        """``<output_dir>/pipeline_root``: every TFX artifact."""
        return os.path.join(self.output_dir, "pipeline_root")

    @property
    def metadata_path(self):
        """``<output_dir>/metadata.sqlite``: ML Metadata of local runs."""
        return os.path.join(self.output_dir, "metadata.sqlite")

    @property
    def serving_dir(self):
        """``<output_dir>/serving``: the Pusher writes ``<model_name>/<version>/`` here."""
        return os.path.join(self.output_dir, "serving")

    @property
    def report_dir(self):
        """``<output_dir>/reports``: the comparison report, ``summary.json``, ``predictions.csv``, the sweep's."""
        return os.path.join(self.output_dir, "reports")

    @property
    def demo_data_dir(self):
        """``<output_dir>/demo_data``: the generated demo image folder."""
        return os.path.join(self.output_dir, "demo_data")

    @property
    def uses_demo_data(self):
        """True when the images are the generated demo set (image_folder without an image_dir)."""
        return self.data.source == sources.IMAGE_FOLDER_SOURCE and not self.data.image_dir

    @property
    def image_dir(self):
        """The image folder the ImageFolderExampleGen reads: ``data.image_dir``, else the demo set's."""
        return self.data.image_dir or self.demo_data_dir

    @model_validator(mode="after")
    def _demo_cue_survives_the_sizes(self):
        # The demo set is a positive control: sizes that break its cue would quietly turn it into noise.
        problem = demo_data.size_problem(self.training.image_size, self.training.target_size)
        if self.uses_demo_data and problem:
            raise ConfigError(*problem)
        return self


# --- profiles -------------------------------------------------------------------------------------

PROFILES: dict[str, dict] = {
    # Offline: the generated image folder, sized for 2 CPU cores in well under 15 minutes.
    "demo": {
        "profile": "demo",
        "output_dir": "outputs/demo",
        # A third of the images for the test split: the gate's paired test needs n.
        "data": {"demo_images_per_class": 160,
                 "split_buckets": {TRAIN_SPLIT: 6, VALIDATION_SPLIT: 1, TEST_SPLIT: 3}},
        "training": {
            # The demo set's cue is drawn for these sizes (components/demo_data.py).
            "image_size": (demo_data.TRANSFORM_SIDE, demo_data.TRANSFORM_SIDE),
            "target_size": (demo_data.TRANSFORM_SIDE // 2, demo_data.TRANSFORM_SIDE // 2),
            "batch_size": 16,
            "epochs": 3,
            "optimizer": "adam",
            "learning_rate": 1e-3,
            # Short runs: the moving BatchNorm statistics lag the weights; PreciseBN sets them from the
            # trained weights (docs/trainer.md, "Short runs and BatchNorm").
            "batchnorm_momentum": 0.9,
            "precise_batchnorm": True,
        },
        "evaluation": {"accuracy_margin": 0.0, "accuracy_floor": 0.5, "significance_level": 0.05},
    },
    # The seed's configuration on TFDS cats_vs_dogs (for a GPU machine with the data at hand).
    "full": {
        "profile": "full",
        "output_dir": "outputs/full",
        "beam_pipeline_args": ("--direct_running_mode=multi_processing", "--direct_num_workers=0"),
        "data": {"source": "tfds"},
        "training": {"epochs": 5, "class_names": ("cat", "dog"),
                     "candidates": (LEARNABLE_RESIZER_ARM, MULLER_ARM, BILINEAR_ANTIALIAS_ARM)},
        "evaluation": {"accuracy_margin": 0.0, "accuracy_floor": 0.6, "significance_level": 0.05},
    },
}
# --headline (full profile only): the published comparison, 90% of the data for 10 epochs.
HEADLINE = {
    "profile": "full-headline",
    "data": {"tfds_splits": splits.HEADLINE_TFDS_SPLITS},
    "training": {"epochs": 10},
}


def _merged(base: dict, changes: dict) -> dict:
    """``base`` with ``changes``, section by section (a dict-valued field is replaced whole)."""
    out = dict(base)
    for key, value in changes.items():
        sections = ("data", "training", "evaluation", "tuning", "servability")
        out[key] = {**out.get(key, {}), **value} if key in sections else value
    return out


def profile(name, headline=False, overrides=None) -> PipelineConfig:
    """The ``name`` profile with ``overrides`` applied and validated.

    Args:
        name: ``demo`` (offline, the generated image folder) or ``full`` (TFDS cats_vs_dogs, the seed's settings).
        headline: the full profile's published comparison (90/5/5 splits, 10 epochs).
        overrides: {dotted field: value}, e.g. ``{'training.epochs': '3'}``; values typed or command-line strings.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: an unknown profile, ``headline`` with another profile than full, or an invalid override
            (naming its field).
    """
    if name not in PROFILES:
        raise ConfigError("profile", f"{name!r} is not one of {', '.join(PROFILES)}")
    if headline and name != "full":
        raise ConfigError("headline", "only applies to the full profile")
    values = _merged(PROFILES[name], HEADLINE) if headline else PROFILES[name]
    return with_overrides(PipelineConfig.from_dict(values), overrides or {})


def demo_profile(**overrides) -> PipelineConfig:
    """:func:`profile` ``("demo")`` with ``overrides`` ({dotted field: value}) applied."""
    return profile("demo", overrides=overrides)


def full_profile(headline=False, **overrides) -> PipelineConfig:
    """:func:`profile` ``("full", headline)`` with ``overrides`` ({dotted field: value}) applied."""
    return profile("full", headline=headline, overrides=overrides)


# --- overrides --------------------------------------------------------------------------------------

def field_paths(model=PipelineConfig, prefix="", settable_only=True) -> dict[str, object]:
    """Every field by dotted path, what the command line offers as ``--<path>``.

    Args:
        model: the ConfigModel class to walk (its nested sections recursively).
        prefix: put before every path (the section's, when recursing).
        settable_only: leave out fields set by their own option (``profile``, by ``--profile``).

    Returns:
        {'training.epochs': pydantic FieldInfo, ...}.
    """
    out = {}
    for name, info in model.model_fields.items():
        if settable_only and "set_by" in (info.json_schema_extra or {}):
            continue
        if isinstance(info.annotation, type) and issubclass(info.annotation, ConfigModel):
            out.update(field_paths(info.annotation, f"{prefix}{name}.", settable_only))
        else:
            out[prefix + name] = info
    return out


def with_overrides(config: PipelineConfig, overrides: dict[str, object]) -> PipelineConfig:
    """A copy of ``config`` with ``{'training.epochs': '3', ...}`` applied and validated.

    Args:
        config: the configuration to start from.
        overrides: {dotted field: value}; values may be typed or command-line strings (``"224,224"``,
            ``'{"train": 8, "validation": 1, "test": 1}'``).

    Returns:
        The new configuration (``config`` itself when there is nothing to apply).

    Raises:
        ConfigError: naming the field, for an unknown field, a field set by its own option, or an invalid value.
    """
    if not overrides:
        return config
    settable = field_paths(type(config))
    values = config.model_dump()
    for path, value in overrides.items():
        if path not in settable:
            every = field_paths(type(config), settable_only=False)
            if path in every:
                raise ConfigError(path, f"not a setting (chosen with {every[path].json_schema_extra['set_by']})")
            raise ConfigError(path, "unknown field (see --help for the list)")
        *sections, name = path.split(".")
        target = values
        for section in sections:
            target = target[section]
        target[name] = value
    return type(config).from_dict(values)


def parse_assignments(assignments: list[str] | None) -> dict[str, str]:
    """The ``--set`` assignments as overrides: ``['training.epochs=3', ...]`` -> ``{'training.epochs': '3', ...}``.

    Args:
        assignments: ``FIELD=VALUE`` strings (the value may contain ``=``); None: none.

    Returns:
        {field: value string}, for :func:`with_overrides`.

    Raises:
        ConfigError: an item without ``=``, naming it.
    """
    out = {}
    for item in assignments or []:
        if "=" not in item:
            raise ConfigError(item, "expected FIELD=VALUE")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out
