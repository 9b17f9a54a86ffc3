"""Connectors pull rows from sources as Arrow batches. Importing registers every kind."""

from connectors import files as files
from connectors import rest as rest
from connectors import sql as sql
