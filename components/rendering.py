"""Numbers as every view prints them, and the Jinja environment of the templates in ``components/templates``.

The verdict's sentences (``components/verdict.py``), its tables (``components/verdict_text.py``), the comparison
report and the model card all format a figure with the same functions, so ``+0.312`` reads the same everywhere.
Every formatter prints ``n/a`` for a missing value (None).
"""

import os

import jinja2

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")


def num(value: float | None, digits: int = 4) -> str:
    """``0.9688``: ``value`` with ``digits`` decimals."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 4) -> str:
    """``+0.3125`` / ``-0.0100``: ``value`` with its sign and ``digits`` decimals (a difference)."""
    return "n/a" if value is None else f"{value:+.{digits}f}"


def interval(bounds: tuple[float, float] | None, signed_values: bool = False, digits: int = 3) -> str:
    """``[0.912, 0.987]``: an interval's (low, high) bounds, signed for a difference's."""
    if not bounds:
        return "n/a"
    fmt = signed if signed_values else num
    return f"[{fmt(bounds[0], digits)}, {fmt(bounds[1], digits)}]"


def pval(value: float | None) -> str:
    """``0.0312``: a p-value with three significant digits, below 1e-4 in scientific form (``3.1e-09``)."""
    return "n/a" if value is None else (f"{value:.3g}" if value >= 1e-4 else f"{value:.1e}")


def flops(value: float | None) -> str:
    """``3.43 G``, ``11.7 M``, ``2.7 k``: a count of floating-point operations, three significant digits."""
    if value is None:
        return "n/a"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:g}"


def count(value: int | None) -> str:
    """``12,163``: a whole number with thousands separators."""
    return "n/a" if value is None else f"{value:,}"


def template_environment(**filters) -> jinja2.Environment:
    """The Jinja environment every report and card template is rendered with.

    Templates load from ``components/templates``; HTML templates (``*.html.j2``) are autoescaped; an undefined name
    is an error (``jinja2.StrictUndefined``), so a template never prints an empty cell for a field that is not there.

    Args:
        **filters: extra Jinja filters by name (e.g. ``cell=...``), added to Jinja's own.

    Returns:
        The environment; render with ``.get_template(name).render(...)``.
    """
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
    )
    environment.filters.update(filters)
    return environment
