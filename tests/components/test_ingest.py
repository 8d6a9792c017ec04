"""The shared ingestion executor's parts that run without a pipeline: per-item steps, the report, the checks.

The executor itself runs end to end (a manifest source) in test_ingest_sources.py.
"""

import hashlib
import json
import os
import re
import tempfile

import numpy as np
import pytest
from apache_beam.pvalue import TaggedOutput
from PIL import Image

from components import _ingest, image_records
from components.bad_images import TooManyBadImagesError, read_bad_images
from tests.components.helpers import feature, png_bytes
from trainer import contract

PNG = png_bytes(Image.fromarray(np.full((6, 5, 3), 120, np.uint8)))
OTHER_PNG = png_bytes(Image.fromarray(np.full((6, 5, 3), 30, np.uint8)))


def split_outputs(outputs):
    """(main outputs, {tag: [values]}) of a DoFn's ``process``."""
    main, tagged = [], {}
    for out in outputs:
        if isinstance(out, TaggedOutput):
            tagged.setdefault(out.tag, []).append(out.value)
        else:
            main.append(out)
    return main, tagged


# --- per item --------------------------------------------------------------------------------------------------

def test_normalize_gives_a_record_and_a_report_row_for_every_item():
    do_fn = _ingest.NormalizeDoFn(max_pixels=1000)
    items = [
        _ingest.IngestItem("train", "cat/a.png", 0, "cat", PNG),
        _ingest.IngestItem("train", "cat/.hidden.png", 0, "cat", PNG, image_records.HIDDEN_FILE, "hidden\tfile"),
        _ingest.IngestItem("test", "dog/gone.png", 1, "dog", None, skip_detail="permission denied"),
        _ingest.IngestItem("test", "dog/copy.png", 1, "dog", PNG, conflict="same bytes as cat/a.png"),
    ]
    main, tagged = split_outputs(out for item in items for out in do_fn.process(item))
    assert tagged[_ingest.NormalizeDoFn.REPORT] == [
        _ingest.ReportRow("train", image_records.KEPT, "", "cat/a.png", "", "cat"),
        _ingest.ReportRow("train", image_records.SKIPPED, image_records.HIDDEN_FILE, "cat/.hidden.png", "hidden file",
                          "cat"),
        _ingest.ReportRow("test", image_records.SKIPPED, image_records.UNREADABLE, "dog/gone.png", "permission denied",
                          "dog"),
        _ingest.ReportRow("test", image_records.SKIPPED, image_records.LABEL_CONFLICT, "dog/copy.png",
                          "same bytes as cat/a.png", "dog"),
    ]
    [(split, serialized)] = main
    import tensorflow as tf

    example = tf.train.Example.FromString(serialized)
    assert split == "train"
    assert feature(example, contract.IMAGE_KEY) == PNG
    assert feature(example, contract.FILENAME_KEY) == b"cat/a.png"
    assert (feature(example, contract.LABEL_KEY), feature(example, contract.LABEL_NAME_KEY)) == (0, b"cat")


def test_too_many_pixels_is_skipped_with_the_limit_the_executor_was_given():
    main, tagged = split_outputs(_ingest.NormalizeDoFn(max_pixels=29).process(
        _ingest.IngestItem("train", "big.png", 0, "cat", PNG)))
    assert main == []
    [row] = tagged[_ingest.NormalizeDoFn.REPORT]
    assert (row.outcome, row.reason) == (image_records.SKIPPED, image_records.TOO_MANY_PIXELS)


def test_content_keys_group_identical_bytes_only_and_carry_no_bytes():
    item = _ingest.IngestItem("train", "a.png", 0, "cat", PNG)
    digest = hashlib.sha256(PNG).hexdigest()
    assert _ingest._content_key(item) == ("sha256:" + digest, item._replace(data=None, sha256=digest))
    for other in (item._replace(data=None), item._replace(data=b""), item._replace(skip_reason="hidden_file")):
        assert _ingest._content_key(other) == ("path:a.png", other)


