"""ImageFolderExampleGen: ``root/<class_name>/<files>`` -> TFX Examples.

A :class:`tfx.components.FileBasedExampleGen` with its own spec, driver and
executor; the executor supplies only the folder scan and split plan
(:meth:`Executor.plan`), the shared :class:`components._ingest.IngestExecutor`
does the rest (``data.source=image_folder``, :mod:`components.sources`):

* labels are the sorted class-folder names (``label`` = index, ``label_name``
  = folder name); a class folder with no file (once ignored files are set
  aside) raises ``ValueError`` naming it before anything is read, and one
  whose files all get skipped raises ``ValueError`` naming it and the skip
  reasons after the report is written (unless
  ``ignore_empty_class_folders``);
* hidden files and OS metadata (``.ipynb_checkpoints/``, ``__MACOSX/``,
  ``._*``, ``.DS_Store``, ``Thumbs.db``, ``lost+found/``, ...), editor
  backups ``name~``, Office lock files ``~$name`` and top-level files that
  are not images by extension (``README.md``) are ignored and listed, links
  are resolved so each real file is read once with the label of the class
  folder it really lives in (once per class, a label conflict, when links
  outside ``input_base`` reach it from two classes) (:func:`scan_image_folder`);
* each file goes to a split by SHA-256 of its path relative to ``input_base``
  (``split_buckets``, default :data:`components.splits.DEFAULT_SPLIT_BUCKETS`),
  and files with identical bytes go together to the split of their first
  path (sorted); adding or removing files moves no other file, except that
  adding or removing a copy (identical bytes) under another name can move
  its group to the split of the group's new first path; identical bytes under two classes are a label conflict
  (reported; skipped unless ``keep_label_conflicts``);
* every file is validated and normalised by
  :mod:`components.image_records`; bad files are skipped and reported, never
  crash the run;
* output: TFX's standard Examples layout (``Split-<name>/data_tfrecord-*.gz``,
  ``split_names`` property) plus ``label_names.txt``, ``bad_images.tsv`` and
  ``ingest_report.json`` at the artifact root, and the custom property
  ``label_names`` (JSON list).

Being a FileBasedExampleGen, it keeps TFX's driver, with an input
fingerprint over the path and SHA-256 of the content of every file
(:func:`folder_fingerprint`), so caching notices any changed byte.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import os
from typing import Any

import apache_beam as beam
import tensorflow as tf
from absl import logging
from tfx import types
from tfx.components.example_gen import driver as example_gen_driver
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import proto_utils

from components import _ingest, image_records, splits
from trainer.contract import IMAGE_FOLDER_EXAMPLE_GEN_ID, is_remote

MAX_PIXELS_KEY = _ingest.MAX_PIXELS_KEY
MAX_BAD_FRACTION_KEY = _ingest.MAX_BAD_FRACTION_KEY
IGNORE_EMPTY_CLASS_FOLDERS_KEY = "ignore_empty_class_folders"
KEEP_LABEL_CONFLICTS_KEY = "keep_label_conflicts"
INPUT_PATTERN = "*/*"


class ImageFolderExampleGenSpec(types.ComponentSpec):
    """FileBasedExampleGen's parameters plus the image-ingest ones."""

    PARAMETERS = dict(standard_component_specs.FileBasedExampleGenSpec.PARAMETERS)
    PARAMETERS.update(_ingest.ingest_parameters())
    PARAMETERS.update({
        IGNORE_EMPTY_CLASS_FOLDERS_KEY: ExecutionParameter(type=int, optional=True),
        KEEP_LABEL_CONFLICTS_KEY: ExecutionParameter(type=int, optional=True),
    })
    INPUTS = {}
    OUTPUTS = dict(standard_component_specs.FileBasedExampleGenSpec.OUTPUTS)


# ---------------------------------------------------------------------------
# Listing and reading (driver side and Beam workers).


def _join(base: str, rel: str) -> str:
    return base.rstrip("/") + "/" + rel


# Names that are never data, whatever their extension (compared case-insensitively).
OS_METADATA_NAMES = frozenset(name.lower() for name in (
    "__MACOSX", ".DS_Store", "Thumbs.db", "ehthumbs.db", "ehthumbs_vista.db", "desktop.ini",
    ".ipynb_checkpoints", "$RECYCLE.BIN", "System Volume Information", "@eaDir", ".Trashes",
    ".Spotlight-V100", ".fseventsd", ".TemporaryItems", "Icon\r", "lost+found",
))
# Image file extensions (lower case): a file directly under input_base with another
# extension (README.md, LICENSE, labels.csv) is not data.
IMAGE_EXTENSIONS = frozenset((".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".webp",
                              ".tif", ".tiff"))
