"""`lgsp demo`: the demo province (the separate `lgsp-sandbox` distribution) run through the hub.

The only part of the hub that imports the sandbox, and only when the demo runs, so the hub's
wheel works without it.
"""

from lgsp.demo.province import national_connections, run_dags, run_demo

__all__ = ["national_connections", "run_dags", "run_demo"]
