"""Renders ``benchmarks/results/all.json`` (CPU) and the GPU results as the README's tables.

    python benchmarks/readme_table.py            # print the markdown
    python benchmarks/readme_table.py --write    # replace the tables between the README markers

GPU tables: ``results/gpu.json`` (a full ``gpu_all.py`` run) with the sections of the later
partial runs in ``LATER_GPU_RUNS`` (when present) taking precedence.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
README = HERE.parent / "README.md"
START, END = "<!-- performance-table:start -->", "<!-- performance-table:end -->"
GPU_START, GPU_END = "<!-- gpu-table:start -->", "<!-- gpu-table:end -->"


def _fmt(v) -> str:
    if not isinstance(v, (int, float)):
        return str(v)
    if v != v:  # NaN
        return "n/a"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def render(results: dict) -> str:
    m = results["machine"]
    names = {r.get("name") for res in results["topics"].values() for r in res["rows"]}
    notes = []
    if "original_pandas_iloc" in names:
        notes.append(
            "The loader's baseline `original_pandas_iloc` is a re-creation of the "
            "original code's access pattern (pandas read per file, `iloc` per event, "
            "`np.stack`, `llp_collate_fn`; see `benchmarks/bench_loader.py`), not the "
            "original code itself; the speed-ups are against it."
        )
    if "jammy_marginal_moments_300" not in names:
        notes.append(
            "jammy_flows was not installed for this run, so the original flow's summary has no row."
        )
    lines = [
        f"Measured {m['date']} on {m['cpu_count']} CPU cores ({m['cpu']}), Python {m['python']}, "
        f"torch {m['torch']} with {m['torch_threads']} threads, load average "
        f"{m['load_avg_1min']:.1f} at the start; command: "
        f"`{results.get('command', 'python benchmarks/run_all.py')}`. Every row comes from this "
        "one run (`benchmarks/results/all.json`); ratios compare rows of the same run. "
        + " ".join(notes),
        "",
        "| topic | benchmark | value | unit |",
        "|---|---|---:|---|",
    ]
    for topic, res in results["topics"].items():
        for r in res["rows"]:
            lines.append(
                f"| {topic} | {r.get('name', '')} | {_fmt(r.get('value'))} | {r.get('unit', '')} |"
            )
    return "\n".join(lines)


#: later partial runs of ``gpu_all.py --sections ...``; their sections replace the full run's
LATER_GPU_RUNS = ["gpu_after_fixes.json", "gpu_encoder_after_fixes.json"]


def _gpu_rows() -> tuple[list[dict], list[dict]]:
    full = json.loads((HERE / "results" / "gpu.json").read_text())
    fixed: list[dict] = []
    for name in LATER_GPU_RUNS:
        path = HERE / "results" / name
        if path.exists():
            rows = json.loads(path.read_text())
            redone = {r["section"] for r in rows} - {"environment"}
            fixed = [r for r in fixed if r["section"] not in redone] + rows
    return full, fixed


def render_gpu(full: list[dict], fixed: list[dict]) -> str:
    env = next(r for r in full if r["name"] == "environment")
    redone = {r["section"] for r in fixed} - {"environment"}
    rows = [r for r in full if r["section"] not in redone] + [
        r for r in fixed if r["section"] in redone
    ]
    rows = [
        r
        for i, r in enumerate(rows)  # one gpu row per section
        if r["name"] != "gpu" or all(q["name"] != "gpu" for q in rows[:i])
    ]
    enc = {r["name"]: r for r in rows if r["section"] == "encoder"}
    lines = [
        f"{env.get('gpu')} ({env.get('gpu_memory_GiB')} GiB), torch {env.get('torch')}, CUDA "
        f"{env.get('cuda')}, {env.get('cpu_count')} CPU cores; command: "
        "`python benchmarks/gpu_all.py` (sections "
        f"{', '.join(sorted(redone)) or 'none'} from later runs, after the fixes the first one "
        "found). " + _xformers_sentence(env, rows),
        "",
        "| encoder config | dtype | batch | torch inference | torch train step | "
        "padded inference | padded train step |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for key in dict.fromkeys("/".join(n.split("/")[:3]) for n in enc if n.count("/") == 4):
        cfg, dtype, batch = key.split("/")
        vals = [
            _fmt((enc.get(f"{key}/{b}/{m}") or {}).get("value"))
            if enc.get(f"{key}/{b}/{m}")
            else "-"
            for b in ("torch", "padded")
            for m in ("inference", "train_step")
        ]
        lines.append(f"| {cfg} | {dtype} | {batch} | " + " | ".join(vals) + " |")
    lines += [
        "",
        "Encoder rows in events/s. Other GPU rows:",
        "",
        "| section | benchmark | value | unit |",
        "|---|---|---:|---|",
    ]
    for r in rows:
        if r["section"] in ("encoder", "environment"):
            continue
        lines.append(f"| {r['section']} | {r['name']} | {_fmt(r['value'])} | {r['unit']} |")
    return "\n".join(lines)


def _xformers_sentence(env: dict, rows: list[dict]) -> str:
    """What the results say about xformers: its version and whether its agreement check ran."""
    version = env.get("xformers")
    checks = [r for r in rows if str(r.get("name", "")).startswith("agreement/xformers")]
    if not checks:
        return f"xformers: {version} (no agreement check in these results)."
    failed = [r for r in checks if r.get("ok") is False]
    if not failed:
        return f"xformers {version}: its agreement check passed and its rows are measured."
    error = str(failed[-1].get("error", "")).split(": ", 1)[-1]
    reason = error.split("cannot run: ", 1)[-1].split(" (", 1)[0]
    return (
        f"xformers {version} was installed but could not run here (`{reason}`, from the "
        "agreement check in the results), so the `torch` backend ran instead (the probe "
        "falls back by itself)."
    )


def _replace(text: str, start: str, end: str, table: str) -> str:
    if start not in text or end not in text:
        raise SystemExit(f"README.md has no {start} ... {end} markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{table}\n{end}{tail}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(HERE / "results" / "all.json"))
    parser.add_argument("--write", action="store_true", help="update README.md in place")
    args = parser.parse_args(argv)
    table = render(json.loads(pathlib.Path(args.results).read_text()))
    gpu = render_gpu(*_gpu_rows()) if (HERE / "results" / "gpu.json").exists() else None
    if not args.write:
        print(table if gpu is None else f"{table}\n\n{gpu}")
        return 0
    text = _replace(README.read_text(), START, END, table)
    if gpu is not None:
        text = _replace(text, GPU_START, GPU_END, gpu)
    README.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
