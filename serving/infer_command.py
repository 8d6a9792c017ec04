"""``pipeline_runner.py infer``: its options and what it prints (the Beam job is :mod:`serving.batch_inference`).

Kept free of Beam and TensorFlow imports, so that building the command line
(``--help`` of every command) stays fast and quiet.
"""

import sys
from collections.abc import Sequence

from components.image_records import DEFAULT_MAX_PIXELS
from trainer.contract import DEFAULT_INFER_BATCH_SIZE as DEFAULT_BATCH_SIZE


def add_infer_arguments(parser):
    """Adds the ``infer`` options to ``parser``.

    Args:
      parser: an ``argparse.ArgumentParser`` (the ``infer`` subcommand's).

    Returns:
      The same parser.
    """
    parser.add_argument("--model-dir", required=True, metavar="DIR",
                        help="a pushed SavedModel: its version directory, or the model's directory "
                             "(the newest numeric version is used)")
    parser.add_argument("--images", required=True, metavar="DIR_OR_GLOB",
                        help="a directory (walked as ingestion walks an image folder: links followed, hidden files "
                             "and OS metadata ignored; class folders optional) or a glob ('photos/*.jpg', "
                             "'gs://b/x/**.png')")
    parser.add_argument("--output", required=True, metavar="CSV",
                        help="the predictions CSV; the bad-images report goes beside it (<name>.bad_images.tsv)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N",
                        help="images per model call (default %(default)s)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                        help="skip images above this many pixels, as ingestion does (default %(default)s)")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up lines")
    return parser


def _counts(label, total, by_reason):
    listed = ", ".join(f"{reason}={n}" for reason, n in by_reason.items())
    return f"{label} {total}{': ' + listed if listed else ''}"


def summary_lines(summary):
    """What the command prints for a :class:`serving.batch_inference.Summary`.

    Args:
      summary: the run's counts.

    Returns:
      The lines (str): every file found is counted once, as classified,
      skipped, ignored (not data) or not read (a link); files kept with a
      libjpeg warning are counted by reason (the warnings themselves are in
      the bad-images report, by file name).
    """
    first = (f"Classified {summary.classified} of {summary.files} files ({summary.kept} kept, {summary.converted} "
             f"converted) in {summary.seconds:.1f} s; "
             f"{_counts('skipped', summary.skipped, summary.skipped_by_reason)}")
    if summary.ignored:
        first += f"; {_counts('ignored (not data)', summary.ignored, summary.ignored_by_reason)}"
    if summary.not_read:
        first += f"; {_counts('links not read', summary.not_read, summary.not_read_by_reason)}"
    if summary.warned:
        first += f"; {_counts('kept with a warning', summary.warned, summary.warned_by_reason)}"
    return [
        first,
        f"  model:       {summary.model_dir}",
        f"  predictions: {summary.predictions_path}",
        f"  bad images:  {summary.bad_images_path}",
    ]


def infer_command(args, beam_args: Sequence[str] = (), stdout=None, stderr=None) -> int:
    """Exit status 0 (bad images included), or 2 for a model directory or input that is not usable."""
    from serving.batch_inference import InputError, run_batch_inference
    from serving.saved_model_handler import ModelDirError

    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    for name in ("batch_size", "max_pixels"):
        if getattr(args, name) < 1:
            print(f"infer: --{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}", file=stderr)
            return 2
    try:
        summary = run_batch_inference(args.model_dir, args.images, args.output, beam_args, args.batch_size,
                                      args.max_pixels)
    except (ModelDirError, InputError) as error:
        print(f"infer: {error}", file=stderr)
        return 2
    print("\n".join(summary_lines(summary)), file=stdout)
    return 0
