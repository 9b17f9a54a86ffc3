"""Turn a contract's expectations (and what its keys and columns imply) into GX expectations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lgsp.schemas.contract import Contract, Expectation, Severity
from lgsp.validation import gx
from lgsp.validation.errors import ExpectationError
from lgsp.validation.report import label

PRIMARY_KEY = "pk"  # the key of the implied uniqueness check
# Whole-run row-level expectations: a batch cannot judge them alone.
UNIQUENESS = {"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"}
_TABLE_LEVEL = {"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"}


@dataclass(frozen=True)
class Check:
    """An expectation ready to run: where it came from, what it reads, and how it is scoped."""

    key: str  # stable id in reports: "e3" for contract expectations[3], "pk", "nn:<column>"
    expectation: Expectation
    origin: str  # "contract" or what implied it ("primary_key", "nullable: false")
    columns: tuple[str, ...]
    row_level: bool  # failures name rows (a map expectation)
    run_scope: bool  # needs every row of the run at once

    @property
    def label(self) -> str:
        return label(self.expectation.type, self.expectation.kwargs)


def implied(contract: Contract) -> list[tuple[str, str, Expectation]]:
    """What the contract says without an explicit expectation: keys are unique and present.

    Returns (key, origin, expectation) triples.
    """
    keys = contract.primary_key
    if len(keys) == 1:
        unique = Expectation(type="expect_column_values_to_be_unique", kwargs={"column": keys[0]})
    else:
        unique = Expectation(type="expect_compound_columns_to_be_unique", kwargs={"column_list": keys})
    out = [(PRIMARY_KEY, "primary_key", unique)]
    for column in contract.columns:
        if column.name in keys or not column.nullable:
            origin = "primary_key" if column.name in keys else "nullable: false"
            not_null = Expectation(type="expect_column_values_to_not_be_null", kwargs={"column": column.name})
            out.append((f"nn:{column.name}", origin, not_null))
    return out


def columns_used(contract: Contract, types: set[str] | None = None, *, implied_too: bool = True) -> list[str]:
    """The columns the checks (of these `types`, or all; the contract's own only, without what
    its keys imply, if not `implied_too`) read, known without Great Expectations, so that reading
    can start while it loads."""
    expectations = list(contract.expectations) + ([e for _, _, e in implied(contract)] if implied_too else [])
    chosen = [e for e in expectations if types is None or e.type in types]
    return list(dict.fromkeys(col for e in chosen for col in e.columns))


def _gx_class(expectation: Expectation, where: str, dataset: str) -> type:
    gx.load()
    from great_expectations.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.registry import get_expectation_impl

    try:
        return get_expectation_impl(expectation.type)
    except ExpectationNotFoundError:
        raise ExpectationError(
            f"{where}: unknown Great Expectations expectation '{expectation.type}'",
            dataset=dataset,
            field=f"{where}.type",
        ) from None


def build_checks(contract: Contract) -> list[Check]:
    """Every check of a contract; raises ExpectationError naming the bad expectation and argument."""
    gx.load()
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )

    map_kinds = (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation)
    checks: list[Check] = []
    sources = [(f"e{i}", e, "contract", f"expectations[{i}]") for i, e in enumerate(contract.expectations)]
    sources += [(key, e, origin, origin) for key, origin, e in implied(contract)]
    for key, expectation, origin, where in sources:
        cls = _gx_class(expectation, where, contract.id)
        to_gx(expectation, where=where, dataset=contract.id)  # argument errors surface here
        row_level = issubclass(cls, map_kinds)
        if not row_level and expectation.type not in _TABLE_LEVEL and not expectation.columns:
            raise ExpectationError(
                f"{where}: table-level expectation '{expectation.type}' is not supported "
                f"(supported: column, column-pair, multicolumn expectations and {sorted(_TABLE_LEVEL)})",
                dataset=contract.id,
                field=f"{where}.type",
            )
        if expectation.severity is Severity.quarantine and not row_level:
            raise ExpectationError(
                f"{where}: severity 'quarantine' needs a row-level expectation, and "
                f"'{expectation.type}' judges the whole column: use 'error' or 'warn'",
                dataset=contract.id,
                field=f"{where}.severity",
            )
        checks.append(
            Check(
                key=key,
                expectation=expectation,
                origin=origin,
                columns=tuple(expectation.columns),
                row_level=row_level,
                run_scope=(not row_level) or expectation.type in UNIQUENESS,
            )
        )
    return checks


def to_gx(expectation: Expectation, *, where: str = "expectation", dataset: str | None = None) -> Any:
    """The GX expectation object; bad arguments raise ExpectationError naming each one."""
    cls = _gx_class(expectation, where, dataset or "")
    try:
        return cls(**expectation.kwargs)
    except Exception as exc:  # GX raises pydantic (v1) validation errors of several kinds
        errors = getattr(exc, "errors", None)
        if callable(errors):
            seen: dict[str, str] = {}
            for err in errors():
                name = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__") or "(arguments)"
                seen.setdefault(name, err.get("msg", ""))
            detail = "; ".join(f"{k}: {v}" for k, v in seen.items())
        else:
            detail = str(exc)
        raise ExpectationError(
            f"{where}: bad arguments for {expectation.type}: {detail}", dataset=dataset, field=f"{where}.kwargs"
        ) from None
