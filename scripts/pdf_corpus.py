#!/usr/bin/env python3
"""Runs the PDF parser over a corpus of hostile PDFs, one process per file.

Usage: scripts/pdf_corpus.py [CORPUS_DIR] [--timeout S] [--parse-timeout S] [--mem-gib G]
                             [--jobs N] [--json-out FILE] [--strict]

Builds `cargo build -p ingest --example pdf_probe` once, then runs it on every PDF under
CORPUS_DIR (default ../shared/pdf-corpus relative to the repository; a missing folder is
skipped with a message): every *.pdf (any case) and every other file that starts with %PDF.
Each file runs in its own process under a wall-clock timeout and an address-space limit
(RLIMIT_AS), and ends in one class:

  text          the parser returned text
  error         a typed error from ingest::Error
  error-timeout the typed error of the parser's own time budget (its thread was abandoned)
  panic-caught  a typed error, but a panic message was printed on the way (caught)
  panic-abort   a panic that took the process down
  stack-overflow the process aborted on a stack overflow
  signal        killed by another signal, or exited without a result line
  timeout       still running at the wall-clock timeout, killed
  oom           an allocation failed under the address-space limit

Exits 1 if any file ends in panic-abort, stack-overflow, signal, timeout or oom (with
--strict, also panic-caught and error-timeout), 0 otherwise. Python 3 standard library only.
"""

import argparse
import concurrent.futures
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "pdf-corpus"

CLASSES = [
    "text",
    "error",
    "error-timeout",
    "panic-caught",
    "panic-abort",
    "stack-overflow",
    "signal",
    "timeout",
    "oom",
]
BAD = {"panic-abort", "stack-overflow", "signal", "timeout", "oom"}
WARN = {"panic-caught", "error-timeout"}


def build_probe():
    """Builds the example once and returns the path of its executable."""
    cmd = [
        os.environ.get("CARGO", "cargo"),
        "build",
        "-p",
        "ingest",
        "--example",
        "pdf_probe",
        "--message-format=json-render-diagnostics",
    ]
    print("building:", " ".join(cmd[:6]), flush=True)
    proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"cargo build failed with status {proc.returncode}")
    exe = None
    for line in proc.stdout.splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (
            msg.get("reason") == "compiler-artifact"
            and msg.get("target", {}).get("name") == "pdf_probe"
            and msg.get("executable")
        ):
            exe = msg["executable"]
    if not exe:
        sys.exit("cargo build did not report the pdf_probe executable")
    return exe


def find_pdfs(corpus):
    """Every *.pdf (any case) and every other file starting with %PDF, sorted."""
    found = []
    for root, dirs, files in os.walk(corpus):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if not path.is_file():
                continue
            if name.lower().endswith(".pdf"):
                found.append(path)
                continue
            try:
                with open(path, "rb") as f:
                    if f.read(4) == b"%PDF":
                        found.append(path)
            except OSError:
                pass
    return found


def limit_memory(mem_bytes):
    def preexec():
        resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))
        # No core files from aborts.
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return preexec


