#!/usr/bin/env python3
"""The cluster engines against the embedded defaults: ingest and search on PostgreSQL + an S3
object store (moto) beside SQLite + local files, and the job queue's throughput with two
replicas against one, in one run on one machine.

Run it inside both wrappers, which start a throwaway PostgreSQL cluster (fsync off) and a moto
S3 server on this machine and export RAGD_TEST_POSTGRES and RAGD_TEST_S3 (`make bench-cluster`):

    scripts/with_postgres.sh scripts/with_moto.sh python3 scripts/bench_cluster.py target/release/ragd

1. Engines. Each round starts `ragd serve` on a fresh data folder twice: on the embedded
   defaults (SQLite, files on local disk) and on a fresh PostgreSQL database with files in the
   bucket (RAGD_DATABASE_URL, RAGD_STORAGE_URL); the vector index is the embedded Qdrant Edge in
   both. The same generated corpus (--docs, 300 Markdown documents of two short sections, one
   or two chunks each) is uploaded into a new knowledge base in requests of --batch (25)
   documents, one after the other, after one warm-up document (the ingest model loads on first
   use); ingest docs/s is the wall time from the first upload to the last document ready.
   Then --queries (200) sequential POST /api/v1/search on one keep-alive connection (after 10
   not counted) give p50 and p95. Rounds (--rounds, 2) alternate which setup goes first.
2. Queue. A folder source of --files (400) small Markdown files (one chunk each) is synced
   once into a new knowledge base on a fresh database and bucket prefix, by one replica with
   RAGD_WORKERS=2, by two replicas (separate data folders, same database and bucket) with 2
   workers each, and by one replica with RAGD_WORKERS=4 (as many job slots as two replicas, in
   one process). Every replica runs with RAGD_INDEX_SPLIT_FOR_TESTS=true (an embedded index of
   its own: right for the queue, not for search), the one-replica cases too, so only the
   replica count differs. Each replica ingests a warm-up document first. docs/s is the wall
   time from `POST …/run` until the run is `done` and every document is ready; the jobs each
   replica took and any document processed twice come from the database. --queue-rounds (2)
   repeats the three, in reverse order every other round.

Beside each figure: the CPU seconds of ragd, PostgreSQL and moto (from /proc), the medians of
the embed and store stages (`embed_ms`, `store_ms` of the log's `document ready` lines; the
store stage is the index write and flush and the metadata writes) and, so that a figure
skewed by other work on the machine shows as such, the share of all cores' time that other
processes used during it (from /proc/stat, less what ragd, PostgreSQL, moto and this client
used) and the idle share.

Both wrappers run their engine on this machine's cores, and two replicas share those cores
too: the output says how many there are. The servers inherit the environment (e.g.
RAGD_EMBEDDING_THREADS), except RAGD_DATABASE_URL and RAGD_STORAGE_URL, which the script sets,
and RAGD_WORKERS in the queue part. BENCH_KEEP=1 keeps the temporary folder (logs, data folders).
"""
import argparse
import glob
import http.client
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in scripts/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def psql_bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))
    return found[-1] if found else "psql"


def psql(url, sql):
    out = subprocess.run([psql_bin(), url, "-Atc", sql], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"psql: {out.stderr.strip()}")
    return out.stdout.strip()


class Engines:
    """A fresh database and bucket prefix per call of `fresh`."""

    def __init__(self):
        self.admin = os.environ.get("RAGD_TEST_POSTGRES")
        self.s3 = os.environ.get("RAGD_TEST_S3")
        if not self.admin or not self.s3:
            raise SystemExit("RAGD_TEST_POSTGRES and RAGD_TEST_S3 are not set: run this under "
                             "scripts/with_postgres.sh scripts/with_moto.sh (make bench-cluster)")
        self.n = 0

    def fresh(self, tag):
        self.n += 1
        name = f"bench_{tag}_{self.n}_{os.getpid()}"
        psql(self.admin, f"CREATE DATABASE {name}")
        db = f"{self.admin.rsplit('/', 1)[0]}/{name}"
        return db, f"{self.s3.rstrip('/')}/{name}"


