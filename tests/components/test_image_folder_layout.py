"""ImageFolderExampleGen on folders as people hand them over.

Files that are not data (notebook checkpoints, macOS zip leftovers, Windows
metadata, hidden files), empty class folders, directory and file links
(loops, links into another class, links outside the folder) and identical
files (within one class, across classes).
"""

from __future__ import annotations

import collections
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from components import read_label_names, splits
from tests.components.helpers import feature, png_bytes, read_bad_rows, read_records, read_report, run_executor
from trainer import contract

SPLITS = splits.parse_split_buckets(splits.DEFAULT_SPLIT_BUCKETS)


def _image(i: int) -> bytes:
    """A distinct tiny PNG for every ``i``."""
    return png_bytes(Image.fromarray(np.array([[[i % 256, (i // 256) % 256, 7]] * 2] * 2, np.uint8)))


def _cats_and_dogs(root, per_class=20, start=0):
    """``root/cat/<i>.png`` and ``root/dog/<i>.png``, all distinct; returns the relative paths."""
    rels = []
    for c, cls in enumerate(("cat", "dog")):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            rel = f"{cls}/{i:02d}.png"
            (root / rel).write_bytes(_image(start + c * 1000 + i))
            rels.append(rel)
    return rels


def _records(uri):
    """{filename: (split, label, label_name)} over every split."""
    out = {}
    for split in contract.REQUIRED_SPLITS:
        for ex in read_records(uri, split):
            name = feature(ex, contract.FILENAME_KEY).decode()
            assert name not in out, name
            out[name] = (split, feature(ex, contract.LABEL_KEY), feature(ex, contract.LABEL_NAME_KEY).decode())
    return out


def _gen(root, **kwargs):
    from components.image_folder_example_gen import ImageFolderExampleGen

    return ImageFolderExampleGen(input_base=str(root), **kwargs)


# --------------------------------------------------------------------------
# Not data: ignored, listed, never counted as bad.


@pytest.mark.parametrize("name, reason", [
    (".DS_Store", "os_metadata"), ("Thumbs.db", "os_metadata"), ("THUMBS.DB", "os_metadata"),
    ("desktop.ini", "os_metadata"), ("Desktop.ini", "os_metadata"), ("__MACOSX", "os_metadata"),
    (".ipynb_checkpoints", "os_metadata"), ("ehthumbs.db", "os_metadata"), ("@eaDir", "os_metadata"),
    ("._cat.jpg", "apple_double"), ("._", "apple_double"), (".git", "hidden"), (".hidden.png", "hidden"),
    ("lost+found", "os_metadata"), ("notes.txt~", "editor_backup"), ("cat.jpg~", "editor_backup"),
    ("~$report.docx", "office_lock"), ("~cat.jpg", ""), ("cat~1.jpg", ""),
    ("cat.jpg", ""), ("_cat.jpg", ""), ("Thumbs.db.jpg", ""), ("dog", ""), ("__init__.png", ""),
])
def test_ignore_reason(name, reason):
    from components.image_folder_example_gen import ignore_reason

    assert ignore_reason(name) == reason


def test_notebook_checkpoints_do_not_stop_the_run(tmp_path, caplog):
    """40 images and Jupyter's .ipynb_checkpoints/ with 5 copies: 40 records, 5 ignored, nothing skipped."""
    root = tmp_path / "images"
    rels = _cats_and_dogs(root)
    (root / "cat" / ".ipynb_checkpoints").mkdir()
    for i in range(5):
        (root / "cat" / ".ipynb_checkpoints" / f"{i:02d}-checkpoint.png").write_bytes(_image(i))
    caplog.set_level("INFO", logger="absl")
    examples = run_executor(_gen(root), str(tmp_path / "out"))  # default max_bad_fraction=0.1
    report = read_report(examples.uri)
    assert report["ignored"]["count"] == 5
    assert report["ignored"]["by_reason"] == {"os_metadata": 5}
    assert [e["path"] for e in report["ignored"]["entries"]] == [
        f"cat/.ipynb_checkpoints/{i:02d}-checkpoint.png" for i in range(5)]
    assert report["totals"]["files_in"] == 40 and report["totals"]["skipped"] == 0
    assert report["totals"]["records_out"] == 40
    assert sorted(_records(examples.uri)) == sorted(rels)
    assert read_bad_rows(examples.uri) == []
    assert read_label_names(examples.uri) == ["cat", "dog"]
    # The closing log line says so too.
    assert '40 files in, 40 records out' in caplog.text
    assert '5 ignored (not data: {"os_metadata": 5})' in caplog.text


def test_macos_zip_leftovers_are_ignored(tmp_path):
    """A folder unzipped on macOS: __MACOSX/ tree and ._name files (42) beside 40 images."""
    root = tmp_path / "images"
    rels = _cats_and_dogs(root)
    for cls in ("cat", "dog"):
        (root / "__MACOSX" / cls).mkdir(parents=True)
        for i in range(20):
            (root / "__MACOSX" / cls / f"._{i:02d}.png").write_bytes(b"\x00\x05\x16\x07 resource fork")
        (root / cls / "._00.png").write_bytes(b"\x00\x05\x16\x07 resource fork")
    # More of the kind: Windows and macOS metadata, hidden folders, a hidden folder at the top.
    (root / "dog" / "Thumbs.db").write_bytes(b"thumbs")
    (root / "dog" / "desktop.ini").write_text("[.ShellClassInfo]\n")
    (root / ".DS_Store").write_bytes(b"\x00\x01junk")
    (root / ".git" / "objects").mkdir(parents=True)
    (root / ".git" / "objects" / "ab").write_bytes(b"blob")
    (root / "cat" / ".thumbnails").mkdir()
    (root / "cat" / ".thumbnails" / "00.png").write_bytes(_image(0))
    examples = run_executor(_gen(root), str(tmp_path / "out"))
    report = read_report(examples.uri)
    assert report["ignored"]["by_reason"] == {"apple_double": 2, "hidden": 2, "os_metadata": 43}
    assert report["ignored"]["count"] == 47
    ignored = {e["path"]: e["reason"] for e in report["ignored"]["entries"]}
    assert ignored["__MACOSX/cat/._05.png"] == "os_metadata" and ignored["dog/._00.png"] == "apple_double"
    assert ignored["dog/Thumbs.db"] == ignored["dog/desktop.ini"] == ignored[".DS_Store"] == "os_metadata"
    assert ignored[".git/objects/ab"] == ignored["cat/.thumbnails/00.png"] == "hidden"
    assert read_label_names(examples.uri) == ["cat", "dog"]  # no __MACOSX class
    assert report["totals"] == {**report["totals"], "files_in": 40, "records_out": 40, "skipped": 0}
    assert sorted(_records(examples.uri)) == sorted(rels)


def test_top_level_files_that_are_not_images_are_not_data(tmp_path):
    """README.md, LICENSE, labels.csv beside the classes are ignored; a stray image there is still bad."""
    root = tmp_path / "images"
    rels = _cats_and_dogs(root, per_class=20)
    for name in ("README.md", "LICENSE", "labels.csv"):
        (root / name).write_text("not data")
    (root / "stray.png").write_bytes(_image(900))
    (root / "lost+found").mkdir()
    (root / "lost+found" / "#123").write_bytes(b"x")
    (root / "cat" / "01.png~").write_bytes(b"backup")
    (root / "dog" / "~$notes.docx").write_bytes(b"lock")
    examples = run_executor(_gen(root), str(tmp_path / "out"))
    report = read_report(examples.uri)
    ignored = {e["path"]: e["reason"] for e in report["ignored"]["entries"]}
    assert ignored == {"README.md": "top_level_not_image", "LICENSE": "top_level_not_image",
                       "labels.csv": "top_level_not_image", "lost+found/#123": "os_metadata",
                       "cat/01.png~": "editor_backup", "dog/~$notes.docx": "office_lock"}
    assert report["totals"]["files_in"] == 41
    assert report["totals"]["skipped_by_reason"] == {"no_class_folder": 1}
    assert [row["path"] for row in read_bad_rows(examples.uri)] == ["stray.png"]
    assert sorted(_records(examples.uri)) == sorted(rels)


def test_failed_run_keeps_its_report_and_ignored_files_do_not_count(tmp_path):
    from components.bad_images import TooManyBadImagesError

    root = tmp_path / "images"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
    for i in range(6):
        (root / "a" / f"{i}.png").write_bytes(_image(i))
    (root / "b" / "empty1.jpg").write_bytes(b"")
    (root / "b" / "empty2.jpg").write_bytes(b"")
    (root / "b" / "text.jpg").write_bytes(b"text")
    for junk in ("a/.DS_Store", "b/._text.jpg", "a/Thumbs.db", "b/desktop.ini"):
        (root / junk).write_bytes(b"junk")
    out = tmp_path / "out"
    with pytest.raises(TooManyBadImagesError) as err:
        run_executor(_gen(root, max_bad_fraction=0.2), str(out))
    message = str(err.value)
    assert "3 of 9" in message and "empty_file=2" in message and "not_an_image=1" in message
    kept = message.split("a copy of the report is kept at ")[1].split(" ")[0]
    assert os.path.basename(kept) == contract.BAD_IMAGES_FILE
    assert not os.path.abspath(kept).startswith(os.path.abspath(out))
    shutil.rmtree(out)  # as the orchestrator does with a failed component's output
    with open(kept) as f:
        lines = f.read().splitlines()
    assert lines[0] == "split\toutcome\treason\tpath\tdetail"
    assert sorted(line.split("\t")[3] for line in lines[1:]) == ["b/empty1.jpg", "b/empty2.jpg", "b/text.jpg"]
    assert os.path.exists(os.path.join(os.path.dirname(kept), contract.INGEST_REPORT_FILE))
    shutil.rmtree(os.path.dirname(kept))


# --------------------------------------------------------------------------
# Empty class folders.


@pytest.mark.parametrize("contents", [[], [".DS_Store", "._x.png"], ["sub/"], ["__MACOSX/._a.png"]])
def test_empty_class_folder_is_an_error_naming_it(tmp_path, contents):
    root = tmp_path / "images"
    _cats_and_dogs(root, per_class=3)
    (root / "bird").mkdir()
    for name in contents:
        path = root / "bird" / name
        if name.endswith("/"):
            path.mkdir()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"class folder\(s\) 'bird' under .* hold no file once ignored files.*"
                                         r"ignore_empty_class_folders=True"):
        run_executor(_gen(root), str(tmp_path / "out"))


def test_empty_class_folders_ignored_when_asked(tmp_path):
    root = tmp_path / "images"
    rels = _cats_and_dogs(root, per_class=20)
    (root / "bird").mkdir()
    (root / "ant" / ".ipynb_checkpoints").mkdir(parents=True)
    examples = run_executor(_gen(root, ignore_empty_class_folders=True), str(tmp_path / "out"))
    assert read_label_names(examples.uri) == ["cat", "dog"]
    report = read_report(examples.uri)
    assert report["label_names"] == ["cat", "dog"]
    assert report["empty_class_folders"] == {"ignore_empty_class_folders": True, "ignored": ["ant", "bird"],
                                             "no_records": []}
    records = _records(examples.uri)
    assert sorted(records) == sorted(rels)
    assert {(name, label) for _, label, name in records.values()} == {("cat", 0), ("dog", 1)}


def _bird_without_records(root, case):
    (root / "bird").mkdir()
    if case == "readme":
        (root / "bird" / "README.txt").write_text("photos to come")
        return {"not_an_image": 1}
    if case == "dangling":
        os.symlink("/nonexistent/b.png", root / "bird" / "b.png")
        return {"unreadable": 1}
    if case == "corrupt":
        (root / "bird" / "b1.png").write_bytes(_image(1)[:20])
        (root / "bird" / "b2.png").write_bytes(b"")
        return {"corrupt": 1, "empty_file": 1}
    (root / "bird" / "b.png").write_bytes((root / "cat" / "00.png").read_bytes())
    return {"label_conflict": 1}


@pytest.mark.parametrize("case", ["readme", "dangling", "corrupt", "label_conflict"])
def test_class_folder_whose_files_give_no_record_is_an_error(tmp_path, case):
    """bird/ holds files but none gives a record: the run stops naming bird and why; the report is kept."""
    root = tmp_path / "images"
    _cats_and_dogs(root, per_class=20)
    reasons = _bird_without_records(root, case)
    with pytest.raises(ValueError) as err:
        run_executor(_gen(root, max_bad_fraction=0.5), str(tmp_path / "out"))
    message = str(err.value)
    assert "class folder(s) gave no record in any split" in message
    expected = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
    assert f"'bird' ({sum(reasons.values())} file(s), all skipped: {expected})" in message
    assert "data.ignore_empty_class_folders" in message
    kept = message.split("a copy of the report is kept at ")[1].split(" ")[0]
    assert os.path.exists(kept) and not kept.startswith(str(tmp_path / "out"))
    shutil.rmtree(os.path.dirname(kept))


def test_class_folder_without_records_is_reported_when_asked(tmp_path, caplog):
    """With ignore_empty_class_folders the run goes on; bird keeps its label, has no example, is reported."""
    root = tmp_path / "images"
    rels = _cats_and_dogs(root, per_class=20)
    _bird_without_records(root, "readme")
    examples = run_executor(_gen(root, ignore_empty_class_folders=True), str(tmp_path / "out"))
    report = read_report(examples.uri)
    assert report["label_names"] == ["bird", "cat", "dog"]
    assert report["empty_class_folders"]["no_records"] == [
        {"class": "bird", "files_in": 1, "skipped_by_reason": {"not_an_image": 1}}]
    assert report["classes"]["cat"] == {"files_in": 20, "records_out": 20, "skipped_by_reason": {}}
    assert sorted(_records(examples.uri)) == sorted(rels)
    assert "classes with no records (their files all skipped): ['bird']" in caplog.text


def test_split_without_records_keeps_the_report(tmp_path):
    """Two images per class leave a split empty: the error names a kept copy of the report."""
    root = tmp_path / "images"
    _cats_and_dogs(root, per_class=2)
    with pytest.raises(ValueError) as err:
        run_executor(_gen(root), str(tmp_path / "out"))
    message = str(err.value)
    assert "got no records" in message
    kept = message.split("a copy of the report is kept at ")[1].split(" ")[0]
    assert os.path.basename(kept) == contract.BAD_IMAGES_FILE and os.path.exists(kept)
    assert os.path.exists(os.path.join(os.path.dirname(kept), contract.INGEST_REPORT_FILE))
    shutil.rmtree(os.path.dirname(kept))


def test_empty_class_folder_option_is_a_component_parameter():
    c = _gen("/data", ignore_empty_class_folders=True, keep_label_conflicts=True)
    assert c.exec_properties["ignore_empty_class_folders"] == 1
    assert c.exec_properties["keep_label_conflicts"] == 1
    assert _gen("/data").exec_properties["ignore_empty_class_folders"] == 0


# --------------------------------------------------------------------------
# Links.


def test_link_back_to_the_parent_reads_each_file_once_with_its_own_label(tmp_path):
    """dog/parent_link -> .. : 40 records (not 1,640), cat images labelled cat, the loop reported."""
    root = tmp_path / "images"
    rels = _cats_and_dogs(root)
    os.symlink("..", root / "dog" / "parent_link")
    examples = run_executor(_gen(root), str(tmp_path / "out"))
    records = _records(examples.uri)
    assert sorted(records) == sorted(rels)
    for rel, (split, label, name) in records.items():
        assert name == rel.split("/")[0] and label == ["cat", "dog"].index(name)
        assert split == splits.assign_split(rel, SPLITS)
    report = read_report(examples.uri)
    assert report["links"]["by_reason"] == {"link_loop": 1}
    (entry,) = report["links"]["entries"]
    assert entry["path"] == "dog/parent_link" and "dog/parent_link -> .." in entry["detail"]
    assert report["totals"]["files_in"] == 40 and report["totals"]["skipped"] == 0


def test_links_of_every_kind(tmp_path):
    from components.image_folder_example_gen import scan_image_folder

    root = tmp_path / "images"
    rels = _cats_and_dogs(root, per_class=4)
    external = tmp_path / "external_disk"
    external.mkdir()
    for i in range(3):
        (external / f"ext{i}.png").write_bytes(_image(500 + i))
    os.symlink("ext_loop_target", external / "dangling_inside")  # dangling inside the external folder
    os.symlink(str(external), external / "back_to_top")  # a loop inside the external folder
    os.symlink("../cat", root / "dog" / "cats")  # folder link into another class
    os.symlink("../cat/00.png", root / "dog" / "a_cat.png")  # file link into another class
    os.symlink(".", root / "dog" / "self")  # loop onto itself
    os.symlink("00.png", root / "dog" / "same_dog.png")  # the same file twice
    os.symlink(str(external), root / "dog" / "external")  # outside: followed, labelled dog
    os.symlink(str(external), root / "dog" / "external_again")  # the same folder a second time
    os.symlink("/nonexistent/x.png", root / "cat" / "dangling.png")
    (root / "dog" / "sub").mkdir()
    os.symlink("../..", root / "dog" / "sub" / "up_two")  # loop to the top from deeper down
    os.symlink(".", root / "top_loop")  # at the top: not a class folder
    os.symlink("..", root / "above")
    scan = scan_image_folder(str(root))
    assert scan.class_names() == ["cat", "dog"] and scan.empty_class_folders == []
    ext = [f"dog/external/ext{i}.png" for i in range(3)] + ["dog/external/dangling_inside"]
    assert scan.files == sorted(rels + ext + ["cat/dangling.png"])
    assert all(scan.labels[rel] == rel.split("/")[0] for rel in scan.files)
    reasons = {rel: reason for rel, reason, _ in scan.links}
    assert reasons == {
        "dog/cats": "link_into_other_class",
        "dog/a_cat.png": "link_into_other_class",
        "dog/self": "link_loop",
        "dog/sub/up_two": "link_loop",
        "dog/external/back_to_top": "link_loop",
        "top_loop": "link_loop",
        "above": "link_loop",
        "dog/same_dog.png": "same_file_again",
        "dog/external_again": "same_file_again",
    }
    details = {rel: detail for rel, _, detail in scan.links}
    assert "'cat'" in details["dog/cats"] and "dog/cats -> ../cat" in details["dog/cats"]
    assert "dog/same_dog.png is the same file as dog/00.png" in details["dog/same_dog.png"]


def test_a_link_to_itself_is_reported_and_the_rest_is_read(tmp_path):
    """cat/loop.png -> loop.png and root/loop -> loop cannot be resolved: reported, never a crash."""
    from components.image_folder_example_gen import folder_fingerprint, scan_image_folder

    root = tmp_path / "images"
    rels = _cats_and_dogs(root, per_class=3)
    os.symlink("loop.png", root / "cat" / "loop.png")
    os.symlink("loop", root / "loop")
    scan = scan_image_folder(str(root))
    assert scan.class_names() == ["cat", "dog"] and scan.files == sorted(rels)
    reasons = {rel: reason for rel, reason, _ in scan.links}
    assert reasons == {"cat/loop.png": "link_loop_or_unresolvable", "loop": "link_loop_or_unresolvable"}
    details = {rel: detail for rel, _, detail in scan.links}
    assert "cat/loop.png -> loop.png cannot be resolved" in details["cat/loop.png"]
    assert "loop -> loop cannot be resolved" in details["loop"]
    fingerprint = folder_fingerprint(str(root))
    assert "Num files: 6" in fingerprint
    assert "unlistable" in folder_fingerprint(str(tmp_path / "missing"))


def test_link_messages_name_what_the_link_really_reaches(tmp_path):
    """A top-level link to a class, links into no class, into an ignored folder, through a linked class."""
    from components.image_folder_example_gen import scan_image_folder

    root = tmp_path / "images"
    rels = _cats_and_dogs(root, per_class=2)
    (root / "extra.png").write_bytes(_image(700))
    (root / "loose").mkdir()
    (root / "cat" / "small").mkdir()
    (root / "cat" / "small" / "s.png").write_bytes(_image(701))
    (root / "cat" / ".stash").mkdir()
    (root / "cat" / ".stash" / "h.png").write_bytes(_image(702))
    os.symlink("cat", root / "kitty")
    os.symlink("cat/small", root / "kitten")
    os.symlink("../cat/small", root / "dog" / "smalllink")
    os.symlink("../extra.png", root / "cat" / "extra.png")
    os.symlink("../loose", root / "cat" / "loose")
    os.symlink(".stash", root / "cat" / "stash")
    os.symlink(".stash/h.png", root / "cat" / "h.png")
    scan = scan_image_folder(str(root))
    assert scan.class_names() == ["cat", "dog", "loose"] and scan.empty_class_folders == ["loose"]
    assert scan.files == sorted(rels + ["cat/small/s.png", "extra.png"])
    assert scan.labels["cat/small/s.png"] == "cat"
    reasons = {rel: reason for rel, reason, _ in scan.links}
    details = {rel: detail for rel, _, detail in scan.links}
    assert reasons == {
        "kitty": "link_into_other_class",
        "kitten": "link_into_other_class",
        "dog/smalllink": "link_into_other_class",
        "cat/extra.png": "link_outside_classes",
        "cat/loose": "link_into_other_class",
        "cat/stash": "link_into_ignored",
        "cat/h.png": "link_into_ignored",
    }
    assert "'kitty' is a link to class folder 'cat'" in details["kitty"]
    assert "'kitten' is a link to class folder 'cat'" in details["kitten"]
    assert "class folder 'cat'" in details["dog/smalllink"] and "kitten" not in details["dog/smalllink"]
    assert "in no class folder" in details["cat/extra.png"]
    assert "points into an ignored folder (hidden)" in details["cat/stash"]


def test_a_file_reached_only_through_a_link_in_its_own_class_is_read(tmp_path):
    from components.image_folder_example_gen import scan_image_folder

    root = tmp_path / "images"
    _cats_and_dogs(root, per_class=2)
    (root / "cat" / "deep").mkdir()
    (root / "cat" / "deep" / "x.png").write_bytes(_image(900))
    os.symlink("deep", root / "cat" / "shortcut")  # same class: read once, at its real place
    scan = scan_image_folder(str(root))
    assert "cat/deep/x.png" in scan.files and not any("shortcut/" in f for f in scan.files)
    assert [(rel, reason) for rel, reason, _ in scan.links] == [("cat/shortcut", "link_within_folder")]


# --------------------------------------------------------------------------
# Identical files.


def test_duplicates_land_in_one_split_and_are_reported(tmp_path):
    """12 pairs of identical files among 40 (same class): each pair in one split, counted and listed."""
    root = tmp_path / "images"
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
    pairs = []
    for i in range(28):
        cls = "cat" if i % 2 else "dog"
        (root / cls / f"img{i:02d}.png").write_bytes(_image(i))
        if i < 12:
            (root / cls / f"copy of img{i:02d}.png").write_bytes(_image(i))
            pairs.append((f"{cls}/copy of img{i:02d}.png", f"{cls}/img{i:02d}.png"))
    # Without grouping, some pairs would be split apart (the case to fix).
    assert any(splits.assign_split(a, SPLITS) != splits.assign_split(b, SPLITS) for a, b in pairs)
    examples = run_executor(_gen(root), str(tmp_path / "out"))
    records = _records(examples.uri)
    assert len(records) == 40
    for a, b in pairs:
        assert records[a][0] == records[b][0] == splits.assign_split(a, SPLITS), (a, b)  # first path's split
    report = read_report(examples.uri)
    assert {k: report["duplicates"][k] for k in ("groups", "files", "extra_copies")} == {
        "groups": 12, "files": 24, "extra_copies": 12}
    assert sorted(tuple(e["paths"]) for e in report["duplicates"]["entries"]) == sorted(pairs)
    assert all(len(e["sha256"]) == 64 for e in report["duplicates"]["entries"])
    assert report["label_conflicts"]["groups"] == 0
    # The report's per-split counts follow the records.
    for split in contract.REQUIRED_SPLITS:
        assert report["splits"][split]["records_out"] == sum(1 for s, _, _ in records.values() if s == split)


def test_only_an_added_copy_moves_a_file_to_another_split(tmp_path):
    """Adding files keeps every split, except that a copy whose path sorts first takes its twin along."""
    root = tmp_path / "images"
    rels = _cats_and_dogs(root, per_class=20)
    before = _records(run_executor(_gen(root), str(tmp_path / "out1")).uri)
    twin = "cat/05.png"
    copy = next(f"cat/0{i}copy.png" for i in range(100)
                if splits.assign_split(f"cat/0{i}copy.png", SPLITS) != before[twin][0])
    assert copy < twin
    (root / copy).write_bytes((root / twin).read_bytes())
    (root / "dog" / "new.png").write_bytes(_image(777))
    after = _records(run_executor(_gen(root), str(tmp_path / "out2")).uri)
    moved = sorted(rel for rel in rels if after[rel][0] != before[rel][0])
    assert moved == [twin]
    assert after[twin][0] == after[copy][0] == splits.assign_split(copy, SPLITS)
    assert after["dog/new.png"][0] == splits.assign_split("dog/new.png", SPLITS)


@pytest.mark.parametrize("keep", [False, True])
def test_one_file_linked_from_two_classes_is_a_label_conflict(tmp_path, keep):
    """cat/ext and dog/ext -> the same outside folder, and two file links to one outside file."""
    root = tmp_path / "images"
    rels = _cats_and_dogs(root, per_class=20)
    external = tmp_path / "external"
    external.mkdir()
    (external / "e1.png").write_bytes(_image(5000))
    (external / "e2.png").write_bytes(_image(5001))
    (tmp_path / "single.png").write_bytes(_image(5002))
    os.symlink(str(external), root / "cat" / "ext")
    os.symlink(str(external), root / "dog" / "ext")
    os.symlink(str(tmp_path / "single.png"), root / "cat" / "s.png")
    os.symlink(str(tmp_path / "single.png"), root / "dog" / "s.png")
    examples = run_executor(_gen(root, keep_label_conflicts=keep, max_bad_fraction=0.2), str(tmp_path / "out"))
    report = read_report(examples.uri)
    conflicts = sorted((tuple(e["paths"]), tuple(e["label_names"]), e["trained_on"])
                       for e in report["label_conflicts"]["entries"])
    assert conflicts == [
        (("cat/ext/e1.png", "dog/ext/e1.png"), ("cat", "dog"), keep),
        (("cat/ext/e2.png", "dog/ext/e2.png"), ("cat", "dog"), keep),
        (("cat/s.png", "dog/s.png"), ("cat", "dog"), keep),
    ]
    linked = {e["path"] for e in report["links"]["entries"] if e["reason"] == "same_file_in_other_class"}
    assert linked == {"cat/ext/e1.png", "dog/ext/e1.png", "cat/ext/e2.png", "dog/ext/e2.png",
                      "cat/s.png", "dog/s.png"}
    records = _records(examples.uri)
    if keep:
        assert records["cat/s.png"][1:] == (0, "cat") and records["dog/s.png"][1:] == (1, "dog")
        assert records["cat/s.png"][0] == records["dog/s.png"][0]
        assert len(records) == 46
    else:
        assert sorted(records) == sorted(rels)
        assert report["totals"]["skipped_by_reason"] == {"label_conflict": 6}


def test_identical_bytes_in_two_classes_are_a_label_conflict(tmp_path):
    root = tmp_path / "images"
    rels = _cats_and_dogs(root, per_class=10)
    (root / "dog" / "looks_like_a_cat.png").write_bytes(_image(0))  # same bytes as cat/00.png
    (root / "dog" / "three.png").write_bytes(_image(1001))  # dog/01.png
    (root / "cat" / "three.png").write_bytes(_image(1001))  # ...and a cat copy
    (root / "cat" / "three_again.png").write_bytes(_image(1001))
    # Same non-image bytes and empty files in both classes: still their own skip reasons.
    for cls in ("cat", "dog"):
        (root / cls / "notes.png").write_text("not an image")
        (root / cls / "empty.png").write_bytes(b"")
    conflicted = ["cat/00.png", "dog/looks_like_a_cat.png", "cat/three.png", "cat/three_again.png", "dog/01.png",
                  "dog/three.png"]
    examples = run_executor(_gen(root, max_bad_fraction=0.5), str(tmp_path / "out"))
    records = _records(examples.uri)
    assert sorted(records) == sorted(set(rels) - set(conflicted))
    rows = {row["path"]: row for row in read_bad_rows(examples.uri)}
    for rel in conflicted:
        assert (rows[rel]["outcome"], rows[rel]["reason"]) == ("skipped", "label_conflict"), rel
    assert "same bytes as dog/looks_like_a_cat.png (classes cat, dog)" in rows["cat/00.png"]["detail"]
    assert {rows[f"{c}/notes.png"]["reason"] for c in ("cat", "dog")} == {"not_an_image"}
    assert {rows[f"{c}/empty.png"]["reason"] for c in ("cat", "dog")} == {"empty_file"}
    report = read_report(examples.uri)
    conflicts = report["label_conflicts"]
    assert (conflicts["groups"], conflicts["files"]) == (2, 6)
    assert sorted((tuple(e["paths"]), tuple(e["label_names"]), e["trained_on"]) for e in conflicts["entries"]) == [
        (("cat/00.png", "dog/looks_like_a_cat.png"), ("cat", "dog"), False),
        (("cat/three.png", "cat/three_again.png", "dog/01.png", "dog/three.png"), ("cat", "dog"), False)]
    assert report["totals"]["skipped_by_reason"]["label_conflict"] == 6
    assert report["duplicates"]["groups"] == 0  # conflicts are not counted twice

    # Asked to keep them: trained on, all copies in one split, still reported.
    kept = run_executor(_gen(root, max_bad_fraction=0.5, keep_label_conflicts=True), str(tmp_path / "kept"))
    records = _records(kept.uri)
    assert set(conflicted) <= set(records)
    assert len({records[rel][0] for rel in conflicted[:2]}) == 1
    assert len({records[rel][0] for rel in conflicted[2:]}) == 1
    assert records["dog/looks_like_a_cat.png"][2] == "dog" and records["cat/00.png"][2] == "cat"
    assert read_report(kept.uri)["label_conflicts"]["groups"] == 2
    assert collections.Counter(row["reason"] for row in read_bad_rows(kept.uri)) == {
        "not_an_image": 2, "empty_file": 2}


def test_same_rules_on_an_object_store_path():
    """Paths tf.io.gfile knows (here TF's in-memory ram://, as for gs://): the same ignore and empty-folder rules."""
    import tensorflow as tf

    from components.image_folder_example_gen import scan_image_folder

    base = "ram://layout_rules"
    for rel in ("cat/1.png", "cat/.DS_Store", "dog/2.png", "__MACOSX/cat/._1.png", "dog/._2.png", "README.txt",
                "stray.png", "dog/sub/3.png", "cat/.ipynb_checkpoints/x.png", "dog/Thumbs.db"):
        if "/" in rel:
            tf.io.gfile.makedirs(f"{base}/{rel.rsplit('/', 1)[0]}")
        with tf.io.gfile.GFile(f"{base}/{rel}", "wb") as f:
            f.write(b"x")
    tf.io.gfile.makedirs(f"{base}/bird")
    scan = scan_image_folder(base)
    assert scan.class_folders == ["bird", "cat", "dog"] and scan.empty_class_folders == ["bird"]
    assert scan.class_names(ignore_empty=True) == ["cat", "dog"]
    assert scan.files == ["cat/1.png", "dog/2.png", "dog/sub/3.png", "stray.png"]
    assert scan.labels == {"stray.png": "", "cat/1.png": "cat", "dog/2.png": "dog", "dog/sub/3.png": "dog"}
    assert scan.ignored == [("README.txt", "top_level_not_image"),
                            ("__MACOSX/cat/._1.png", "os_metadata"), ("cat/.DS_Store", "os_metadata"),
                            ("cat/.ipynb_checkpoints/x.png", "os_metadata"), ("dog/._2.png", "apple_double"),
                            ("dog/Thumbs.db", "os_metadata")]
