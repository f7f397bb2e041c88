"""Parses Prometheus' text format from stdin with prometheus_client's parser (PyPI) and
prints the samples as JSON lines: {"name", "labels", "value"}. For tests/tests/metrics.rs."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        print(json.dumps({"name": s.name, "labels": s.labels, "value": s.value}))
