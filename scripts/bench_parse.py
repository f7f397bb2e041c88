#!/usr/bin/env python3
"""The cost of parsing in a child process (`parse_isolation`, the default) per document,
against parsing in the server's own process.

For each file (a small Markdown document, and a 117-page PDF from ../shared/pdf-corpus when
present), `ragd parse-child` is run --reps times with the file on stdin, as the worker runs it.
Its reply carries the parse's own time inside the child (`parse_ms`): what the same parse costs
in the server's process. The wall time of the whole call (start the process, set its limits,
pipe the document in, parse, JSON out, exit) is the cost in a child. Medians are printed.

    python3 scripts/bench_parse.py target/release/ragd
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True

PDF = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "pdf-corpus", "py-pdf",
                   "009-pdflatex-geotopo_GeoTopo-komprimiert.pdf")


def run(ragd, path, fmt, reps):
    data = open(path, "rb").read()
    walls, inside = [], []
    for _ in range(reps):
        started = time.perf_counter()
        out = subprocess.run(
            [ragd, "parse-child", "--format", fmt, "--pdf-timeout-secs", "60",
             "--max-text-bytes", str(64 << 20), "--max-sections", "200000",
             "--memory-bytes", str(4 << 30), "--cpu-secs", "120"],
            input=data, capture_output=True, check=True)
        walls.append((time.perf_counter() - started) * 1000)
        reply = json.loads(out.stdout)
        if "Parsed" not in reply:
            raise SystemExit(f"{path}: {reply}")
        inside.append(reply["Parsed"]["parse_ms"])
        sections = len(reply["Parsed"]["doc"]["sections"])
    return len(data), sections, statistics.median(inside), statistics.median(walls)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ragd")
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    files = []
    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False) as f:
        f.write("# Tides\n\nThe harbour floods at spring tide, twice a month.\n\n"
                "## Bells\n\nThe chapel bell rings at noon.\n")
        files.append((f.name, "markdown", "small Markdown"))
    if os.path.exists(PDF):
        files.append((PDF, "pdf", "117-page PDF (GeoTopo)"))
    else:
        print(f"note: {PDF} is missing: the PDF row is skipped")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    print(f"machine: {cpu}, {os.cpu_count()} cores; {args.reps} runs each, medians")
    print("| document | bytes | sections | in process (parse) | in a child (whole call) | cost of the child |")
    print("|---|---|---|---|---|---|")
    for path, fmt, name in files:
        size, sections, inside, wall = run(args.ragd, path, fmt, args.reps)
        print(f"| {name} | {size:,} | {sections} | {inside:.0f} ms | {wall:.1f} ms | "
              f"+{wall - inside:.1f} ms |")
    os.unlink(files[0][0])


if __name__ == "__main__":
    main()