# Ignore reasons (ingest report, ``ignored``).
IGNORED_APPLE_DOUBLE = "apple_double"  # ._name.jpg: macOS resource fork, not the image
IGNORED_OS_METADATA = "os_metadata"  # __MACOSX/, .DS_Store, Thumbs.db, desktop.ini, checkpoints, ...
IGNORED_HIDDEN = "hidden"  # any other name starting with "."
IGNORED_EDITOR_BACKUP = "editor_backup"  # name~
IGNORED_OFFICE_LOCK = "office_lock"  # ~$name.docx
IGNORED_TOP_LEVEL_NOT_IMAGE = "top_level_not_image"  # README.md, LICENSE, labels.csv beside the classes
# Link decisions (ingest report, ``links``).
LINK_LOOP = "link_loop"  # a folder link to itself or to a folder above it
LINK_INTO_OTHER_CLASS = "link_into_other_class"  # would give a file the label of the wrong class
LINK_WITHIN_FOLDER = "link_within_folder"  # target is read at its real place already
LINK_SAME_FILE = "same_file_again"  # a real file reached a second time through links
LINK_SAME_FILE_OTHER_CLASS = "same_file_in_other_class"  # one real file reached from two classes
LINK_OUTSIDE_CLASS = "link_outside_classes"  # target inside input_base but in no class folder
LINK_INTO_IGNORED = "link_into_ignored"  # target is (inside) an ignored file or folder
LINK_UNRESOLVABLE = "link_loop_or_unresolvable"  # loop.png -> loop.png: cannot be resolved at all


def ignore_reason(name: str) -> str:
    """Why a file or folder name is not data ('' when it may be).

    See :data:`OS_METADATA_NAMES`; also AppleDouble ``._*``, other hidden
    ``.*`` names, editor backups ``name~`` and Office lock files ``~$name``.
    (Top-level files that are not images by extension are ignored by the
    scan as ``top_level_not_image``.)
    """
    if name.startswith("._"):
        return IGNORED_APPLE_DOUBLE
    if name.lower() in OS_METADATA_NAMES:
        return IGNORED_OS_METADATA
    if name.startswith("."):
        return IGNORED_HIDDEN
    if name.startswith("~$"):
        return IGNORED_OFFICE_LOCK
    if name.endswith("~"):
        return IGNORED_EDITOR_BACKUP
    return ""


def _top_level_file_reason(name: str) -> str:
    """Why a file directly under ``input_base`` is not data ('' for an image file name)."""
    return "" if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS else IGNORED_TOP_LEVEL_NOT_IMAGE


@dataclasses.dataclass
class FolderScan:
    """What :func:`scan_image_folder` found under ``input_base``.

    ``files``: relative paths (forward slashes, as reached from
    ``input_base``) of every file to read, sorted, each real file once (once
    per class when links reach it from two classes: a label conflict);
    ``labels``: relative path -> class name (the class folder the file really
    lives in; ``""`` for files outside any class folder); ``ignored``: sorted
    ``(relative path, reason)`` of every file that is not data (files inside
    an ignored folder are listed one by one); ``links``: sorted
    ``(relative path, reason, detail)`` of links not followed or files
    reached twice; ``class_folders``: every non-ignored top-level folder;
    ``empty_class_folders``: those with no file to read.
    """

    class_folders: list[str]
    files: list[str]
    labels: dict[str, str]
    ignored: list[tuple[str, str]]
    links: list[tuple[str, str, str]]
    empty_class_folders: list[str]

    def class_names(self, ignore_empty: bool = False) -> list[str]:
        if not ignore_empty:
            return list(self.class_folders)
        return [name for name in self.class_folders if name not in self.empty_class_folders]


