"""`python -m lgsp_sandbox`: build the sandbox province (or one department) from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lgsp_sandbox.build import (
    DEFAULT_DIRTY_SHARE,
    DEFAULT_SCALE,
    DEFAULT_SEED,
    DEPARTMENTS,
    build_department,
    build_province,
    sqlite_url,
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lgsp_sandbox",
        description="Build the departmental source databases of the sandbox province (Quảng Trị).",
        epilog="--dir alone builds every department as <dir>/<department>.sqlite plus connections.json; "
        "--url builds into one database at that SQLAlchemy URL (all departments unless --department).",
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--dir", type=Path, help="directory for one SQLite file per department")
    target.add_argument("--url", help="SQLAlchemy URL, e.g. postgresql+psycopg2://user@host/db")
    p.add_argument("--department", choices=list(DEPARTMENTS), help="build only this department")
    p.add_argument("--scale", type=int, default=DEFAULT_SCALE, help="rows of env_readings (default %(default)s)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default %(default)s)")
    p.add_argument(
        "--dirty-share", type=float, default=DEFAULT_DIRTY_SHARE, help="share of dirty rows (default %(default)s)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    options = {"seed": args.seed, "scale": args.scale, "dirty_share": args.dirty_share}
    if args.dir is not None and args.department is None:
        result: dict[str, object] = dict(build_province(args.dir, **options))
    elif args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        url = sqlite_url(args.dir / f"{args.department}.sqlite")
        result = {args.department: build_department(args.department, url, **options)}
        registry = args.dir / "connections.json"
        known = json.loads(registry.read_text(encoding="utf-8")) if registry.exists() else {}
        known[args.department] = url
        registry.write_text(json.dumps(known, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    else:
        names = [args.department] if args.department else list(DEPARTMENTS)
        result = {name: build_department(name, args.url, **options) for name in names}
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
