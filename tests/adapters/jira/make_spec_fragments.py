"""Regenerate fixtures/spec_fragments.json: the request-body schemas the adapter's bodies must fit,
extracted (with the schemas they reference) from Atlassian's OpenAPI files in shared/reference.
Run by hand: python tests/adapters/jira/make_spec_fragments.py [path/to/shared/reference/jira/spec]"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOTS = {
    "jira-platform-v3.swagger-v3.v3.json": [
        "IssueUpdateDetails",
        "Comment",
        "SearchAndReconcileRequestBean",
    ],
    "jsm-servicedesk.swagger.v3.json": ["CommentCreateDTO", "ApprovalDecisionRequestDTO"],
}
KEEP = (
    "type",
    "properties",
    "items",
    "additionalProperties",
    "$ref",
    "allOf",
    "readOnly",
    "enum",
    "nullable",
    "required",
)


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref.rsplit("/", 1)[-1])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _slim(node: Any) -> Any:
    """Keep only what a structural check needs (no descriptions or examples)."""
    if isinstance(node, list):
        return [_slim(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in KEEP:
            continue
        if key == "properties":
            out[key] = {name: _slim(v) for name, v in value.items()}
        else:
            out[key] = _slim(value)
    return out


def extract(spec_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for file, roots in ROOTS.items():
        schemas = json.loads((spec_dir / file).read_text())["components"]["schemas"]
        todo = list(roots)
        while todo:
            name = todo.pop()
            if name in out or name not in schemas:
                continue
            out[name] = _slim(schemas[name])
            todo += sorted(_refs(schemas[name]) - set(out))
    return out


if __name__ == "__main__":
    here = Path(__file__).resolve()
    default = here.parents[4] / "shared" / "reference" / "jira" / "spec"
    spec_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    fragments = extract(spec_dir)
    target = here.parent / "fixtures" / "spec_fragments.json"
    target.write_text(json.dumps(fragments, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(fragments)} schemas to {target}")