def _is_dir(entry: os.DirEntry) -> tuple[bool, str]:
    """(whether ``entry`` is a folder, following links; why it cannot be told: '' when it can).

    A link that loops on itself (``loop.png -> loop.png``) or cannot be
    resolved for another reason gives ``(False, "<error>")`` instead of
    raising.
    """
    try:
        return entry.is_dir(follow_symlinks=True), ""
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc.strerror or exc}"


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _scan_local(input_base: str) -> FolderScan:
    root_real = os.path.realpath(input_base)
    ignored: list[tuple[str, str]] = []
    links: list[tuple[str, str, str]] = []
    # real path -> [(rel, class, reached through a link)]
    candidates: dict[str, list[tuple[str, str, bool]]] = collections.defaultdict(list)
    class_folders: list[str] = []

    def ignore_tree(path: str, rel: str, reason: str) -> None:
        if os.path.isdir(path) and not os.path.islink(path):
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames.sort()
                sub = os.path.relpath(dirpath, path).replace(os.sep, "/")
                prefix = rel if sub == "." else f"{rel}/{sub}"
                for name in sorted(filenames):
                    ignored.append((f"{prefix}/{name}", reason))
        else:
            ignored.append((rel, reason))

    class_real: dict[str, str] = {}

    def real_class(real: str) -> str:
        """The class folder a real path lives in ('' when in none)."""
        inside = [name for name, folder in class_real.items() if _within(real, folder)]
        return max(inside, key=lambda name: len(class_real[name])) if inside else ""

    def ignored_in(real: str) -> str:
        """The ignore reason of a part of ``real`` below the input or a class folder ('' if none)."""
        for folder in [root_real] + list(class_real.values()):
            if _within(real, folder) and real != folder:
                for part in os.path.relpath(real, folder).split(os.sep):
                    if ignore_reason(part):
                        return ignore_reason(part)
        return ""

    def inside_input(real: str) -> bool:
        return _within(real, root_real) or bool(real_class(real))

    def inner_link(child_rel: str, path: str, target: str, cls: str, folder: bool) -> tuple[str, str] | None:
        """``(reason, detail)`` for a link at ``path`` in class ``cls`` to ``target`` inside the input.

        None for a link to a file of the same class: that file is read where it is.
        """
        arrow = f"{child_rel} -> {os.readlink(path)}"
        skipped = "not followed" if folder else "not read through this link"
        target_cls = real_class(target)
        ignored_reason = ignored_in(target)
        if ignored_reason:
            what = "points into an ignored folder" if folder else "points to an ignored file or into an ignored folder"
            return LINK_INTO_IGNORED, f"{arrow} {what} ({ignored_reason}); {'not followed' if folder else 'not read'}"
        if not target_cls:
            return LINK_OUTSIDE_CLASS, f"{arrow} is inside the input folder but in no class folder; {skipped}"
        if target_cls != cls:
            then = f"its files are read (once) as {target_cls!r} where they are" if folder else skipped
            return LINK_INTO_OTHER_CLASS, f"{arrow} lies in class folder {target_cls!r}, not {cls!r}; {then}"
        if folder:
            return LINK_WITHIN_FOLDER, f"{arrow} is already read at its real place in {cls!r}"
        return None

    def walk(path: str, rel: str, cls: str, real_dir: str, ancestors: tuple[str, ...],
             via_link: bool, visited: set) -> None:
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            links.append((rel, "unreadable_folder", f"{type(exc).__name__}: {exc.strerror}"))
            return
        for entry in entries:
            child_rel = f"{rel}/{entry.name}"
            reason = ignore_reason(entry.name)
            if reason:
                ignore_tree(entry.path, child_rel, reason)
                continue
            is_link = entry.is_symlink()
            is_dir, error = _is_dir(entry)
            if error:
                links.append((child_rel, LINK_UNRESOLVABLE,
                              f"{child_rel} -> {_readlink(entry.path)} cannot be resolved "
                              f"({error}); not read"))
                continue
            if is_dir:
                target = os.path.realpath(entry.path)
                if is_link:
                    if any(_within(a, target) for a in ancestors):
                        links.append((child_rel, LINK_LOOP,
                                      f"{child_rel} -> {os.readlink(entry.path)} leads back to a folder "
                                      f"above it; not followed"))
                        continue
                    if inside_input(target):
                        links.append((child_rel, *inner_link(child_rel, entry.path, target, cls, folder=True)))
                        continue
                    if (cls, target) in visited:
                        links.append((child_rel, LINK_SAME_FILE,
                                      f"{child_rel} -> {os.readlink(entry.path)}: folder already read"))
                        continue
                visited.add((cls, target))
                walk(entry.path, child_rel, cls, target, ancestors + (target,), via_link or is_link,
                     visited)
                continue
            real = os.path.realpath(entry.path)
            if is_link and os.path.exists(entry.path) and inside_input(real):
                found = inner_link(child_rel, entry.path, real, cls, folder=False)
                if found:
                    links.append((child_rel, *found))
                    continue
            candidates[real].append((child_rel, cls, via_link or is_link))

    try:
        top_entries = sorted(os.scandir(input_base), key=lambda e: e.name)
    except OSError as exc:
        raise FileNotFoundError(f"input_base {input_base!r} cannot be listed: {exc}") from exc
    top_dirs = []
    for entry in top_entries:
        reason = ignore_reason(entry.name)
        is_dir, error = (False, "") if reason else _is_dir(entry)
        if reason:
            ignore_tree(entry.path, entry.name, reason)
        elif error:
            links.append((entry.name, LINK_UNRESOLVABLE,
                          f"{entry.name} -> {_readlink(entry.path)} cannot be resolved ({error}); "
                          f"not a class folder, not read"))
        elif is_dir:
            if entry.is_symlink() and _within(root_real, os.path.realpath(entry.path)):
                links.append((entry.name, LINK_LOOP,
                              f"{entry.name} -> {os.readlink(entry.path)} leads back to the input folder "
                              f"or above it; not a class folder, not followed"))
                continue
            top_dirs.append(entry)
        elif _top_level_file_reason(entry.name):
            ignored.append((entry.name, _top_level_file_reason(entry.name)))
        else:
            candidates[os.path.realpath(entry.path)].append((entry.name, "", entry.is_symlink()))
    # A top-level link to (a folder inside) another class folder is not a class of its own.
    real_top = {entry.name: os.path.realpath(entry.path) for entry in top_dirs
                if not entry.is_symlink()}
    kept_dirs = []
    for entry in top_dirs:
        target = os.path.realpath(entry.path)
        owners = [name for name, folder in real_top.items() if _within(target, folder)]
        if entry.is_symlink() and owners:
            owner = max(owners, key=lambda name: len(real_top[name]))
            links.append((entry.name, LINK_INTO_OTHER_CLASS,
                          f"{entry.name!r} is a link to class folder {owner!r} "
                          f"({entry.name} -> {_readlink(entry.path)}); not a class of its own, its "
                          f"files are read (once) as {owner!r}"))
            continue
        kept_dirs.append(entry)
    top_dirs = kept_dirs
    class_folders.extend(entry.name for entry in top_dirs)
    class_real.update((entry.name, os.path.realpath(entry.path)) for entry in top_dirs)
    visited = {("", root_real)}
    for entry in top_dirs:
        target = os.path.realpath(entry.path)
        visited.add((entry.name, target))
        walk(entry.path, entry.name, entry.name, target, (root_real, target), entry.is_symlink(),
             visited)

    files, labels = [], {}
    for reached in candidates.values():
        # The real place (not through a link) first, then the shortest, then by name.
        reached.sort(key=lambda r: (r[2], r[0].count("/"), r[0]))
        # Once per class: one real file reached from two classes (links to the same place
        # outside input_base) is read under each, so it is a label conflict like identical bytes.
        first: dict[str, str] = {}
        for other, cls, _ in reached:
            if cls in first:
                links.append((other, LINK_SAME_FILE,
                              f"{other} is the same file as {first[cls]}; read once"))
                continue
            first[cls] = other
            files.append(other)
            labels[other] = cls
        if len(first) > 1:
            names = sorted(first.values())
            for other in names:
                links.append((other, LINK_SAME_FILE_OTHER_CLASS,
                              f"{other} is the same file as {', '.join(n for n in names if n != other)}"
                              f" reached from class(es) {', '.join(repr(c) for c in sorted(first))}; "
                              f"a label conflict (see label_conflicts)"))
    files.sort()
    per_class = collections.Counter(labels.values())
    empty = [name for name in class_folders if not per_class[name]]
    return FolderScan(class_folders=sorted(class_folders), files=files, labels=labels,
                      ignored=sorted(ignored), links=sorted(links), empty_class_folders=sorted(empty))


