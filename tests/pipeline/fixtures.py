"""Session fixtures of the pipeline: each profile compiled for Kubeflow (helpers: tests/pipeline/helpers.py)."""

import json
import os

import pytest

from pipeline import config as config_lib
from pipeline.prepare import resolve_config
from tests.pipeline.helpers import compile_offline


@pytest.fixture(scope="session", params=["demo", "full"])
def compiled(request, tmp_path_factory):
    """(resolved config, PipelineJob JSON) of each profile, compiled offline for a gs:// output dir."""
    config = resolve_config(config_lib.profile(request.param, overrides={"output_dir": "gs://bucket/resizer"}))
    path = str(tmp_path_factory.mktemp("kfp") / f"{request.param}.json")
    written = compile_offline(config, path, beam_pipeline_args=["--direct_num_workers=3", "--extra=x"])
    assert written == os.path.abspath(path)
    with open(written) as f:
        return config, json.load(f)
