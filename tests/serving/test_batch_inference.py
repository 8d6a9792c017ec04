"""Batch inference on Beam (serving/batch_inference.py, serving/saved_model_handler.py, the infer command).

The fast tests need no model: where the model and the images are found
(ingestion's folder walker and its rules), and how each file is classified
before the model sees it.
The slow ones run the Beam job on the small exported model
(tests/conftest.py) and compare every probability with a direct call
of its ``serving_default`` signature.
"""

import argparse
import csv
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from apache_beam.pvalue import TaggedOutput

from components import bad_images, image_records
from serving import batch_inference, infer_command
from serving.saved_model_handler import ModelDirError, Rejection, predict_images, resolve_model_dir
from tests.serving.helpers import write_image_folder
from trainer import contract

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(ROOT, "pipeline_runner.py")


def touch(path, data=b""):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# --- fast: model directory, inputs, classification of files -----------------------------------------

def test_the_newest_numeric_version_is_used(tmp_path):
    for version in ("99", "1700000000", "1800000000"):
        touch(str(tmp_path / version / contract.SAVED_MODEL_FILE))
    touch(str(tmp_path / "latest" / contract.SAVED_MODEL_FILE))  # not a version
    os.makedirs(tmp_path / "1900000000")  # a version directory still being written: no SavedModel yet
    assert resolve_model_dir(str(tmp_path)) == str(tmp_path / "1800000000")
    # A version directory is used as it is.
    assert resolve_model_dir(str(tmp_path / "99") + "/") == str(tmp_path / "99")


def test_a_model_dir_without_a_savedmodel_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "1700000000").mkdir()
    with pytest.raises(ModelDirError, match=f"no SavedModel in {tmp_path}: expected {contract.SAVED_MODEL_FILE}"):
        resolve_model_dir(str(tmp_path))
    with pytest.raises(ModelDirError, match="no such directory"):
        resolve_model_dir(str(tmp_path / "missing"))
    # The command says so and exits 2, before any Beam job starts.
    images = tmp_path / "images"
    touch(str(images / "a.jpg"))
    args = argparse.Namespace(model_dir=str(tmp_path), images=str(images), output=str(tmp_path / "p.csv"),
                              batch_size=4, max_pixels=100)
    assert infer_command.infer_command(args) == 2
    assert f"infer: no SavedModel in {tmp_path}" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


def test_inputs_directory_or_glob(tmp_path):
    assert batch_inference.resolve_inputs(str(tmp_path)) == (None, f"{tmp_path}/")  # walked, not globbed
    assert batch_inference.resolve_inputs(f"{tmp_path}/a/*.jpg") == (f"{tmp_path}/a/*.jpg", f"{tmp_path}/a/")
    assert batch_inference.resolve_inputs("gs://b/photos/") == (None, "gs://b/photos/")
    assert batch_inference.resolve_inputs("gs://b/p/x*/*.png") == ("gs://b/p/x*/*.png", "gs://b/p/")
    assert batch_inference.bad_images_path("/o/predictions.csv") == f"/o/predictions.{contract.BAD_IMAGES_FILE}"
    assert batch_inference.bad_images_path("gs://b/run1") == f"gs://b/run1.{contract.BAD_IMAGES_FILE}"


def read_files(folder, max_pixels=image_records.DEFAULT_MAX_PIXELS):
    """What the job makes of every file before the model: {filename: (outcome, reason, bytes for the model or None)}.

    The directory's listing (ingestion's walker) and ReadImageDoFn on every listed file; a file
    kept with a warning gives its report row's reason (the warning) with its bytes.
    """
    base = os.path.join(str(folder), "")
    names, rows = batch_inference.list_directory(base)
    out = {row.path: (row.outcome, row.reason, None) for row in rows}
    dofn = batch_inference.ReadImageDoFn(base, max_pixels)
    for name in names:
        warned = {}
        for item in dofn.process(name):
            if isinstance(item, TaggedOutput):
                row = item.value
                warned[row.path] = row.reason
                out[row.path] = (row.outcome, row.reason, None)
            else:
                (filename, outcome, reason), data = item
                out[filename] = (outcome, warned.get(filename, reason), data)
    return out


