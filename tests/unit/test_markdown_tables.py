"""``records.tables``: one cell format and one Markdown table for every written table."""

import math

import pytest

from tomoprune.records.tables import format_cell, markdown_table


@pytest.mark.parametrize(
    ("value", "options", "text"),
    [
        (None, {}, "-"),
        ("", {}, "-"),
        (math.nan, {}, "-"),
        (math.inf, {"digits": 1}, "inf"),
        (0.912345, {}, "0.9123"),
        (12345, {}, "12345"),
        (12345, {"thousands": True}, "12,345"),
        (1234.5, {"digits": 1, "thousands": True}, "1,234.5"),
        (-1.4e-10, {"clip_zero": True}, "0.0000"),
        (-1.4e-10, {}, "-0.0000"),
        (0.00123456, {"digits": 3, "significant": True}, "0.00123"),
        (None, {"missing": "—"}, "—"),
        (True, {}, "True"),
        ("dtc", {}, "dtc"),
    ],
)
def test_format_cell(value, options, text):
    assert format_cell(value, **options) == text


def test_markdown_table_aligns_escapes_and_formats_non_text_cells():
    table = markdown_table(["method", "accuracy"], [["dtc", 0.91], ["a|b", None]], align="lr")
    assert table.splitlines() == [
        "| method | accuracy |",
        "|---|---:|",
        "| dtc | 0.9100 |",
        "| a\\|b | - |",
    ]


def test_markdown_table_refuses_a_row_of_the_wrong_length():
    with pytest.raises(ValueError, match="2 columns"):
        markdown_table(["a", "b"], [["only one"]])