def cpu_groups(ragd_pids):
    """CPU seconds so far of ragd (the given pids), PostgreSQL (every `postgres` process, with
    the reaped children of each: the postmaster's backends) and moto; with this machine's
    total and idle CPU seconds (all cores, from /proc/stat) and this client's."""
    out = {"ragd": 0.0, "postgresql": 0.0, "moto": 0.0}
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:9]]
    out["_all"], out["_idle"] = sum(ticks) / CLK, (ticks[3] + ticks[4]) / CLK
    out["_client"] = sum(os.times()[:2])
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        if int(d) in ragd_pids:
            out["ragd"] += ticks / CLK
        elif comm == "postgres":
            out["postgresql"] += ticks / CLK
        elif b"moto_server" in cmd:
            out["moto"] += ticks / CLK
    return out


def cpu_delta(before, after):
    return {k: after[k] - before[k] for k in before}


def cpu_text(d):
    return " · ".join(f"{k} {v:.1f}" for k, v in d.items()
                      if not k.startswith("_") and (k != "moto" or v > 0.05))


def others(d):
    """The share of all cores' time that processes other than ragd, PostgreSQL, moto and this
    client used (other work on the machine), and the idle share, in percent."""
    busy = d["_all"] - d["_idle"]
    ours = d["ragd"] + d["postgresql"] + d["moto"] + d["_client"]
    return (max(0.0, busy - ours) * 100 / d["_all"], d["_idle"] * 100 / d["_all"])


def others_text(d):
    o, i = others(d)
    return f"{o:.0f}% · {i:.0f}%"


def stages(logs, marks):
    """Medians of `embed_ms` and `store_ms` (index write and flush, metadata) over the
    `document ready` lines the logs got after their marks."""
    embed, store = [], []
    for log, mark in zip(logs, marks):
        with open(log, "rb") as f:
            f.seek(mark)
            text = f.read().decode("utf-8", "replace")
        for line in text.splitlines():
            if "document ready" in line:
                fields = dict(re.findall(r"(\w+)=(\d+)", line))
                embed.append(int(fields.get("embed_ms", 0)))
                store.append(int(fields.get("store_ms", 0)))
    return (pct(embed, 50), pct(store, 50)) if embed else (0, 0)


