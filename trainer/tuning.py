"""The hyperparameter search of one arm: its KerasTuner search space, and the chosen values applied to its config.

``trainer.run.tuner_fn`` (TFX's Tuner) searches the space :func:`search_space`
builds; the Trainer reads TFX's ``best_hyperparameters`` (a KerasTuner
``HyperParameters.get_config()`` dict: ``{"space": [...], "values": {...}}``)
and trains with :func:`apply_hyperparameters`.  :func:`tuning_record` is what
the Trainer writes into ``training_summary.json`` under ``tuning``, and
:func:`describe_search` / :func:`describe_choice` are how the report and the
closing table say what was searched and what was chosen.

Every hyperparameter name is the :class:`~trainer.config.TrainingConfig`
field it sets (``contract.HP_*``).
"""

from collections.abc import Callable, Mapping

from absl import logging

from trainer import contract
from trainer.config import ArmConfig, ConfigError, TuningConfig


def search_space(config: ArmConfig, tuning: TuningConfig):
    """The KerasTuner search space of ``config.arm`` (``contract.TUNED_HYPERPARAMETERS``).

    ``filters`` and ``num_res_blocks``: a choice among ``tuning``'s values (default: the configured value when
    it is one of them, else the first); ``learning_rate``: log-uniform between ``tuning.learning_rate_min`` and
    ``learning_rate_max`` (default: the configured rate, clipped into that range).

    Args:
        config: the arm's training configuration.
        tuning: the search's settings.

    Returns:
        keras_tuner.HyperParameters with one entry per tuned hyperparameter of the arm.
    """
    import keras_tuner

    space = keras_tuner.HyperParameters()
    for name in contract.TUNED_HYPERPARAMETERS[config.arm]:
        if name == contract.HP_LEARNING_RATE:
            low, high = tuning.learning_rate_min, tuning.learning_rate_max
            space.Float(name, min_value=low, max_value=high, sampling="log",
                        default=min(max(config.learning_rate, low), high))
        else:
            values = list(getattr(tuning, name))
            configured = getattr(config, name)
            space.Choice(name, values, default=configured if configured in values else values[0])
    return space


def apply_hyperparameters(config: ArmConfig, values: Mapping[str, object]) -> ArmConfig:
    """``config`` with the tuned ``values`` ({field: value}) in place of its own, validated.

    Args:
        config: the arm's training configuration.
        values: hyperparameter values by name, e.g. ``{"filters": 16, "learning_rate": 0.0012}``.

    Returns:
        A new ArmConfig.

    Raises:
        ConfigError: a name the arm does not tune (e.g. hyperparameters of another arm's Tuner), or a value its
            field rejects; the error names the field.
    """
    tuned = contract.TUNED_HYPERPARAMETERS[config.arm]
    unknown = sorted(set(values) - set(tuned))
    if unknown:
        raise ConfigError(f"tuning.{unknown[0]}", f"is no hyperparameter of the {config.arm} arm (it tunes "
                                                  f"{', '.join(tuned)}): were these values searched for another arm?")
    return config.replace(**dict(values))


def trainer_config(custom_config: Mapping | None, hyperparameters: Mapping | None):
    """The Trainer's configuration: the arm's, with its Tuner's best values in place when there are any.

    Args:
        custom_config: the Trainer's ``custom_config`` (``{"training": {...}, "tuning": {...}}``).
        hyperparameters: TFX's ``best_hyperparameters`` of the arm's Tuner (``{"space": [...],
            "values": {...}}``), or None/empty without a Tuner.

    Returns:
        (ArmConfig, the :func:`tuning_record` for the summary or None without hyperparameters).

    Raises:
        ConfigError: an invalid configuration, or tuned values the arm does not take (naming the field).
    """
    config = ArmConfig.from_custom_config(custom_config)
    if not hyperparameters:
        return config, None
    record = tuning_record(config, hyperparameters, TuningConfig.from_custom_config(custom_config))
    config = apply_hyperparameters(config, hyperparameters.get("values", {}))
    logging.info("%s trains with the tuned %s", config.arm, describe_choice(record))
    return config, record