def _scan_gfile(input_base: str) -> FolderScan:
    """Object stores (``gs://``): no links; the same ignore rules."""
    prefix = input_base.rstrip("/") + "/"
    class_folders, files, labels, ignored = [], [], {}, []
    for name in tf.io.gfile.listdir(input_base):
        name = name.rstrip("/")
        if not ignore_reason(name) and tf.io.gfile.isdir(_join(input_base, name)):
            class_folders.append(name)
    for dirpath, _, filenames in tf.io.gfile.walk(input_base):
        dirpath = dirpath.rstrip("/") + "/"
        rel_dir = dirpath[len(prefix):] if dirpath.startswith(prefix) else ""
        reasons = [ignore_reason(part) for part in rel_dir.split("/") if part]
        dir_reason = next((r for r in reasons if r), "")
        for filename in filenames:
            rel = (rel_dir + filename).replace("\\", "/")
            reason = dir_reason or ignore_reason(filename)
            if not reason and not rel_dir:
                reason = _top_level_file_reason(filename)
            if reason:
                ignored.append((rel, reason))
                continue
            files.append(rel)
            top = rel.split("/")[0]
            labels[rel] = top if "/" in rel and top in class_folders else ""
    per_class = collections.Counter(labels.values())
    empty = [name for name in class_folders if not per_class[name]]
    return FolderScan(sorted(class_folders), sorted(files), labels, sorted(ignored), [], sorted(empty))


