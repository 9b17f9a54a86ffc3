"""The file-drop connector's typed config: the contract's source and columns, and the inbox folder."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict

from lgsp.connectors.errors import ConnectorError
from lgsp.core.connections import resolve
from lgsp.core.settings import Settings
from lgsp.schemas.contract import Contract, FileSource


class FileColumn(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    header: str
    type: str
    nullable: bool = True
    qualifier_of: str | None = None


class FilesConfig(BaseModel):
    """What the file-drop connector needs: built from a contract and a resolved connection."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    connection: str
    inbox: Path
    source: FileSource
    columns: list[FileColumn]
    key: list[str]


def inbox_path(url: str) -> Path:
    """A connection's inbox folder: a plain path or a file:// URL."""
    if url.startswith("file:"):
        return Path(unquote(urlsplit(url).path))
    if re.match(r"^[a-z][a-z0-9+.-]*://", url):
        raise ValueError(f"a file-drop connection must be a folder path or a file:// URL, not '{url.split(':')[0]}:'")
    return Path(url)


def configure(contract: Contract, settings: Settings) -> FilesConfig:
    source = contract.source
    assert isinstance(source, FileSource)
    url = resolve(source.connection, settings.sandbox_dir, home=settings.home).get_secret_value()
    try:
        inbox = inbox_path(url)
    except ValueError as exc:
        raise ConnectorError(str(exc), dataset=contract.id, connector=source.connection) from None
    return FilesConfig(
        dataset=contract.id,
        connection=source.connection,
        inbox=inbox,
        source=source,
        columns=[
            FileColumn(
                name=c.name,
                header=c.source or c.name,
                type=c.type.value,
                nullable=c.nullable,
                qualifier_of=c.qualifier_of,
            )
            for c in contract.columns
        ],
        key=list(contract.primary_key),
    )
