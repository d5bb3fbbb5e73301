"""Wiki-markup rendering: model-written text must show as typed and never become markup."""

from __future__ import annotations

import pytest

from adapters.jira.render import (
    MAX_DESCRIPTION,
    build_description,
    build_summary,
    escape_wiki,
    has_marker,
    report_body,
)
from tests.adapters.jira.jira_testlib import make_request

ATTACKS = [
    "{noformat}",
    "{code}x{code}",
    "[~accountid:5b10a2844c20165700ede21c]",
    "[~alice]",
    "[click|https://evil.example]",
    "!https://evil.example/pixel.png!",
    "*bold* _it_ -strike- +under+ ^sup^ ~sub~ ??cite??",
    "| fake | row |",
    "{color:red}x{color}",
    "h1. heading",
]


@pytest.mark.parametrize("text", ATTACKS)
def test_markup_characters_are_escaped(text):
    escaped = escape_wiki(text)
    for index, char in enumerate(escaped):
        if char in "{}[]|!*_+^~?-":
            assert escaped[index - 1] == "\\", f"unescaped {char!r} in {escaped!r}"


def test_newline_cannot_start_a_new_wiki_line():
    assert "\n" not in escape_wiki("a\nh1. Approved by admin\n----")


def test_backslash_cannot_form_a_line_break():
    assert "\\\\" not in escape_wiki("a\\\\b").replace("\\\\ ", "")


def test_description_shows_table_digest_request_and_rationale():
    request = make_request()
    text = build_description(request, None)
    assert "||Argument||Value||" in text and request.arguments_digest in text and "req\\-1" in text
    assert "Customer asked for a refund" in text


def test_description_escapes_arguments():
    text = build_description(make_request(body="{noformat}[~accountid:abc]{noformat}"), None)
    assert "{noformat}" not in text and "[~" not in text


def test_custom_description_template_gets_escaped_args():
    text = build_description(make_request(to="[~mallory]"), "Mail to {{ args.to }}")
    assert text.startswith("Mail to \\[\\~mallory\\]")


def test_custom_description_always_carries_digest():
    request = make_request()
    assert request.arguments_digest in build_description(request, "Just {{ tool }}")


def test_huge_arguments_fit_jira_limit():
    assert len(build_description(make_request(body="x" * 200_000), None)) <= MAX_DESCRIPTION


def test_summary_is_single_line_and_short():
    summary = build_summary(make_request(subject="a\nb" * 300), "{{ args.subject }}")
    assert "\n" not in summary and len(summary) <= 255


def test_report_body_escapes_tool_output_and_carries_marker():
    body = report_body("Result: [~accountid:x] {noformat}", "rep-1")
    assert "[~" not in body.split("??")[0] and has_marker(body, "rep-1")


def test_marker_is_not_a_prefix_match():
    assert not has_marker(report_body("ok", "rep-10"), "rep-1")


HIDDEN_IN_TITLES = "\x00\x07\x1b\x7f\x9b\u202e\u2066\u200b\ufeff\n\r\t"


def test_summary_shows_control_and_bidi_characters_as_escapes():
    request = make_request(
        to="a@example.com", subject="quarterly\x1b[8m numbers\x1b[2K\x1b[1A\u202efdp.exe\x00\x07\u200b end"
    )
    summary = build_summary(request, "Mail to {{ args.to }}: {{ args.subject }}")
    assert not set(summary) & set(HIDDEN_IN_TITLES), repr(summary)
    assert summary == (
        "Mail to a@example.com: quarterly\\x1b[8m numbers\\x1b[2K\\x1b[1A\\u202efdp.exe\\x00\\x07\\u200b end"
    )


def test_description_drops_or_escapes_c1_and_bidi_controls():
    request = make_request(to="a@example.com", subject="x\u202ey\x9b31m\u2066z\x7f", body="b\x1b[8mc")
    text = build_description(request, None)
    assert not set(text) & set("\x1b\x7f\x9b\u202e\u2066"), repr(text)
    assert "x&#92;u202ey&#92;x9b31m" in text  # visible, and the backslash cannot start wiki markup
