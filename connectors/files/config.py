"""The file-drop connector's typed config: the contract's source and columns, and the inbox folder."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from lgsp.connectors.errors import ConnectorError
from lgsp.core.connections import resolve
from lgsp.core.settings import Settings
from lgsp.schemas.contract import Contract, FileSource
from lgsp.submissions.inbox import inbox_path


class FileColumn(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    header: str
    type: str
    nullable: bool = True
    qualifier_of: str | None = None
    aliases: tuple[str, ...] = ()
    scale_words: bool = False
    unit: str | None = None
    qualified: bool = False  # another column takes the qualifier (gần, hơn…) written before this one's numbers


class FilesConfig(BaseModel):
    """What the file-drop connector needs: built from a contract and a resolved connection."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    connection: str
    inbox: Path
    source: FileSource
    columns: list[FileColumn]
    key: list[str]
    settings: Settings


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
                aliases=tuple(c.aliases),
                scale_words=c.scale_words,
                unit=c.unit,
                qualified=any(q.qualifier_of == c.name for q in contract.columns),
            )
            for c in contract.columns
        ],
        key=list(contract.primary_key),
        settings=settings,
    )
