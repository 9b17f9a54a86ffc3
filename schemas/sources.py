"""Where a dataset's rows come from: a departmental database, a REST API, files a department
sends, or the hub's own published datasets (a derived dataset). Credentials are never here: a source names a connection."""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from lgsp.schemas.base import IDENTIFIER, SOURCE_NAME, Model


class SourceKind(str, Enum):
    sql = "sql"
    rest = "rest"
    files = "files"
    derived = "derived"


class Engine(str, Enum):
    """How a SQL source is read: DuckDB's scanners where they exist, SQLAlchemy elsewhere."""

    auto = "auto"
    duckdb = "duckdb"
    sqlalchemy = "sqlalchemy"


def _connection() -> Any:
    return Field(
        pattern=IDENTIFIER,
        description="Connection name, resolved from LGSP_CONN_<NAME> or the Airflow Connection lgsp_<name>.",
    )


class SqlSource(Model):
    """A departmental database. Credentials live in the named connection, never here."""

    kind: Literal["sql"] = "sql"
    connection: str = _connection()
    table: str | None = Field(None, pattern=SOURCE_NAME)
    db_schema: str | None = Field(None, alias="schema", pattern=SOURCE_NAME)
    query: str | None = Field(None, description="A SELECT in the source's own SQL dialect.")
    engine: Engine = Engine.auto

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        if self.query is not None and not re.match(r"^\s*(select|with)\b", self.query, re.I):
            raise ValueError("query: must be a SELECT (or WITH … SELECT); the hub only reads sources")
        return self


class AuthType(str, Enum):
    oauth2 = "oauth2"  # client credentials: the connection's login and password are the client id and secret
    api_key = "api_key"  # the connection's password is the key
    none = "none"


class Auth(Model):
    """How the hub authenticates to an API; the secrets themselves come from the connection."""

    type: AuthType = AuthType.none
    token_path: str = Field(
        default="/oauth2/token", description="OAuth2 token endpoint, relative to the connection URL."
    )
    scope: str | None = None
    header: str = Field(default="X-API-Key", description="Header that carries the API key.")


class PagingStyle(str, Enum):
    page = "page"  # ?page=1&page_size=N
    offset = "offset"  # ?offset=0&limit=N
    cursor = "cursor"  # ?limit=N, then ?cursor=<next cursor from the body>
    link = "link"  # follow the Link: <...>; rel="next" header
    none = "none"  # one response holds everything


class Paging(Model):
    style: PagingStyle = PagingStyle.cursor
    page_size: int = Field(default=500, ge=1, le=100_000)
    page_param: str = "page"
    size_param: str = Field(default="page_size", description="Page-size parameter of the page style.")
    first_page: int = 1
    offset_param: str = "offset"
    limit_param: str = Field(default="limit", description="Page-size parameter of the offset, cursor and link styles.")
    cursor_param: str = "cursor"
    next_cursor: str = Field(default="next_cursor", description="Dotted path of the next cursor in the response body.")


class SchemaDrift(str, Enum):
    """What a run does when the source's fields differ from the contract's columns (always reported)."""

    evolve = "evolve"  # undeclared fields are kept, as JSON, in the hub-only column _lgsp_extra
    freeze = "freeze"  # any undeclared or missing field fails the run; nothing is published
    discard = "discard"  # undeclared fields are dropped; missing ones are null


class RestSource(Model):
    """A REST API, e.g. a national system reached through the national data-exchange platform."""

    kind: Literal["rest"]
    connection: str = _connection()
    path: str = Field(pattern=r"^/", description="Endpoint path, relative to the connection URL.")
    records: str = Field("data", description="Dotted path of the record list in the body; empty: the body is the list.")
    params: dict[str, str | int | float | bool] = Field(default_factory=dict, description="Fixed query parameters.")
    auth: Auth = Field(default_factory=Auth)
    paging: Paging = Field(default_factory=Paging)
    updated_since: str | None = Field(
        None, description="Query parameter for incremental pulls; it gets the last published cursor value."
    )
    lookback: int = Field(
        default=0,
        ge=0,
        le=7 * 86_400,
        description=(
            "Seconds an incremental pull reaches back before the last published cursor, for records the "
            "source makes visible late; records pulled again are merged by key."
        ),
    )
    rate_limit: float | None = Field(None, gt=0, description="At most this many requests per second.")
    timeout: float = Field(30, gt=0, description="Seconds to wait for a response.")
    retries: int = Field(6, ge=0, le=20, description="Retries of a failed request before the run fails.")
    schema_drift: SchemaDrift = SchemaDrift.evolve