def wait_with_timeout(pid, timeout):
    """Waits for `pid` at most `timeout` seconds; kills it past that.

    Returns (status, rusage, timed_out). os.wait4 gives this child's own peak RSS.
    """
    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        wpid, status, usage = os.wait4(pid, os.WNOHANG)
        if wpid == pid:
            return status, usage, False
        if time.monotonic() >= deadline:
            try:
                os.killpg(pid, signal.SIGKILL)  # its own session: the whole group
            except ProcessLookupError:
                pass
            _, status, usage = os.wait4(pid, 0)
            return status, usage, True
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def run_one(exe, path, args):
    mem = int(args.mem_gib * 1024**3)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            [exe, str(path), str(args.parse_timeout)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            preexec_fn=limit_memory(mem),
            start_new_session=True,
            env={**os.environ, "RUST_BACKTRACE": "0"},
        )
        status, usage, timed_out = wait_with_timeout(proc.pid, args.timeout)
        proc.returncode = 0  # reaped here, keep Popen from waiting again
        wall_ms = int((time.monotonic() - started) * 1000)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")

    result = None
    for line in stdout.splitlines():
        try:
            result = json.loads(line)
        except json.JSONDecodeError:
            continue
    rss_mib = usage.ru_maxrss / 1024  # KiB on Linux
    signo = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None

    panicked = "panicked at" in stderr
    if timed_out:
        cls = "timeout"
    elif "memory allocation of" in stderr or "out of memory" in stderr.lower():
        cls = "oom"
    elif result is None or signo is not None or code != 0:
        if "has overflowed its stack" in stderr:
            cls = "stack-overflow"
        elif panicked:
            cls = "panic-abort"
        else:
            cls = "signal"
    elif panicked:
        cls = "panic-caught"
    elif result.get("outcome") == "text":
        cls = "text"
    elif (result.get("error") or "").startswith("parsing took longer than"):
        cls = "error-timeout"
    else:
        cls = "error"

    detail = ""
    if result is not None and result.get("outcome") == "error":
        detail = result.get("error") or ""
    if cls == "timeout":
        detail = f"killed after {args.timeout:g} s"
    elif cls in BAD or cls == "panic-caught":
        tail = [l for l in stderr.strip().splitlines() if l.strip()][-3:]
        extra = f"signal {signal.Signals(signo).name}" if signo else f"exit {code}"
        detail = f"{extra}; " + " | ".join(tail) if tail else extra
    return {
        "file": str(path),
        "class": cls,
        "ms": result.get("ms") if result else None,
        "wall_ms": wall_ms,
        "rss_mib": round(rss_mib, 1),
        "pages": result.get("pages") if result else None,
        "chars": result.get("chars") if result else None,
        "alnum": result.get("alnum") if result else None,
        "tables": result.get("tables") if result else None,
        "detail": detail,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default=str(DEFAULT_CORPUS))
    parser.add_argument("--timeout", type=float, default=30, help="wall-clock seconds per file")
    parser.add_argument(
        "--parse-timeout", type=int, default=15, help="the parser's own budget in seconds"
    )
    parser.add_argument("--mem-gib", type=float, default=2, help="address-space limit per file")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--json-out", help="write one JSON line per file here")
    parser.add_argument("--strict", action="store_true", help="caught panics and timeouts fail too")
    parser.add_argument("--slowest", type=int, default=10)
    args = parser.parse_args()

    corpus = Path(args.corpus)
    if not corpus.is_dir():
        print(f"pdf corpus not found at {corpus}, skipping")
        return 0
    files = find_pdfs(corpus)
    if not files:
        print(f"no pdf files under {corpus}, skipping")
        return 0
    exe = build_probe()
    print(
        f"{len(files)} files under {corpus}: timeout {args.timeout:g} s wall "
        f"(parser {args.parse_timeout} s), address space {args.mem_gib:g} GiB, {args.jobs} jobs",
        flush=True,
    )

    started = time.monotonic()
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_one, exe, f, args) for f in files]
        for i, fut in enumerate(concurrent.futures.as_completed(futures), 1):
            r = fut.result()
            results.append(r)
            if r["class"] in BAD or r["class"] in WARN:
                print(f"  [{i}/{len(files)}] {r['class']}: {r['file']} {r['detail']}", flush=True)
            elif i % 100 == 0:
                print(f"  [{i}/{len(files)}]", flush=True)
    elapsed = time.monotonic() - started
    results.sort(key=lambda r: r["file"])

    if args.json_out:
        with open(args.json_out, "w") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")

    rel = lambda p: os.path.relpath(p, corpus)  # noqa: E731
    counts = Counter(r["class"] for r in results)
    print()
    print(f"{'class':<16}{'files':>7}")
    print("-" * 23)
    for cls in CLASSES:
        mark = " (bad)" if cls in BAD else (" (warn)" if cls in WARN else "")
        print(f"{cls:<16}{counts.get(cls, 0):>7}{mark}")
    print("-" * 23)
    print(f"{'total':<16}{len(results):>7}")
    print()

    errors = Counter(r["detail"].split(":")[0][:60] for r in results if r["class"] == "error")
    if errors:
        print("typed errors by kind:")
        for kind, n in errors.most_common():
            print(f"  {n:>5}  {kind}")
        print()

    slowest = sorted(results, key=lambda r: r["wall_ms"], reverse=True)[: args.slowest]
    print(f"slowest {len(slowest)} files (wall ms, parse ms, peak rss MiB, class):")
    for r in slowest:
        print(
            f"  {r['wall_ms']:>7}  {str(r['ms']):>7}  {r['rss_mib']:>7}  "
            f"{r['class']:<14} {rel(r['file'])}"
        )
    peak = max(results, key=lambda r: r["wall_ms"])
    big = max(results, key=lambda r: r["rss_mib"])
    print(f"peak time: {peak['wall_ms']} ms wall ({rel(peak['file'])})")
    print(f"peak memory: {big['rss_mib']} MiB rss ({rel(big['file'])})")
    print(f"total: {elapsed:.1f} s")

    listed = [r for r in results if r["class"] in BAD or r["class"] in WARN]
    if listed:
        print()
        print("files in bad (and warn) classes:")
        for r in listed:
            print(f"  {r['class']:<14} {rel(r['file'])}: {r['detail']}")

    failing = BAD | WARN if args.strict else BAD
    bad = [r for r in results if r["class"] in failing]
    if bad:
        print(f"\nFAIL: {len(bad)} file(s) did not end in text or a typed error")
        return 1
    print("\nok: every file ended in text or a typed error")
    return 0


if __name__ == "__main__":
    sys.exit(main())
