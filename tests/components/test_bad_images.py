"""The bad-image report (bad_images.tsv): its columns, writing and reading it back, and the bad-fraction budget."""

import pytest

from components import bad_images, image_records
from serving import batch_inference
from trainer import contract


def test_the_columns_and_the_header():
    assert bad_images.BAD_IMAGES_COLUMNS == ("split", "outcome", "reason", "path", "detail")
    assert bad_images.BAD_IMAGES_HEADER == "split\toutcome\treason\tpath\tdetail"
    assert bad_images.BadImageRow._fields == bad_images.BAD_IMAGES_COLUMNS


def test_clean_makes_one_line_of_any_value():
    assert bad_images.clean("a\tb\nc\r\nd") == "a b c d"
    assert bad_images.clean("  many   spaces\t\t") == "many spaces"
    assert bad_images.clean(42) == "42"
    assert bad_images.clean(ValueError("bad\nthing")) == "bad thing"
    assert bad_images.clean("") == ""


def test_rows_are_sorted_by_path_split_outcome_and_cleaned():
    rows = [bad_images.BadImageRow("train", "skipped", "corrupt", "z.jpg", ""),
            bad_images.BadImageRow("eval", "converted", "alpha", "a.png", "x\ty"),
            bad_images.BadImageRow("train", "converted", "alpha", "a.png", "")]
    assert bad_images.format_bad_images(rows) == (
        "split\toutcome\treason\tpath\tdetail\n"
        "eval\tconverted\talpha\ta.png\tx y\n"
        "train\tconverted\talpha\ta.png\t\n"
        "train\tskipped\tcorrupt\tz.jpg\t\n")
    assert bad_images.format_bad_images([]) == bad_images.BAD_IMAGES_HEADER + "\n"


def test_an_empty_report_round_trips(tmp_path):
    path = str(tmp_path / contract.BAD_IMAGES_FILE)
    bad_images.write_bad_images([], path)
    assert bad_images.read_bad_images(path) == []


def test_write_replaces_an_existing_report(tmp_path):
    path = str(tmp_path / contract.BAD_IMAGES_FILE)
    bad_images.write_bad_images([bad_images.BadImageRow("train", "skipped", "corrupt", "old.jpg", "")], path)
    new = [bad_images.BadImageRow("test", "kept", "jpeg_extraneous_bytes", "new.jpg", "Corrupt JPEG data")]
    bad_images.write_bad_images(new, path)
    assert bad_images.read_bad_images(path) == new


def test_report_rows_are_one_line_each(tmp_path):
    rows = [batch_inference.report_row(image_records.SKIPPED, image_records.CORRUPT, "b\tc.jpg", "line 1\nline 2"),
            batch_inference.report_row(image_records.CONVERTED, image_records.ALPHA, "a.png", "")]
    path = str(tmp_path / "bad.tsv")
    bad_images.write_bad_images(rows, path)
    with open(path) as f:
        assert f.read().splitlines() == ["split\toutcome\treason\tpath\tdetail", "\tconverted\talpha\ta.png\t",
                                         "\tskipped\tcorrupt\tb c.jpg\tline 1 line 2"]
    assert bad_images.read_bad_images(path) == [
        bad_images.BadImageRow("", image_records.CONVERTED, image_records.ALPHA, "a.png", ""),
        bad_images.BadImageRow("", image_records.SKIPPED, image_records.CORRUPT, "b c.jpg", "line 1 line 2")]


def test_a_file_that_is_not_a_bad_images_report_is_refused_by_name(tmp_path):
    path = tmp_path / "old.tsv"
    path.write_text("outcome\treason\tfilename\tdetail\nskipped\tcorrupt\ta.jpg\t\n")
    with pytest.raises(ValueError, match=f"{path}: not a bad-images report"):
        bad_images.read_bad_images(str(path))
    path.write_text(bad_images.BAD_IMAGES_HEADER + "\nskipped\tcorrupt\ta.jpg\n")
    with pytest.raises(ValueError, match="line 2: 3 fields, expected 5"):
        bad_images.read_bad_images(str(path))


def test_an_empty_file_and_a_bad_later_line_are_refused_naming_file_and_line(tmp_path):
    path = tmp_path / "empty.tsv"
    path.write_text("")
    with pytest.raises(ValueError, match=f"{path}: not a bad-images report \\(first line ''"):
        bad_images.read_bad_images(str(path))
    path = tmp_path / "long.tsv"
    path.write_text(bad_images.BAD_IMAGES_HEADER + "\ntrain\tskipped\tcorrupt\ta.jpg\t\n"
                    "train\tskipped\tcorrupt\tb.jpg\tx\ty\n")
    with pytest.raises(ValueError, match=f"{path}, line 3: 6 fields, expected 5 "
                                         r"\(split, outcome, reason, path, detail\)"):
        bad_images.read_bad_images(str(path))


def report(files_in, records_out, skipped, skipped_by_reason):
    return {"totals": {"files_in": files_in, "records_out": records_out, "skipped": skipped,
                       "skipped_by_reason": skipped_by_reason}}


def test_a_fraction_at_the_budget_passes():
    bad_images.check_bad_fraction("Gen", report(10, 9, 1, {"corrupt": 1}), 0.1)
    bad_images.check_bad_fraction("Gen", report(4, 4, 0, {}), 0.0)


def test_above_the_budget_names_the_worst_three_reasons_and_the_report():
    by_reason = {"corrupt": 2, "alpha": 1, "not_an_image": 3, "empty_file": 1}
    with pytest.raises(bad_images.TooManyBadImagesError) as raised:
        bad_images.check_bad_fraction("ImageFolderExampleGen", report(10, 3, 7, by_reason), 0.5, "/runs/examples/7")
    assert str(raised.value) == (
        "ImageFolderExampleGen: 7 of 10 input files (70.0%) were skipped, above max_bad_fraction=0.5; "
        "worst reasons: not_an_image=3, corrupt=2, alpha=1; "
        f"see /runs/examples/7/{contract.BAD_IMAGES_FILE}")


def test_no_input_or_no_record_stops_the_run_whatever_the_budget():
    with pytest.raises(bad_images.TooManyBadImagesError, match="^Gen: no input files found$"):
        bad_images.check_bad_fraction("Gen", report(0, 0, 0, {}), 1.0)
    with pytest.raises(bad_images.TooManyBadImagesError,
                       match="^Gen: none of the 2 input files gave a record; reasons: corrupt=2$"):
        bad_images.check_bad_fraction("Gen", report(2, 0, 2, {"corrupt": 2}), 1.0)
    with pytest.raises(bad_images.TooManyBadImagesError, match="reasons: none$"):
        bad_images.check_bad_fraction("Gen", report(2, 0, 0, {}), 1.0)
