"""`make bench`: run every benchmarks/bench_*.py and print one table of figures.

A benchmark module has `run(args) -> list[dict]`; each dict is a row with `name`, `value`, `unit`,
`target` (text such as ">= 333", or None) and `ok` (True, False, or None for a figure without a
target). `args` carries `quick`, `database_url` (a PostgreSQL server; each benchmark makes its own
database there), `redis_url` and `options` (`-o key=value`, read by the benchmarks that know them).
The rows are also written to benchmarks/results/latest.json.

    make bench                               # all of them
    make bench BENCH_ARGS="--only ingest"    # bench_ingest.py only
    make bench BENCH_ARGS="--quick -o duration=10"
"""

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import RESULTS, row  # noqa: E402


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="", help="Comma-separated names: `ingest` runs bench_ingest.py")
    parser.add_argument("--quick", action="store_true", help="Short runs, to check that the benchmarks work")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server for the benchmark databases (env BENCH_DATABASE_URL)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis for the benchmark servers' Dramatiq broker (env BENCH_REDIS_URL)",
    )
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--strict", action="store_true", help="Exit 1 when a target is missed")
    args = parser.parse_args(argv)
    args.options = dict(option.split("=", 1) for option in args.option)
    return args


def discover(only: str) -> list[str]:
    names = sorted(path.stem.removeprefix("bench_") for path in HERE.glob("bench_*.py"))
    wanted = [name.strip() for name in only.split(",") if name.strip()]
    unknown = set(wanted) - set(names)
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(sorted(unknown))}; there are: {', '.join(names)}")
    return [name for name in names if not wanted or name in wanted]


def run_one(name: str, args: argparse.Namespace) -> list[dict]:
    """One module's rows; a crash becomes a failed row, so the other benchmarks still run."""
    started = time.monotonic()
    print(f"== {name}", flush=True)
    try:
        rows = importlib.import_module(f"bench_{name}").run(args)
    except Exception as exc:
        traceback.print_exc()
        message = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
        rows = [row(f"{name}: crashed ({type(exc).__name__}: {message})", None, ok=False)]
    print(f"   {name} took {time.monotonic() - started:.0f} s", flush=True)
    return rows


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def table(rows: list[dict]) -> str:
    verdicts = {True: "ok", False: "MISSED", None: ""}
    cells = [("benchmark", "value", "unit", "target", "")] + [
        (r["name"], _cell(r["value"]), r.get("unit") or "", r.get("target") or "", verdicts[r.get("ok")])
        for r in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(5)]
    lines = [
        "  ".join(
            cell.rjust(w) if i == 1 else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in cells
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    # Benchmarks that read DATABASE_URL themselves find the same PostgreSQL server as the others.
    os.environ.setdefault("DATABASE_URL", args.database_url)
    rows = []
    for name in discover(args.only):
        rows += run_one(name, args)
    print()
    print(table(rows))
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "args": {"only": args.only, "quick": args.quick, "options": args.options},
        "rows": rows,
    }
    (RESULTS / "latest.json").write_text(json.dumps(record, indent=2, default=str))
    print(f"\nWritten to {RESULTS / 'latest.json'}")
    crashed = any(r.get("ok") is False and r.get("value") is None for r in rows)
    missed = any(r.get("ok") is False for r in rows)
    return 1 if crashed or (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
