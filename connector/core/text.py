"""Untrusted text made safe to show a human. Arguments, rationales, tool results and ticket text
are written by models and other people; where an approver reads them (a terminal, a ticket
title) a control character can rewrite what is shown: ``ESC [8m`` conceals the text after it,
cursor moves overwrite a line, U+202E displays the rest of a line backwards, a zero-width space
makes two different addresses look alike.

Every such character is replaced by a visible escape (``\\x1b``, ``\\u202e``), so the reader sees
that something is there and what it is, and an escape sequence loses its effect (its ESC is
escaped, the rest prints as plain characters). Newlines and tabs stay where the text may span
lines (the terminal); titles are made one line first."""

from __future__ import annotations

import unicodedata
from typing import Any

# Invisible or layout-changing characters whose Unicode category is not Cc/Cf/Zl/Zp/Cs: the
# combining grapheme joiner, Mongolian free variation selectors, Hangul fillers, braille blank.
_INVISIBLE = frozenset({0x034F, 0x180B, 0x180C, 0x180D, 0x180F, 0x115F, 0x1160, 0x2800, 0x3164, 0xFFA0})
# Cc: C0 controls, DEL and C1 controls (ESC, CSI U+009B, OSC U+009D, BEL...). Cf: format characters
# (bidi embeddings, overrides and isolates U+202A-U+202E, U+2066-U+2069, LRM/RLM/ALM, zero-width
# space/joiners, word joiner, BOM, interlinear annotations, tag characters). Zl/Zp: line and
# paragraph separators. Cs: lone surrogates.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def is_hidden(char: str) -> bool:
    """True for a character that controls the display instead of showing as itself."""
    return ord(char) in _INVISIBLE or unicodedata.category(char) in _HIDDEN_CATEGORIES


def visible(char: str) -> str:
    """The escape that stands for a character: ``\\x1b``, ``\\u202e``, ``\\U000e0041``."""
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape_hidden(text: Any, keep: str = "") -> str:
    """``text`` with every hidden character except those in ``keep`` replaced by its escape."""
    text = str(text)
    if text.isprintable() and not any(ord(c) in _INVISIBLE for c in text):
        return text  # the common case: nothing to do
    return "".join(c if c in keep or not is_hidden(c) else visible(c) for c in text)


def for_terminal(text: Any) -> str:
    """Text for a terminal: lines and tabs kept, every other control or format character escaped."""
    return escape_hidden(text, keep="\n\t")


def one_line(text: Any) -> str:
    """Text for a single-line title (Jira summary, ServiceNow short description): any run of
    whitespace, line breaks included, becomes one space; hidden characters are escaped."""
    return escape_hidden(" ".join(str(text).split()))
