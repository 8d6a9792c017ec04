"""One typed configuration for the whole pipeline, with the ``demo`` and ``full`` profiles.

Every field can be overridden by name (``--set training.epochs=3`` on the
command line, or :func:`with_overrides`); values are parsed to the field's
type and validated before anything runs, and an invalid one raises
:class:`ConfigError` naming the field.
"""

import dataclasses
import json
import os
import typing
from typing import Dict, List, Optional, Tuple

from trainer.config import ConfigError, TrainingConfig

DATA_SOURCES = ("image_folder", "tfds")
RUNNERS = ("local", "beam")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    source: str = "image_folder"
    # image_folder: root/<class_name>/<files>; empty = generate the demo set under the output dir.
    image_dir: str = ""
    demo_images_per_class: int = 140
    demo_seed: int = 0
    split_buckets: Dict[str, int] = dataclasses.field(default_factory=lambda: {"train": 4, "eval": 1})
    # tfds
    tfds_name: str = "cats_vs_dogs"
    tfds_data_dir: str = ""
    tfds_splits: Dict[str, str] = dataclasses.field(
        default_factory=lambda: {"train": "train[:40%]", "eval": "train[40%:50%]"}
    )
    # A curated schema (components/schema.py) for ImportSchemaGen; empty = infer with SchemaGen.
    # The runner writes one when the class names are known (demo data, class_names set).
    schema_file: str = ""
    # bad input
    max_pixels: int = 50_000_000
    max_bad_fraction: float = 0.1


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    # The candidate's overall accuracy must beat the baseline's by this much...
    accuracy_margin: float = 0.0
    # ...and reach at least this.
    accuracy_floor: float = 0.5


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    profile: str = "demo"
    pipeline_name: str = "resizer_tfx"
    output_dir: str = "outputs/demo"
    model_name: str = "learnable_resizer"
    runner: str = "local"
    enable_cache: bool = True
    beam_pipeline_args: Tuple[str, ...] = ("--direct_running_mode=in_memory", "--direct_num_workers=1")
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    evaluation: EvalConfig = dataclasses.field(default_factory=EvalConfig)

    def __post_init__(self):
        self.validate()

    # Locations, all under output_dir unless the output dir is remote.
    @property
    def pipeline_root(self):
        return os.path.join(self.output_dir, "pipeline_root")

    @property
    def metadata_path(self):
        return os.path.join(self.output_dir, "metadata.sqlite")

    @property
    def serving_dir(self):
        return os.path.join(self.output_dir, "serving")

    @property
    def report_dir(self):
        return os.path.join(self.output_dir, "reports")

    @property
    def demo_data_dir(self):
        return os.path.join(self.output_dir, "demo_data")

    @property
    def image_dir(self):
        return self.data.image_dir or self.demo_data_dir

    def validate(self):
        if not self.pipeline_name or not self.pipeline_name.replace("_", "").replace("-", "").isalnum():
            raise ConfigError("pipeline_name", f"use letters, digits, '_' or '-', got {self.pipeline_name!r}")
        if not self.output_dir:
            raise ConfigError("output_dir", "must not be empty")
        if not self.model_name or "/" in self.model_name:
            raise ConfigError("model_name", f"must be a plain name, got {self.model_name!r}")
        if self.runner not in RUNNERS:
            raise ConfigError("runner", f"{self.runner!r} is not one of {', '.join(RUNNERS)}")
        data = self.data
        if data.source not in DATA_SOURCES:
            raise ConfigError("data.source", f"{data.source!r} is not one of {', '.join(DATA_SOURCES)}")
        if data.source == "image_folder":
            if not {"train", "eval"} <= set(data.split_buckets):
                raise ConfigError("data.split_buckets", f"needs 'train' and 'eval', got {data.split_buckets}")
            if any(not isinstance(v, int) or v < 1 for v in data.split_buckets.values()):
                raise ConfigError("data.split_buckets", f"bucket counts must be positive ints, got {data.split_buckets}")
        else:
            if not {"train", "eval"} <= set(data.tfds_splits):
                raise ConfigError("data.tfds_splits", f"needs 'train' and 'eval', got {data.tfds_splits}")
        if data.demo_images_per_class < 4:
            raise ConfigError("data.demo_images_per_class", f"must be >= 4, got {data.demo_images_per_class}")
        if data.max_pixels < 1:
            raise ConfigError("data.max_pixels", f"must be positive, got {data.max_pixels}")
        if not 0 <= data.max_bad_fraction <= 1:
            raise ConfigError("data.max_bad_fraction", f"must be in [0, 1], got {data.max_bad_fraction}")
        ev = self.evaluation
        if not -1 <= ev.accuracy_margin <= 1:
            raise ConfigError("evaluation.accuracy_margin", f"must be in [-1, 1], got {ev.accuracy_margin}")
        if not 0 <= ev.accuracy_floor <= 1:
            raise ConfigError("evaluation.accuracy_floor", f"must be in [0, 1], got {ev.accuracy_floor}")
        self.training.validate()
        if self.training.arm != "learnable_resizer":
            raise ConfigError("training.arm", "the pipeline trains both arms; leave it at learnable_resizer")

    def to_dict(self):
        return json.loads(json.dumps(dataclasses.asdict(self)))