class FileFormat(str, Enum):
    auto = "auto"
    csv = "csv"
    xlsx = "xlsx"


class Duplicates(str, Enum):
    latest = "latest"
    reject = "reject"


class FileSource(Model):
    """Files a department drops into its inbox folder (CSV or XLSX), read by Vietnamese conventions."""

    kind: Literal["files"]
    connection: str = Field(
        pattern=IDENTIFIER,
        description="Connection name of the department's inbox folder (a path or a file:// URL).",
    )
    pattern: list[str] = Field(["*.csv", "*.xlsx"], min_length=1, description="File-name patterns to ingest.")
    format: FileFormat = FileFormat.auto
    encoding: str | None = Field(None, description="utf-8, windows-1258, tcvn3 or vni; detected when not given.")
    delimiter: str | None = Field(
        None, min_length=1, max_length=1, description="CSV delimiter; sniffed when not given."
    )
    sheet: str | None = Field(None, description="XLSX sheet; the first when not given.")
    header_row: int = Field(
        1, ge=1, description="Line (CSV) or row (XLSX) of the column headers; title rows above it are skipped."
    )
    schema_drift: SchemaDrift = SchemaDrift.evolve
    duplicates: Duplicates = Field(
        Duplicates.latest,
        description="The same key in two submissions of one run: the newest submission's row wins (latest), "
        "or both rows are quarantined (reject). Twice in one file is always quarantined.",
    )


class DerivedIncremental(Model):
    """How the derived rows depend on one input's rows, so that a change of that input recomputes only
    the groups it touched. The contract's author asserts that each derived row depends only on the
    input rows of its group (true of a GROUP BY over those keys)."""

    input: str = Field(pattern=IDENTIFIER, description="The input whose changes are followed; one of source.inputs.")
    keys: dict[Annotated[str, Field(pattern=IDENTIFIER)], str] = Field(
        min_length=1,
        description="Each primary-key column of the derived dataset → a DuckDB expression over the input's "
        "columns giving the group an input row belongs to, e.g. month: \"CAST(date_trunc('month', "
        "measured_at) AS DATE)\". Exactly the primary key's columns.",
    )


class DerivedSource(Model):
    """A dataset computed by one SELECT over other published datasets of the hub, named by their ids."""

    kind: Literal["derived"]
    inputs: list[Annotated[str, Field(pattern=IDENTIFIER)]] = Field(
        min_length=1,
        description="Ids of the published datasets the SQL reads; the dataset is recomputed when any publishes.",
    )
    sql: str = Field(
        description="A SELECT (or WITH … SELECT) in DuckDB's SQL over the inputs, each named by its dataset id; "
        "it gives the contract's columns by name."
    )
    incremental: DerivedIncremental | None = Field(
        None,
        description="Recompute only the groups an input's changes touched (when the hub kept those changes); "
        "without it, or when it cannot, every run recomputes the whole dataset.",
    )

    @property
    def connection(self) -> None:
        """A derived dataset reads the warehouse itself: it has no connection."""
        return None

    @model_validator(mode="after")
    def _select_only(self) -> DerivedSource:
        if not re.match(r"^\s*(select|with)\b", self.sql, re.I):
            raise ValueError("sql: must be a SELECT (or WITH … SELECT); a derived dataset only reads its inputs")
        if len(set(self.inputs)) != len(self.inputs):
            raise ValueError("inputs: a dataset is named twice")
        if self.incremental and self.incremental.input not in self.inputs:
            raise ValueError(f"incremental.input: '{self.incremental.input}' is not among the inputs")
        return self


Source = Annotated[SqlSource | RestSource | FileSource | DerivedSource, Field(discriminator="kind")]
