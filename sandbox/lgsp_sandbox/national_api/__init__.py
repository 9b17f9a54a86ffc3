"""National services reached through NDXP/LGSP, simulated on loopback: OAuth2, paging, rate limits and faults.

Our REST connector is tested and demonstrated against this instead of systems we cannot reach. Start it with
`Simulator(...)` (lgsp_sandbox/national_api/server.py) or `python -m lgsp_sandbox.national_api --port 8765`.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field, SecretStr

DEFAULT_SEED = 2026


class SimulatorConfig(BaseModel):
    """What the simulated national services serve and how strict they are; the secrets are sandbox-only."""

    host: str = "127.0.0.1"
    seed: int = DEFAULT_SEED
    enterprises: int = Field(default=20_000, ge=0, le=50_000_000, description="size of the business register at start")
    documents: int = Field(
        default=3_000, ge=10, le=200_000, description="legal documents, the real national ones included"
    )
    token_ttl: int = Field(default=3600, ge=1, description="seconds an OAuth2 access token stays valid")
    rate_limit: float | None = Field(default=None, gt=0, description="requests per second per client; None: unlimited")
    client_id: str = "lgsp-quangtri"
    client_secret: SecretStr = SecretStr("sandbox-secret")
    api_key: SecretStr = SecretStr("sandbox-api-key")
    province_code: str = Field(default="44", description="GSO code of the province whose enterprises are served")
    reporting_deadline: date | None = Field(default=None, description="every report template's deadline, if moved")