# --- profiles -------------------------------------------------------------

def demo_profile(**overrides) -> PipelineConfig:
    """Offline: the generated image folder, sized for 2 CPU cores in well under 15 minutes."""
    return with_overrides(
        PipelineConfig(
            profile="demo",
            output_dir="outputs/demo",
            training=TrainingConfig(
                batch_size=16,
                epochs=6,
                optimizer="adam",
                learning_rate=1e-3,
                # Short runs: BatchNorm statistics must settle within a few dozen steps.
                batchnorm_momentum=0.9,
            ),
            evaluation=EvalConfig(accuracy_margin=0.0, accuracy_floor=0.5),
        ),
        overrides,
    )


def full_profile(headline=False, **overrides) -> PipelineConfig:
    """The seed's configuration on TFDS cats_vs_dogs (for a GPU machine with the data at hand).

    ``headline=True``: the published comparison, 90% of the data for 10 epochs.
    """
    splits = (
        {"train": "train[:90%]", "eval": "train[90%:]"}
        if headline
        else {"train": "train[:40%]", "eval": "train[40%:50%]"}
    )
    return with_overrides(
        PipelineConfig(
            profile="full-headline" if headline else "full",
            output_dir="outputs/full",
            beam_pipeline_args=("--direct_running_mode=multi_processing", "--direct_num_workers=0"),
            data=DataConfig(source="tfds", tfds_splits=splits),
            training=TrainingConfig(epochs=10 if headline else 5, class_names=("cat", "dog")),
            evaluation=EvalConfig(accuracy_margin=0.0, accuracy_floor=0.6),
        ),
        overrides,
    )


PROFILES = {"demo": demo_profile, "full": full_profile}


def profile(name, headline=False, overrides=None) -> PipelineConfig:
    if name not in PROFILES:
        raise ConfigError("profile", f"{name!r} is not one of {', '.join(PROFILES)}")
    if name == "full":
        return full_profile(headline=headline, **dict(overrides or {}))
    if headline:
        raise ConfigError("headline", "only applies to the full profile")
    return demo_profile(**dict(overrides or {}))


# --- overrides --------------------------------------------------------------

def _parse(field_path, annotation, text):
    """Parses ``text`` (a command-line string or an already typed value) to ``annotation``."""
    if not isinstance(text, str):
        return text
    origin = typing.get_origin(annotation)
    try:
        if annotation is bool:
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if annotation is int:
            return int(text)
        if annotation is float:
            return float(text)
        if annotation is str:
            return text
        if origin in (tuple, list, dict, typing.Union) or annotation in (tuple, list, dict):
            value = json.loads(text) if text.strip()[:1] in "[{\"" or text.strip() in ("null",) else None
            if value is None:
                if origin is dict:
                    raise ValueError(text)
                # Comma-separated shorthand: 300,300 or cat,dog
                items = [t.strip() for t in text.split(",") if t.strip()]
                args = typing.get_args(annotation)
                item_type = args[0] if args else str
                value = [item_type(t) if item_type in (int, float) else t for t in items]
            return tuple(value) if origin is tuple else value
    except (ValueError, TypeError, json.JSONDecodeError):
        pass
    raise ConfigError(field_path, f"cannot parse {text!r} as {getattr(annotation, '__name__', annotation)}")


def field_paths(config=None, prefix=""):
    """Every overridable field: {'training.epochs': int, ...}."""
    config = config or PipelineConfig()
    hints = typing.get_type_hints(type(config))
    out = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        path = prefix + field.name
        if dataclasses.is_dataclass(value):
            out.update(field_paths(value, path + "."))
        else:
            out[path] = hints[field.name]
    return out


def with_overrides(config, overrides):
    """A copy of ``config`` with ``{'training.epochs': '3', ...}`` applied and validated."""
    if not overrides:
        return config
    nested: Dict[str, dict] = {}
    top = {}
    paths = field_paths(config)
    for path, raw in overrides.items():
        if path not in paths:
            raise ConfigError(path, "unknown field (see --help for the list)")
        value = _parse(path, paths[path], raw)
        if "." in path:
            section, name = path.split(".", 1)
            nested.setdefault(section, {})[name] = value
        else:
            top[path] = value
    try:
        for section, changes in nested.items():
            top[section] = dataclasses.replace(getattr(config, section), **changes)
        return dataclasses.replace(config, **top)
    except ConfigError as error:
        section = next((s for s, c in nested.items() if error.field in c), None)
        if section and not error.field.startswith(section + "."):
            raise ConfigError(f"{section}.{error.field}", str(error).split(": ", 1)[-1]) from None
        raise


def parse_assignments(assignments: Optional[List[str]]):
    """['training.epochs=3', ...] -> {'training.epochs': '3', ...}."""
    out = {}
    for item in assignments or []:
        if "=" not in item:
            raise ConfigError(item, "expected FIELD=VALUE")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out
