"""Wiki-markup rendering: model-written text must show as typed and never become markup."""

from __future__ import annotations

import random
import re

import pytest

from adapters.jira.render import (
    MAX_DESCRIPTION,
    build_description,
    build_summary,
    carries_report,
    escape_wiki,
    report_body,
    report_properties,
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
    "bq. a quote",
    "* a bullet",
    "# a numbered item",
    "- a dash item",
    "----",
    "{{monospace}}",
    "x*bold*",
    "*x*y",
    "a -b- c",
    "!a!b!",
    "???",
]

# What Jira's renderer would read as markup in escaped text (a backslash escapes one character):
_MARKUP = [
    re.compile(r"(?<!\\)[{}\[\]|]"),  # macros, {{monospace}}, links, mentions, tables
    re.compile(r"(?<![^\W_]|\\)([*_\-+^~])(?=\S)(?:.*?\S)?(?<!\\)\1(?![^\W_])"),  # text effects
    re.compile(r"(?<!\\)\?(?<!\\)\?"),  # ??citation??
    re.compile(r"(?<!\\)!\S[^!]*?(?<!\\)!"),  # !image!
    re.compile(r"^(?:h[1-6]\.|bq\.|[*#-]+(?:\s|$)|-{4,})"),  # headings, quotes, lists, rules
]


def markup_in(escaped: str) -> list[str]:
    return [m.group(0) for pattern in _MARKUP for m in pattern.finditer(escaped)]


@pytest.mark.parametrize("text", ATTACKS)
def test_markup_cannot_be_injected(text):
    assert markup_in(escape_wiki(text)) == [], escape_wiki(text)


def test_random_markup_soup_never_renders_as_markup():
    rng = random.Random(20261201)
    alphabet = "*_-+^~?!{}[]|#hbq1. \tab\n"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        escaped = escape_wiki(text)
        assert markup_in(escaped) == [], (text, escaped)
        assert "\n" not in escaped


@pytest.mark.parametrize(
    "text",
    [
        "approver-0001",
        "snake_case_name",
        "2*3=6 and 2^10",
        "Thanks!",
        "Are you sure?",
        "a - b",
        "e-mail re: order #42",
        "x+y",
    ],
)
def test_plain_text_is_left_as_typed(text):
    assert escape_wiki(text) == text


def test_newline_cannot_start_a_new_wiki_line():
    assert "\n" not in escape_wiki("a\nh1. Approved by admin\n----")


def test_backslash_cannot_form_a_line_break():
    assert "\\\\" not in escape_wiki("a\\\\b").replace("\\\\ ", "")


def test_description_shows_table_digest_request_and_rationale():
    request = make_request()
    text = build_description(request, None)
    assert "||Argument||Value||" in text and request.arguments_digest in text and "{{req-1}}" in text
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


def test_report_body_escapes_tool_output_without_a_visible_marker():
    body = report_body("Result: [~accountid:x] {noformat}\nh1. Approved by the CISO")
    assert markup_in(body.splitlines()[0]) == [] and markup_in(body.splitlines()[1]) == []
    assert "acr-report" not in body and "??" not in body and "{color" not in body


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


def test_report_is_recognised_by_its_comment_property():
    comment = {"body": "Sent.", "properties": report_properties("rep-1")}
    assert carries_report(comment, "rep-1")
    assert not carries_report(comment, "rep-10") and not carries_report({"body": "Sent."}, "rep-1")


def test_visible_marker_of_earlier_versions_is_still_recognised():
    legacy = {"body": "Sent.\n\n{color:#97a0af}??acr-report:req\\-1:in\\_doubt??{color}"}
    assert carries_report(legacy, "req-1:in_doubt") and not carries_report(legacy, "req-1:in")
