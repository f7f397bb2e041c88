#!/usr/bin/env python3
"""A textbook BM25 over an English BEIR set, to cross-check ragd's BM25 branch.

Lucene's English analysis (lowercase, Lucene's 33 stopwords, Snowball English stemmer),
title + text as one field, the BM25 of Robertson with Lucene's IDF:

    idf(t)    = ln(1 + (N − n_t + 0.5) / (n_t + 0.5))
    score(d)  = Σ_t idf(t) · tf·(k1 + 1) / (tf + k1·(1 − b + b·|d| / avgdl))

nDCG@10 is computed as ragd computes it (gain 2^rel − 1). Usage:

    pip install snowballstemmer
    python3 scripts/bm25_reference.py ../shared/eval/dbpedia [k1 b]

Compare the printed nDCG@10 with the `bm25 only` row of `make eval`: a large gap would mean
ragd's tokenizer or weighting is off. Not for Chinese sets (no word segmentation here).
"""
import json
import math
import re
import sys

import snowballstemmer

STOP = set(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with".split()
)
STEM = snowballstemmer.stemmer("english")


def tokens(text):
    return [STEM.stemWord(w) for w in re.findall(r"\w+", text.lower()) if w not in STOP]


def ndcg10(ranked, judged):
    dcg = sum((2 ** judged.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:10]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def main():
    base = sys.argv[1]
    k1, b = (float(sys.argv[2]), float(sys.argv[3])) if len(sys.argv) > 3 else (1.2, 0.75)
    ids, lengths, postings, df = [], [], {}, {}
    with open(f"{base}/corpus.jsonl") as f:
        for j, line in enumerate(f):
            d = json.loads(line)
            toks = tokens(f"{d.get('title', '')} {d['text']}")
            ids.append(d["_id"])
            lengths.append(len(toks))
            counts = {}
            for t in toks:
                counts[t] = counts.get(t, 0) + 1
            for t, c in counts.items():
                df[t] = df.get(t, 0) + 1
                postings.setdefault(t, []).append((j, c))
    n_docs, avgdl = len(ids), sum(lengths) / len(ids)
    qrels = {}
    with open(f"{base}/qrels/test.tsv") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 3 and cols[2].strip().isdigit():
                qrels.setdefault(cols[0], {})[cols[1]] = int(cols[2])
    total, queries = 0.0, 0
    with open(f"{base}/queries.jsonl") as f:
        for line in f:
            q = json.loads(line)
            judged = qrels.get(q["_id"])
            if not judged or not any(g > 0 for g in judged.values()):
                continue
            scores = {}
            for t in set(tokens(q["text"])):
                idf = math.log(1 + (n_docs - df.get(t, 0) + 0.5) / (df.get(t, 0) + 0.5))
                for j, tf in postings.get(t, []):
                    norm = k1 * (1 - b + b * lengths[j] / avgdl)
                    scores[j] = scores.get(j, 0.0) + idf * tf * (k1 + 1) / (tf + norm)
            ranked = [ids[j] for j in sorted(scores, key=lambda j: -scores[j])[:10]]
            total += ndcg10(ranked, judged)
            queries += 1
    print(f"reference BM25 (k1={k1}, b={b}, avgdl={avgdl:.1f}): nDCG@10 {total / queries:.4f} over {queries} queries")


if __name__ == "__main__":
    main()
