"""The REST connector's typed config: the contract's source, and the connection's URL and secrets."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, SecretStr

from lgsp.connectors.errors import ConnectorError
from lgsp.core.connections import resolve
from lgsp.core.settings import Settings
from lgsp.schemas.contract import Contract, RestSource


class RestConfig(BaseModel):
    """What the REST connector needs: built from a contract and a resolved connection."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    dataset: str
    connection: str
    base_url: str
    login: str | None = None
    secret: SecretStr | None = None
    source: RestSource
    columns: list[tuple[str, str]]  # (column, dotted source path)
    batch_rows: int = 50_000
    backoff: float = 0.5  # first retry wait in seconds, doubling up to `backoff_max`
    backoff_max: float = 30.0
    memory_limit: str = "1GB"


def split_connection(url: str) -> tuple[str, str | None, str | None]:
    """(base URL without credentials, login, password) of a connection URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"a REST connection must be an http(s) URL, not '{parts.scheme}:'")
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    login = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    # The query of a connection URL (Airflow puts a Connection's extras there) is not the API's.
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", "")), login, password


def configure(contract: Contract, settings: Settings) -> RestConfig:
    source = contract.source
    assert isinstance(source, RestSource)
    url = resolve(source.connection, settings.sandbox_dir, home=settings.home).get_secret_value()
    try:
        base, login, password = split_connection(url)
    except ValueError as exc:
        raise ConnectorError(str(exc), dataset=contract.id, connector=source.connection) from None
    return RestConfig(
        dataset=contract.id,
        connection=source.connection,
        base_url=base,
        login=login,
        secret=SecretStr(password) if password else None,
        source=source,
        columns=[(c.name, c.source or c.name) for c in contract.columns],
        batch_rows=min(settings.batch_rows, 50_000),
        memory_limit=settings.duckdb_memory_limit,
    )
