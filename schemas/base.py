"""What every part of a contract is made of: strict models and bilingual text."""

from __future__ import annotations

import unicodedata
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

IDENTIFIER = r"^[a-z][a-z0-9_]*$"
SOURCE_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"  # a table, schema or column as the source spells it


class Model(BaseModel):
    """Strict base: unknown keys are an error, so a typo (or a pasted password) never passes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _nfc(value: Any) -> Any:
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


class Text(Model):
    """Bilingual text: Vietnamese first, English second."""

    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)

    _normalise = field_validator("vi", "en", mode="before")(_nfc)


class Keywords(Model):
    vi: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)

    @field_validator("vi", "en", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        return [_nfc(v) for v in value] if isinstance(value, list) else value
