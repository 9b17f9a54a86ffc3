"""What happens after an open dataset publishes: its release, then the catalogue (the bulk dump
needs nothing: it is assembled from the releases when downloaded, lgsp.publishing.dump). The
upload to the release store comes later, after the webhook event and the writer lock
(lgsp.publishing.stored.upload, called by the pipeline)."""

from __future__ import annotations

import duckdb

from lgsp.core.settings import Settings
from lgsp.publishing.dcat import write_catalogue
from lgsp.publishing.releases import make_release
from lgsp.publishing.versions import Derivation, Release, RunQuality, release_of_run
from lgsp.schemas.contract import Contract
from lgsp.schemas.loader import load_contracts


def refresh(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    contract: Contract,
    run_id: str,
    quality: RunQuality | None = None,
    inputs: dict[str, str | None] | None = None,
) -> Release:
    """Release the dataset as run `run_id`'s rows (nothing new if its data is unchanged) and
    regenerate the DCAT catalogue; `inputs` (a derived dataset's: input id → the input run it
    read) become the release's lineage. Raises ReleaseError for a dataset that is not open."""
    derived_from = None
    if inputs is not None:
        derived_from = []
        for name, input_run in sorted(inputs.items()):
            found = release_of_run(settings.home, name, input_run)
            derived_from.append(Derivation(dataset=name, run_id=input_run, version=found.version if found else None))
    release = make_release(
        con, settings.home, contract, run_id, quality=quality, derived_from=derived_from,
        json_max_rows=settings.release_json_max_rows,
    )  # fmt: skip
    contracts = list(load_contracts(settings.contracts_dir).values())
    write_catalogue(settings.home, contracts, settings.base_url, settings.province)
    return release
