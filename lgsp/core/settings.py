"""Typed settings of a hub installation, read from the environment in this one place."""

from __future__ import annotations

import datetime as dt
import os
import re
import unicodedata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ByteSize, Field, IPvAnyNetwork, SecretStr, ValidationError, field_validator

from lgsp.core.errors import ConfigError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
# A source checkout (the package beside its pyproject.toml) keeps its runtime data in var/ and reads
# relative paths from the checkout; an installed hub uses ~/lgsp and the working directory.
CHECKOUT: Path | None = PACKAGE_ROOT.parent if (PACKAGE_ROOT.parent / "pyproject.toml").is_file() else None
CONTRACTS_DIR = (PACKAGE_ROOT / "schemas" / "datasets").resolve()  # the example province's contracts
INDICATORS_DIR = (PACKAGE_ROOT / "schemas" / "indicators").resolve()  # its indicator register
REPORTS_DIR = (PACKAGE_ROOT / "schemas" / "reports").resolve()  # its report templates
DAGS_DIR = (PACKAGE_ROOT / "dags").resolve()


_PRESETS = {"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"}


class Settings(BaseModel):
    """Where the hub keeps its data and where its contracts live."""

    home: Path = Field(description="Runtime data: warehouse, staging, reports ($LGSP_HOME).")
    contracts_dir: Path = Field(description="Folder of dataset contract YAML files.")
    indicators_dir: Path = Field(INDICATORS_DIR, description="Folder of the indicator register, one YAML file each.")
    report_templates_dir: Path = Field(REPORTS_DIR, description="Folder of the report templates, one YAML file each.")
    batch_rows: int = Field(250_000, description="Rows per Arrow batch when streaming.")
    validation_memory: ByteSize = Field(
        ByteSize(512 * 2**20),
        description="Memory for the rows Great Expectations validates at once (bytes, or 512MB, 1GiB); larger runs go in batches.",
    )
    duckdb_memory_limit: str = Field("1GB", description="DuckDB memory_limit for hub connections.")
    duckdb_threads: int | None = Field(None, description="DuckDB threads (default: all cores).")
    release_json_max_rows: int = Field(
        1_000_000,
        ge=0,
        description="Open datasets with more rows are released without JSON: one JSON array of millions of rows "
        "is gigabytes no tool reads whole, and the CSV, Parquet and gzip serve them ($LGSP_RELEASE_JSON_MAX_ROWS; "
        "0: JSON at any size).",
    )
    province: str = Field("Quảng Trị", description="The province running the hub ($LGSP_PROVINCE).")
    base_url: str = Field(
        "http://localhost:8000", description="Public address of the portal and APIs ($LGSP_BASE_URL)."
    )
    exchange_log: bool = Field(
        True,
        description="Append every sharing-API request to the exchange log ($LGSP_EXCHANGE_LOG=off only to benchmark).",
    )
    trusted_proxies: tuple[str, ...] = Field(
        (),
        description="Addresses of reverse proxies whose X-Forwarded-For/-Proto `lgsp serve` believes ($LGSP_TRUSTED_PROXIES); none by default.",
    )
    token_ttl: int = Field(300, description="Lifetime of OAuth2 bearer tokens in seconds ($LGSP_TOKEN_TTL).")
    secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Secrets given in the environment ($LGSP_SECRET_<NAME>, e.g. LGSP_SECRET_SESSION) instead of key files.",
    )
    extra_holidays: tuple[dt.date, ...] = Field(
        (), description="Days off decided yearly (Tết bridging days), not working days ($LGSP_EXTRA_HOLIDAYS)."
    )
    webhook_backoff: tuple[float, ...] = Field(
        (30, 120, 600, 3600, 10800, 21600, 43200),
        description="Seconds before each retry of a webhook delivery (±20% jitter); one attempt more than retries, "
        "then `failed` ($LGSP_WEBHOOK_BACKOFF, comma-separated).",
    )
    webhook_timeout: float = Field(
        10.0, gt=0, description="Seconds a webhook receiver has to answer ($LGSP_WEBHOOK_TIMEOUT)."
    )
    webhook_poll: float = Field(
        5.0, ge=0, description="Seconds between delivery passes inside `lgsp serve`; 0: none ($LGSP_WEBHOOK_POLL)."
    )
    webhook_senders: int = Field(
        4,
        ge=1,
        le=64,
        description="Deliveries one deliverer sends at once, so a slow receiver holds up no "
        "other ($LGSP_WEBHOOK_SENDERS).",
    )
    webhook_networks: tuple[IPvAnyNetwork, ...] = Field(
        (),
        description="Networks webhook receivers may be in besides the public Internet, e.g. the provincial "
        "government network 10.0.0.0/8 ($LGSP_WEBHOOK_NETWORKS, comma-separated); loopback, private and "
        "link-local addresses are refused unless listed.",
    )

    profile: Literal["embedded", "cluster"] = Field(
        "embedded",
        description="embedded: everything in files under $LGSP_HOME (the default, `make demo`); cluster: the "
        "sharing registry and the exchange log in PostgreSQL, for several `lgsp serve` replicas ($LGSP_PROFILE).",
    )
    state_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL of the sharing registry (and, in the cluster profile, the exchange log), e.g. "
        "postgresql+psycopg2://lgsp:…@db/lgsp "
        "($LGSP_STATE_URL, or $LGSP_STATE_URL_FILE naming a 0600 file holding it); default the SQLite file "
        "$LGSP_HOME/sharing/registry.sqlite.",
    )

    lake_catalog: SecretStr | None = Field(
        None,
        description="PostgreSQL connection (libpq string or postgresql:// URL) of the DuckLake catalog: set, the "
        "warehouse is a DuckLake with its data files in `lake_data_path` instead of $LGSP_HOME/warehouse.duckdb "
        "($LGSP_LAKE_CATALOG, or $LGSP_LAKE_CATALOG_FILE naming a 0600 file holding it).",
    )
    lake_data_path: str | None = Field(
        None, description="Where DuckLake keeps its data files, e.g. s3://lake/warehouse/ ($LGSP_LAKE_DATA_PATH)."
    )
    lake_writers: int = Field(
        4, ge=1, description="Publish tasks Airflow runs at once on a DuckLake (the pool's slots; $LGSP_LAKE_WRITERS)."
    )
    lake_keep_days: float = Field(
        30,
        gt=0,
        description="Days of lake snapshots kept for time travel by the maintenance DAG ($LGSP_LAKE_KEEP_DAYS).",
    )
    lake_maintenance: str = Field(
        "0 2 * * *",
        description="When the `lgsp_maintenance` DAG runs on a DuckLake: a cron expression or an Airflow preset "
        "($LGSP_LAKE_MAINTENANCE; default 02:00 every day).",
    )
    s3_endpoint: str | None = Field(
        None, description="host:port of an S3-compatible object store; unset: AWS ($LGSP_S3_ENDPOINT)."
    )
    s3_key_id: str | None = Field(None, description="S3 access key id ($LGSP_S3_KEY_ID).")
    s3_secret: SecretStr | None = Field(
        None, description="S3 secret access key ($LGSP_S3_SECRET, or $LGSP_S3_SECRET_FILE naming a 0600 file)."
    )
    s3_region: str = Field("us-east-1", description="S3 region ($LGSP_S3_REGION).")
    s3_use_ssl: bool = Field(True, description="HTTPS to the object store ($LGSP_S3_USE_SSL=off for plain HTTP).")
    release_store: str | None = Field(
        None,
        description="Where the open-data releases are also kept, e.g. s3://lgsp-releases/open-data/ "
        "($LGSP_RELEASE_STORE; the LGSP_S3_* object store): every release's files under immutable keys, so "
        "`lgsp serve` replicas on other hosts serve them. Unset: releases live under $LGSP_HOME only.",
    )
    release_redirect: Literal["stream", "presigned"] = Field(
        "stream",
        description="How a replica without a release's files sends them: `stream` them from the store, or "
        "answer 302 to a `presigned` URL of the object store ($LGSP_RELEASE_REDIRECT).",
    )
    release_url_expiry: int = Field(
        3600, ge=1, le=604_800, description="Seconds a presigned download URL works ($LGSP_RELEASE_URL_EXPIRY)."
    )
    release_public_endpoint: str | None = Field(
        None,
        description="The object store's address as the public reaches it, e.g. https://files.example.gov.vn, "
        "for presigned URLs ($LGSP_RELEASE_PUBLIC_ENDPOINT; default the LGSP_S3_ENDPOINT, an internal address).",
    )
    release_public_key_id: str | None = Field(
        None,
        description="A read-only key that signs presigned URLs ($LGSP_RELEASE_PUBLIC_KEY_ID; default LGSP_S3_KEY_ID).",
    )
    release_public_secret: SecretStr | None = Field(
        None,
        description="Its secret ($LGSP_RELEASE_PUBLIC_SECRET, or $LGSP_RELEASE_PUBLIC_SECRET_FILE naming a 0600 file).",
    )

    @field_validator("lake_maintenance")
    @classmethod
    def _cron(cls, value: str) -> str:
        """Checked here: a schedule Airflow refuses would break the DAG file for every dataset,
        and `@continuous` would hold the whole warehouse's lock back to back."""
        value = value.strip()
        if value in _PRESETS:
            return value
        if re.fullmatch(r"(\S+\s+){4}\S+", value):
            try:
                from croniter import croniter  # Airflow's own parser of cron expressions
            except ModuleNotFoundError:  # a host without Airflow runs no DAG: the shape is enough
                return value
            if croniter.is_valid(value):
                return value
        raise ValueError(f"'{value}' is neither a cron expression (5 fields) nor one of {', '.join(sorted(_PRESETS))}")

    @field_validator("release_public_endpoint")
    @classmethod
    def _public_endpoint(cls, value: str | None) -> str | None:
        """http(s)://host[:port], no path: presigned URLs are signed for that host."""
        if value is None:
            return None
        if not re.fullmatch(r"https?://[A-Za-z0-9.\[\]:-]+", value.strip().rstrip("/")):
            raise ValueError(f"'{value}' is not http(s)://<host>[:<port>]")
        return value.strip().rstrip("/")

    @field_validator("release_store")
    @classmethod
    def _store_url(cls, value: str | None) -> str | None:
        """s3://bucket/prefix/, the prefix ending in a slash (the keys under it are <dataset>/v<N>/<file>)."""
        if value is None:
            return None
        found = re.fullmatch(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/.*)?", value.strip())
        if not found:
            raise ValueError(f"'{value}' is not s3://<bucket>/<prefix>/")
        prefix = (found.group(2) or "/").strip("/")
        return f"s3://{found.group(1)}/{prefix + '/' if prefix else ''}"

    @property
    def lake(self) -> bool:
        """Whether the warehouse is a DuckLake (lgsp.warehouse.lake) rather than one DuckDB file."""
        return self.lake_catalog is not None

    @property
    def registry_url(self) -> str:
        """Where the sharing registry lives: `state_url`, else the SQLite file under sharing_dir."""
        if self.state_url is not None:
            return self.state_url.get_secret_value()
        return f"sqlite:///{self.sharing_dir / 'registry.sqlite'}"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def staging_dir(self) -> Path:
        return self.home / "staging"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def report_versions_dir(self) -> Path:
        """The province's indicator reports as built: one folder per report, one per version."""
        return self.home / "report-versions"

    @property
    def sandbox_dir(self) -> Path:
        return self.home / "sandbox"

    @property
    def submissions_dir(self) -> Path:
        """Every file departments sent, by content (archive/), and the receipts."""
        return self.home / "submissions"

    @property
    def sharing_dir(self) -> Path:
        """Agency sharing: the registry, the exchange log and its statistics."""
        return self.home / "sharing"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Settings from `LGSP_*` variables; relative paths are taken from the checkout (or, for an
        installed hub, the working directory)."""
        env = os.environ if environ is None else environ
        base = CHECKOUT or Path.cwd()

        def path(name: str, default: Path) -> Path:
            value = Path(env[name]) if env.get(name) else default
            return value if value.is_absolute() else (base / value)

        # Each field read from a variable: pydantic parses and checks the text.
        variables = {
            "batch_rows": "LGSP_BATCH_ROWS",
            "province": "LGSP_PROVINCE",
            "base_url": "LGSP_BASE_URL",
            "validation_memory": "LGSP_VALIDATION_MEMORY",
            "duckdb_memory_limit": "LGSP_DUCKDB_MEMORY_LIMIT",
            "release_json_max_rows": "LGSP_RELEASE_JSON_MAX_ROWS",
            "exchange_log": "LGSP_EXCHANGE_LOG",
            "token_ttl": "LGSP_TOKEN_TTL",
            "extra_holidays": "LGSP_EXTRA_HOLIDAYS",
            "trusted_proxies": "LGSP_TRUSTED_PROXIES",
            "webhook_backoff": "LGSP_WEBHOOK_BACKOFF",
            "webhook_timeout": "LGSP_WEBHOOK_TIMEOUT",
            "webhook_poll": "LGSP_WEBHOOK_POLL",
            "webhook_networks": "LGSP_WEBHOOK_NETWORKS",
            "webhook_senders": "LGSP_WEBHOOK_SENDERS",
            "profile": "LGSP_PROFILE",
            "state_url": "LGSP_STATE_URL",
            "lake_catalog": "LGSP_LAKE_CATALOG",
            "lake_data_path": "LGSP_LAKE_DATA_PATH",
            "lake_writers": "LGSP_LAKE_WRITERS",
            "lake_keep_days": "LGSP_LAKE_KEEP_DAYS",
            "lake_maintenance": "LGSP_LAKE_MAINTENANCE",
            "s3_endpoint": "LGSP_S3_ENDPOINT",
            "s3_key_id": "LGSP_S3_KEY_ID",
            "s3_secret": "LGSP_S3_SECRET",
            "s3_region": "LGSP_S3_REGION",
            "s3_use_ssl": "LGSP_S3_USE_SSL",
            "release_store": "LGSP_RELEASE_STORE",
            "release_redirect": "LGSP_RELEASE_REDIRECT",
            "release_url_expiry": "LGSP_RELEASE_URL_EXPIRY",
            "release_public_endpoint": "LGSP_RELEASE_PUBLIC_ENDPOINT",
            "release_public_key_id": "LGSP_RELEASE_PUBLIC_KEY_ID",
            "release_public_secret": "LGSP_RELEASE_PUBLIC_SECRET",
        }
        extra: dict[str, Any] = {field: env[name].strip() for field, name in variables.items() if env.get(name)}
        if "province" in extra:
            extra["province"] = unicodedata.normalize("NFC", extra["province"])
        if "base_url" in extra:
            extra["base_url"] = extra["base_url"].rstrip("/")
        if "exchange_log" in extra:
            extra["exchange_log"] = extra["exchange_log"].lower() not in ("off", "0", "false", "no")
        if "trusted_proxies" in extra:
            extra["trusted_proxies"] = [a.strip() for a in extra["trusted_proxies"].split(",") if a.strip()]
        if "webhook_networks" in extra:
            extra["webhook_networks"] = [n.strip() for n in extra["webhook_networks"].split(",") if n.strip()]
        if "webhook_backoff" in extra:
            extra["webhook_backoff"] = [d.strip() for d in extra["webhook_backoff"].split(",") if d.strip()]
        if "extra_holidays" in extra:
            extra["extra_holidays"] = [d.strip() for d in extra["extra_holidays"].split(",") if d.strip()]
        if "profile" in extra:
            extra["profile"] = extra["profile"].lower()
        if "release_redirect" in extra:
            extra["release_redirect"] = extra["release_redirect"].lower()
        if "state_url" not in extra and env.get("LGSP_STATE_URL_FILE"):
            extra["state_url"] = _secret_file(path("LGSP_STATE_URL_FILE", Path()), "LGSP_STATE_URL_FILE")
        for field, name in (
            ("lake_catalog", "LGSP_LAKE_CATALOG"),
            ("s3_secret", "LGSP_S3_SECRET"),
            ("release_public_secret", "LGSP_RELEASE_PUBLIC_SECRET"),
        ):
            if field not in extra and env.get(f"{name}_FILE"):
                extra[field] = _secret_file(path(f"{name}_FILE", Path()), f"{name}_FILE")
        if "s3_use_ssl" in extra:
            extra["s3_use_ssl"] = extra["s3_use_ssl"].lower() not in ("off", "0", "false", "no")
        if extra.get("lake_catalog") and not extra.get("lake_data_path"):
            raise ConfigError(
                "LGSP_LAKE_CATALOG cần LGSP_LAKE_DATA_PATH: nơi giữ tệp dữ liệu, ví dụ s3://lake/warehouse/ / "
                "LGSP_LAKE_CATALOG needs LGSP_LAKE_DATA_PATH: where the data files go, e.g. s3://lake/warehouse/",
                field="LGSP_LAKE_DATA_PATH",
            )
        if extra.get("profile") == "cluster" and not extra.get("state_url"):
            raise ConfigError(
                "LGSP_PROFILE=cluster cần LGSP_STATE_URL (hoặc LGSP_STATE_URL_FILE): URL PostgreSQL của sổ đăng ký chia sẻ, "
                "ví dụ postgresql+psycopg2://lgsp@db/lgsp / LGSP_PROFILE=cluster needs LGSP_STATE_URL (or "
                "LGSP_STATE_URL_FILE): the PostgreSQL URL of the sharing registry, e.g. postgresql+psycopg2://lgsp@db/lgsp",
                field="LGSP_STATE_URL",
            )
        prefix = "LGSP_SECRET_"
        extra["secrets"] = {k.removeprefix(prefix).lower(): v for k, v in env.items() if k.startswith(prefix) and v}
        try:
            return cls(
                home=path("LGSP_HOME", CHECKOUT / "var" if CHECKOUT else Path.home() / "lgsp"),
                contracts_dir=path("LGSP_CONTRACTS", CONTRACTS_DIR),
                indicators_dir=path("LGSP_INDICATORS", INDICATORS_DIR),
                report_templates_dir=path("LGSP_REPORT_TEMPLATES", REPORTS_DIR),
                **extra,
            )
        except ValidationError as exc:
            problem = exc.errors()[0]
            name = variables.get(str(problem["loc"][0]), str(problem["loc"][0]))
            raise ConfigError(f"{name}={env.get(name, '')!r}: {problem['msg']}", field=name) from None


def _secret_file(path: Path, name: str) -> str:
    """The text of a file holding a secret (a URL with its password): the hub user's alone (0600)."""
    try:
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"{name}: {path} can be read by other users: `chmod 600 {path}`", field=name)
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {path}: {exc.strerror}", field=name) from None
