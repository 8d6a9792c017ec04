#!/usr/bin/env python
"""Writes the SYNTHETIC two-class demo image folder.

    python scripts/make_demo_data.py --output DIR [--per-class N] [--seed S]

The images are synthetic, a positive control for the learnable resizer: a
smooth random colour background plus 2 px stripes (rows or columns alternate)
that Transform's 300x300 output keeps and the bilinear baseline's 2x2-average
resize to 150x150 cancels; a weaker colour cue (warmer vs cooler) survives any
resize.  A handful of deliberately awkward ``special_*`` files (empty,
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

from components.demo_data import (  # noqa: F401  (re-exported)
    CLASS_NAMES,
    SPECIAL_FILES,
    main,
    make_demo_dataset,
)

if __name__ == "__main__":
    sys.exit(main())
