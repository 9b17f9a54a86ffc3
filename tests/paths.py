"""Where the checkout's files are, for tests that read the README, the DAG folder or golden files."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
