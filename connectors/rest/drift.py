"""Schema drift: fields a source sends that the contract does not declare, and the reverse."""

from __future__ import annotations

from typing import Any


def path_tree(paths: list[str]) -> dict[str, Any]:
    """Nested dict of the declared paths: {'address': {'ward_code': {}}, 'name': {}}."""
    root: dict[str, Any] = {}
    for path in paths:
        node = root
        for part in path.split("."):
            node = node.setdefault(part, {})
    return root


class Drift:
    """Fields the contract does not declare, and declared fields absent from the source."""

    def __init__(self) -> None:
        self.unknown: dict[str, int] = {}  # path -> records that have it
        self.missing: dict[str, int] = {}  # path -> records that lack it
        self.first_page: dict[str, int] = {}

    def note(self, kind: dict[str, int], path: str, count: int, page: int) -> None:
        kind[path] = kind.get(path, 0) + count
        self.first_page.setdefault(path, page)

    def as_notes(self) -> dict[str, Any]:
        return {
            "unknown_fields": {
                p: {"records": n, "first_page": self.first_page[p]} for p, n in sorted(self.unknown.items())
            },
            "missing_fields": {
                p: {"records": n, "first_page": self.first_page[p]} for p, n in sorted(self.missing.items())
            },
        }