def scan_image_folder(input_base: str) -> FolderScan:
    """Every file under ``input_base`` sorted into data, ignored and link decisions.

    Rules (one set, for every caller): names starting with ``.``, AppleDouble
    ``._*`` files and OS metadata (``__MACOSX/``, ``Thumbs.db``,
    ``desktop.ini``, ...) are ignored, folders with all they hold; links are
    resolved: each real file is read once (at its real place when it is also
    reached without a link), a file's class is the class folder it really
    lives in, a folder link that loops or leads into another class folder is
    not followed (reported), and links to places outside ``input_base`` are
    followed and labelled by the class folder holding the link; one real
    file reached that way from two classes is listed once per class (a
    label conflict, ``same_file_in_other_class``).  Dangling
    links are listed as files (reading them reports ``unreadable``); a link
    that cannot be resolved at all (a link to itself) is not read and is
    listed as ``link_loop_or_unresolvable``.

    Raises ``FileNotFoundError`` when ``input_base`` is not a directory.
    """
    if not tf.io.gfile.isdir(input_base):
        raise FileNotFoundError(f"input_base {input_base!r} is not a directory")
    if is_remote(input_base):
        return _scan_gfile(input_base)
    return _scan_local(input_base)


def list_image_folder(input_base: str) -> tuple[list[str], list[str]]:
    """(class names, sorted relative paths of every file to read under ``input_base``).

    Class names are the immediate subfolders that are not ignored, sorted.
    Paths use forward slashes.  See :func:`scan_image_folder` for what is
    ignored and how links are followed.
    """
    scan = scan_image_folder(input_base)
    return scan.class_names(), scan.files


def plan_items(
    rel_paths: list[str],
    class_names: list[str],
    split_buckets: list[tuple[str, int]],
    labels: dict[str, str] | None = None,
) -> list[tuple[str, str, int, str, str]]:
    """(split, rel_path, label, label_name, skip_reason) for every file.

    ``labels`` (relative path -> class folder, from :func:`scan_image_folder`)
    gives each file's class; without it, the first path component does.
    """
    index = {name: i for i, name in enumerate(class_names)}
    plan = []
    for rel in rel_paths:
        split = splits.assign_split(rel, split_buckets)
        parts = rel.split("/")
        name = labels.get(rel, "") if labels is not None else (parts[0] if len(parts) >= 2 else "")
        if any(part.startswith(".") for part in parts):
            plan.append((split, rel, -1, "", image_records.HIDDEN_FILE))
        elif name not in index:
            plan.append((split, rel, -1, "", image_records.NO_CLASS_FOLDER))
        else:
            plan.append((split, rel, index[name], name, ""))
    return plan


def layout_report(scan: FolderScan, ignore_empty: bool) -> dict[str, Any]:
    """The ingest report's ``ignored``, ``links`` and ``empty_class_folders`` sections."""
    return {
        "ignored": {
            "count": len(scan.ignored),
            "by_reason": dict(sorted(collections.Counter(r for _, r in scan.ignored).items())),
            "entries": [{"path": rel, "reason": reason} for rel, reason in scan.ignored],
        },
        "links": {
            "count": len(scan.links),
            "by_reason": dict(sorted(collections.Counter(r for _, r, _ in scan.links).items())),
            "entries": [{"path": rel, "reason": reason, "detail": detail}
                        for rel, reason, detail in scan.links],
        },
        "empty_class_folders": {
            IGNORE_EMPTY_CLASS_FOLDERS_KEY: bool(ignore_empty),
            "ignored": list(scan.empty_class_folders) if ignore_empty else [],
        },
    }


def read_file(input_base: str, rel: str) -> bytes:
    """The bytes of the file ``rel`` (a relative path) under ``input_base`` (local or any ``tf.io.gfile`` URI).

    Raises:
        components._ingest.UnreadableError: it cannot be read (permission denied, a dangling link, removed,
            ...); the message is the cause's type and message, naming ``rel`` rather than the full path.
    """
    path = _join(input_base, rel)
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    except Exception as exc:  # permission denied, dangling link, ...
        raise _ingest.UnreadableError(f"{type(exc).__name__}: {exc}".replace(path, rel)) from exc