def test_files_are_classified_as_ingestion_does(tmp_path):
    expected = write_image_folder(str(tmp_path))
    got = read_files(tmp_path)
    assert {name: (outcome, reason) for name, (outcome, reason, _) in got.items()} == expected
    for name, (outcome, _, data) in got.items():
        if outcome != image_records.SKIPPED:  # the model gets the normalised bytes, as the Trainer did
            with open(tmp_path / name, "rb") as f:
                assert data == image_records.normalize_image(f.read()).encoded
    # The pixel limit is ingestion's too.
    assert read_files(tmp_path, max_pixels=40 * 70 - 1)["small.jpg"][:2] == (
        image_records.SKIPPED, image_records.TOO_MANY_PIXELS)


def _jpeg(seed, extraneous=b""):
    """A small distinct JPEG; ``extraneous`` bytes are put before its end-of-image marker."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = io.BytesIO()
    Image.fromarray((rng.random((24, 20, 3)) * 255).astype(np.uint8)).save(out, format="JPEG", quality=90)
    data = out.getvalue()
    return data[:-2] + extraneous + data[-2:]


def _folder_with_links(tmp_path):
    """The user's layout: a class folder linking a folder on another disk, one file, and nothing.

    Returns ``(folder, {filename: (outcome, reason)})`` for every file the folder holds or reaches.
    """
    folder, disk = tmp_path / "photos", tmp_path / "other_disk"
    for rel, seed in (("dog/a.jpg", 1), ("dog/b.jpg", 2), ("cat/c.jpg", 3)):
        touch(str(folder / rel), _jpeg(seed))
    for i in range(3):
        touch(str(disk / "more" / f"m{i}.jpg"), _jpeg(10 + i))
    touch(str(disk / "single.jpg"), _jpeg(20))
    touch(str(folder / "dog" / ".DS_Store"), b"\0\0\0\1Bud1")
    touch(str(folder / "cat" / "._c.jpg"), b"\0\5\26\7 apple double")
    touch(str(folder / "cat" / "c.jpg~"), _jpeg(3))
    touch(str(folder / "README.md"), b"# photos\n")
    os.symlink(str(disk / "more"), folder / "dog" / "external_disk")
    os.symlink(str(disk / "single.jpg"), folder / "dog" / "one_file.jpg")
    os.symlink(str(tmp_path / "gone.jpg"), folder / "dog" / "dangling.jpg")
    os.symlink("..", folder / "cat" / "up")
    os.symlink("c.jpg", folder / "cat" / "same.jpg")
    kept = (image_records.KEPT, "")
    expected = {
        "dog/a.jpg": kept, "dog/b.jpg": kept, "cat/c.jpg": kept, "dog/one_file.jpg": kept,
        **{f"dog/external_disk/m{i}.jpg": kept for i in range(3)},
        "dog/dangling.jpg": (image_records.SKIPPED, image_records.UNREADABLE),
        "dog/.DS_Store": (batch_inference.IGNORED, "os_metadata"),
        "cat/._c.jpg": (batch_inference.IGNORED, "apple_double"),
        "cat/c.jpg~": (batch_inference.IGNORED, "editor_backup"),
        "README.md": (batch_inference.IGNORED, "top_level_not_image"),
        "cat/up": (batch_inference.NOT_READ, "link_loop"),
        "cat/same.jpg": (batch_inference.NOT_READ, "same_file_again"),
    }
    return folder, expected


def test_infer_walks_a_folder_as_ingestion_does(tmp_path):
    """Links to another disk and to one file are followed, and every file is classified or reported."""
    from components.image_folder_example_gen import scan_image_folder

    folder, expected = _folder_with_links(tmp_path)
    names, _ = batch_inference.list_directory(os.path.join(str(folder), ""))
    assert names == scan_image_folder(str(folder)).files  # the one walker: ingestion reads the same files
    got = read_files(folder)
    assert {name: (outcome, reason) for name, (outcome, reason, _) in got.items()} == expected
    row = next(batch_inference.ReadImageDoFn(os.path.join(str(folder), ""), 100).process("dog/dangling.jpg")).value
    assert row.detail == f"dangling link: dog/dangling.jpg -> {tmp_path / 'gone.jpg'}"


def test_infer_walks_a_flat_folder_with_the_same_rules(tmp_path):
    """No class folders: top-level images are read; links, hidden files and metadata as in an image folder."""
    folder = tmp_path / "flat"
    touch(str(folder / "IMG_1.JPG"), _jpeg(1))
    touch(str(folder / "img_2.jpeg"), _jpeg(2))
    touch(str(folder / ".hidden.jpg"), _jpeg(3))
    touch(str(folder / "Thumbs.db"), b"thumbs")
    touch(str(folder / "notes.txt"), b"text")
    touch(str(folder / "__MACOSX" / "._IMG_1.JPG"), b"fork")
    touch(str(tmp_path / "elsewhere" / "x.jpg"), _jpeg(4))
    os.symlink("IMG_1.JPG", folder / "copy.jpg")
    os.symlink(str(tmp_path / "elsewhere"), folder / "linked")
    os.symlink("loop.jpg", folder / "loop.jpg")
    got = read_files(folder)
    assert {name: (outcome, reason) for name, (outcome, reason, _) in got.items()} == {
        "IMG_1.JPG": (image_records.KEPT, ""), "img_2.jpeg": (image_records.KEPT, ""),
        "linked/x.jpg": (image_records.KEPT, ""),
        ".hidden.jpg": (batch_inference.IGNORED, "hidden"),
        "Thumbs.db": (batch_inference.IGNORED, "os_metadata"),
        "notes.txt": (batch_inference.IGNORED, "top_level_not_image"),
        "__MACOSX/._IMG_1.JPG": (batch_inference.IGNORED, "os_metadata"),
        "copy.jpg": (batch_inference.NOT_READ, "same_file_again"),
        "loop.jpg": (batch_inference.NOT_READ, "link_loop_or_unresolvable"),
    }


def test_a_glob_applies_the_same_ignore_rules():
    assert batch_inference.glob_decision("dog/a.jpg") == ""
    assert batch_inference.glob_decision("dog/.DS_Store") == "os_metadata"
    assert batch_inference.glob_decision("__MACOSX/dog/a.jpg") == "os_metadata"
    assert batch_inference.glob_decision("dog/._a.jpg") == "apple_double"
    assert batch_inference.glob_decision(".cache/a.jpg") == "hidden"
    assert batch_inference.glob_decision("a.jpg~") == "editor_backup"


def test_a_jpeg_libjpeg_warns_about_is_classified_and_reported_by_name(tmp_path, capfd):
    folder = tmp_path / "warned"
    touch(str(folder / "fine.jpg"), _jpeg(1))
    touch(str(folder / "damaged.jpg"), _jpeg(2, extraneous=b"\x03" * 40))
    capfd.readouterr()
    got = read_files(folder)
    assert "Corrupt JPEG" not in capfd.readouterr().err
    assert {name: (outcome, reason) for name, (outcome, reason, _) in got.items()} == {
        "fine.jpg": (image_records.KEPT, ""), "damaged.jpg": (image_records.KEPT, "jpeg_extraneous_bytes")}
    assert got["damaged.jpg"][2] is not None  # classified, with the repaired bytes
    assert len(got["damaged.jpg"][2]) < os.path.getsize(folder / "damaged.jpg")


# --- slow: the Beam job on the exported model ------------------------------------------------------------

def direct_outputs(loaded, images):
    import tensorflow as tf

    out = loaded.signatures[contract.SERVING_DEFAULT_SIGNATURE](
        **{contract.IMAGE_BYTES_INPUT: tf.constant(images, dtype=tf.string)})
    return {k: v.numpy() for k, v in out.items()}


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def read_tsv(path):
    with open(path) as f:
        lines = f.read().splitlines()
    assert lines[0] == bad_images.BAD_IMAGES_HEADER
    return {row.path: (row.outcome, row.reason) for row in bad_images.read_bad_images(path)}


def assert_matches_the_model(csv_path, folder, loaded, class_names):
    """Every CSV row: the class and probabilities serving_default gives for the normalised bytes (within 1e-5)."""
    header, rows = read_csv(csv_path)
    assert header == [contract.FILENAME_COLUMN, contract.CLASS_COLUMN] + [
        contract.PROBABILITY_COLUMN_PREFIX + name for name in class_names]
    names = [row[0] for row in rows]
    assert names == sorted(names)
    images = []
    for name in names:
        with open(os.path.join(folder, name), "rb") as f:
            images.append(image_records.normalize_image(f.read()).encoded)
    want = direct_outputs(loaded, images)
    got = np.array([[float(p) for p in row[2:]] for row in rows])
    np.testing.assert_allclose(got, want[contract.PROBABILITIES_OUTPUT], rtol=0, atol=1e-5)
    assert [row[1] for row in rows] == [n.decode() for n in want[contract.CLASS_NAME_OUTPUT]]
    return names


@pytest.fixture(scope="module")
def folder_run(serving_model, tmp_path_factory):
    """The job once over the image folder, with the model's base directory (its newest version is used)."""
    export_dir, _, _ = serving_model
    root = tmp_path_factory.mktemp("batch_inference")
    folder = str(root / "images")
    expected = write_image_folder(folder)
    summary = batch_inference.run_batch_inference(os.path.dirname(export_dir), folder,
                                                  str(root / "out" / "predictions.csv"), batch_size=3)
    return folder, expected, summary


