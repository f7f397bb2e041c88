#!/usr/bin/env python3
"""What OCR (tesseract through `ragd parse-child --ocr-languages`) adds, what it costs, and how
accurate it is. Prints Markdown tables.

1. Character error rate (printed first: it is quick). --samples English texts from
   ../shared/eval/dbpedia (first ~400 characters, cut at a word boundary) and as many Chinese
   texts from ../shared/eval/cmrc2018-trial (first ~150 characters) are wrapped (60 Latin or 25
   CJK characters a line) and rendered with hb-view (WenQuanYi Micro Hei, 32 px, 48 px margin):
   - as a PNG, parsed with --format image;
   - as a scanned PDF: hb-view renders a text PDF, pdftoppm rasterises it at 150 dpi in gray,
     and that bitmap is wrapped, here, as a one-page PDF holding one 8-bit DeviceGray image
     and no text layer, parsed with --format pdf (ragd renders it again at --ocr-dpi 200).
   CER = Levenshtein distance over characters, all whitespace removed, / source length without
   whitespace. The NFKC column folds full-width forms (，（） and so on) into their ASCII
   equivalents on both sides first. Seconds per page: the wall time of the whole parse-child
   call (one page each).

2. The shared PDF corpus (../shared/pdf-corpus: *.pdf in any case, and files that start with
   %PDF), every file parsed twice, one call at a time: OCR off (--ocr-languages "") and OCR on
   (chi_sim+eng by default, --languages). Each call is killed after --limit-seconds of wall time and counted as a
   timeout. A file "has text" when its sections hold at least 16 letters or digits (the
   threshold ragd uses per page for OCR); `pdftotext -l 50 FILE -` is judged the same way, as
   a reference. Pages with text: distinct section pages with any non-blank text. OCR'd pages:
   pages with text only when OCR is on. Seconds per OCR'd page: the wall time of the OCR-on
   calls minus that of the OCR-off calls, summed over files where both finished, / the pages
   those files gained.

    python3 scripts/bench_ocr.py target/release/ragd [--corpus DIR] [--samples N] [--json-out F]
"""
import argparse
import collections
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import unicodedata
import zlib

sys.dont_write_bytecode = True

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
LANGS = "chi_sim+eng"
MIN_ALNUM = 16
PDFTOTEXT_LIMIT = 30


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def alnum(text):
    return sum(1 for c in text if c.isalnum())


