"""`python -m sandbox.national_api`: serve the simulated national services standalone (see server.main)."""

from sandbox.national_api.server import main

raise SystemExit(main())