@pytest.mark.slow
def test_every_good_image_is_classified_as_the_model_does(serving_model, folder_run):
    export_dir, loaded, config = serving_model
    folder, expected, summary = folder_run
    names = assert_matches_the_model(summary.predictions_path, folder, loaded, config.class_names)
    assert set(names) == {name for name, (outcome, _) in expected.items()
                          if outcome in (image_records.KEPT, image_records.CONVERTED)}
    assert summary.model_dir == export_dir


@pytest.mark.slow
def test_bad_files_are_reported_with_ingestions_reasons(folder_run):
    _, expected, summary = folder_run
    assert summary.bad_images_path == os.path.join(os.path.dirname(summary.predictions_path),
                                                   f"predictions.{contract.BAD_IMAGES_FILE}")
    assert read_tsv(summary.bad_images_path) == {
        name: expected[name] for name, (outcome, _) in expected.items() if outcome != image_records.KEPT}
    assert (summary.files, summary.classified, summary.kept, summary.converted, summary.skipped,
            summary.ignored) == (11, 7, 4, 3, 3, 1)
    assert summary.skipped_by_reason == {image_records.CORRUPT: 1, image_records.EMPTY_FILE: 1,
                                         image_records.NOT_AN_IMAGE: 1}
    assert summary.ignored_by_reason == {"os_metadata": 1}