def parse_child(ragd, path, fmt, langs, limit):
    """One parse-child call with the file on stdin. Returns a dict: status parsed / failed /
    timeout / crash, wall seconds, and the reply's fields."""
    args = [ragd, "parse-child", "--format", fmt, "--pdf-timeout-secs", "15",
            "--max-text-bytes", str(64 << 20), "--max-sections", "200000",
            "--memory-bytes", str(4 << 30), "--cpu-secs", "120",
            "--ocr-languages", langs, "--ocr-dpi", "200", "--ocr-timeout-secs", "600"]
    env = dict(os.environ, RAGD="")
    started = time.perf_counter()
    with open(path, "rb") as stdin:
        proc = subprocess.Popen(args, stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.communicate()
            return {"status": "timeout", "wall": time.perf_counter() - started}
    wall = time.perf_counter() - started
    try:
        reply = json.loads(out)
    except ValueError:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        return {"status": "crash", "wall": wall,
                "message": f"exit {proc.returncode}: {tail[0][:200]}"}
    if "Parsed" in reply:
        doc = reply["Parsed"]["doc"]
        pages = sorted({s.get("page") or 0 for s in doc["sections"] if s["text"].strip()})
        text = "\n".join(s["text"] for s in doc["sections"])
        return {"status": "parsed", "wall": wall, "parse_ms": reply["Parsed"]["parse_ms"],
                "pages": doc.get("pages"), "text_pages": pages, "alnum": alnum(text),
                "text": text}
    return {"status": "failed", "wall": wall,
            "message": reply.get("Failed", {}).get("message", json.dumps(reply)[:200])}


# ---------------------------------------------------------------------------------------------
# Character error rate


def levenshtein(a, b):
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def squeeze(text):
    return "".join(text.split())


def cer(source, ocr, nfkc=False):
    if nfkc:
        source, ocr = unicodedata.normalize("NFKC", source), unicodedata.normalize("NFKC", ocr)
    s, o = squeeze(source), squeeze(ocr)
    return levenshtein(s, o) / max(1, len(s))


def letters_in(text, scripts):
    """Whether every letter of text belongs to one of scripts (Unicode name prefixes)."""
    return all(unicodedata.name(c, "?").startswith(scripts)
               for c in text if unicodedata.category(c).startswith("L"))


def samples(path, n, cut, min_len, word_boundary, scripts):
    """The first n texts long enough, cut, whose letters are all in scripts (a Hebrew or
    Cyrillic name in an English abstract is beyond eng and chi_sim, and beyond the font)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            text = " ".join(json.loads(line)["text"].split())
            if len(text) < min_len:
                continue
            if len(text) > cut:
                text = text[:cut]
                if word_boundary and " " in text:
                    text = text.rsplit(" ", 1)[0]
            if not letters_in(text, scripts):
                continue
            out.append(text)
            if len(out) == n:
                break
    return out


def wrap_latin(text):
    return "\n".join(textwrap.wrap(text, 60))


def wrap_cjk(text):
    return "\n".join(text[i:i + 25] for i in range(0, len(text), 25))


def read_pgm(path):
    data = open(path, "rb").read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        fields.append(data[start:pos])
    if fields[0] != b"P5" or int(fields[3]) != 255:
        raise ValueError(f"{path}: not an 8-bit binary PGM")
    width, height = int(fields[1]), int(fields[2])
    pixels = data[pos + 1:pos + 1 + width * height]
    if len(pixels) != width * height:
        raise ValueError(f"{path}: short PGM")
    return width, height, pixels


def image_pdf(width, height, pixels, dpi):
    """A one-page PDF whose page is the gray bitmap, and nothing else (no text layer)."""
    w_pt, h_pt = width * 72 / dpi, height * 72 / dpi
    image = zlib.compress(pixels, 9)
    content = f"q {w_pt:.3f} 0 0 {h_pt:.3f} 0 0 cm /Im0 Do Q\n".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w_pt:.3f} {h_pt:.3f}] "
         f"/Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>").encode(),
        (f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} "
         f"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode "
         f"/Length {len(image)} >>\nstream\n").encode() + image + b"\nendstream",
        f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"endstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


def render(text, stem):
    """PNG and scanned-PDF renderings of text; returns (png path, pdf path)."""
    text_file = stem + ".txt"
    with open(text_file, "w", encoding="utf-8") as f:
        f.write(text)
    # The image at 32 px per em; the PDF as body text, 12 pt, scanned at 300 dpi.
    base = ["hb-view", "--margin=48", f"--text-file={text_file}"]
    subprocess.run(base + ["--font-size=32", "-O", "png", "-o", stem + ".png", FONT], check=True)
    subprocess.run(base + ["--font-size=12", "-O", "pdf", "-o", stem + ".text.pdf", FONT],
                   check=True)
    subprocess.run(["pdftoppm", "-r", "300", "-gray", "-singlefile", stem + ".text.pdf",
                    stem + ".scan"], check=True)
    width, height, pixels = read_pgm(stem + ".scan.pgm")
    with open(stem + ".scan.pdf", "wb") as f:
        f.write(image_pdf(width, height, pixels, 300))
    return stem + ".png", stem + ".scan.pdf"


def bench_cer(ragd, n, limit, tmp):
    sets = [os.path.join(SHARED, "eval", name, "corpus.jsonl") for name in ("dbpedia", "cmrc2018-trial")]
    if not all(os.path.isfile(p) for p in sets):
        print(f"note: {SHARED}/eval is absent: the character error rate table is skipped\n")
        return []
    en = samples(os.path.join(SHARED, "eval", "dbpedia", "corpus.jsonl"), n, 400, 200, True,
                 ("LATIN",))
    zh = samples(os.path.join(SHARED, "eval", "cmrc2018-trial", "corpus.jsonl"), n, 150, 100,
                 False, ("CJK", "LATIN"))
    rows = []
    for lang, texts, wrap in (("English", en, wrap_latin), ("Chinese", zh, wrap_cjk)):
        for i, text in enumerate(texts):
            wrapped = wrap(text)
            png, pdf = render(wrapped, os.path.join(tmp, f"{lang}-{i}"))
            for path_name, path, fmt in (("PNG (image)", png, "image"),
                                         ("scanned PDF", pdf, "pdf")):
                r = parse_child(ragd, path, fmt, LANGS, limit)
                row = {"lang": lang, "path": path_name, "index": i, "source": wrapped,
                       "status": r["status"], "wall": r["wall"]}
                if r["status"] == "parsed":
                    row.update(ocr=r["text"], cer=cer(wrapped, r["text"]),
                               cer_nfkc=cer(wrapped, r["text"], nfkc=True))
                else:
                    row.update(ocr="", cer=1.0, cer_nfkc=1.0, message=r.get("message"))
                rows.append(row)
            log(f"cer {lang} {i + 1}/{len(texts)}: png {rows[-2]['cer']:.3f} "
                f"pdf {rows[-1]['cer']:.3f}")
    print(f"## Character error rate (OCR {LANGS}, --ocr-dpi 200)\n")
    print(f"{n} texts per language: English from dbpedia (~400 characters), Chinese from "
          f"cmrc2018-trial (~150 characters); hb-view, WenQuanYi Micro Hei 32 px. CER over "
          f"characters with whitespace removed; NFKC: full-width forms folded on both sides. Texts "
          f"with letters outside Latin (English) or CJK and Latin (Chinese) are skipped. Glyph "
          f"size as tesseract sees it: PNG 32 px per em; scanned PDF 12 pt body text, scanned at "
          f"300 dpi and rendered again by ragd at 200 dpi, so about 33 px per em.\n")
    print("| language | path | texts | source chars (mean) | mean CER | worst CER "
          "| mean CER (NFKC) | worst CER (NFKC) | failed | s/page (mean) | s/page (max) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for lang in ("English", "Chinese"):
        for path_name in ("PNG (image)", "scanned PDF"):
            sel = [r for r in rows if r["lang"] == lang and r["path"] == path_name]
            if not sel:
                continue
            chars = statistics.mean(len(squeeze(r["source"])) for r in sel)
            failed = sum(r["status"] != "parsed" for r in sel)
            print(f"| {lang} | {path_name} | {len(sel)} | {chars:.0f} "
                  f"| {statistics.mean(r['cer'] for r in sel):.2%} "
                  f"| {max(r['cer'] for r in sel):.2%} "
                  f"| {statistics.mean(r['cer_nfkc'] for r in sel):.2%} "
                  f"| {max(r['cer_nfkc'] for r in sel):.2%} | {failed} "
                  f"| {statistics.mean(r['wall'] for r in sel):.2f} "
                  f"| {max(r['wall'] for r in sel):.2f} |")
    print(flush=True)
    return rows


# ---------------------------------------------------------------------------------------------
# Shared corpus, before and after OCR


def corpus_files(root):
    """The corpus's PDFs, as `make pdf-corpus` finds them."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from pdf_corpus import find_pdfs

    return [str(p) for p in find_pdfs(root)]


def pdftotext_alnum(path, limit):
    try:
        out = subprocess.run(["pdftotext", "-l", "50", path, "-"], capture_output=True,
                             timeout=limit)
    except subprocess.TimeoutExpired:
        return None
    return alnum(out.stdout.decode("utf-8", "replace"))


def pdfinfo_pages(path):
    try:
        out = subprocess.run(["pdfinfo", path], capture_output=True, timeout=30)
    except subprocess.TimeoutExpired:
        return None
    found = re.search(rb"^Pages:\s+(\d+)", out.stdout, re.M)
    return int(found.group(1)) if found else None


def failure_class(r):
    if r["status"] == "timeout":
        return "(killed: wall-clock limit)"
    message = r.get("message") or ""
    if r["status"] == "crash":
        message = "crash, " + message
    message = re.sub(r"\d+", "N", message.splitlines()[0] if message else "")
    return message[:90]


def bench_corpus(ragd, root, limit, tmp):
    files = corpus_files(root)
    if not files:
        print(f"note: no PDFs under {root}: the corpus table is skipped\n")
        return []
    records = []
    started = time.perf_counter()
    for i, path in enumerate(files):
        rel = os.path.relpath(path, root)
        off = parse_child(ragd, path, "pdf", "", limit)
        on = parse_child(ragd, path, "pdf", LANGS, limit)
        for r in (off, on):
            r.pop("text", None)
        records.append({"file": rel, "off": off, "on": on,
                        "pdftotext_alnum": pdftotext_alnum(path, PDFTOTEXT_LIMIT),
                        "pdfinfo_pages": pdfinfo_pages(path)})
        if (i + 1) % 25 == 0 or i + 1 == len(files) or max(off["wall"], on["wall"]) > 10:
            log(f"corpus {i + 1}/{len(files)} ({time.perf_counter() - started:.0f} s): {rel} "
                f"off {off['status']} {off['wall']:.1f}s, on {on['status']} {on['wall']:.1f}s")
    elapsed = time.perf_counter() - started

    def has_text(r):
        return r["status"] == "parsed" and r["alnum"] >= MIN_ALNUM

    n = len(records)
    row = collections.OrderedDict()
    for mode in ("off", "on"):
        rs = [rec[mode] for rec in records]
        row[mode] = {
            "with_text": sum(has_text(r) for r in rs),
            "parsed": sum(r["status"] == "parsed" for r in rs),
            "failed": sum(r["status"] in ("failed", "crash") for r in rs),
            "timeout": sum(r["status"] == "timeout" for r in rs),
            "text_pages": sum(len(r.get("text_pages") or []) for r in rs),
            "wall": sum(r["wall"] for r in rs),
        }
    p2t = sum((rec["pdftotext_alnum"] or 0) >= MIN_ALNUM for rec in records)
    p2t_timeout = sum(rec["pdftotext_alnum"] is None for rec in records)
    total_pages, unknown = 0, 0
    for rec in records:
        counts = [rec[m].get("pages") for m in ("off", "on") if rec[m].get("pages")]
        if counts:
            total_pages += max(counts)
        elif rec["pdfinfo_pages"]:
            total_pages += rec["pdfinfo_pages"]
        else:
            unknown += 1
    gained = lost = 0
    gain_files = 0
    extra_wall = gain_wall = 0.0
    both = 0
    regressed = []
    for rec in records:
        off, on = rec["off"], rec["on"]
        off_pages = set(off.get("text_pages") or [])
        on_pages = set(on.get("text_pages") or [])
        if on["status"] != "timeout" and off["status"] != "timeout":
            g = len(on_pages - off_pages)
            gained += g
            gain_files += g > 0
            lost += len(off_pages - on_pages)
            both += 1
            extra_wall += on["wall"] - off["wall"]
            if g:
                gain_wall += on["wall"] - off["wall"]
        if off["status"] == "parsed" and on["status"] != "parsed":
            regressed.append(rec)
        rec["gained_pages"] = len(on_pages - off_pages)

    print("## Shared PDF corpus, before and after OCR\n")
    print(f"{n} PDFs under `{os.path.relpath(root, ROOT)}`; each parsed with OCR off and with "
          f"OCR on ({LANGS}, --ocr-dpi 200), one call at a time, each killed after {limit:.0f} s "
          f"of wall time. \"With text\": at least {MIN_ALNUM} letters or digits. Corpus time: "
          f"{elapsed / 60:.1f} min.\n")
    print("| | OCR off | OCR on | pdftotext -l 50 (reference) |")
    print("|---|---|---|---|")
    print(f"| files with text | {row['off']['with_text']} / {n} | {row['on']['with_text']} / {n} "
          f"| {p2t} / {n} |")
    print(f"| files parsed (not an error) | {row['off']['parsed']} "
          f"| {row['on']['parsed']} | |")
    print(f"| files failed (typed error or crash) | {row['off']['failed']} "
          f"| {row['on']['failed']} | |")
    print(f"| files killed at {limit:.0f} s | {row['off']['timeout']} | {row['on']['timeout']} "
          f"| {p2t_timeout} (at {PDFTOTEXT_LIMIT} s) |")
    print(f"| pages with text | {row['off']['text_pages']:,} | {row['on']['text_pages']:,} | |")
    print(f"| total pages (ragd's count, else pdfinfo's) | {total_pages:,} | | |")
    print(f"| wall time, all calls | {row['off']['wall']:.0f} s | {row['on']['wall']:.0f} s | |")
    print()
    per_page = extra_wall / gained if gained else float("nan")
    print("| OCR | |")
    print("|---|---|")
    print(f"| pages that went through OCR (text only with OCR on) | {gained:,} in {gain_files} "
          f"files |")
    print(f"| pages with text lost with OCR on | {lost} |")
    print(f"| extra wall time with OCR on ({both} files not killed either way; failures "
          f"included: pages rendered and read to no text cost time too) "
          f"| {extra_wall:.0f} s |")
    print(f"| seconds per OCR'd page (extra wall time / pages gained) | {per_page:.2f} s |")
    if gained:
        print(f"| same, counting only the {gain_files} files that gained pages "
              f"| {gain_wall / gained:.2f} s |")
    print(f"| files that parsed with OCR off but not with OCR on | {len(regressed)} |")
    if unknown:
        print(f"| files whose page count is unknown (neither ragd nor pdfinfo) | {unknown} |")
    print()
    classes = collections.Counter()
    classes_off = collections.Counter()
    example = {}
    for rec in records:
        for mode, counter in (("on", classes), ("off", classes_off)):
            r = rec[mode]
            if r["status"] != "parsed":
                c = failure_class(r)
                counter[c] += 1
                example.setdefault(c, rec["file"])
    print("Failures by class (digits shown as N):\n")
    print("| class | OCR on | OCR off | example |")
    print("|---|---|---|---|")
    for c, count in sorted(classes.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"| {c.replace('|', '/')} | {count} | {classes_off.get(c, 0)} | `{example[c]}` |")
    for c, count in sorted(classes_off.items(), key=lambda kv: (-kv[1], kv[0])):
        if c not in classes:
            print(f"| {c.replace('|', '/')} | 0 | {count} | `{example[c]}` |")
    print()
    top = sorted((rec for rec in records if rec["gained_pages"]),
                 key=lambda rec: -rec["gained_pages"])[:10]
    if top:
        print("Files that gained most pages from OCR:\n")
        print("| file | pages | text pages, OCR off | text pages, OCR on | OCR-on wall |")
        print("|---|---|---|---|---|")
        for rec in top:
            print(f"| `{rec['file']}` | {rec['on'].get('pages')} "
                  f"| {len(rec['off'].get('text_pages') or [])} "
                  f"| {len(rec['on'].get('text_pages') or [])} | {rec['on']['wall']:.1f} s |")
        print()
    if regressed:
        print("Parsed with OCR off, not with OCR on:\n")
        for rec in regressed:
            message = (rec["on"].get("message") or rec["on"]["status"]).replace("|", "/")
            print(f"- `{rec['file']}` ({len(rec['off'].get('text_pages') or [])} text pages "
                  f"with OCR off): {message[:160]}")
        print()
    slow = [rec for rec in records if rec["on"]["status"] == "timeout"
            or rec["off"]["status"] == "timeout"]
    if slow:
        print(f"Killed at the {limit:.0f} s limit:\n")
        for rec in slow:
            print(f"- `{rec['file']}`: OCR off {rec['off']['status']}, "
                  f"OCR on {rec['on']['status']}")
        print()
    sys.stdout.flush()
    return records


def main():
    global LANGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ragd")
    ap.add_argument("--corpus", default=os.path.join(SHARED, "pdf-corpus"))
    ap.add_argument("--samples", type=int, default=10, help="texts per language for the CER")
    ap.add_argument("--limit-seconds", type=float, default=120,
                    help="wall-clock limit per parse-child call (killed past it)")
    ap.add_argument("--skip-cer", action="store_true")
    ap.add_argument("--skip-corpus", action="store_true")
    ap.add_argument("--json-out", help="write every measurement here as JSON")
    ap.add_argument("--languages", default=LANGS, help="tesseract languages (default chi_sim+eng)")
    args = ap.parse_args()
    LANGS = args.languages
    ragd = os.path.abspath(args.ragd)
    missing = [t for t in ("tesseract", "pdftoppm", "pdftotext", "hb-view") if not shutil.which(t)]
    if missing:
        raise SystemExit(f"missing: {', '.join(missing)} (make test-deps installs them)")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    version = subprocess.run(["tesseract", "--version"], capture_output=True, text=True)
    tess = (version.stdout or version.stderr).splitlines()[0]
    print(f"machine: {cpu}, {os.cpu_count()} cores; {tess}; one parse-child call at a time\n")
    started = time.perf_counter()
    result = {"limit_seconds": args.limit_seconds}
    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as tmp:
        if not args.skip_cer:
            result["cer"] = bench_cer(ragd, args.samples, args.limit_seconds, tmp)
        if not args.skip_corpus:
            result["corpus"] = bench_corpus(ragd, os.path.abspath(args.corpus),
                                            args.limit_seconds, tmp)
    print(f"total time: {(time.perf_counter() - started) / 60:.1f} min")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(result, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
