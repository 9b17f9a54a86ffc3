"""The floors hold: imports run only downward, no circles, the sandbox stays apart from the hub.

The contracts live in pyproject.toml ([tool.importlinter]); `make lint` runs them too. The
planted cases prove the check can fail: each copies the package, adds one bad import and expects
import-linter to name it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter over the packages found first on the path at `root`."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), str(REPO_ROOT / "pyproject.toml"), "--no-cache"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_floors_hold() -> None:
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        ("lgsp/core/text.py", "from lgsp.cli import app", "lgsp.core is not allowed to import lgsp.cli"),
        (
            "lgsp/schemas/loader.py",
            "import lgsp.warehouse.store",
            "lgsp.schemas is not allowed to import lgsp.warehouse",
        ),
        ("lgsp/portal/ckan.py", "import lgsp.sharing.grants", "lgsp.portal is not allowed to import lgsp.sharing"),
        ("lgsp/publishing/versions.py", "import lgsp.publishing.dcat", "No cycles are allowed in lgsp.publishing"),
        ("lgsp_sandbox/units.py", "import lgsp.core.text", "lgsp_sandbox is not allowed to import lgsp"),
        ("lgsp/pipeline/runs.py", "import lgsp_sandbox.build", "lgsp.pipeline is not allowed to import lgsp_sandbox"),
    ],
)
def test_a_planted_bad_import_is_caught(tmp_path: Path, module: str, planted: str, broken: str) -> None:
    shutil.copytree(REPO_ROOT / "lgsp", tmp_path / "lgsp", symlinks=False)  # the parts, not links to them
    shutil.copytree(REPO_ROOT / "sandbox" / "lgsp_sandbox", tmp_path / "lgsp_sandbox")
    target = tmp_path / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{planted}  # noqa\n", encoding="utf-8")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout
    assert broken in result.stdout, result.stdout


def test_every_import_of_the_hub_in_benchmarks_and_tests_resolves() -> None:
    """The benchmarks are not run by the suite; an import of a module that moved would rot there
    unnoticed (it did once: lgsp.sharing.demo). Imports inside functions are checked too."""
    import ast
    import importlib

    missing = []
    for path in sorted([*(REPO_ROOT / "benchmarks").glob("*.py"), *(REPO_ROOT / "tests").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.split(".")[0] in ("lgsp", "lgsp_sandbox")
            ):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    if not hasattr(module, alias.name):
                        try:
                            importlib.import_module(f"{node.module}.{alias.name}")
                        except ImportError:
                            missing.append(f"{path.relative_to(REPO_ROOT)}: {node.module}.{alias.name}")
    assert not missing, missing


def test_the_hub_without_a_release_store_never_imports_boto() -> None:
    """boto3/botocore cost ~150 ms of imports: only a hub with $LGSP_RELEASE_STORE pays them
    (the error pages import the release store's error class, not its client)."""
    code = "import sys, lgsp.app, lgsp.publishing.dump; print(sorted(m for m in sys.modules if 'boto' in m))"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]", found.stdout
