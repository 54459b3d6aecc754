#!/usr/bin/env python3
"""Validate JSON lines against docs/events.schema.json. Usage: validate_events.py SCHEMA FILE...
Prints `ok N KIND...` (N lines valid, the kinds seen) or the first errors and exits 1."""
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
n, kinds, bad = 0, set(), []
for path in sys.argv[2:]:
    for i, line in enumerate(open(path), 1):
        ev = json.loads(line)
        n += 1
        kinds.add(ev.get("kind"))
        for e in v.iter_errors(ev):
            bad.append(f"{path}:{i}: {e.message} at {list(e.absolute_path)}: {line.strip()[:200]}")
if bad:
    print("\n".join(bad[:20]))
    sys.exit(1)
print("ok", n, " ".join(sorted(kinds)))
