"""Publishing: versioned open-data releases of published datasets (catalogues and APIs build on them)."""
