"""DecodeImages: the training splits decoded once, read by every Trainer exactly as if it had decoded them."""

import json
import os
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow_transform as tft
from tfx.types import artifact_utils, standard_artifacts

from components import synthetic_examples
from components.decode_images import DecodedImages, Executor
from components.training_components import Trainer, Tuner, with_decoded_images_uri
from trainer import contract, data


@pytest.fixture(scope="module")
def examples_dir(tmp_path_factory):
    """An Examples artifact folder: train (13 examples) and validation (5) as gzipped TFRecords."""
    root = tmp_path_factory.mktemp("examples")
    for split, count, seed in ((contract.TRAIN_SPLIT, 13, 0), (contract.VALIDATION_SPLIT, 5, 1)):
        synthetic_examples.write_tfrecord_dataset(str(root / f"Split-{split}"), count, seed=seed)
    return str(root)


def split_files(examples_dir, split):
    return [os.path.join(examples_dir, f"Split-{split}", "*")]


def test_a_written_split_reads_back_as_decoding_it_gives(examples_dir, transform_graph, tmp_path):
    graph_dir, training = transform_graph
    output = tft.TFTransformOutput(graph_dir)
    files = split_files(examples_dir, contract.TRAIN_SPLIT)
    decoded = data.decode_split(files, output, training.image_size)
    assert data.write_decoded_split(files, output, training.image_size, str(tmp_path / "Split-train")) == 13

    for cache in ("memory", "disk"):
        read = data.read_decoded_split(str(tmp_path / "Split-train"), training.image_size, cache)
        np.testing.assert_array_equal(read.images, decoded.images)
        np.testing.assert_array_equal(read.labels, decoded.labels)
        assert read.labels.dtype == np.int64
        assert read.keys == decoded.keys  # the canonical order, so the same data_order_sha256
        assert isinstance(read.images, np.memmap) == (cache == "disk")
        read.close()
    # auto: a local file is mapped, never copied.
    assert isinstance(data.read_decoded_split(str(tmp_path / "Split-train"), training.image_size, "auto").images,
                      np.memmap)
    # Closing a reader leaves the shared files for the next Trainer.
    assert sorted(os.listdir(tmp_path / "Split-train")) == sorted(
        [contract.DECODED_IMAGES_FILE, contract.DECODED_KEYS_FILE, contract.DECODED_LABELS_FILE])


def test_a_split_of_another_size_or_with_a_file_missing_is_named(examples_dir, transform_graph, tmp_path):
    graph_dir, training = transform_graph
    split_dir = str(tmp_path / "Split-train")
    data.write_decoded_split(split_files(examples_dir, contract.TRAIN_SPLIT), tft.TFTransformOutput(graph_dir),
                             training.image_size, split_dir)
    with pytest.raises(ValueError, match=r"images\.npy holds uint8 \(13, 64, 64, 3\).*"
                                         r"expected uint8 \(13, 32, 32, 3\)"):
        data.read_decoded_split(split_dir, (32, 32))
    with pytest.raises(ValueError, match="image_cache: 'ram'"):
        data.read_decoded_split(split_dir, training.image_size, "ram")
    os.remove(os.path.join(split_dir, contract.DECODED_KEYS_FILE))
    with pytest.raises(FileNotFoundError, match=r"Split-train/keys\.json does not exist"):
        data.read_decoded_split(split_dir, training.image_size)


def artifacts(examples_dir, graph_dir, output_dir, split_names):
    examples = standard_artifacts.Examples()
    examples.uri = examples_dir
    examples.split_names = artifact_utils.encode_split_names(split_names)
    graph = standard_artifacts.TransformGraph()
    graph.uri = graph_dir
    output = DecodedImages()
    output.uri = output_dir
    return {"examples": [examples], "transform_graph": [graph]}, {"decoded_images": [output]}


def test_the_executor_decodes_train_and_validation_for_decode_splits(examples_dir, transform_graph, tmp_path):
    graph_dir, training = transform_graph
    inputs, outputs = artifacts(examples_dir, graph_dir, str(tmp_path / "decoded"),
                                [contract.TRAIN_SPLIT, contract.VALIDATION_SPLIT, contract.TEST_SPLIT])
    properties = {"image_size": json.dumps(list(training.image_size)),
                  "splits": json.dumps([contract.TRAIN_SPLIT, contract.VALIDATION_SPLIT])}
    Executor().Do(inputs, outputs, properties)
    output = outputs["decoded_images"][0]
    split_names = artifact_utils.decode_split_names(output.get_string_custom_property("split_names"))
    assert split_names == [contract.TRAIN_SPLIT, contract.VALIDATION_SPLIT]
    assert sorted(os.listdir(output.uri)) == [f"Split-{contract.TRAIN_SPLIT}", f"Split-{contract.VALIDATION_SPLIT}"]

    output_graph = tft.TFTransformOutput(graph_dir)
    from_artifact = data.decode_splits(None, None, output_graph, training, output.uri)
    decoded_here = data.decode_splits(split_files(examples_dir, contract.TRAIN_SPLIT),
                                      split_files(examples_dir, contract.VALIDATION_SPLIT), output_graph, training)
    for read, decoded in zip(from_artifact, decoded_here):
        np.testing.assert_array_equal(read.images, decoded.images)
        assert read.keys == decoded.keys and read.labels.tolist() == decoded.labels.tolist()
    assert [len(s) for s in from_artifact] == [13, 5]