def stripped(item):
    """``item`` as the grouping carries it (:func:`_ingest._content_key`)."""
    return _ingest._content_key(item)[1]


def group(items, keep=False):
    """GroupDuplicatesDoFn on ``items`` (one content key), reading the bytes they had by path."""
    files = {it.path: it.data for it in items}
    key = _ingest._content_key(items[0])[0]
    do_fn = _ingest.GroupDuplicatesDoFn(max_pixels=1000, read=files.__getitem__, keep_label_conflicts=keep)
    return split_outputs(do_fn.process((key, [stripped(it) for it in items])))


def test_an_item_is_read_again_as_it_was_or_skipped_as_unreadable_naming_why():
    item = _ingest.IngestItem("train", "cat/a.png", 0, "cat", PNG)
    files = {"cat/a.png": PNG}
    assert _ingest.read_again(stripped(item), files.__getitem__) == item._replace(sha256=stripped(item).sha256)
    # Bytes kept, pre-skipped, unreadable at the first read: as they are, nothing read.
    for untouched in (item, item._replace(data=None, skip_reason=image_records.HIDDEN_FILE),
                      item._replace(data=None, skip_reason=image_records.UNREADABLE, skip_detail="gone")):
        assert _ingest.read_again(untouched, {}.__getitem__) is untouched

    def removed(path):
        raise _ingest.UnreadableError(f"NotFoundError: {path}; No such file or directory")

    def denied(path):
        raise PermissionError(13, "Permission denied")

    cases = [(removed, "NotFoundError: cat/a.png; No such file or directory"),
             (denied, "PermissionError: [Errno 13] Permission denied"),
             ({"cat/a.png": OTHER_PNG}.__getitem__, _ingest.CHANGED_WHILE_READ)]
    for read, detail in cases:
        again = _ingest.read_again(stripped(item), read)
        assert (again.data, again.skip_reason, again.skip_detail) == (None, image_records.UNREADABLE, detail)
        [row] = split_outputs(_ingest.NormalizeDoFn(max_pixels=1000).process(again))[1][_ingest.NormalizeDoFn.REPORT]
        assert (row.outcome, row.reason, row.detail) == (image_records.SKIPPED, image_records.UNREADABLE, detail)


def test_a_plan_that_groups_duplicates_must_say_how_to_read_again():
    with pytest.raises(ValueError, match="read_again"):
        _ingest.IngestPlan(source="s", label_names=["a"], split_names=["train"], read=None, group_duplicates=True)


def test_copies_under_one_class_go_to_the_split_of_the_first_path():
    items = [_ingest.IngestItem("test", "cat/b.png", 0, "cat", PNG), _ingest.IngestItem("train", "cat/a.png", 0, "cat",
                                                                                         PNG)]
    main, tagged = group(items)
    assert [(it.path, it.split, it.conflict) for it in main] == [("cat/a.png", "train", ""),
                                                                  ("cat/b.png", "train", "")]
    # Copies are read again in the grouping (their hash checked); only a group of copies carries bytes on.
    assert all(it.data == PNG and it.sha256 == hashlib.sha256(PNG).hexdigest() for it in main)
    assert tagged[_ingest.GroupDuplicatesDoFn.DUPLICATES] == [("duplicate", {
        "sha256": hashlib.sha256(PNG).hexdigest(), "split": "train", "paths": ["cat/a.png", "cat/b.png"],
        "label_name": "cat"})]


