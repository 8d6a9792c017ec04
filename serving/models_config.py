r"""Write a TF Serving ``models.config`` for the Pusher's output directory.

The Pusher writes ``<serving_dir>/<model_name>/<version>/saved_model.pb``
(``<version>`` is an integer, a timestamp).  TF Serving's model config names
each model and its *base path*, the ``<serving_dir>/<model_name>`` directory,
and loads the newest version under it (or the versions asked for)::

    python -m serving.models_config outputs/demo/serving --base-path-prefix /models \\
        -o outputs/demo/serving/models.config
    docker run ... -v $PWD/outputs/demo/serving:/models tensorflow/serving \\
        --model_config_file=/models/models.config

``--base-path-prefix`` is where ``serving_dir`` is seen *by the server* (the
container mount point); by default the absolute local path.
"""

import argparse
import os
import sys
from collections.abc import Sequence

from google.protobuf import text_format

from trainer.contract import SAVED_MODEL_FILE


class ModelsConfigError(ValueError):
    """No config can be written: no serving directory, no pushed model (named), or a bad model name."""


def find_versions(base_path: str) -> list[int]:
    """Integer version directories under ``base_path`` that hold a SavedModel, oldest first.

    Args:
        base_path: a model's base directory, ``<serving_dir>/<model_name>``.

    Returns:
        The version numbers with a ``saved_model.pb``; [] when ``base_path`` does not exist.
    """
    if not os.path.isdir(base_path):
        return []
    versions = []
    for name in os.listdir(base_path):
        path = os.path.join(base_path, name)
        if name.isdigit() and os.path.isfile(os.path.join(path, SAVED_MODEL_FILE)):
            versions.append(int(name))
    return sorted(versions)


def find_models(serving_dir: str) -> dict[str, list[int]]:
    """``{model_name: [versions]}`` for every model directory under ``serving_dir`` with a version.

    Args:
        serving_dir: the Pusher's base directory.

    Returns:
        {model name: its versions, oldest first}, models by name.

    Raises:
        ModelsConfigError: ``serving_dir`` does not exist.
    """
    if not os.path.isdir(serving_dir):
        raise ModelsConfigError(f"serving directory {serving_dir!r} does not exist (has the Pusher run?)")
    models = {}
    for name in sorted(os.listdir(serving_dir)):
        versions = find_versions(os.path.join(serving_dir, name))
        if versions:
            models[name] = versions
    return models


def build_models_config(models: dict[str, str], versions: dict[str, Sequence[int]] | None = None):
    """A ``ModelServerConfig`` proto, every model on the ``tensorflow`` platform.

    Args:
        models: {model name: base path as the server sees it}.
        versions: {model name: versions}: pins the versions served (``specific``); a model not in it (or no
            ``versions``) is served at its latest version.

    Returns:
        The ``tensorflow_serving.config.ModelServerConfig``.

    Raises:
        ModelsConfigError: no model, or a model name that is empty or holds ``/``.
    """
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    if not models:
        raise ModelsConfigError("no models to serve")
    for name, base_path in models.items():
        if not name or "/" in name:
            raise ModelsConfigError(f"model name must be a plain name, got {name!r}")
        entry = config.model_config_list.config.add(name=name, base_path=base_path, model_platform="tensorflow")
        pinned = (versions or {}).get(name)
        if pinned:
            entry.model_version_policy.specific.versions.extend(int(v) for v in pinned)
        else:
            entry.model_version_policy.latest.num_versions = 1
    return config


def models_config_text(models: dict[str, str], versions: dict[str, Sequence[int]] | None = None) -> str:
    """:func:`build_models_config` in the text format TF Serving's ``--model_config_file`` reads."""
    return text_format.MessageToString(build_models_config(models, versions))


def write_models_config(serving_dir: str, output: str | None = None, base_path_prefix: str | None = None,
                        model_names: Sequence[str] | None = None, pin_versions: bool = False) -> str:
    """Writes ``models.config`` for the models under ``serving_dir``.

    Args:
        serving_dir: the Pusher's base directory (``<output_dir>/serving``).
        output: the file to write; None: ``<serving_dir>/models.config``.
        base_path_prefix: ``serving_dir`` as the server sees it (e.g. ``/models`` inside the TF Serving
            container); None: its absolute local path.
        model_names: only these models; None: every model with a pushed version.
        pin_versions: serve exactly the versions found now instead of the latest.

    Returns:
        The path written.

    Raises:
        ModelsConfigError: ``serving_dir`` is missing, or has no pushed SavedModel for a named model (or any).
    """
    found = find_models(serving_dir)
    names = list(model_names) if model_names else sorted(found)
    missing = [n for n in names if n not in found]
    if missing or not names:
        raise ModelsConfigError(
            f"no pushed SavedModel for {missing or 'any model'} under {serving_dir!r} "
            f"(expected <serving_dir>/<model_name>/<version>/saved_model.pb; found {sorted(found) or 'none'})")
    prefix = (base_path_prefix or os.path.abspath(serving_dir)).rstrip("/")
    text = models_config_text({n: f"{prefix}/{n}" for n in names},
                              {n: found[n] for n in names} if pin_versions else None)
    output = output or os.path.join(serving_dir, "models.config")
    with open(output, "w") as f:
        f.write(text)
    return output


def main(argv=None):
    """``python -m serving.models_config``: prints the path written; exit status 2 with the reason when none is."""
    parser = argparse.ArgumentParser(prog="python -m serving.models_config", description=__doc__.split("\n\n")[0])
    parser.add_argument("serving_dir", help="the Pusher's base directory (e.g. outputs/demo/serving)")
    parser.add_argument("-o", "--output", help="default: <serving_dir>/models.config")
    parser.add_argument("--base-path-prefix", help="serving_dir as the server sees it (e.g. /models)")
    parser.add_argument("--model-name", action="append", dest="model_names", help="only these models")
    parser.add_argument("--pin-versions", action="store_true", help="serve exactly the versions present now")
    args = parser.parse_args(argv)
    try:
        path = write_models_config(args.serving_dir, args.output, args.base_path_prefix, args.model_names,
                                   args.pin_versions)
    except ModelsConfigError as error:
        parser.exit(2, f"models_config: {error}\n")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
