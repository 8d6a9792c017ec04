"""``pipeline_runner.py infer``'s command line (serving/infer_command.py): options, refusals, exit status.

The Beam job itself is tested in tests/serving/test_batch_inference.py.
"""

import argparse
import io
import os
import subprocess
import sys

import pytest

from components.image_records import DEFAULT_MAX_PIXELS
from serving import infer_command

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse(argv):
    return infer_command.add_infer_arguments(argparse.ArgumentParser(prog="infer")).parse_args(argv)


def test_the_options_and_their_defaults():
    args = parse(["--model-dir", "m", "--images", "photos/*.jpg", "--output", "p.csv"])
    assert (args.model_dir, args.images, args.output) == ("m", "photos/*.jpg", "p.csv")
    assert args.batch_size == infer_command.DEFAULT_BATCH_SIZE == 16
    assert args.max_pixels == DEFAULT_MAX_PIXELS and args.verbose is False
    args = parse(["--model-dir", "m", "--images", "i", "--output", "o", "--batch-size", "3", "--max-pixels", "100",
                  "--verbose"])
    assert (args.batch_size, args.max_pixels, args.verbose) == (3, 100, True)


@pytest.mark.parametrize("missing", ["--model-dir", "--images", "--output"])
def test_every_place_is_required(missing, capsys):
    argv = [part for name in ("--model-dir", "--images", "--output") if name != missing for part in (name, "x")]
    with pytest.raises(SystemExit) as info:
        parse(argv)
    assert info.value.code == 2
    assert missing in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--batch-size", "--max-pixels"])
@pytest.mark.parametrize("value", ["0", "-4"])
def test_a_count_below_one_exits_2_before_any_job(tmp_path, option, value):
    output = tmp_path / "p.csv"
    args = parse(["--model-dir", str(tmp_path), "--images", str(tmp_path), "--output", str(output), option, value])
    out, err = io.StringIO(), io.StringIO()
    assert infer_command.infer_command(args, stdout=out, stderr=err) == 2
    assert err.getvalue() == f"infer: {option} must be >= 1, got {value}\n"
    assert out.getvalue() == "" and not output.exists()


def test_a_count_that_is_not_an_integer_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        parse(["--model-dir", "m", "--images", "i", "--output", "o", "--batch-size", "many"])
    assert "--batch-size: invalid int value: 'many'" in capsys.readouterr().err


def test_the_command_line_is_built_without_tensorflow_or_beam():
    code = ("import sys; from serving import infer_command; "
            "print(sorted(m for m in ('tensorflow', 'apache_beam', 'tfx') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": ROOT})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
