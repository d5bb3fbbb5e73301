"""Ticket templates render model-written arguments in a sandbox."""

from __future__ import annotations

import pytest

from connector.core.errors import ConfigError
from connector.core.models import ApprovalRequest, digest_of
from connector.core.templates import TemplateRenderError, render, ticket_context, validate_template


def request(**args) -> ApprovalRequest:
    return ApprovalRequest(
        id="r1", route="r", system="s", tool_name="t", arguments=args, arguments_digest=digest_of(args)
    )


def test_renders_arguments_and_request_fields():
    text = render("{{ tool }} to {{ args.to }} ({{ request.id }})", ticket_context(request(to="a@b.example")))
    assert text == "t to a@b.example (r1)"


def test_sandbox_refuses_attribute_escapes():
    with pytest.raises(TemplateRenderError):
        render("{{ args.__class__.__mro__[1].__subclasses__() }}", ticket_context(request(x=1)))


def test_missing_argument_is_an_error_not_blank():
    with pytest.raises(TemplateRenderError, match="nope"):
        render("{{ args.nope }}", ticket_context(request(x=1)))


def test_argument_text_is_data_not_template():
    assert render("{{ args.x }}", ticket_context(request(x="{{ 7 * 7 }}"))) == "{{ 7 * 7 }}"


def test_bad_template_is_a_config_error_naming_where():
    with pytest.raises(ConfigError, match="routes.r.ticket.summary: invalid template"):
        validate_template("{{ oops", "routes.r.ticket.summary")
