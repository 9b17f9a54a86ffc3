"""The sharing API's answers as OpenAPI documents them (the handlers write JSON themselves, with
orjson, for speed; these models are the documented contract of that JSON)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class DataRows(BaseModel):
    result: str = Field("data", description="Always `data`.")
    dataset: str
    fields: list[str] = Field(description="The columns of each row, all granted to the caller.")
    rows: list[dict[str, Any]]
    next: str | None = Field(description="Cursor for the next page (`after=`), null on the last page.")


class DataRecord(BaseModel):
    result: str = Field("data", description="Always `data`.")
    dataset: str
    fields: list[str]
    record: dict[str, Any]


class DatasetsAnswer(BaseModel):
    result: str = Field("data", description="Always `data`.")
    datasets: list[dict[str, Any]]


class NotPermitted(BaseModel):
    result: str = Field("not_permitted", description="Always `not_permitted`.")
    dataset: str
    reason: str = Field(description="`no_grant`, `column_not_granted` or `outside_grant`.")
    message: str


class ErrorDetail(BaseModel):
    code: str = Field(description="`unauthenticated`, `unknown_dataset`, `bad_request`.")
    message: str
    field: str | None = None


class ErrorAnswer(BaseModel):
    result: str = Field("error", description="Always `error`.")
    error: ErrorDetail


class TokenAnswer(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class AccessRequestIn(BaseModel):
    dataset: str = Field(min_length=1, max_length=63)
    purpose: str = Field(min_length=1, max_length=2000)
    columns: list[str] | None = None


NO_DATA = {"description": "No data: the dataset exists and the caller may read it, but nothing matches (no body)."}
NOT_PERMITTED = {"model": NotPermitted, "description": "Not permitted: it exists, but is not granted to the caller."}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorAnswer, "description": "Malformed request; `error.field` names the parameter."},
    401: {"model": ErrorAnswer, "description": "No valid API key or bearer token."},
    404: {"model": ErrorAnswer, "description": "Unknown dataset."},
}