def test_copies_under_two_classes_are_a_label_conflict_naming_the_other_copies():
    items = [_ingest.IngestItem("train", "dog/a.png", 1, "dog", PNG), _ingest.IngestItem("test", "cat/a.png", 0,
                                                                                         "cat", PNG)]
    main, tagged = group(items)
    assert [(it.path, it.split, it.conflict) for it in main] == [
        ("cat/a.png", "test", "same bytes as dog/a.png (classes cat, dog)"),
        ("dog/a.png", "test", "same bytes as cat/a.png (classes cat, dog)")]
    [(kind, entry)] = tagged[_ingest.GroupDuplicatesDoFn.DUPLICATES]
    assert kind == "label_conflict" and entry["label_names"] == ["cat", "dog"] and entry["trained_on"] is False
    main, tagged = group(items, keep=True)
    assert [it.conflict for it in main] == ["", ""]
    assert tagged[_ingest.GroupDuplicatesDoFn.DUPLICATES][0][1]["trained_on"] is True


def test_single_files_and_identical_non_images_are_left_alone():
    single = [_ingest.IngestItem("test", "a.png", 0, "cat", PNG)]
    assert group(single) == ([stripped(single[0])], {})
    junk = [_ingest.IngestItem("test", "b.jpg", 0, "cat", b"junk"), _ingest.IngestItem("train", "a.jpg", 1, "dog",
                                                                                         b"junk")]
    # Sorted by path, each in its own split: both are skipped as not_an_image later, not reported as copies.
    assert group(junk) == ([stripped(junk[1])._replace(data=b"junk"), stripped(junk[0])._replace(data=b"junk")], {})
    # A copy removed or changed since it was hashed is unreadable and no copy; the others are still grouped.
    copies = [stripped(_ingest.IngestItem("train", "cat/a.png", 0, "cat", PNG)),
              stripped(_ingest.IngestItem("test", "cat/b.png", 0, "cat", PNG)),
              stripped(_ingest.IngestItem("validation", "dog/c.png", 1, "dog", PNG))]
    for files in ({"cat/b.png": PNG, "dog/c.png": PNG}, {"cat/a.png": OTHER_PNG, "cat/b.png": PNG, "dog/c.png": PNG}):
        do_fn = _ingest.GroupDuplicatesDoFn(max_pixels=1000, read=files.__getitem__)
        main, tagged = split_outputs(do_fn.process(("sha256:" + copies[0].sha256, copies)))
        assert [(it.path, it.skip_reason) for it in main] == [
            ("cat/a.png", image_records.UNREADABLE), ("cat/b.png", ""), ("dog/c.png", "")]
        assert [(it.split, bool(it.conflict)) for it in main[1:]] == [("test", True), ("test", True)]
        [(kind, entry)] = tagged[_ingest.GroupDuplicatesDoFn.DUPLICATES]
        assert kind == "label_conflict" and entry["paths"] == ["cat/b.png", "dog/c.png"]
    unread = [_ingest.IngestItem("test", "u.png", 0, "cat", None, image_records.UNREADABLE)]
    assert group(unread) == (unread, {})


def test_the_duplicates_section_counts_groups_files_and_extra_copies():
    duplicate = {"paths": ["b", "c", "d"], "split": "train"}
    conflict = {"paths": ["x", "y"], "split": "test"}
    section = _ingest._duplicates_section(None, [("label_conflict", conflict), ("duplicate", duplicate),
                                                 ("duplicate", {"paths": ["a", "e"], "split": "test"})])
    assert section["duplicates"]["groups"] == 2 and section["duplicates"]["files"] == 5
    assert section["duplicates"]["extra_copies"] == 3
    assert [e["paths"] for e in section["duplicates"]["entries"]] == [["a", "e"], ["b", "c", "d"]]
    assert section["label_conflicts"] == {"groups": 1, "files": 2, "entries": [conflict]}
    empty = _ingest._duplicates_section(None, [])
    assert empty["duplicates"]["groups"] == 0 and empty["label_conflicts"]["files"] == 0


# --- the report ------------------------------------------------------------------------------------------------

