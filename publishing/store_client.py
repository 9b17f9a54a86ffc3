"""The release store's boto3 clients ($LGSP_RELEASE_STORE, the LGSP_S3_* object store): one per
store, key and use, shared by threads (boto3's clients are thread-safe); boto3 imported only here,
when a store is used (lgsp.publishing.objectstore is the store itself)."""

from __future__ import annotations

import functools
from typing import Any

from lgsp.core.settings import Settings
from lgsp.publishing.objectstore import ReleaseStore

# A serving client (lgsp serve's downloads and readers, in its thread pool of 40) tries once with
# short timeouts: a store that stops answering must free a worker in seconds, not hold it a minute.
SERVE_CONNECT, SERVE_READ, SERVE_POOL = 2.0, 10.0, 64


@functools.lru_cache(maxsize=8)
def _store(
    url: str,
    endpoint: str | None,
    key_id: str | None,
    secret: str | None,
    ssl: bool,
    region: str,
    serving: bool,
    public: tuple[str | None, str | None, str | None] = (None, None, None),
) -> Any:
    internal = f"{'https' if ssl else 'http'}://{endpoint}" if endpoint else None
    client = _client(internal, key_id, secret, region, serving)
    signer = None
    if any(public):  # presigned URLs for the public: its address and (better) a read-only key
        signer = _client(public[0] or internal, public[1] or key_id, public[2] or secret, region, serving)
    return ReleaseStore(url, client, signer, breaker=serving)


def _client(endpoint_url: str | None, key_id: str | None, secret: str | None, region: str, serving: bool) -> Any:
    import boto3  # 150 ms of imports, for the commands that use the store only
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name=region,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint_url else "auto"},  # MinIO, SeaweedFS: no bucket DNS names
            connect_timeout=SERVE_CONNECT if serving else 5,
            read_timeout=SERVE_READ if serving else 60,
            retries={"total_max_attempts": 1} if serving else {"max_attempts": 3, "mode": "standard"},
            max_pool_connections=SERVE_POOL if serving else 10,
        ),
    )


def release_store(settings: Settings, serving: bool = False) -> ReleaseStore | None:
    """The store the settings name (one client per store and key, shared by threads: boto3's
    clients are thread-safe), or None when $LGSP_RELEASE_STORE is unset. `serving`: the client of
    `lgsp serve`'s readers (one attempt, short timeouts, a pool for every worker thread)."""
    if settings.release_store is None:
        return None
    secret = settings.s3_secret.get_secret_value() if settings.s3_secret else None
    found: ReleaseStore = _store(
        settings.release_store,
        settings.s3_endpoint,
        settings.s3_key_id,
        secret,
        settings.s3_use_ssl,
        settings.s3_region,
        serving,
        (
            settings.release_public_endpoint,
            settings.release_public_key_id,
            settings.release_public_secret.get_secret_value() if settings.release_public_secret else None,
        ),
    )
    return found
