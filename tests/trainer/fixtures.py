"""Session fixtures of the Trainers: one real TFX run up to them (helpers: tests/trainer/helpers.py)."""

import pytest

from tests.trainer.helpers import run_until_trainers


@pytest.fixture(scope="session")
def trained_pipeline(tmp_path_factory):
    """A real TFX run up to the Trainers of the default arms (baseline, learnable resizer, MULLER): {id: dir}."""
    root = str(tmp_path_factory.mktemp("trainer_pipeline"))
    return run_until_trainers(root)
