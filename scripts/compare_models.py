#!/usr/bin/env python3
"""How far an ONNX variant of the default model moves retrieval (BENCHMARKS.md, ingest part 2).

Embeds dbpedia's corpus and queries with each model (mean pooling, 256 tokens, no prefix, as
ragd's `local` provider) and prints, per model: dense nDCG@10 on the judged queries, and the
overlap of its top 10 with the first model's for 500 document titles used as queries.

Usage (needs onnxruntime, numpy and tokenizers, e.g. in a venv):
  python scripts/compare_models.py ../shared/eval/dbpedia MODEL_DIR/model.onnx OTHER.onnx ...
The tokenizer is read from the first model's folder.
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[-3], file=sys.stderr)
        return 2
    data, models = Path(sys.argv[1]), sys.argv[2:]
    tok = Tokenizer.from_file(str(Path(models[0]).parent / "tokenizer.json"))
    tok.enable_truncation(256)
    tok.no_padding()
    corpus = [json.loads(line) for line in open(data / "corpus.jsonl")]
    queries = [json.loads(line) for line in open(data / "queries.jsonl")]
    qrels: dict[str, dict[str, int]] = {}
    for i, line in enumerate(open(data / "qrels" / "test.tsv")):
        if i:
            q, d, s = line.rstrip("\n").split("\t")
            qrels.setdefault(q, {})[d] = int(s)
    docs = [(c.get("title", "") + " " + c["text"]).strip() for c in corpus]
    ids = [c["_id"] for c in corpus]
    pick = np.random.default_rng(0).choice(len(corpus), 500, replace=False)
    titles = [corpus[i].get("title", "") for i in pick]

    def embed(session, texts):
        enc = [tok.encode(t) for t in texts]
        order = sorted(range(len(enc)), key=lambda i: len(enc[i].ids))
        out = np.zeros((len(texts), 384), np.float32)
        for b in range(0, len(order), 16):
            idx = order[b:b + 16]
            width = max(len(enc[i].ids) for i in idx)
            input_ids = np.zeros((len(idx), width), np.int64)
            mask = np.zeros_like(input_ids)
            for r, i in enumerate(idx):
                input_ids[r, :len(enc[i].ids)] = enc[i].ids
                mask[r, :len(enc[i].ids)] = 1
            hidden = session.run(None, {"input_ids": input_ids, "attention_mask": mask,
                                        "token_type_ids": np.zeros_like(input_ids)})[0]
            v = (hidden * mask[:, :, None]).sum(1) / mask.sum(1)[:, None]
            out[idx] = v / np.linalg.norm(v, axis=1)[:, None]
        return out

    def ndcg(dv, qv):
        scores = []
        for q, v in zip(queries, qv):
            rel = qrels.get(q["_id"], {})
            if not rel:
                continue
            top = np.argsort(-(dv @ v))[:10]
            dcg = sum((2 ** rel.get(ids[d], 0) - 1) / math.log2(r + 2) for r, d in enumerate(top))
            ideal = sorted(rel.values(), reverse=True)[:10]
            scores.append(dcg / sum((2 ** g - 1) / math.log2(r + 2) for r, g in enumerate(ideal)))
        return float(np.mean(scores)), len(scores)

    first_top = None
    for path in models:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        dv, qv, tv = embed(session, docs), embed(session, [q["text"] for q in queries]), embed(session, titles)
        top = np.argsort(-(tv @ dv.T), axis=1)[:, :10]
        if first_top is None:
            first_top = top
        overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top, first_top)])
        score, n = ndcg(dv, qv)
        print(f"{path}: dense nDCG@10 {score:.4f} ({n} queries) · top-10 overlap with the first model {overlap:.3f}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
