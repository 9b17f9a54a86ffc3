"""Indicators: the province's indicator register read against the warehouse.

The register itself (one YAML file per indicator) is master data in `lgsp.schemas.indicators`;
this part lists each indicator's observations from the published datasets its sources name,
each with its period, area, value and the submission and file line it came from
(`observations`), and reconciles them: sources that disagree beyond the register's tolerance are
a conflict, disputed until the owning department picks a value or explains (`reconcile`).
"""
