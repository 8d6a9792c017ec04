"""The shared number formatters and the Jinja environment of the report and card templates."""

import os

import jinja2
import pytest

from components import rendering


def test_num_and_signed_round_to_the_given_decimals():
    assert rendering.num(0.96875) == "0.9688"
    assert rendering.num(0.5, digits=2) == "0.50"
    assert rendering.num(0) == "0.0000"
    assert rendering.signed(0.3125) == "+0.3125"
    assert rendering.signed(-0.01) == "-0.0100"
    assert rendering.signed(0.0, digits=1) == "+0.0"


def test_interval_plain_and_signed():
    assert rendering.interval((0.9123, 0.9871)) == "[0.912, 0.987]"
    assert rendering.interval((-0.05, 0.125), signed_values=True) == "[-0.050, +0.125]"
    assert rendering.interval((0.25, 0.75), digits=1) == "[0.2, 0.8]"


def test_pval_three_significant_digits_then_scientific_below_1e_4():
    assert rendering.pval(0.03125) == "0.0312"
    assert rendering.pval(1.0) == "1"
    assert rendering.pval(1e-4) == "0.0001"
    assert rendering.pval(3.14e-9) == "3.1e-09"
    assert rendering.pval(0.0) == "0.0e+00"


def test_flops_units_and_count_separators():
    assert rendering.flops(3.434e9) == "3.43 G"
    assert rendering.flops(11.71e6) == "11.7 M"
    assert rendering.flops(2_700) == "2.7 k"
    assert rendering.flops(1e9) == "1 G"
    assert rendering.flops(999) == "999"
    assert rendering.flops(0) == "0"
    assert rendering.count(12163) == "12,163"
    assert rendering.count(7) == "7"


@pytest.mark.parametrize("formatter", [rendering.num, rendering.signed, rendering.interval, rendering.pval,
                                       rendering.flops, rendering.count])
def test_every_formatter_prints_n_a_for_a_missing_value(formatter):
    assert formatter(None) == "n/a"


def test_an_empty_interval_is_n_a():
    assert rendering.interval(()) == "n/a"


def test_the_environment_loads_every_template_shipped():
    # The filters the report and the card pass; the report's own (cell, markdown) are stand-ins here.
    environment = rendering.template_environment(
        num=rendering.num, signed=rendering.signed, pval=rendering.pval, flops=rendering.flops,
        count=rendering.count, interval=rendering.interval, cell=str, markdown=str)
    assert os.path.isdir(rendering.TEMPLATES)
    names = sorted(environment.list_templates())
    assert names == sorted(os.listdir(rendering.TEMPLATES))
    assert {"report.md.j2", "report.html.j2", "model_card.md.j2", "model_card.html.j2"} <= set(names)
    for name in names:
        assert environment.get_template(name).filename == os.path.join(rendering.TEMPLATES, name)


def test_html_templates_are_escaped_and_markdown_ones_are_not(tmp_path):
    environment = rendering.template_environment()
    assert environment.autoescape("report.html.j2") and environment.autoescape("model_card.html.j2")
    assert not environment.autoescape("report.md.j2") and not environment.autoescape("model_card.md.j2")
    # The same environment, reading templates named like the shipped ones from another folder.
    (tmp_path / "cell.html.j2").write_text("<td>{{ name }}</td>")
    (tmp_path / "cell.md.j2").write_text("| {{ name }} |")
    environment.loader = jinja2.FileSystemLoader(str(tmp_path))
    name = "a<b & 'c'"
    assert environment.get_template("cell.html.j2").render(name=name) == "<td>a&lt;b &amp; &#39;c&#39;</td>"
    assert environment.get_template("cell.md.j2").render(name=name) == "| a<b & 'c' |"


def test_an_undefined_name_is_an_error_not_an_empty_cell():
    environment = rendering.template_environment()
    with pytest.raises(jinja2.UndefinedError, match="'missing' is undefined"):
        environment.from_string("| {{ missing }} |").render()
    with pytest.raises(jinja2.UndefinedError, match="has no attribute 'accuracy'"):
        environment.from_string("{{ v.accuracy }}").render(v={})
    # A test for definedness still works.
    assert environment.from_string("{{ 'yes' if v.note is defined else 'no' }}").render(v={}) == "no"


def test_extra_filters_are_added_beside_jinjas_own():
    environment = rendering.template_environment(cell=lambda value, key: f"{key}={value}")
    template = environment.from_string("{{ 3 | cell('n') }} {{ ['a', 'b'] | join(', ') }}")
    assert template.render() == "n=3 a, b"
    assert "cell" not in rendering.template_environment().filters


def test_blocks_leave_no_blank_line_and_the_trailing_newline_is_kept():
    environment = rendering.template_environment()
    text = environment.from_string("{% for x in xs %}\n- {{ x }}\n{% endfor %}\nend\n").render(xs=[1, 2])
    assert text == "- 1\n- 2\nend\n"
