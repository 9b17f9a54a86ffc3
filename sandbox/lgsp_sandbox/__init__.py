"""The sandbox province: deterministic, realistically dirty departmental source databases for demos and tests."""
