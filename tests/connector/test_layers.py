"""The core knows no application layer: its schema and policy import without ``connector.app``."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

CORE_MODULES = sorted(
    ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
    for p in (REPO / "connector" / "core").rglob("*.py")
    if "migrations" not in p.parts
)


def test_core_modules_import_without_the_application_layer():
    imports = "; ".join(f"import {name}" for name in CORE_MODULES)
    outside = "('connector.app', 'connector.agents', 'autogen', 'adapters')"
    code = f"import sys; {imports}; print(sorted(m for m in sys.modules if m.startswith({outside})))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_schema_names_keep_their_old_import_paths():
    from connector.app import config as app_config
    from connector.config import ConnectorConfig, RouteConfig, format_validation_error, parse_duration
    from connector.core import settings

    assert ConnectorConfig is settings.ConnectorConfig is app_config.ConnectorConfig
    assert RouteConfig is settings.RouteConfig
    assert parse_duration is settings.parse_duration
    assert format_validation_error is settings.format_validation_error
