#!/usr/bin/env python3
"""Index maintenance benchmark: what an optimization pass does after churn.

Loads ../shared/eval/dbpedia (5,000 abstracts) into a throwaway data folder with
`ragd eval --corpus`, serves it with maintenance off, deletes half the documents through the
API, then restarts with `RAGD_INDEX_OPTIMIZE_IDLE_SECS=1` and waits for the pass. At each step
it prints `GET /api/v1/index`, the disk use of the shard's segments and WAL, and search
latency over HTTP (300 queries, one at a time). Usage:

    python3 scripts/bench_maintenance.py target/release/ragd [../shared/eval/dbpedia]
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/ragd"
SET = sys.argv[2] if len(sys.argv) > 2 else "../shared/eval/dbpedia"
PORT = 8944
BASE = f"http://127.0.0.1:{PORT}/api/v1"


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    r = urllib.request.Request(BASE + path, method=method, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(r, timeout=600) as resp:
        text = resp.read()
        return json.loads(text) if text else None


def start(data, idle):
    env = dict(os.environ, RAGD_INDEX_OPTIMIZE_IDLE_SECS=str(idle), RAGD_LOG="warn,qdrant_edge=error")
    p = subprocess.Popen([BIN, "--data-dir", data, "serve", "--listen", f"127.0.0.1:{PORT}"],
                         env=env, stdout=subprocess.PIPE)
    for line in p.stdout:
        if b"listening" in line:
            return p
    raise SystemExit("ragd did not start")


def disk(path):
    return int(subprocess.check_output(["du", "-s", "--block-size=1", path]).split()[0]) / 1e6


def report(data, queries, tag):
    info = call("GET", "/index")
    times = []
    for i in range(300):
        t = time.perf_counter()
        call("POST", "/search", {"query": queries[i % len(queries)], "knowledge_bases": ["dbpedia"], "top_k": 10})
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    shard = f"{data}/vectors/shard"
    print(f"| {tag} | {info['points']} | {info['segments']} | {disk(shard + '/segments'):.1f} MB | "
          f"{disk(shard + '/wal'):.1f} MB | {times[150]:.1f} / {times[284]:.1f} ms | "
          f"{info['optimize']['last_duration_ms'] or '–'} |", flush=True)


def main():
    if not os.path.isdir(SET):
        print(f"bench-maintenance: {SET} is absent (skipped)")
        return
    data = tempfile.mkdtemp(prefix="ragd-maint-")
    try:
        subprocess.run([BIN, "--data-dir", data, "eval", "--kb", "dbpedia", "--corpus", f"{SET}/corpus.jsonl",
                        "--queries", f"{SET}/queries.jsonl", "--qrels", f"{SET}/qrels/test.tsv"],
                       check=True, stdout=subprocess.DEVNULL)
        queries = [json.loads(line)["text"] for line in open(f"{SET}/queries.jsonl")]
        print("| step | points | segments | segments on disk | WAL on disk | search p50 / p95 | pass |")
        print("|---|---|---|---|---|---|---|")
        p = start(data, 0)
        report(data, queries, "loaded")
        docs = []
        while True:
            page = call("GET", f"/knowledge-bases/dbpedia/documents?limit=1000&offset={len(docs)}")["documents"]
            docs += page
            if len(page) < 1000:
                break
        random.seed(1)
        for d in random.sample(docs, len(docs) // 2):
            call("DELETE", f"/knowledge-bases/dbpedia/documents/{d['id']}")
        report(data, queries, "half the documents deleted")
        p.terminate()
        p.wait()
        p = start(data, 1)
        while call("GET", "/index")["optimize"]["runs"] < 1:
            time.sleep(0.5)
        report(data, queries, "after the maintenance pass")
        p.terminate()
        p.wait()
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
