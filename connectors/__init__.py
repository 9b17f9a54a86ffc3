"""Connectors pull rows from sources as Arrow batches; `registry.get(kind)` imports a kind's module
when a run first needs it (a run of one kind does not pay for importing the others)."""

from lgsp.connectors import registry as registry