def pct(xs, p):
    xs = sorted(xs)
    return xs[max(0, -(-len(xs) * p // 100) - 1)]


def start(binary, data, env, log):
    """`ragd serve`, or None with the log's tail printed when it did not start."""
    try:
        return benchlib.Ragd(binary, data, env, log)
    except SystemExit as e:
        with open(log, "rb") as f:
            tail = f.read()[-2000:].decode("utf-8", "replace")
        print(f"error: {e}\n{tail}", flush=True)
        return None


def searches(server, kb, queries):
    """Latencies in ms of sequential searches on one keep-alive connection."""
    u = urllib.parse.urlsplit(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    out, failed = [], 0
    for q in queries:
        body = json.dumps({"knowledge_bases": [kb], "query": q, "top_k": 10})
        t = time.perf_counter()
        conn.request("POST", "/api/v1/search", body=body,
                     headers={"content-type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        ms = (time.perf_counter() - t) * 1000
        if r.status != 200 or not json.loads(data).get("hits"):
            failed += 1
        out.append(ms)
    conn.close()
    return out, failed


def warm_up(server, n):
    """One document uploaded to `server` and ingested by it, so that its ingest model (loaded on
    first use) is loaded before the timing starts. With replicas on one queue another one may
    take the job: then again, until this one's log shows a document ready (5 tries)."""
    for i in range(5):
        mark = os.path.getsize(server.log_path)
        done = sum(server.call("GET", "/knowledge-bases/warmup/stats")["documents"].values()) + 1
        text = benchlib.document(9000 + n * 5 + i, 1, 40).encode()
        server.upload("warmup", [(f"warmup-{n}-{i}.md", text)])
        for _ in range(1200):
            by = server.call("GET", "/knowledge-bases/warmup/stats")["documents"]
            if by.get("ready", 0) + by.get("failed", 0) >= done:
                break
            time.sleep(0.05)
        time.sleep(0.1)
        if benchlib.ready_lines(server.log_path, mark):
            return
    print(f"note: replica {n + 1} took no warm-up document", flush=True)


def engines_round(a, tmp, label, env, corpus, queries):
    """One setup: ingest `corpus`, then the searches; a dict of figures."""
    data = tempfile.mkdtemp(prefix="data-", dir=tmp)
    log = os.path.join(tmp, f"engines-{label.split()[0]}-{os.path.basename(data)}.log")
    server = start(a.ragd, data, env, log)
    if server is None:
        return None
    try:
        server.call("POST", "/knowledge-bases", {"name": "warmup"})
        warm_up(server, 0)
        server.call("POST", "/knowledge-bases", {"name": "bench"})
        mark = os.path.getsize(log)
        cpu0 = cpu_groups({server.proc.pid})
        t0 = time.perf_counter()
        for i in range(0, len(corpus), a.batch):
            server.upload("bench", corpus[i:i + a.batch])
        uploaded = time.perf_counter() - t0
        stats = server.wait_ready("bench", len(corpus), poll=0.05)
        wall = time.perf_counter() - t0
        cpu = cpu_delta(cpu0, cpu_groups({server.proc.pid}))
        time.sleep(0.2)  # the last `document ready` line may trail the stats by a moment
        embed_ms, store_ms = stages([log], [mark])
        lat, bad = searches(server, "bench", queries[:10])  # warm-up, not counted
        scpu0 = cpu_groups({server.proc.pid})
        lat, bad = searches(server, "bench", queries[10:])
        scpu = cpu_delta(scpu0, cpu_groups({server.proc.pid}))
        return {"wall": wall, "uploaded": uploaded, "ready": stats["documents"].get("ready", 0),
                "failed": stats["documents"].get("failed", 0), "chunks": stats["chunks"],
                "cpu": cpu, "embed_ms": embed_ms, "store_ms": store_ms,
                "search_cpu": scpu, "p50": pct(lat, 50), "p95": pct(lat, 95), "n": len(lat),
                "search_failed": bad, "log": log}
    finally:
        server.stop()


def queue_round(a, tmp, engines, folder, replicas, workers, base_env):
    """One folder sync by `replicas` replicas of `workers` workers; a dict of figures."""
    db, files = engines.fresh("queue")
    env = dict(base_env, RAGD_DATABASE_URL=db, RAGD_STORAGE_URL=files,
               RAGD_INDEX_SPLIT_FOR_TESTS="true", RAGD_WORKERS=str(workers))
    servers = []
    try:
        for r in range(replicas):
            data = tempfile.mkdtemp(prefix="data-", dir=tmp)
            log = os.path.join(tmp, f"queue-{replicas}x{workers}-{r}-{os.path.basename(data)}.log")
            s = start(a.ragd, data, env, log)
            if s is None:
                return {"error": f"replica {r + 1} of {replicas} did not start (see {log})"}
            servers.append(s)
        first = servers[0]
        first.call("POST", "/knowledge-bases", {"name": "warmup"})
        for n, s in enumerate(servers):
            warm_up(s, n)
        first.call("POST", "/knowledge-bases", {"name": "queue"})
        source = first.call("POST", "/knowledge-bases/queue/sources",
                            {"kind": "folder", "path": folder})["id"]
        pids = {s.proc.pid for s in servers}
        marks = [os.path.getsize(s.log_path) for s in servers]
        cpu0 = cpu_groups(pids)
        t0 = time.perf_counter()
        run = first.call("POST", f"/knowledge-bases/queue/sources/{source}/run")
        while run["status"] in ("queued", "running"):
            time.sleep(0.05)
            run = first.call("GET", f"/knowledge-bases/queue/sources/{source}/runs/{run['id']}")
        if run["status"] != "done":
            return {"error": f"the run ended {run['status']}: {run.get('error')}"}
        stats = first.wait_ready("queue", a.files, poll=0.05)
        wall = time.perf_counter() - t0
        cpu = cpu_delta(cpu0, cpu_groups(pids))
        time.sleep(0.2)
        embed_ms, store_ms = stages([s.log_path for s in servers], marks)
        split = psql(db, "SELECT COUNT(*) FROM jobs WHERE kind = 'ingest' AND status = 'done' "
                         "AND run_id IS NOT NULL GROUP BY worker ORDER BY COUNT(*) DESC").split()
        twice = psql(db, "SELECT COUNT(*) FROM (SELECT document_id FROM jobs WHERE kind = 'ingest' "
                         "AND run_id IS NOT NULL GROUP BY document_id "
                         "HAVING COUNT(*) > 1 OR MAX(attempts) > 1) t")
        return {"wall": wall, "run": run, "ready": stats["documents"].get("ready", 0),
                "failed": stats["documents"].get("failed", 0), "split": split,
                "twice": int(twice), "cpu": cpu, "embed_ms": embed_ms,
                "store_ms": store_ms}
    finally:
        for s in servers:
            s.stop()


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return model, os.cpu_count()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ragd")
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--batch", type=int, default=25, help="documents per upload request")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--files", type=int, default=400)
    ap.add_argument("--queue-rounds", type=int, default=2)
    a = ap.parse_args()
    engines = Engines()
    for k in ("RAGD_DATABASE_URL", "RAGD_STORAGE_URL"):  # the script picks the engines
        os.environ.pop(k, None)
    model, cores = machine()
    shared = "; two replicas compete for them with each other" if cores <= 4 else ""
    print(f"bench-cluster: {model}, {cores} cores; load average "
          f"{os.getloadavg()[0]:.2f} at the start. PostgreSQL (fsync=off) and moto run on "
          f"these same cores{shared}.", flush=True)

    tmp = tempfile.mkdtemp(prefix="ragd-bench-cluster-")
    base_env = {"RAGD_LOG": "info,qdrant_edge=warn"}
    corpus = [(f"doc{i:04}.md", benchlib.document(1000 + i, 2, 60).encode())
              for i in range(a.docs)]
    rng = random.Random(7)
    queries = [" ".join(rng.choice(benchlib.WORDS) for _ in range(rng.randint(3, 7)))
               for _ in range(a.queries + 10)]
    try:
        # 1. Engines.
        rows = []
        setups = [("embedded (SQLite + local files)", None),
                  ("PostgreSQL + moto S3", "engines")]
        for r in range(a.rounds):
            order = setups if r % 2 == 0 else setups[::-1]
            for label, kind in order:
                env = dict(base_env)
                if kind:
                    db, files = engines.fresh("engines")
                    env.update(RAGD_DATABASE_URL=db, RAGD_STORAGE_URL=files)
                res = engines_round(a, tmp, label, env, corpus, queries)
                rows.append((r + 1, label, res))
                if res is None:
                    continue
                print(f"round {r + 1}, {label}: {a.docs} docs in {res['wall']:.1f} s "
                      f"({a.docs / res['wall']:.1f} docs/s; uploads accepted in "
                      f"{res['uploaded']:.1f} s), {res['ready']} ready, {res['failed']} failed, "
                      f"{res['chunks']} chunks; CPU s {cpu_text(res['cpu'])}; median embed "
                      f"{res['embed_ms']} ms, store {res['store_ms']} ms; CPU share of other "
                      f"processes · idle {others_text(res['cpu'])}; search p50 "
                      f"{res['p50']:.1f} ms, p95 {res['p95']:.1f} ms", flush=True)

        # 2. Queue.
        root = os.path.join(tmp, "sources")
        folder = os.path.join(root, "notes")
        os.makedirs(folder)
        for i in range(a.files):
            with open(os.path.join(folder, f"note{i:04}.md"), "w") as f:
                f.write(benchlib.document(50000 + i, 1, 60))
        qenv = dict(base_env, RAGD_SOURCE_ROOTS=root)
        qrows = []
        cases = ((1, 2), (2, 2), (1, 4))
        for r in range(a.queue_rounds):
            for replicas, workers in (cases if r % 2 == 0 else cases[::-1]):
                res = queue_round(a, tmp, engines, folder, replicas, workers, qenv)
                qrows.append((r + 1, replicas, workers, res))
                if "error" in res:
                    print(f"queue, {replicas} × {workers}: {res['error']}", flush=True)
                    continue
                print(f"queue round {r + 1}, {replicas} replica(s) × {workers} workers: "
                      f"{a.files} files in {res['wall']:.1f} s ({a.files / res['wall']:.1f} "
                      f"docs/s), run {res['run']['status']} added {res['run']['added']} failed "
                      f"{res['run']['failed']}, jobs per replica {'/'.join(res['split'])}, "
                      f"processed twice {res['twice']}; CPU s {cpu_text(res['cpu'])}; median "
                      f"embed {res['embed_ms']} ms, store {res['store_ms']} ms; CPU share of "
                      f"other processes · idle {others_text(res['cpu'])}", flush=True)

        # Tables.
        print(f"\nMachine: {model}, {cores} cores. PostgreSQL (fsync=off) and moto (S3 in Python) "
              f"run on the same cores as ragd. Stage medians from the log's `document ready` "
              f"lines (store: index write + flush and metadata). Other work: the share of both "
              f"cores' time that processes other than ragd, PostgreSQL, moto and this client "
              f"used during the ingest, and the idle share.\n")
        print(f"| setup | round | ingest {a.docs} docs: wall · docs/s | ready · failed · chunks "
              f"| CPU s during ingest | median embed · store stage | other work · idle "
              f"| search over HTTP, {a.queries} sequential: p50 · p95 |")
        print("|---|---|---|---|---|---|---|---|")
        for r, label, res in sorted(rows, key=lambda x: (x[1] != setups[0][0], x[0])):
            if res is None:
                print(f"| {label} | {r} | did not start | | | | | |")
                continue
            empty = (f" ({res['search_failed']} without results)" if res["search_failed"]
                     else "")
            print(f"| {label} | {r} | {res['wall']:.1f} s · {a.docs / res['wall']:.1f} docs/s | "
                  f"{res['ready']} · {res['failed']} · {res['chunks']} | {cpu_text(res['cpu'])} | "
                  f"{res['embed_ms']} · {res['store_ms']} ms | {others_text(res['cpu'])} | "
                  f"{res['p50']:.1f} · {res['p95']:.1f} ms (other work "
                  f"{others(res['search_cpu'])[0]:.0f}%){empty} |")
        print()
        print(f"| queue: folder source of {a.files} files, PostgreSQL + moto S3 | round | "
              f"POST run → all ready · docs/s | ingest jobs per replica | processed twice · failed "
              f"| CPU s (all replicas) | median embed · store stage | other work · idle |")
        print("|---|---|---|---|---|---|---|---|")
        for r, replicas, workers, res in sorted(qrows, key=lambda x: (cases.index(x[1:3]), x[0])):
            label = f"{replicas} replica{'s' if replicas > 1 else ''} × {workers} workers"
            if "error" in res:
                print(f"| {label} | {r} | {res['error']} | | | | | |")
                continue
            print(f"| {label} | {r} | {res['wall']:.1f} s · {a.files / res['wall']:.1f} docs/s | "
                  f"{' / '.join(res['split'])} | {res['twice']} · {res['failed']} | "
                  f"{cpu_text(res['cpu'])} | {res['embed_ms']} · {res['store_ms']} ms | "
                  f"{others_text(res['cpu'])} |")
        if cores <= 4:
            print(f"\nnote: {cores} cores: the two replicas (each with its own model and ONNX "
                  f"threads), PostgreSQL and moto all compete for them.")
        if os.environ.get("BENCH_KEEP"):
            print(f"logs: {tmp}")
    finally:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
