"""Validates an OpenAPI document (JSON on stdin) with openapi-spec-validator (PyPI); exits
non-zero with the reason when it is not valid. For tests/tests/openapi.rs."""

import json
import sys

from openapi_spec_validator import validate

spec = json.load(sys.stdin)
validate(spec)
print("valid", spec.get("openapi"))
