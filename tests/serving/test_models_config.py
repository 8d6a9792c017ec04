"""TF Serving's models.config for the Pusher's output (serving/models_config.py): files, proto and command."""

import pytest

from serving import models_config
from trainer import contract


def pushed(serving, name, *versions):
    for version in versions:
        (serving / name / str(version)).mkdir(parents=True)
        (serving / name / str(version) / contract.SAVED_MODEL_FILE).write_bytes(b"")


def test_models_config(tmp_path):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    serving = tmp_path / "serving"
    for version in (1700000000, 1700000500):
        (serving / contract.SERVED_MODEL_NAME / str(version)).mkdir(parents=True)
        (serving / contract.SERVED_MODEL_NAME / str(version) / "saved_model.pb").write_bytes(b"")
    (serving / contract.SERVED_MODEL_NAME / "tmp-123").mkdir()  # not a version
    (serving / "empty_model").mkdir()
    path = models_config.write_models_config(str(serving), base_path_prefix="/models")
    parsed = text_format.Parse(open(path).read(), model_server_config_pb2.ModelServerConfig())
    [entry] = parsed.model_config_list.config
    assert (entry.name, entry.base_path, entry.model_platform) == (
        contract.SERVED_MODEL_NAME, f"/models/{contract.SERVED_MODEL_NAME}", "tensorflow")
    assert entry.model_version_policy.latest.num_versions == 1
    pinned = models_config.write_models_config(str(serving), str(tmp_path / "p.config"), pin_versions=True)
    parsed = text_format.Parse(open(pinned).read(), model_server_config_pb2.ModelServerConfig())
    assert parsed.model_config_list.config[0].base_path == str(serving / contract.SERVED_MODEL_NAME)
    assert list(parsed.model_config_list.config[0].model_version_policy.specific.versions) == [1700000000, 1700000500]
    with pytest.raises(models_config.ModelsConfigError, match="no pushed SavedModel"):
        models_config.write_models_config(str(serving), model_names=["other"])
    with pytest.raises(models_config.ModelsConfigError, match="does not exist"):
        models_config.write_models_config(str(tmp_path / "nowhere"))


def test_find_versions_and_models(tmp_path):
    pushed(tmp_path, "a", 30, 4)
    (tmp_path / "a" / "7").mkdir()  # a version still being written: no SavedModel yet
    pushed(tmp_path, "b", 1)
    (tmp_path / "c").mkdir()
    assert models_config.find_versions(str(tmp_path / "a")) == [4, 30]
    assert models_config.find_versions(str(tmp_path / "missing")) == []
    assert models_config.find_models(str(tmp_path)) == {"a": [4, 30], "b": [1]}


def test_build_models_config_refuses_what_the_server_would_not_serve():
    with pytest.raises(models_config.ModelsConfigError, match="no models to serve"):
        models_config.build_models_config({})
    with pytest.raises(models_config.ModelsConfigError, match="plain name, got 'a/b'"):
        models_config.build_models_config({"a/b": "/models/a"})
    text = models_config.models_config_text({"m": "/models/m"}, {"m": [3]})
    assert 'name: "m"' in text and 'base_path: "/models/m"' in text and "versions: 3" in text


def test_the_command_prints_the_path_or_exits_2(tmp_path, capsys):
    pushed(tmp_path / "serving", contract.SERVED_MODEL_NAME, 1700000000)
    output = tmp_path / "models.config"
    assert models_config.main([str(tmp_path / "serving"), "-o", str(output), "--base-path-prefix", "/models"]) == 0
    assert capsys.readouterr().out.strip() == str(output)
    assert f'base_path: "/models/{contract.SERVED_MODEL_NAME}"' in output.read_text()
    with pytest.raises(SystemExit) as info:
        models_config.main([str(tmp_path / "nowhere")])
    assert info.value.code == 2
    assert "models_config: serving directory" in capsys.readouterr().err