def test_the_executor_names_a_missing_split(examples_dir, transform_graph, tmp_path):
    graph_dir, training = transform_graph
    inputs, outputs = artifacts(examples_dir, graph_dir, str(tmp_path / "decoded"), [contract.TRAIN_SPLIT])
    properties = {"image_size": json.dumps(list(training.image_size)),
                  "splits": json.dumps([contract.TRAIN_SPLIT, contract.VALIDATION_SPLIT])}
    with pytest.raises(ValueError, match=rf"no split \['{contract.VALIDATION_SPLIT}'\]"):
        Executor().Do(inputs, outputs, properties)


def test_the_trainer_and_tuner_get_the_artifacts_uri_in_their_custom_config(tmp_path):
    decoded = DecodedImages()
    decoded.uri = str(tmp_path / "decoded")
    properties = {"custom_config": json.dumps({"training": {"arm": contract.BILINEAR_BASELINE_ARM}}), "x": 1}
    added = with_decoded_images_uri({contract.DECODED_IMAGES_INPUT: [decoded]}, properties)
    assert json.loads(added["custom_config"]) == {"training": {"arm": contract.BILINEAR_BASELINE_ARM},
                                                  contract.DECODED_IMAGES_CONFIG_KEY: decoded.uri}
    assert added["x"] == 1 and json.loads(properties["custom_config"]) == {
        "training": {"arm": contract.BILINEAR_BASELINE_ARM}}  # the caller's dict is left as it was
    assert with_decoded_images_uri({}, properties) is properties
    # Both components declare the input, optional like TFX's own optional inputs.
    for component in (Trainer, Tuner):
        assert component.SPEC_CLASS.INPUTS[contract.DECODED_IMAGES_INPUT].optional


def test_run_fn_reads_the_uri_it_was_given():
    from trainer.run import decoded_images

    assert decoded_images(SimpleNamespace(custom_config={contract.DECODED_IMAGES_CONFIG_KEY: "/a"})) == "/a"
    assert decoded_images(SimpleNamespace(custom_config=None)) is None


def test_a_remote_split_is_written_and_read_through_local_copies(examples_dir, transform_graph, tmp_path,
                                                                  monkeypatch):
    """On Kubeflow the artifact lies on another file system: written from a local file, read from a local copy."""
    graph_dir, training = transform_graph
    output = tft.TFTransformOutput(graph_dir)
    files = split_files(examples_dir, contract.TRAIN_SPLIT)
    split_dir = str(tmp_path / "Split-train")
    real_isdir, real_isfile = os.path.isdir, os.path.isfile
    # The artifact's folder is not a local path: no file may be memory-mapped inside it.
    monkeypatch.setattr(data.os.path, "isdir", lambda p: False if p.startswith(split_dir) else real_isdir(p))
    monkeypatch.setattr(data.os.path, "isfile", lambda p: False if p.startswith(split_dir) else real_isfile(p))
    data.write_decoded_split(files, output, training.image_size, split_dir)
    read = data.read_decoded_split(split_dir, training.image_size, "disk")
    decoded = data.decode_split(files, output, training.image_size)
    np.testing.assert_array_equal(read.images, decoded.images)
    # auto on a remote file: in memory when it takes at most half of the memory available, else a mapped copy.
    for available, mapped in ((decoded.images.nbytes, True), (4 * decoded.images.nbytes, False)):
        monkeypatch.setattr("psutil.virtual_memory", lambda available=available: SimpleNamespace(available=available))
        auto = data.read_decoded_split(split_dir, training.image_size, "auto")
        assert isinstance(auto.images, np.memmap) == mapped and bool(auto.cache_path) == mapped
        np.testing.assert_array_equal(auto.images, decoded.images)
        auto.close()
    assert read.cache_path and not read.cache_path.startswith(split_dir) and os.path.exists(read.cache_path)
    copy = read.cache_path
    read.close()
    assert not os.path.exists(copy) and os.path.exists(os.path.join(split_dir, contract.DECODED_IMAGES_FILE))
    shutil.rmtree(split_dir)
