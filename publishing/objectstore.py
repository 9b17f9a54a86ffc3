"""The release store: open-data releases in S3-compatible object storage ($LGSP_RELEASE_STORE),
so `lgsp serve` replicas on hosts without the files serve the same catalogue.

A release's objects never change once written: `<prefix><dataset>/v<N>/<file>`, each with its
SHA-256 in its metadata (`x-amz-meta-sha256`) and its media type; a key already holding other bytes
is refused, never overwritten: each key is looked at first, and written with `If-None-Match: *`,
so of two writers racing for it one is refused by the store (files over 512 MiB go up in parts,
whose completion carries the same condition). `<prefix><dataset>/latest.json` is the one object
that changes, written after every file of the release it names, and only over the one read (If-Match). boto3 rather than DuckDB's httpfs
(which the lake uses): object metadata, conditional writes and presigned URLs are its everyday API.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from lgsp.publishing.versions import Release, ReleaseError

CHUNK = 1 << 20
SINGLE_PUT = 512 * CHUNK  # larger files go up in parts (an S3 PUT takes at most 5 GiB)
PART = 64 * CHUNK  # one part of those, read into memory at a time
BREAK = 10.0  # seconds a serving store that did not answer is not asked again (a circuit breaker)
IMMUTABLE = "public, max-age=31536000, immutable"  # a release's objects never change
POINTER = "no-cache"  # latest.json does
_MISSING = ("404", "NoSuchKey", "NotFound")
T = TypeVar("T")


class StoreError(ReleaseError):
    """The release store could not be reached or refused a request: trying again may succeed."""

    transient = True


class StoreConflict(ReleaseError):
    """A key of the release store already holds other bytes: a release never changes, so nothing
    is written over it (another host made a different release under the same version?)."""


@dataclass(frozen=True)
class StoredObject:
    """What the store says of one object: its size and the SHA-256 we put in its metadata."""

    key: str
    size: int
    sha256: str | None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


class ReleaseStore:
    """The releases under one s3://bucket/prefix/ of the LGSP_S3_* object store."""

    def __init__(self, url: str, client: Any, signer: Any = None, breaker: bool = False) -> None:
        self.url = url
        self.breaker = breaker  # a serving store: after a store that did not answer, not asked for BREAK s
        self._resting_until = 0.0
        self.bucket, _, self.prefix = url.removeprefix("s3://").partition("/")
        self.client = client
        self.signer = signer or client  # presigned URLs: the public address, a read-only key
        self._manifests: dict[str, Release] = {}  # release.json by key: immutable, read once
        self._lock = threading.Lock()

    def key(self, dataset: str, version: int | None = None, file: str = "latest.json") -> str:
        """`<prefix><dataset>/v<N>/<file>`, or the dataset's `latest.json` without a version."""
        return f"{self.prefix}{dataset}/" + (f"v{version}/{file}" if version is not None else file)

    def _ask(self, key: str) -> None:
        """Raise StoreError at once while the breaker is open: a store that just did not answer
        would only hold another worker thread for its timeout."""
        if self.breaker and time.monotonic() < self._resting_until:
            raise StoreError(
                f"Kho bản phát hành {self.url} vừa không trả lời: tạm không hỏi lại / The release store {self.url} "
                "did not answer just now: not asked again for a few seconds",
                file=f"s3://{self.bucket}/{key}",
            )

    def _trip(self, exc: Exception) -> None:
        """Open the breaker after a store that could not be reached or timed out (not a refusal)."""
        from botocore.exceptions import BotoCoreError

        if self.breaker and isinstance(exc, BotoCoreError):
            self._resting_until = time.monotonic() + BREAK

    def _fail(self, doing: tuple[str, str], key: str, exc: Exception) -> StoreError:
        """`doing` in Vietnamese and in English."""
        return StoreError(
            f"Kho bản phát hành {self.url} không trả lời hoặc từ chối khi {doing[0]} s3://{self.bucket}/{key}: {exc} / "
            f"The release store {self.url} failed while {doing[1]} s3://{self.bucket}/{key}: {exc}",
            file=f"s3://{self.bucket}/{key}",
        )

    # Writing

    def head(self, key: str) -> StoredObject | None:
        """The object at `key`, or None when there is none."""
        found = self._read(key, lambda: self.client.head_object(Bucket=self.bucket, Key=key))
        if found is None:
            return None
        return StoredObject(key, int(found["ContentLength"]), found.get("Metadata", {}).get("sha256"))

    def put_immutable(self, key: str, path: Path, media_type: str, sha256: str | None = None) -> bool:
        """Upload `path` to `key` unless the key holds these very bytes already (True when it
        uploaded). Raises StoreConflict, writing nothing, when it holds other bytes, and
        ReleaseError when the file is not the `sha256` its manifest says (it is hashed here, and
        the store checks the bytes it receives against that hash: ChecksumSHA256)."""
        from botocore.exceptions import BotoCoreError, ClientError

        actual = _sha256(path)
        if sha256 is not None and sha256 != actual:
            raise ReleaseError(
                f"{path} không khớp sha256 {sha256} của bản kê / does not match its manifest's sha256 {sha256}",
                file=str(path),
            )
        sha256 = actual
        size = path.stat().st_size
        found = self.head(key)
        if found is not None:
            return self._same(found, sha256, size)
        extra = {"Metadata": {"sha256": sha256}, "ContentType": media_type, "CacheControl": IMMUTABLE}
        try:
            if size <= SINGLE_PUT:
                with path.open("rb") as body:  # written only if the key is still free (If-None-Match: *)
                    self.client.put_object(
                        Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*",
                        ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256)).decode(), **extra,
                    )  # fmt: skip
            else:  # in parts, the last step written only if the key is still free
                self._upload_parts(key, path, extra)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "PreconditionFailed":
                raise self._fail(("ghi", "writing"), key, exc) from None
            return self._same(self.head(key), sha256, size, key)  # another writer got there first
        except (BotoCoreError, OSError) as exc:
            raise self._fail(("ghi", "writing"), key, exc) from None
        written = self.head(key)
        if written is None or written.size != size or written.sha256 != sha256:
            raise self._fail(("kiểm tra", "checking"), key, RuntimeError(f"read back {written}"))
        return True

    def _same(self, found: StoredObject | None, sha256: str, size: int, key: str = "") -> bool:
        """False (nothing to write) when `found` holds these bytes; else StoreConflict naming the key."""
        if found is not None and found.sha256 == sha256 and found.size == size:
            return False  # written before (a retried release): the same bytes
        where = f"s3://{self.bucket}/{found.key if found else key}"
        there = found.sha256 if found else None
        raise StoreConflict(
            f"Khoá {where} đã có nội dung khác (sha256 {there}, cần {sha256}): bản phát hành không bao giờ bị "
            f"ghi đè / The key {where} already holds other bytes (sha256 {there}, not {sha256}): a release is "
            "never overwritten",
            file=where,
        )

    def _upload_parts(self, key: str, path: Path, extra: dict[str, Any]) -> None:
        """A multipart upload whose completion carries If-None-Match: * (so the store refuses it
        when another writer took the key meanwhile); aborted on any failure, leaving no parts."""
        size = path.stat().st_size
        part = max(PART, -(-size // 10_000))  # S3 takes at most 10,000 parts
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=key, **extra)["UploadId"]
        try:
            parts: list[dict[str, Any]] = []
            with path.open("rb") as src:
                while data := src.read(part):
                    number = len(parts) + 1
                    done = self.client.upload_part(
                        Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=number, Body=data
                    )
                    parts.append({"PartNumber": number, "ETag": done["ETag"]})
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}, IfNoneMatch="*"
            )
        except BaseException:
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
            raise

    def put_pointer(self, key: str, body: bytes, etag: str | None) -> bool:
        """Write the one mutable object, a dataset's latest.json, only if it is still the one read
        (`etag`; None: only if there is none): False, writing nothing, when another writer moved it
        meanwhile (If-Match / If-None-Match, so a slower writer never moves it backwards)."""
        from botocore.exceptions import BotoCoreError, ClientError

        digest = hashlib.sha256(body).hexdigest()
        condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", CacheControl=POINTER,
                Metadata={"sha256": digest}, **condition,
            )  # fmt: skip
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise self._fail(("ghi", "writing"), key, exc) from None
        except BotoCoreError as exc:
            raise self._fail(("ghi", "writing"), key, exc) from None
        return True

    def pointer(self, dataset: str, known: str | None = None) -> tuple[Release | None, str | None]:
        """The release the dataset's latest.json names and that object's ETag (None, None without one).
        With the ETag of the copy the caller has (`known`), a conditional GET: (None, known) when
        it is unchanged, which the store answers without a body (304)."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.key(dataset)
        try:
            found = self.client.get_object(Bucket=self.bucket, Key=key, **({"IfNoneMatch": known} if known else {}))
            body = found["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None, None
            if known and exc.response.get("Error", {}).get("Code") in ("304", "NotModified"):
                return None, known
            raise self._fail(("đọc", "reading"), key, exc) from None
        except BotoCoreError as exc:
            raise self._fail(("đọc", "reading"), key, exc) from None
        return Release.model_validate_json(body), str(found["ETag"])

    # Reading

    def get(self, key: str) -> bytes | None:
        """A small object's bytes (a manifest), or None when there is none."""
        return self._read(key, lambda: bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()))

    def _read(self, key: str, call: Callable[[], T]) -> T | None:
        """`call`'s result; None when the store has no `key`; a StoreError for any other failure."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return call()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise self._fail(("đọc", "reading"), key, exc) from None
        except BotoCoreError as exc:
            raise self._fail(("đọc", "reading"), key, exc) from None

    def read(
        self, key: str, start: int, end: int, sha256: str | None = None, size: int | None = None
    ) -> Iterator[bytes]:
        """Bytes [start, end) of an object, in 1 MiB pieces as they arrive. The request is made
        now, so a store that cannot answer raises StoreError before a response has started, as
        does an object that is not the release's (its metadata's sha256 or its whole length not
        the `sha256` and `size` the manifest gives)."""
        from botocore.exceptions import BotoCoreError, ClientError

        if end <= start:
            return iter(())
        self._ask(key)
        try:
            found = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}")
        except (BotoCoreError, ClientError) as exc:
            self._trip(exc)
            raise self._fail(("đọc", "reading"), key, exc) from None
        total = str(found.get("ContentRange", "")).rpartition("/")[2]
        there = found.get("Metadata", {}).get("sha256")
        if (sha256 is not None and there != sha256) or (size is not None and total != str(size)):
            found["Body"].close()
            raise self._fail(("đọc", "reading"), key, RuntimeError(f"not the release's object: {there}, {total}"))
        return self._pieces(key, found["Body"], end - start)

    def _pieces(self, key: str, body: Any, size: int) -> Iterator[bytes]:
        from botocore.exceptions import BotoCoreError

        sent = 0
        try:
            for chunk in body.iter_chunks(CHUNK):
                sent += len(chunk)
                yield chunk
        except (BotoCoreError, OSError) as exc:
            raise self._fail(("đọc", "reading"), key, exc) from None
        finally:
            body.close()
        if sent != size:  # a short body must not pass for the whole object
            raise self._fail(("đọc", "reading"), key, RuntimeError(f"{sent} of {size} bytes"))

    def fetch(self, key: str, target: Path, sha256: str) -> Path:
        """A local copy of the object at `target`, checked against its SHA-256 (a copy that does not
        match is not kept)."""
        from botocore.exceptions import BotoCoreError, ClientError

        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")  # unique across processes
        self._ask(key)
        try:
            try:
                self.client.download_file(self.bucket, key, str(tmp))
            except (BotoCoreError, ClientError) as exc:
                self._trip(exc)
                raise self._fail(("đọc", "reading"), key, exc) from None
            if _sha256(tmp) != sha256:
                raise StoreError(
                    f"s3://{self.bucket}/{key} không khớp sha256 {sha256} / does not match its sha256 {sha256}",
                    file=f"s3://{self.bucket}/{key}",
                )
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def presigned(self, key: str, expiry: int, filename: str, media_type: str) -> str:
        """A URL that downloads the object without credentials for `expiry` seconds."""
        params = {
            "Bucket": self.bucket, "Key": key, "ResponseContentType": media_type,
            "ResponseContentDisposition": f'attachment; filename="{filename}"',
        }  # fmt: skip
        return str(self.signer.generate_presigned_url("get_object", Params=params, ExpiresIn=expiry))

    def datasets(self) -> list[str]:
        """The datasets that have a folder under the prefix."""
        from botocore.exceptions import BotoCoreError, ClientError

        found = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"
            ):
                found += [p["Prefix"][len(self.prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(("liệt kê", "listing"), self.prefix, exc) from None
        return sorted(found)

    def latest(self, dataset: str) -> Release | None:
        """The release the dataset's latest.json names, or None when it has none."""
        body = self.get(self.key(dataset))
        return Release.model_validate_json(body) if body is not None else None

    def releases(self, dataset: str, latest: Release) -> list[Release]:
        """Every release of the dataset up to `latest`, oldest first; a manifest is read once."""
        found = []
        for version in range(1, latest.version + 1):
            key = self.key(dataset, version, "release.json")
            with self._lock:
                known = self._manifests.get(key)
            if known is None:
                body = self.get(key)
                if body is None:
                    continue  # a version whose upload never happened (a store added after it)
                known = Release.model_validate_json(body)
                with self._lock:
                    self._manifests[key] = known
            found.append(known)
        return found
