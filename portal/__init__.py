"""`lgsp serve`: the open-data portal and its APIs (CKAN Action API, DCAT, release downloads)."""