class ReadFileDoFn(beam.DoFn):
    """Planned file -> IngestItem with its bytes (or an ``unreadable`` skip)."""

    def __init__(self, input_base: str):
        self._input_base = input_base

    def process(self, planned):
        split, rel, label, label_name, skip_reason = planned
        if skip_reason:
            yield _ingest.IngestItem(split, rel, label, label_name, None, skip_reason)
            return
        try:
            data = read_file(self._input_base, rel)
        except _ingest.UnreadableError as exc:
            yield _ingest.IngestItem(split, rel, label, label_name, None, image_records.UNREADABLE, str(exc))
            return
        yield _ingest.IngestItem(split, rel, label, label_name, data)


FINGERPRINT_CHUNK_BYTES = 1 << 20  # read size when hashing a file's content


def file_content_sha256(path: str) -> str:
    """SHA-256 (hex) of the bytes of the file at ``path`` (local or any ``tf.io.gfile`` URI).

    Args:
      path: the file to read; links are followed.

    Returns:
      The 64-character hex digest of the file's content.

    Raises:
      OSError (or ``tf.errors.OpError`` for a URI) when the file cannot be read.
    """
    import hashlib

    digest = hashlib.sha256()
    if is_remote(path):
        with tf.io.gfile.GFile(path, "rb") as f:
            while True:
                chunk = f.read(FINGERPRINT_CHUNK_BYTES)
                if not chunk:
                    break
                digest.update(chunk)
    else:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(FINGERPRINT_CHUNK_BYTES), b""):
                digest.update(chunk)
    return digest.hexdigest()


def folder_fingerprint(input_base: str) -> str:
    """Fingerprint of every file under ``input_base``: its path and the SHA-256 of its bytes.

    Every file the scan would read is read in full and hashed, so any changed
    byte changes the fingerprint, also when a file was replaced by one of the
    same size with its time stamp kept (``cp -p``, ``rsync -a``, ``tar x``,
    ``unzip``); a file only touched (new mtime, same bytes) does not.  The
    cost is one read of the whole folder per run (components/README.md has
    the measured figure).  Unlike TFX's own fingerprint of a glob pattern, it
    covers the whole tree and never fails: files that cannot be read
    (dangling links, no permission) are fingerprinted as such and later
    reported as ``unreadable``, links that cannot be resolved (a link to
    itself) are left out like the scan leaves them out, and a folder that
    cannot be listed at all gives a fingerprint of the error (the executor
    then reports it).

    Args:
      input_base: the image folder (local path or ``tf.io.gfile`` URI).

    Returns:
      ``"Image folder: <input_base>, Num files: <n>, Total bytes: <bytes>,
      SHA-256(path,content): <hex>"`` (or the ``unlistable`` form).
    """
    import hashlib

    digest = hashlib.sha256()
    try:
        _, rel_paths = list_image_folder(input_base)
    except Exception as exc:  # noqa: BLE001 - missing or unlistable folder: the executor reports it
        digest.update(f"unlistable:{type(exc).__name__}: {exc}".encode())
        return f"Image folder: {input_base}, unlistable, SHA-256(error): {digest.hexdigest()}"
    total_bytes = 0
    for rel in rel_paths:
        path = _join(input_base, rel)
        try:
            size = tf.io.gfile.stat(path).length
            entry = f"{rel}\t{size}\t{file_content_sha256(path)}"
            total_bytes += size
        except Exception as exc:  # noqa: BLE001 - dangling link, permission...
            entry = f"{rel}\tunreadable:{type(exc).__name__}"
        digest.update(entry.encode("utf-8") + b"\n")
    return (f"Image folder: {input_base}, Num files: {len(rel_paths)}, "
            f"Total bytes: {total_bytes}, SHA-256(path,content): {digest.hexdigest()}")


class ImageFolderDriver(example_gen_driver.FileBasedDriver):
    """FileBasedDriver with a whole-tree, never-failing input fingerprint.

    Span is always 0 and version None (no ``{SPAN}`` patterns for image
    folders).  The fingerprint (:func:`folder_fingerprint`, a content hash)
    makes cached runs notice added, removed or changed files anywhere under
    ``input_base``, whatever their size and time stamp.
    """

    def resolve_exec_properties(self, exec_properties, pipeline_info, component_info):
        del pipeline_info, component_info
        input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        exec_properties[example_gen_utils.SPAN_PROPERTY_NAME] = 0
        exec_properties[example_gen_utils.VERSION_PROPERTY_NAME] = None
        exec_properties[example_gen_utils.FINGERPRINT_PROPERTY_NAME] = folder_fingerprint(
            input_base)
        return exec_properties