COUNTS = [
    (("train", image_records.KEPT, "", "cat"), 3),
    (("train", image_records.CONVERTED, image_records.ALPHA, "cat"), 1),
    (("train", image_records.SKIPPED, image_records.CORRUPT, "dog"), 2),
    (("test", image_records.KEPT, "", "dog"), 2),
    (("test", image_records.KEPT, "jpeg_extraneous_bytes", "dog"), 1),
]
BAD_ROWS = [
    _ingest.ReportRow("train", image_records.SKIPPED, image_records.CORRUPT, "dog/x.jpg", "broken", "dog"),
    _ingest.ReportRow("train", image_records.SKIPPED, image_records.CORRUPT, "dog/y.jpg", "", "dog"),
    _ingest.ReportRow("train", image_records.CONVERTED, image_records.ALPHA, "cat/a.png", "", "cat"),
    _ingest.ReportRow("test", image_records.KEPT, "jpeg_extraneous_bytes", "dog/w.jpg", "Corrupt JPEG data", "dog"),
]


def build(split_names=("train", "test"), label_names=("cat", "dog"), counts=COUNTS, **extra):
    return _ingest._build_report(None, counts, list(split_names),
                                 {"component": "Gen", "label_names": list(label_names), **extra},
                                 sections=[{"duplicates": {"groups": 0}}], bad_rows=BAD_ROWS)


def test_the_report_counts_per_split_totals_and_classes():
    report = build()
    assert report["component"] == "Gen" and report["duplicates"] == {"groups": 0}
    assert report["bad_images_file"] == contract.BAD_IMAGES_FILE
    assert report["splits"]["train"] == {
        "files_in": 6, "records_out": 4, "kept": 3, "converted": 1, "skipped": 2, "kept_with_warning": 0,
        "converted_by_reason": {"alpha": 1}, "skipped_by_reason": {"corrupt": 2}, "warnings_by_reason": {}}
    assert report["splits"]["test"] == {
        "files_in": 3, "records_out": 3, "kept": 3, "converted": 0, "skipped": 0, "kept_with_warning": 1,
        "converted_by_reason": {}, "skipped_by_reason": {}, "warnings_by_reason": {"jpeg_extraneous_bytes": 1}}
    assert report["totals"] == {
        "files_in": 9, "records_out": 7, "kept": 6, "converted": 1, "skipped": 2, "kept_with_warning": 1,
        "converted_by_reason": {"alpha": 1}, "skipped_by_reason": {"corrupt": 2},
        "warnings_by_reason": {"jpeg_extraneous_bytes": 1}}
    assert report["classes"] == {"cat": {"files_in": 4, "records_out": 4, "skipped_by_reason": {}},
                                 "dog": {"files_in": 5, "records_out": 3, "skipped_by_reason": {"corrupt": 2}}}
    assert report["warnings"] == {"count": 1, "by_reason": {"jpeg_extraneous_bytes": 1}, "entries": [
        {"path": "dog/w.jpg", "split": "test", "reason": "jpeg_extraneous_bytes", "detail": "Corrupt JPEG data"}]}
    assert "empty_class_folders" not in report
    json.dumps(report)  # what ingest_report.json holds


def test_a_split_without_files_is_reported_with_zeros():
    report = build(split_names=("train", "validation", "test"))
    assert report["splits"]["validation"]["files_in"] == report["splits"]["validation"]["records_out"] == 0


def test_classes_without_records_are_listed_where_the_source_reports_class_folders():
    report = build(label_names=("cat", "dog", "owl"),
                   counts=[c for c in COUNTS if c[0][3] == "cat" or c[0][2] == image_records.CORRUPT],
                   empty_class_folders={"ignored": [], "ignore_empty_class_folders": False})
    assert report["empty_class_folders"]["no_records"] == [
        {"class": "dog", "files_in": 2, "skipped_by_reason": {"corrupt": 2}},
        {"class": "owl", "files_in": 0, "skipped_by_reason": {}}]
    assert report["empty_class_folders"]["ignore_empty_class_folders"] is False


