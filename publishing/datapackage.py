"""Frictionless Data Package (datapackage.json) of a release: Table Schema, bytes and hash."""

from __future__ import annotations

from typing import Any

from lgsp.publishing.versions import Release
from lgsp.schemas.contract import ColumnType, Contract, PersonalData

_TYPES = {
    ColumnType.string: "string",
    ColumnType.integer: "integer",
    ColumnType.number: "number",
    ColumnType.boolean: "boolean",
    ColumnType.date: "date",
    ColumnType.timestamp: "datetime",
}


def table_schema(contract: Contract) -> dict[str, Any]:
    """Table Schema of the released columns (personal-data columns are never released)."""
    fields = [
        {
            "name": c.name,
            "type": _TYPES[c.type],
            "title": c.description.vi,
            "description": f"{c.description.vi} / {c.description.en}",
            **({"constraints": {"required": True}} if not c.nullable or c.name in contract.primary_key else {}),
        }
        for c in contract.columns
        if c.personal_data is PersonalData.none
    ]
    schema: dict[str, Any] = {"fields": fields}
    names = {f["name"] for f in fields}
    if set(contract.primary_key) <= names:  # a key that is personal data is not released
        schema["primaryKey"] = list(contract.primary_key)
    return schema


def datapackage(contract: Contract, release: Release) -> dict[str, Any]:
    """The descriptor written beside the release's files; `frictionless validate` checks each
    file against its schema, byte size and SHA-256."""
    schema = table_schema(contract)
    resources = []
    for d in release.distributions:
        resource: dict[str, Any] = {
            "name": f"{contract.id}-{d.format}",
            "path": d.file,
            "format": d.format,
            "mediatype": d.media_type,
            "bytes": d.bytes,
            "hash": f"sha256:{d.sha256}",
        }
        if d.format == "parquet" or d.format.endswith(".gz"):
            # Parquet carries its own schema, and frictionless checks bytes and hash of a parquet
            # file only when it treats it as a file rather than a table; a `.gz` is the same
            # table as its plain twin, described once there, and checked here as the bytes served.
            resource["type"] = "file"
        else:
            resource["schema"] = schema
        if d.format == "csv":
            resource["encoding"] = "utf-8-sig"
        resources.append(resource)
    return {
        "name": contract.id.replace("_", "-"),
        "id": contract.id,
        "title": f"{contract.title.vi} / {contract.title.en}",
        "description": f"{contract.description.vi}\n\n{contract.description.en}",
        "version": str(release.version),
        "created": release.created_at.isoformat() + "Z",
        "keywords": [*contract.keywords.vi, *contract.keywords.en],
        "licenses": [{"name": contract.licence.id, "path": contract.licence.url, "title": contract.licence.title}],
        "contributors": [
            {
                "title": f"{contract.publisher.name.vi} / {contract.publisher.name.en}",
                "role": "publisher",
                **({"email": contract.publisher.email} if contract.publisher.email else {}),
            }
        ],
        "resources": resources,
    }