# ---------------------------------------------------------------------------
# Executor.


class ReadImageFolder(beam.PTransform):
    """Pipeline root -> one :class:`components._ingest.IngestItem` per planned file (its bytes read)."""

    def __init__(self, input_base: str, plan: list[tuple[str, str, int, str, str]]):
        """Reads ``plan`` (from :func:`plan_items`) under ``input_base``.

        Args:
          input_base: the image folder (local path or any ``tf.io.gfile`` URI).
          plan: ``(split, relative path, label, label name, skip reason)`` per file.
        """
        super().__init__()
        self._input_base = input_base
        self._plan = plan

    def expand(self, pbegin):
        return (pbegin
                | "PlannedFiles" >> beam.Create(self._plan)
                | "ReadFiles" >> beam.ParDo(ReadFileDoFn(self._input_base)))


class Executor(_ingest.IngestExecutor):
    """Beam executor of :class:`ImageFolderExampleGen`: scans the folder, the shared executor does the rest."""

    COMPONENT_ID = IMAGE_FOLDER_EXAMPLE_GEN_ID

    def plan(self, exec_properties: dict[str, Any]) -> _ingest.IngestPlan:
        """Scans ``input_base``; labels are the class folders, splits the path-hash buckets.

        Args:
          exec_properties: ``input_base``, ``output_config`` (the split buckets),
            ``ignore_empty_class_folders``, ``keep_label_conflicts``.

        Returns:
          The plan: every file the scan found, with the ``ignored``, ``links``,
          ``empty_class_folders`` and ``split_buckets`` report sections; identical bytes grouped.

        Raises:
          ValueError: a class folder holds no file (unless ``ignore_empty_class_folders``), or
            there is no class folder.
        """
        input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
        split_buckets = splits.parse_split_buckets(
            [(s.name, s.hash_buckets) for s in output_config.split_config.splits])
        ignore_empty = bool(exec_properties.get(IGNORE_EMPTY_CLASS_FOLDERS_KEY) or 0)
        keep_conflicts = bool(exec_properties.get(KEEP_LABEL_CONFLICTS_KEY) or 0)
        scan = scan_image_folder(input_base)
        if scan.empty_class_folders and not ignore_empty:
            raise ValueError(
                f"{IMAGE_FOLDER_EXAMPLE_GEN_ID}: class folder(s) "
                f"{', '.join(repr(name) for name in scan.empty_class_folders)} under {input_base!r} "
                f"hold no file once ignored files (hidden files, OS metadata, ...) and links not followed "
                f"are set aside, so their class(es) would have no examples; add images, remove the "
                f"folder(s), or set {IGNORE_EMPTY_CLASS_FOLDERS_KEY}=True "
                f"(data.{IGNORE_EMPTY_CLASS_FOLDERS_KEY})")
        class_names = scan.class_names(ignore_empty=ignore_empty)
        if not class_names:
            raise ValueError(f"{IMAGE_FOLDER_EXAMPLE_GEN_ID}: no class folders under {input_base!r}")
        plan = plan_items(scan.files, class_names, split_buckets, scan.labels)
        for _rel, reason, detail in scan.links:
            logging.warning("%s: %s (%s)", IMAGE_FOLDER_EXAMPLE_GEN_ID, detail, reason)
        logging.info("%s: %d files, classes %s, splits %s",
                     IMAGE_FOLDER_EXAMPLE_GEN_ID, len(plan), class_names, split_buckets)
        return _ingest.IngestPlan(
            source=input_base,
            label_names=class_names,
            split_names=[name for name, _ in split_buckets],
            read=ReadImageFolder(input_base, plan),
            report_extra={"split_buckets": dict(split_buckets), "keep_label_conflicts": keep_conflicts,
                          **layout_report(scan, ignore_empty)},
            group_duplicates=True,
            keep_label_conflicts=keep_conflicts,
            read_again=functools.partial(read_file, input_base),
        )


# ---------------------------------------------------------------------------
# Component.


