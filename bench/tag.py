#!/usr/bin/env python3
"""Reads JSON objects (one a line) on stdin and prints each with extra keys added.

usage: ... | tag.py key=value [key=value ...]   (values that parse as JSON stay typed)
Lines that are not JSON objects go to stderr.
"""
import json
import sys

extra = {}
for kv in sys.argv[1:]:
    k, v = kv.split("=", 1)
    try:
        extra[k] = json.loads(v)
    except ValueError:
        extra[k] = v
for line in sys.stdin:
    line = line.strip()
    try:
        obj = json.loads(line)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        if line:
            print(line, file=sys.stderr)
        continue
    obj.update(extra)
    print(json.dumps(obj), flush=True)