def random_search(hypermodel: Callable, config: ArmConfig, tuning: TuningConfig, working_dir: str):
    """KerasTuner's random search over :func:`search_space`, ranked by the lowest ``val_loss``.

    Args:
        hypermodel: ``build(hp) -> compiled keras.Model`` (:func:`trainer.training.hypermodel`).
        config: the arm's configuration (its ``seed`` seeds the search; its ``arm`` names the project).
        tuning: the search's settings (``trials``).
        working_dir: where KerasTuner writes its trials (``<working_dir>/<arm>/``), replaced when present.

    Returns:
        ``keras_tuner.RandomSearch``.
    """
    import keras_tuner

    return keras_tuner.RandomSearch(
        hypermodel=hypermodel,
        hyperparameters=search_space(config, tuning),
        objective=keras_tuner.Objective(contract.TUNER_OBJECTIVE, direction="min"),
        max_trials=tuning.trials,
        seed=config.seed,
        directory=working_dir,
        project_name=config.arm,
        overwrite=True,
    )


def _describe_entry(entry: Mapping) -> tuple[str, str]:
    """(name, range) of one KerasTuner ``space`` entry (``{"class_name": "Choice", "config": {...}}``)."""
    kind, settings = entry.get("class_name"), entry.get("config", {})
    name = settings.get("name", "?")
    if kind == "Choice":
        return name, "{" + ", ".join(str(v) for v in settings.get("values", [])) + "}"
    if kind in ("Float", "Int"):
        sampling = settings.get("sampling") or "linear"
        return name, f"[{settings.get('min_value'):g}, {settings.get('max_value'):g}] ({sampling})"
    return name, kind or "?"


def tuning_record(config: ArmConfig, hyperparameters: Mapping, tuning: TuningConfig) -> dict[str, object]:
    """What the Trainer records in ``training_summary.json`` under ``tuning``.

    Args:
        config: the arm's configuration before the tuned values (its defaults).
        hyperparameters: TFX's ``best_hyperparameters`` (``{"space": [...], "values": {...}}``).
        tuning: the search's settings, from the Trainer's ``custom_config``.

    Returns:
        ``{"trials", "epochs", "objective", "searched": {name: range}, "chosen": {name: value},
        "configured": {name: the value without tuning}}``.
    """
    values = dict(hyperparameters.get("values", {}))
    return {
        "trials": tuning.trials,
        "epochs": tuning.epochs,
        "objective": contract.TUNER_OBJECTIVE,
        "searched": dict(_describe_entry(e) for e in hyperparameters.get("space", [])),
        "chosen": values,
        "configured": {name: getattr(config, name) for name in values if name in ArmConfig.model_fields},
    }


def _value(value) -> str:
    """A float to 3 significant digits, anything else as ``str``."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def describe_search(record: Mapping | None) -> str:
    """What was searched, in words.

    Args:
        record: a :func:`tuning_record`, or None.

    Returns:
        ``"2 trials x 2 epoch(s), lowest val_loss on validation; filters {8, 16, 32}, learning_rate [0.0001,
        0.01] (log)"``; empty without a record.
    """
    if not record:
        return ""
    searched = "; ".join(f"{name} {span}" for name, span in record.get("searched", {}).items())
    return (f"{record.get('trials')} trials x {record.get('epochs')} epoch(s), lowest {record.get('objective')} "
            f"on validation; {searched}")


def describe_choice(record: Mapping | None) -> str:
    """What was chosen, with the configured value beside it, in words.

    Args:
        record: a :func:`tuning_record`, or None.

    Returns:
        ``"filters 16 (configured 16), learning_rate 0.00123 (configured 0.001)"``; empty without a record.
    """
    if not record:
        return ""
    configured = record.get("configured", {})
    return ", ".join(f"{name} {_value(value)}" + (f" (configured {_value(configured[name])})"
                                                  if name in configured else "")
                     for name, value in record.get("chosen", {}).items())
