"""The ground floor: errors, settings, DuckDB helpers, connections and text normalisation.

Every other part of the hub may import from here; nothing here imports from above.
"""