def test_the_reports_are_written_and_read_back(tmp_path):
    report = build()
    _ingest._write_reports(report, BAD_ROWS, str(tmp_path))
    assert _ingest.read_report(str(tmp_path)) == report
    rows = read_bad_images(str(tmp_path / contract.BAD_IMAGES_FILE))
    assert [row.path for row in rows] == ["cat/a.png", "dog/w.jpg", "dog/x.jpg", "dog/y.jpg"]
    assert rows[2] == ("train", image_records.SKIPPED, image_records.CORRUPT, "dog/x.jpg", "broken")


def test_the_layout_summary_names_what_was_not_plainly_kept():
    assert _ingest.layout_summary({}) == ""
    assert _ingest.layout_summary({"warnings": {"count": 0}, "duplicates": {"groups": 0}}) == ""
    summary = _ingest.layout_summary({
        "warnings": {"count": 1, "by_reason": {"jpeg_extraneous_bytes": 1}},
        "ignored": {"count": 2, "by_reason": {"not_data": 2}},
        "links": {"count": 1, "by_reason": {"symlink": 1}},
        "duplicates": {"groups": 1, "files": 3},
        "label_conflicts": {"groups": 1, "files": 2},
        "empty_class_folders": {"ignored": ["owl"], "no_records": [{"class": "dog"}]},
    })
    assert summary == (
        ' 1 kept with a warning {"jpeg_extraneous_bytes": 1} (by name in bad_images.tsv); '
        '2 ignored (not data: {"not_data": 2}); 1 links not followed or files reached twice {"symlink": 1}; '
        "3 files in 1 groups of identical bytes (each group in one split); "
        "2 files in 1 label conflicts (same bytes, different classes); empty class folders ignored: ['owl']; "
        "classes with no records (their files all skipped): ['dog'];")


# --- label names, parameters -----------------------------------------------------------------------------------

def test_label_names_are_written_one_per_line_in_label_order(tmp_path):
    uri = str(tmp_path / "new" / "examples")
    _ingest.write_label_names(uri, ["zebra", "ant", "two words"])
    with open(os.path.join(uri, contract.LABEL_NAMES_FILE)) as f:
        assert f.read() == "zebra\nant\ntwo words\n"


@pytest.mark.parametrize("bad", ["", "a\nb", "a\rb"])
def test_a_label_name_that_is_not_one_line_is_refused(tmp_path, bad):
    with pytest.raises(ValueError, match=re.escape(f"label name {bad!r} cannot be written one per line")):
        _ingest.write_label_names(str(tmp_path), ["ok", bad])
    assert not os.path.exists(tmp_path / contract.LABEL_NAMES_FILE)


def test_the_common_arguments_are_checked():
    _ingest.validate_common(1, 0.0)
    _ingest.validate_common(50_000_000, 1.0)
    for max_pixels in (0, -3, 2.5, "100"):
        with pytest.raises(ValueError, match=f"max_pixels must be a positive int, got {max_pixels!r}"):
            _ingest.validate_common(max_pixels, 0.1)
    for fraction in (-0.01, 1.5):
        with pytest.raises(ValueError, match=f"max_bad_fraction must be in \\[0, 1\\], got {fraction!r}"):
            _ingest.validate_common(100, fraction)


def test_every_ingestion_spec_takes_the_same_two_parameters():
    parameters = _ingest.ingest_parameters()
    assert set(parameters) == {_ingest.MAX_PIXELS_KEY, _ingest.MAX_BAD_FRACTION_KEY} == {"max_pixels",
                                                                                          "max_bad_fraction"}
    assert parameters["max_pixels"].type is int and parameters["max_bad_fraction"].type is float


def test_a_source_must_implement_plan():
    with pytest.raises(NotImplementedError, match="IngestExecutor must implement plan"):
        _ingest.IngestExecutor().plan({})


# --- after Beam: the artifact and the checks that stop a run --------------------------------------------------

