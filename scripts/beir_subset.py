#!/usr/bin/env python3
"""A smaller BEIR set for slow embedding models: every judged document of SET (any grade,
so the judgements stay complete) plus a seeded random sample of the others, up to --docs in
all; queries and qrels unchanged. Scores on a subset are higher than on the whole set (fewer
distractors): compare models on the same subset only.

    python3 scripts/beir_subset.py ../shared/eval/dbpedia /tmp/dbpedia-2000 --docs 2000
"""
import argparse
import json
import os
import random
import shutil

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("set")
ap.add_argument("out")
ap.add_argument("--docs", type=int, required=True)
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()

judged = set()
with open(os.path.join(a.set, "qrels", "test.tsv")) as f:
    next(f)
    for line in f:
        parts = line.rstrip("\n").split("\t")
        if len(parts) >= 3:
            judged.add(parts[1])
lines = open(os.path.join(a.set, "corpus.jsonl")).read().splitlines()
keep = [l for l in lines if json.loads(l)["_id"] in judged]
rest = [l for l in lines if json.loads(l)["_id"] not in judged]
random.Random(a.seed).shuffle(rest)
n_judged = len(keep)
keep += rest[:max(0, a.docs - len(keep))]
os.makedirs(os.path.join(a.out, "qrels"), exist_ok=True)
with open(os.path.join(a.out, "corpus.jsonl"), "w") as f:
    f.write("\n".join(keep) + "\n")
shutil.copy(os.path.join(a.set, "queries.jsonl"), a.out)
shutil.copy(os.path.join(a.set, "qrels", "test.tsv"), os.path.join(a.out, "qrels"))
print(f"{a.out}: {len(keep)} documents ({n_judged} judged, {len(keep) - n_judged} others "
      f"of {len(rest)}, seed {a.seed})")