class ImageFolderExampleGen(FileBasedExampleGen):
    """ExampleGen for an image folder ``input_base/<class_name>/<image files>``.

    Args:
      input_base: the folder (local path or any ``tf.io.gfile`` URI).
      split_buckets: ordered ``{split name: hash buckets}``; a file goes to a
        split with probability buckets/sum(buckets), decided by SHA-256 of its
        relative path.  Default :data:`components.splits.DEFAULT_SPLIT_BUCKETS`.
      max_pixels: images with width*height above this are skipped
        (``too_many_pixels``).
      max_bad_fraction: the run fails (after writing its report) when more
        than this fraction of the input files was skipped.  Ignored files
        (hidden, OS metadata) are not input files and never count.  On any
        failure after the report is written (too many bad files, a class or
        a split without records) a copy of the report is kept in a temp
        folder named in the error.
      ignore_empty_class_folders: by default a class folder with no file
        (once ignored files are set aside) raises ``ValueError`` naming it,
        and so does one whose files all get skipped; when True the first
        kind is left out of the classes and the second kind keeps its label
        (labels are numbered before records are written) with no example;
        both are listed in the report (``empty_class_folders``).
      keep_label_conflicts: identical bytes under two classes are reported as
        a label conflict and, by default, skipped (``label_conflict``); when
        True they are kept (still reported).

    Raises:
      ValueError: ``split_buckets``, ``max_pixels`` or ``max_bad_fraction`` is not valid (the message
        names it), when the component is built.

    Output ``examples``: standard_artifacts.Examples: ``Split-<name>/data_tfrecord-*.gz`` (gzipped
    ``tf.Example``: ``image/encoded`` JPEG or PNG bytes, ``label`` int64, ``label_name``, ...),
    ``label_names.txt``, ``bad_images.tsv``, ``ingest_report.json``.
    """

    SPEC_CLASS = ImageFolderExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
    DRIVER_CLASS = ImageFolderDriver

    def __init__(self, input_base: str,
                 split_buckets: dict[str, int] | None = None,
                 max_pixels: int = image_records.DEFAULT_MAX_PIXELS,
                 max_bad_fraction: float = image_records.DEFAULT_MAX_BAD_FRACTION,
                 ignore_empty_class_folders: bool = False,
                 keep_label_conflicts: bool = False):
        buckets = splits.parse_split_buckets(
            splits.DEFAULT_SPLIT_BUCKETS if split_buckets is None else split_buckets)
        _ingest.validate_common(max_pixels, max_bad_fraction)
        input_config = example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name="single_split", pattern=INPUT_PATTERN)])
        output_config = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
            splits=[example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=n)
                    for name, n in buckets]))
        spec = ImageFolderExampleGenSpec(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            max_pixels=int(max_pixels),
            max_bad_fraction=float(max_bad_fraction),
            ignore_empty_class_folders=int(bool(ignore_empty_class_folders)),
            keep_label_conflicts=int(bool(keep_label_conflicts)),
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        # Skip FileBasedExampleGen.__init__ (it builds its own spec); keep its
        # class attributes (DRIVER_CLASS) and isinstance() identity.
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)


def from_config(config) -> ImageFolderExampleGen:
    """The pipeline's ImageFolderExampleGen (``data.source=image_folder``, :mod:`components.sources`).

    Args:
      config: the validated ``pipeline.config.PipelineConfig``: ``image_dir`` (a local path is made
        absolute; the demo set's folder when ``data.image_dir`` is empty), ``data.split_buckets``,
        ``data.max_pixels``, ``data.max_bad_fraction``, ``data.ignore_empty_class_folders``,
        ``data.keep_label_conflicts``.

    Returns:
      The component.
    """
    data = config.data
    return ImageFolderExampleGen(
        input_base=config.image_dir if is_remote(config.image_dir) else os.path.abspath(config.image_dir),
        split_buckets=dict(data.split_buckets),
        max_pixels=data.max_pixels,
        max_bad_fraction=data.max_bad_fraction,
        ignore_empty_class_folders=data.ignore_empty_class_folders,
        keep_label_conflicts=data.keep_label_conflicts,
    )


def split_buckets_of(component: ImageFolderExampleGen) -> dict[str, int]:
    """The ``{split: buckets}`` mapping a component was built with."""
    output_config = component.exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY]
    if isinstance(output_config, str):
        parsed = example_gen_pb2.Output()
        proto_utils.json_to_proto(output_config, parsed)
        output_config = parsed
    return {s.name: s.hash_buckets for s in output_config.split_config.splits}


__all__ = ["ImageFolderExampleGen", "ImageFolderExampleGenSpec", "Executor", "ReadImageFolder", "from_config",
           "ImageFolderDriver", "FolderScan", "file_content_sha256", "folder_fingerprint", "ignore_reason",
           "list_image_folder", "plan_items", "scan_image_folder", "split_buckets_of"]