@pytest.fixture
def examples(tmp_path, monkeypatch):
    from tfx.types import standard_artifacts

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where keep_report_copy puts its copy
    os.makedirs(tmp_path / "tmp")
    artifact = standard_artifacts.Examples()
    artifact.uri = str(tmp_path / "examples")
    os.makedirs(artifact.uri)
    return artifact


def finish(examples, report, split_names=("train", "test"), max_bad_fraction=0.5):
    _ingest._write_reports(report, BAD_ROWS, examples.uri)
    return _ingest.finish_examples_artifact("Gen", examples, list(split_names), report["label_names"],
                                            max_bad_fraction)


def test_the_artifact_gets_its_splits_formats_and_counts(examples):
    from tfx.components.util import examples_utils
    from tfx.types import artifact_utils

    report = finish(examples, build())
    assert report == build()
    assert artifact_utils.decode_split_names(examples.split_names) == ["train", "test"]
    assert examples_utils.get_file_format(examples) == "tfrecords_gzip"
    assert json.loads(examples.get_string_custom_property(contract.LABEL_NAMES_PROPERTY)) == ["cat", "dog"]
    assert {name: examples.get_int_custom_property(name)
            for name in ("num_files_in", "num_records", "num_converted", "num_skipped")} == {
        "num_files_in": 9, "num_records": 7, "num_converted": 1, "num_skipped": 2}


def kept_copy(message):
    """The folder a failed run's report was copied to, from the error's message."""
    folder = message.split("a copy of the report is kept at ")[1].split(f"/{contract.BAD_IMAGES_FILE}")[0]
    assert sorted(os.listdir(folder)) == [contract.BAD_IMAGES_FILE, contract.INGEST_REPORT_FILE]
    assert os.path.basename(folder).startswith("Gen-failed-ingest-")
    return folder


def test_too_many_skipped_files_stop_the_run_keeping_a_copy_of_the_report(examples):
    with pytest.raises(TooManyBadImagesError) as raised:
        finish(examples, build(), max_bad_fraction=0.2)
    message = str(raised.value)
    assert message.startswith("Gen: 2 of 9 input files (22.2%) were skipped, above max_bad_fraction=0.2; "
                              "worst reasons: corrupt=2; see ")
    folder = kept_copy(message)
    assert _ingest.read_report(folder) == build()


def test_a_class_without_records_stops_the_run_naming_it_and_its_reasons(examples):
    report = build(label_names=("cat", "dog", "owl"),
                   counts=[c for c in COUNTS if c[0][3] == "cat" or c[0][2] == image_records.CORRUPT],
                   empty_class_folders={"ignored": []})
    with pytest.raises(ValueError) as raised:
        finish(examples, report)
    message = str(raised.value)
    assert message.startswith(
        "Gen: class folder(s) gave no record in any split, so their class(es) would have no examples: "
        "'dog' (2 file(s), all skipped: 2 corrupt); 'owl' (no file); add usable images, remove the folder(s), or "
        "set ignore_empty_class_folders=True (data.ignore_empty_class_folders) to go on with them reported; ")
    kept_copy(message)


def test_classes_without_records_are_only_logged_when_asked(examples, caplog):
    report = build(label_names=("cat", "dog", "owl"), empty_class_folders={"ignore_empty_class_folders": True})
    finish(examples, report)
    assert "class folder(s) with no record in any split (kept as labels without examples): 'owl' (no file)" in (
        caplog.text)


def test_a_split_without_records_stops_the_run_naming_it(examples):
    with pytest.raises(ValueError) as raised:
        finish(examples, build(split_names=("train", "validation", "test")), ("train", "validation", "test"))
    message = str(raised.value)
    assert message.startswith("Gen: split(s) 'validation' got no records (per split records/files: train: 4/6, "
                              "validation: 0/0, test: 3/3); add images or give those splits a larger share; ")
    kept_copy(message)
