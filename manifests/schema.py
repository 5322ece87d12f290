"""The manifest's JSON Schema (``manifests/manifest.schema.json``) and validation against it."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def manifest_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(resources.files("manifests").joinpath("manifest.schema.json").read_text(encoding="utf-8"))
    return schema


def validate_manifest(manifest: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` when the manifest does not follow the schema."""
    import jsonschema

    jsonschema.Draft202012Validator(manifest_schema()).validate(manifest)
