"""What a column means beyond its type: where a row stands on a map, which value bounds another,
and which other dataset's rows a code points at, so the portal can join and draw them."""

from __future__ import annotations

from enum import Enum

from pydantic import Field

from lgsp.schemas.base import IDENTIFIER, Model


class ColumnRole(str, Enum):
    latitude = "latitude"  # WGS 84 degrees north
    longitude = "longitude"  # WGS 84 degrees east
    label = "label"  # the name a reader knows the row by (a station's name)
    limit = "limit"  # the allowed value of the row's measure, as a regulation sets it (QCVN)


NUMERIC_ROLES = (ColumnRole.latitude, ColumnRole.longitude, ColumnRole.limit)


class MinimumWhen(Model):
    """Which rows' limit is a minimum, not a maximum: dissolved oxygen (DO) must stay at or above
    QCVN 08's 4 mg/L while pollutants must stay at or below theirs. The rows whose `column` holds
    one of `values`; every other row's limit is a maximum."""

    column: str = Field(pattern=IDENTIFIER, description="A text column of the same dataset (e.g. parameter).")
    values: list[str] = Field(min_length=1, description="Its values whose limit is a minimum (e.g. [DO]).")


class Reference(Model):
    """The column holds keys of another dataset (a foreign key): env_readings.station_code → env_stations."""

    dataset: str = Field(pattern=IDENTIFIER, description="Id of the dataset whose rows the values name.")
    column: str = Field(pattern=IDENTIFIER, description="That dataset's column holding the same values.")
