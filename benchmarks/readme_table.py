"""Renders ``benchmarks/results/all.json`` as the README's performance table.

    python benchmarks/readme_table.py            # print the markdown
    python benchmarks/readme_table.py --write    # replace the table between the README markers
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
README = HERE.parent / "README.md"
START, END = "<!-- performance-table:start -->", "<!-- performance-table:end -->"


def _fmt(v) -> str:
    if not isinstance(v, (int, float)):
        return str(v)
    if v != v:  # NaN
        return "n/a"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def render(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"Measured {m['date']} on {m['cpu_count']} CPU cores ({m['cpu']}), Python {m['python']}, "
        f"torch {m['torch']} with {m['torch_threads']} threads, load average "
        f"{m['load_avg_1min']:.1f} at the start; command: `python benchmarks/run_all.py`. "
        "Ratios compare rows of the same run.",
        "",
        "| topic | benchmark | value | unit |",
        "|---|---|---:|---|",
    ]
    for topic, res in results["topics"].items():
        for r in res["rows"]:
            lines.append(f"| {topic} | {r.get('name', '')} | {_fmt(r.get('value'))} | "
                         f"{r.get('unit', '')} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(HERE / "results" / "all.json"))
    parser.add_argument("--write", action="store_true", help="update README.md in place")
    args = parser.parse_args(argv)
    table = render(json.loads(pathlib.Path(args.results).read_text()))
    if not args.write:
        print(table)
        return 0
    text = README.read_text()
    if START not in text or END not in text:
        print(f"README.md has no {START} ... {END} markers", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{table}\n{END}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
