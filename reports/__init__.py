"""Reports: the province's appendix tables of indicators, computed from the warehouse.

A report template (`lgsp.schemas.reports`) lays out rows of indicators and columns of periods;
`build` fills each cell from the indicators' observations as reconciled (agreed, resolved or
disputed), with the observations behind it, so every number traces to a dataset, a submission
and a file line. A built report is written as HTML, XLSX, PDF and JSON, one version each time
its numbers change (`versions`), and can be sent to the central reporting system (`submit`).
"""
