"""A consumer's own webhook subscriptions on the sharing API (`/api/share/v1/webhooks`), with the
same credentials, errors and exchange log as its data requests: it lists, creates (the secret is in
that answer only) and deletes its subscriptions, never another consumer's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, Field

from lgsp.sharing.api import PREFIX, TAG, Bearer, Key, Sharing, _json
from lgsp.sharing.errors import BadRequest, RegistryError
from lgsp.sharing.shapes import ERRORS
from lgsp.sharing.webhooks import add_subscription, list_subscriptions, remove_subscription
from lgsp.web.problems import NotFound


class SubscriptionIn(BaseModel):
    url: str = Field(min_length=1, max_length=2000, description="Where the hub POSTs events (http or https).")
    datasets: list[str] | None = Field(
        None, description="Dataset ids to follow; omitted or null: every dataset the caller may read."
    )


def router(sharing: Sharing) -> APIRouter:
    api = APIRouter(prefix=f"{PREFIX}/webhooks", tags=[TAG])

    def consumer(entry: dict[str, Any], api_key: str | None, bearer: Any) -> str:
        caller = sharing.caller(api_key, bearer)
        entry.update(consumer=caller.consumer, credential=caller.credential)
        return caller.consumer

    @api.get("", summary="The caller's webhook subscriptions (without their secrets)", responses={**ERRORS})
    def mine(api_key: Key = None, bearer: Bearer = None) -> Response:
        def work(entry: dict[str, Any]) -> Response:
            code = consumer(entry, api_key, bearer)
            found = [s.public() for s in list_subscriptions(sharing.settings, code)]
            entry["outcome"] = "data"
            return _json(200, {"result": "data", "webhooks": found}, "data")

        return sharing.handle("list_webhooks", {}, work)

    @api.post(
        "",
        status_code=201,
        summary="Subscribe a URL to new releases and publications; the signing secret is in this answer only",
        responses={201: {"description": "The subscription and its `secret` (whsec_...)"}, **ERRORS},
    )
    def create(body: SubscriptionIn, api_key: Key = None, bearer: Bearer = None) -> Response:
        def work(entry: dict[str, Any]) -> Response:
            code = consumer(entry, api_key, bearer)
            try:
                sub, secret = add_subscription(sharing.settings, code, body.url, body.datasets)
            except RegistryError as exc:
                raise BadRequest(exc.message, field=exc.field) from None
            entry["outcome"] = "data"
            return _json(201, {"result": "data", "webhook": sub.public(), "secret": secret}, "data",
                         {"Cache-Control": "no-store"})  # fmt: skip

        return sharing.handle("create_webhook", {}, work)

    @api.delete(
        "/{subscription}", status_code=204, summary="Delete one of the caller's subscriptions", responses={**ERRORS}
    )
    def delete(
        subscription: Annotated[str, PathParam(description="Subscription id (wh_...)", max_length=64)],
        api_key: Key = None,
        bearer: Bearer = None,
    ) -> Response:
        def work(entry: dict[str, Any]) -> Response:
            code = consumer(entry, api_key, bearer)
            try:
                remove_subscription(sharing.settings, subscription, consumer=code)
            except RegistryError as exc:
                raise NotFound(exc.message) from None  # another's looks like none at all: a 404
            entry["outcome"] = "data"
            return Response(status_code=204, headers={"LGSP-Result": "data"})

        return sharing.handle("delete_webhook", {"subscription": subscription}, work)

    return api
