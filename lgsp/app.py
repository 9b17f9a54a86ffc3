"""The FastAPI application of `lgsp serve`: the open-data portal and CKAN API (lgsp.portal), the
agency-sharing API and its admin pages (lgsp.sharing), the department pages (lgsp.departments),
and one error model for all of them; in the background, the webhook deliverer (lgsp.sharing.deliveries)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from lgsp.core.files import keep_private
from lgsp.core.settings import Settings
from lgsp.departments import pages as departments
from lgsp.portal import app as portal
from lgsp.sharing import api as sharing
from lgsp.sharing import webhooks_api
from lgsp.sharing.deliveries import Background
from lgsp.web import docs, problems
from lgsp.web.forwarded import ForwardedHeaders


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    keep_private(settings)  # the registry, the caches and the session key are the hub's alone
    deliverer = Background(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        deliverer.start()  # every `lgsp serve` sends the webhook outbox; claims keep two from sending one row twice
        try:
            yield
        finally:
            await asyncio.to_thread(deliverer.stop)
            app.state.catalogue.close()  # its release store thread, if any

    app = FastAPI(
        title=f"lgsp-hub: {settings.province}",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    docs.install(app, "/api/openapi.json")  # Swagger UI served from the hub, no CDN
    app.state.webhooks = deliverer
    app.state.sharing = sharing.install(app, settings)
    app.include_router(webhooks_api.router(app.state.sharing))
    portal.install(app, settings)
    app.mount(departments.PREFIX, departments.department_app(settings))
    problems.install(app, {sharing.PREFIX: sharing.problem_response(app.state.sharing)}, default=portal.ckan_problem)
    # X-Forwarded-For/-Proto/-Host from the addresses in $LGSP_TRUSTED_PROXIES only, and from
    # whoever may open the Unix socket of `lgsp serve --uds`
    app.add_middleware(ForwardedHeaders, trusted=list(settings.trusted_proxies))
    return app
