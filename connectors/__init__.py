"""Connectors pull rows from sources as Arrow batches. Importing registers every kind."""

from connectors import sql as sql