@pytest.mark.slow
def test_a_glob_selects_files_and_names_them_from_its_directory(serving_model, folder_run, tmp_path):
    _, loaded, config = serving_model
    folder = folder_run[0]
    summary = batch_inference.run_batch_inference(serving_model[0], os.path.join(folder, "sub", "*.*"),
                                                  str(tmp_path / "p.csv"))
    assert assert_matches_the_model(summary.predictions_path, os.path.join(folder, "sub"), loaded,
                                    config.class_names) == ["alpha.png", "gray.jpg", "still.gif"]
    assert read_tsv(summary.bad_images_path) == {"alpha.png": (image_records.CONVERTED, image_records.ALPHA),
                                                 "still.gif": (image_records.CONVERTED, image_records.GIF)}


@pytest.mark.slow
def test_every_file_of_a_folder_with_links_is_classified_or_reported(serving_model, tmp_path, capfd):
    """The user's folder end to end: links followed as ingestion follows them, the rest reported with reasons."""
    _, loaded, config = serving_model
    folder, expected = _folder_with_links(tmp_path)
    touch(str(folder / "cat" / "damaged.jpg"), _jpeg(30, extraneous=b"\x04" * 60))
    expected["cat/damaged.jpg"] = (image_records.KEPT, "jpeg_extraneous_bytes")
    summary = batch_inference.run_batch_inference(serving_model[0], str(folder), str(tmp_path / "out" / "p.csv"),
                                                  batch_size=4)
    assert "Corrupt JPEG" not in capfd.readouterr().err
    classified = assert_matches_the_model(summary.predictions_path, str(folder), loaded, config.class_names)
    assert set(classified) == {name for name, (outcome, _) in expected.items() if outcome == image_records.KEPT}
    assert read_tsv(summary.bad_images_path) == {
        name: outcome for name, outcome in expected.items() if outcome != (image_records.KEPT, "")}
    assert (summary.files, summary.classified, summary.skipped, summary.ignored, summary.not_read,
            summary.warned) == (len(expected), 8, 1, 4, 2, 1)
    assert infer_command.summary_lines(summary)[0].endswith(
        "skipped 1: unreadable=1; ignored (not data) 4: apple_double=1, editor_backup=1, os_metadata=1, "
        "top_level_not_image=1; links not read 2: link_loop=1, same_file_again=1; "
        "kept with a warning 1: jpeg_extraneous_bytes=1")


