"""`python -m lgsp_sandbox.national_api`: serve the simulated national services standalone (see server.main)."""

from lgsp_sandbox.national_api.server import main

raise SystemExit(main())
