#!/usr/bin/env python
"""Writes the SYNTHETIC two-class demo image folder.

    python scripts/make_demo_data.py --output DIR [--per-class N] [--seed S]

The images are synthetic: a smooth random colour background plus a fine grain
texture whose orientation (horizontal vs vertical, correlated over 1-2 pixels)
is the main class cue.  Plain bilinear downscaling to 150x150 wipes most of
that fine detail out; a weaker coarse colour cue (warmer vs cooler) survives
any resize, so both the bilinear baseline and the learnable resizer learn
something.  A handful of deliberately awkward ``special_*`` files (empty,
truncated, text-as-.jpg, CMYK, 16-bit PNG, GIF, EXIF-rotated, a 200 Mpx
decompression bomb...) exercise the ExampleGen's bad-file handling.

Same seed -> byte-identical files.  The implementation lives in
:mod:`components.demo_data`; this file is the command and re-exports
:func:`make_demo_dataset`.
"""

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from components.demo_data import (  # noqa: E402,F401  (re-exported)
    CLASS_NAMES,
    SPECIAL_FILES,
    main,
    make_demo_dataset,
)

if __name__ == "__main__":
    sys.exit(main())