@pytest.mark.slow
def test_an_image_the_model_cannot_decode_leaves_the_rest_of_its_batch(serving_model, folder_run):
    _, loaded, _ = serving_model
    folder = folder_run[0]
    good = [open(os.path.join(folder, name), "rb").read() for name in ("small.jpg", "tall.png")]
    results = predict_images(loaded.signatures[contract.SERVING_DEFAULT_SIGNATURE], [good[0], b"\xff\xd8 no", good[1]])
    assert isinstance(results[1], Rejection) and results[1].detail
    want = direct_outputs(loaded, good)
    np.testing.assert_allclose([results[0].probabilities, results[2].probabilities],
                               want[contract.PROBABILITIES_OUTPUT], rtol=0, atol=1e-5)


@pytest.mark.slow
def test_infer_command_end_to_end_with_two_beam_workers(serving_model, folder_run, tmp_path):
    """The CLI in a subprocess; Beam arguments after -- reach Beam (two worker processes)."""
    export_dir, loaded, config = serving_model
    folder = folder_run[0]
    output = tmp_path / "cli" / "predictions.csv"
    proc = subprocess.run(
        [sys.executable, RUNNER, "infer", "--model-dir", os.path.dirname(export_dir), "--images", folder,
         "--output", str(output), "--batch-size", "2", "--",
         "--direct_running_mode=multi_processing", "--direct_num_workers=2"],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert ("Classified 7 of 11 files (4 kept, 3 converted)" in proc.stdout
            and "skipped 3: corrupt=1, empty_file=1, not_an_image=1; ignored (not data) 1: os_metadata=1"
            in proc.stdout), proc.stdout
    assert_matches_the_model(str(output), folder, loaded, config.class_names)
    assert read_tsv(str(output.parent / f"predictions.{contract.BAD_IMAGES_FILE}")) == read_tsv(
        folder_run[2].bad_images_path)
    # No SavedModel: a clear message and exit status 2.
    proc = subprocess.run([sys.executable, RUNNER, "infer", "--model-dir", str(tmp_path), "--images", folder,
                           "--output", str(tmp_path / "x.csv")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and f"infer: no SavedModel in {tmp_path}" in proc.stderr, proc.stderr[-3000:]


def test_summary_lines():
    summary = batch_inference.Summary("/m/1", "/o/p.csv", "/o/p.bad", classified=5, kept=4, converted=1, skipped=2,
                                      skipped_by_reason={image_records.CORRUPT: 2}, seconds=3.21)
    out = io.StringIO()
    print("\n".join(infer_command.summary_lines(summary)), file=out)
    assert out.getvalue().splitlines()[0] == (
        "Classified 5 of 7 files (4 kept, 1 converted) in 3.2 s; skipped 2: corrupt=2")


def test_the_job_and_its_command_share_the_default_batch_size_without_importing_each_other():
    code = ("import sys, serving.batch_inference as b; "
            "print('serving.infer_command' in sys.modules, b.DEFAULT_BATCH_SIZE)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=os.path.dirname(RUNNER), env={**os.environ, "PYTHONPATH": os.path.dirname(RUNNER)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-2:] == ["False", str(contract.DEFAULT_INFER_BATCH_SIZE)]
    assert infer_command.DEFAULT_BATCH_SIZE == contract.DEFAULT_INFER_BATCH_SIZE
