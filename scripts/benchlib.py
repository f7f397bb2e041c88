"""Helpers shared by the embedding benchmarks (bench_embed.py, bench_cache.py): a generated
English corpus, a `ragd serve` in a throwaway data folder, and the few API calls they need.
Standard library only."""
import datetime
import json
import os
import random
import re
import signal
import subprocess
import threading
import time
import urllib.request
import uuid

WORDS = """time year people way day man thing woman life child world school state family
student group country problem hand part place case week company system program question work
government number night point home water room mother area money story fact month lot right
study book eye job word business issue side kind head house service friend father power hour
game line end member law car city community name president team minute idea kid body
information back parent face others level office door health person art war history party
result change morning reason research girl guy moment air teacher force education foot boy age
policy process music market sense nation plan college interest death experience effect use
class control care field development role effort rate heart drug show leader light voice wife
police mind price report decision son view relationship town road arm difference value
building action model season society tax director position player record paper space ground
form event official matter center couple site project activity star table need court oil
situation cost industry figure street image phone data picture practice piece land product
doctor wall patient worker news test movie north love support technology step baby computer
type attention film tree source organization hair window evidence population truth river
energy garden bridge harbor engine bearing valve pressure sensor signal network protocol
storage memory index query vector cluster replica shard segment kernel thread socket buffer
measure estimate increase reduce describe explain consider provide include continue create
allow develop remain suggest require report decide produce maintain determine establish
quickly carefully often rarely usually early later slowly together however therefore
large small early recent local national public private major common simple central human
strong clear certain similar social economic political several available important
different""".split()


def sentence(rng):
    n = rng.randint(8, 18)
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def paragraph(rng, words):
    """About `words` words of sentences."""
    out, count = [], 0
    while count < words:
        s = sentence(rng)
        out.append(s)
        count += len(s.split())
    return " ".join(out)


def document(seed, sections, words):
    """A Markdown document: a title and `sections` sections of one paragraph each, so each
    section is one chunk when `words` keeps it under the chunk size."""
    rng = random.Random(seed)
    parts = [f"# Report {seed}: {rng.choice(WORDS)} and {rng.choice(WORDS)}\n"]
    for s in range(sections):
        parts.append(f"## Section {s + 1}: {rng.choice(WORDS)}\n\n{paragraph(rng, words)}\n")
    return "\n".join(parts)


def edit_section(text, section, seed):
    """`text` with the paragraph of section `section` (0-based) replaced by a new one."""
    blocks = text.split("\n## ")
    rng = random.Random(seed)
    head, _, _ = blocks[section + 1].partition("\n\n")
    blocks[section + 1] = f"{head}\n\n{paragraph(rng, 150)}\n"
    return "\n## ".join(blocks)


class Ragd:
    """A `ragd serve` on a free port with `env` added to this process's environment; its
    stderr (the log) goes to `log_path`."""

    def __init__(self, binary, data_dir, env, log_path):
        self.log_path = log_path
        full = dict(os.environ, NO_COLOR="1", **env)
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [binary, "--data-dir", data_dir, "serve", "--listen", "127.0.0.1:0"],
            env=full, stdout=subprocess.PIPE, stderr=self.log)
        for line in self.proc.stdout:
            m = re.search(rb"listening on (\S+)", line)
            if m:
                self.url = m.group(1).decode().rstrip("/")
                break
        else:
            raise SystemExit(f"ragd did not start; see {log_path}")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def call(self, method, path, body=None, timeout=600):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + "/api/v1" + path, method=method, data=data,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read()
            return json.loads(text) if text else None

    def upload(self, kb, files):
        """One multipart request with every (name, bytes) of `files`."""
        boundary = uuid.uuid4().hex
        body = bytearray()
        for name, content in files:
            body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                     f"filename=\"{name}\"\r\nContent-Type: text/markdown\r\n\r\n").encode()
            body += content + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        req = urllib.request.Request(
            f"{self.url}/api/v1/knowledge-bases/{kb}/documents", method="POST", data=bytes(body),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(req, timeout=600) as r:
            return json.loads(r.read())

    def wait_ready(self, kb, docs, poll=0.1, limit=3600):
        """Waits until `docs` documents of `kb` are ready or failed; returns the stats."""
        end = time.time() + limit
        while time.time() < end:
            stats = self.call("GET", f"/knowledge-bases/{kb}/stats")
            by = stats["documents"]
            if by.get("ready", 0) + by.get("failed", 0) >= docs:
                return stats
            time.sleep(poll)
        raise SystemExit(f"{kb}: documents not ready after {limit} s")

    def chunks(self, kb):
        """Every chunk's embedded text (heading path + newline + text), document by document
        in listing order, chunks in order."""
        docs, out = [], []
        while True:
            page = self.call("GET", f"/knowledge-bases/{kb}/documents?limit=500&offset={len(docs)}")
            docs += page["documents"]
            if len(docs) >= page["total"] or not page["documents"]:
                break
        for d in docs:
            rows = []
            while True:
                page = self.call("GET", f"/knowledge-bases/{kb}/documents/{d['id']}/chunks"
                                        f"?limit=500&offset={len(rows)}")
                rows += page["chunks"]
                if len(rows) >= page["total"] or not page["chunks"]:
                    break
            rows.sort(key=lambda c: c["ordinal"])
            out += [f"{c['heading']}\n{c['text']}" if c["heading"] else c["text"] for c in rows]
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def ready_lines(log_path, start=0):
    """(chunks, embedded, embed_ms, (embed start, embed end) in seconds since the epoch) of each
    `document ready` line of the log after byte `start`. The embed stage is placed by the
    line's timestamp less `store_ms` (it is logged right after the store stage)."""
    with open(log_path, "rb") as f:
        f.seek(start)
        text = f.read().decode("utf-8", "replace")
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    out = []
    for line in text.splitlines():
        if "document ready" not in line:
            continue
        fields = dict(re.findall(r"(\w+)=(\d+)", line))
        embed_ms, store_ms = int(fields.get("embed_ms", 0)), int(fields.get("store_ms", 0))
        try:
            stamp = line.split()[0].replace("Z", "+00:00")
            end = datetime.datetime.fromisoformat(stamp).timestamp() - store_ms / 1000
            span = (end - embed_ms / 1000, end)
        except ValueError:
            span = None
        out.append((int(fields.get("chunks", 0)), int(fields.get("embedded", 0)), embed_ms, span))
    return out


def covered(spans):
    """Seconds covered by the union of (start, end) intervals."""
    total, cur = 0.0, None
    for s, e in sorted(x for x in spans if x):
        if cur is None or s > cur[1]:
            if cur:
                total += cur[1] - cur[0]
            cur = [s, e]
        else:
            cur[1] = max(cur[1], e)
    return total + (cur[1] - cur[0] if cur else 0.0)
