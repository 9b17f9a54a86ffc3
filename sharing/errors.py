"""Errors of agency sharing: the hub's HTTP problems (lgsp.web.problems), with sharing's codes."""

from __future__ import annotations

from lgsp.web.problems import BadRequest, NotFound, Problem, Unauthenticated

__all__ = ["BadRequest", "Problem", "RegistryError", "Unauthenticated", "UnknownDataset"]


class UnknownDataset(NotFound):
    code = "unknown_dataset"


class RegistryError(BadRequest):
    """A registry operation that cannot be done (unknown consumer, a grant that breaks a rule)."""

    code = "invalid"
