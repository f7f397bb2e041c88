#!/usr/bin/env python3
"""What an answer's prompt receives, per chunk template: a BEIR set loaded with one template
and chunking, then every judged query searched, and the top-k hits turned into the prompt's
context as ragd does (a hit's `context` when it has one, once per section, else its text).

Usage: scripts/eval_context.py RAGD_BINARY SET_DIR [--template T] [--size N] [--overlap N]
                               [--top-k K] [--queries N]

Prints one Markdown row: hit@k (a relevant document among the hits), coverage (the share of
the relevant passage's characters that the prompt's context holds, averaged over queries)
and the prompt's context in characters. Python 3 standard library only.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{url}: {e.code} {e.read().decode(errors='replace')} for {body}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("ragd")
    ap.add_argument("set_dir")
    ap.add_argument("--template", default="general")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--overlap", type=int, default=32)
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--queries", type=int, default=0, help="at most this many queries (0: all)")
    args = ap.parse_args()
    set_dir = Path(args.set_dir)
    name = set_dir.name
    corpus = {}
    with open(set_dir / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            corpus[d["_id"]] = (d["title"] + "\n" + d["text"]) if d.get("title") else d["text"]
    queries = {}
    with open(set_dir / "queries.jsonl", encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            queries[q["_id"]] = q["text"]
    qrels = {}
    with open(set_dir / "qrels" / "test.tsv", encoding="utf-8") as f:
        next(f)
        for line in f:
            q, d, score = line.rstrip("\n").split("\t")
            if int(score) > 0:
                qrels.setdefault(q, set()).add(d)
    judged = [q for q in queries if q in qrels and queries[q].strip()]
    if args.queries:
        judged = judged[: args.queries]

    env = dict(os.environ, RAGD_CHUNK_TEMPLATE=args.template, RAGD_CHUNK_SIZE=str(args.size),
               RAGD_CHUNK_OVERLAP=str(args.overlap), RAGD_LOG="error")
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        for doc_id, text in corpus.items():
            (docs / f"{doc_id}.txt").write_text(text, encoding="utf-8")
        data = Path(tmp) / "data"
        started = time.time()
        subprocess.run([args.ragd, "ingest", "--data-dir", str(data), "--kb", name, str(docs)],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        load_s = time.time() - started
        port = free_port()
        server = subprocess.Popen([args.ragd, "serve", "--data-dir", str(data), "--listen",
                                   f"127.0.0.1:{port}"], env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(600):
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            hit_at_k, coverage, chars = 0, 0.0, 0
            for q in judged:
                hits = post(base + "/api/v1/search", {"knowledge_bases": [name], "query": queries[q],
                                                      "top_k": args.top_k})["hits"]
                shown, prompt = set(), []
                for h in hits:
                    ctx = h.get("context")
                    text = ctx if ctx and ctx not in shown else h["text"]
                    if ctx:
                        shown.add(ctx)
                    prompt.append((h["document_name"].rsplit(".", 1)[0], text))
                chars += sum(len(t) for _, t in prompt)
                relevant = qrels[q]
                if any(d in relevant for d, _ in prompt):
                    hit_at_k += 1
                best = 0.0
                for d in relevant:
                    passage = corpus.get(d, "")
                    covered = [False] * len(passage)
                    for doc, text in prompt:
                        if doc != d:
                            continue
                        at = passage.find(text)
                        if at >= 0:
                            for i in range(at, at + len(text)):
                                covered[i] = True
                    if passage:
                        best = max(best, sum(covered) / len(passage))
                coverage += best
        finally:
            server.terminate()
            server.wait()
    n = max(len(judged), 1)
    print(f"| {name} | {args.template} | {args.size} | {hit_at_k / n:.4f} | {coverage / n:.4f} | "
          f"{chars / n:.0f} | {load_s:.0f} s |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
