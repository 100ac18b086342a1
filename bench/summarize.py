#!/usr/bin/env python3
"""Summarise bench/run's results.tsv: median of rounds per target, and the ratios.

Usage: summarize.py RESULTS_TSV [NOTE ...]. Prints the table; writes summary.json beside the TSV.
"""

import json
import os
import statistics
import sys

ORDER = ["talon", "talon-pg", "openbao", "openbao-root", "ceiling", "talon-token", "talon-mixed", "talon-execute"]
RATIOS = [
    ("talon", "openbao"),
    ("talon", "openbao-root"),
    ("talon-pg", "openbao"),
    ("talon", "ceiling"),
    ("talon-pg", "ceiling"),
    ("openbao", "ceiling"),
    ("talon-mixed", "talon"),
    ("talon-execute", "ceiling"),
]


def load(path):
    header, rows, comments = None, [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            if line.startswith("#"):
                comments.append(line[1:].strip())
                continue
            cells = line.split("\t")
            if header is None:
                header = cells
                continue
            rows.append(dict(zip(header, cells)))
    return comments, rows


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: summarize.py RESULTS_TSV [NOTE ...]")
    path, notes = sys.argv[1], sys.argv[2:]
    comments, rows = load(path)
    if not rows:
        sys.exit("no results in " + path)

    targets = [t for t in ORDER if any(r["target"] == t for r in rows)]
    summary = {}
    for t in targets:
        runs = [r for r in rows if r["target"] == t]
        rps = [float(r["rps"]) for r in runs]
        s = {
            "rounds": len(runs),
            "rps": statistics.median(rps),
            "rps_min": min(rps),
            "rps_max": max(rps),
            "p50_ms": statistics.median(int(r["p50_us"]) for r in runs) / 1000,
            "p99_ms": statistics.median(int(r["p99_us"]) for r in runs) / 1000,
            "p999_ms": statistics.median(int(r["p999_us"]) for r in runs) / 1000,
            "cpu_us_per_req": statistics.median(float(r["cpu_us_per_req"]) for r in runs),
            "requests": sum(int(r["requests"]) for r in runs),
        }
        audit = [(int(r["audit_lines"]), int(r["requests"])) for r in runs if r["audit_lines"] != "-"]
        if audit:
            s["audit_lines_per_request"] = sum(a for a, _ in audit) / max(1, sum(n for _, n in audit))
        summary[t] = s

    ratios = {}
    for a, b in RATIOS:
        if a in summary and b in summary:
            sa, sb = summary[a], summary[b]
            ratios[f"{a}/{b}"] = {
                "rps": sa["rps"] / sb["rps"],
                "p50": sa["p50_ms"] / sb["p50_ms"] if sb["p50_ms"] else None,
                "p99": sa["p99_ms"] / sb["p99_ms"] if sb["p99_ms"] else None,
                "cpu": sa["cpu_us_per_req"] / sb["cpu_us_per_req"] if sb["cpu_us_per_req"] else None,
            }

    out = []
    out.append("")
    out.append("Agent read path: GET one 64-byte secret with an agent credential")
    out.append("  (talon-token: POST /v1/auth/agent-token; talon-mixed: 90 % reads, 10 % writes over 1,000 secrets)")
    for c in comments:
        out.append("  " + c)
    out.append("")
    out.append(
        f"{'target':<13} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'p99.9 ms':>9} {'CPU us/req':>11}"
        "   req/s over rounds"
    )
    for t in targets:
        s = summary[t]
        out.append(
            f"{t:<13} {s['rps']:>10,.0f} {s['p50_ms']:>9.2f} {s['p99_ms']:>9.2f} {s['p999_ms']:>9.2f}"
            f" {s['cpu_us_per_req']:>11.1f}   {s['rps_min']:,.0f} .. {s['rps_max']:,.0f} ({s['rounds']} rounds)"
        )
    out.append("(median of rounds for every column)")
    if ratios:
        out.append("")
        out.append(f"{'ratio':<22} {'req/s':>9} {'p50':>9} {'p99':>9} {'CPU/req':>9}")
        for name, r in ratios.items():
            cells = [
                f"{v:>8.3g}x" if v is not None else f"{'n/a':>9}" for v in (r["rps"], r["p50"], r["p99"], r["cpu"])
            ]
            out.append(f"{name:<22} " + " ".join(cells))
        out.append(
            "req/s above 1: the first serves more; p50, p99, CPU/req below 1: the first answers faster"
            " or spends less CPU per read."
        )
    for t in targets:
        if "audit_lines_per_request" in summary[t]:
            out.append(f"{t} file audit entries per request: {summary[t]['audit_lines_per_request']:.2f}")
    for n in notes:
        out.append(n)
    print("\n".join(out))

    with open(os.path.join(os.path.dirname(path) or ".", "summary.json"), "w", encoding="utf-8") as f:
        json.dump({"targets": summary, "ratios": ratios, "notes": notes}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
