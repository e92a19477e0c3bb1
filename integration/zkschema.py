"""Validates live znodes against zk-schema/, using the machine-read table in zk-schema/README.md:

    | path pattern | kind | encoding | schema |
    | `/brokers/ids/<id>` | ephemeral | json | `broker-registration.json` |

A `<name>` segment matches one non-empty path segment; `prefix_<name>` matches a segment starting
with `prefix_`. Encodings: `json` (parse the data as JSON), `text` (the UTF-8 data as a JSON string
instance, empty data is ""), `json-or-empty` (empty data is valid as is, else json). A path that
matches no row is an error, except under /zookeeper and /zkafka.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from helpers import ROOT

SCHEMA_DIR = ROOT / "zk-schema"
EXEMPT_PREFIXES = ("/zookeeper", "/zkafka")
ENCODINGS = ("json", "text", "json-or-empty")


@dataclass
class Row:
    pattern: str
    regex: re.Pattern
    kind: str
    encoding: str
    schema_file: str


def _segment_regex(seg: str) -> str:
    out = ""
    for part in re.split(r"(<[^>]+>)", seg):
        if not part:
            continue
        out += r"[^/]+" if part.startswith("<") else re.escape(part)
    return out


def pattern_regex(pattern: str) -> re.Pattern:
    segs = [s for s in pattern.split("/") if s]
    return re.compile("^/" + "/".join(_segment_regex(s) for s in segs) + "$")


class ZkSchemas:
    def __init__(self, schema_dir: Path = SCHEMA_DIR):
        self.dir = Path(schema_dir)
        readme = self.dir / "README.md"
        assert readme.is_file(), f"{readme} is missing: zk-schema/ has not landed in this tree"
        self.rows: list[Row] = []
        for line in readme.read_text().splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 4 or not cells[0].startswith("`/"):
                continue
            pattern, kind, encoding, schema = (c.strip("`") for c in cells)
            assert encoding in ENCODINGS, f"zk-schema/README.md: unknown encoding {encoding!r} for {pattern}"
            assert (self.dir / schema).is_file(), f"zk-schema/README.md maps {pattern} to missing {schema}"
            self.rows.append(Row(pattern, pattern_regex(pattern), kind, encoding, schema))
        assert self.rows, f"no path → schema rows found in {readme}"
        files = {p.name for p in self.dir.glob("*.json")}
        unmapped = sorted(files - {r.schema_file for r in self.rows} - self._referenced(files))
        assert not unmapped, f"schemas no README row maps to: {unmapped}"
        self._validators: dict = {}

    def _referenced(self, files) -> set:
        refs = set()
        for name in files:
            refs |= {r.split("/")[-1] for r in re.findall(r'"\$ref"\s*:\s*"([^"#]+\.json)', (self.dir / name).read_text())}
        return refs

    def row_for(self, path: str) -> Row | None:
        hits = [r for r in self.rows if r.regex.match(path)]
        assert len(hits) <= 1, f"zk-schema/README.md rows overlap for {path}: {[h.pattern for h in hits]}"
        return hits[0] if hits else None

    def validator(self, schema_file: str):
        if schema_file not in self._validators:
            import jsonschema

            schema = json.loads((self.dir / schema_file).read_text())
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            try:
                from referencing import Registry, Resource

                resources = []
                for p in self.dir.glob("*.json"):
                    contents = json.loads(p.read_text())
                    res = Resource.from_contents(contents)
                    resources.append((p.name, res))
                    if contents.get("$id"):
                        resources.append((contents["$id"], res))
                v = cls(schema, registry=Registry().with_resources(resources))
            except ImportError:  # jsonschema before 4.18
                v = cls(schema)
            self._validators[schema_file] = v
        return self._validators[schema_file]

    def check(self, path: str, data: bytes, ephemeral: bool) -> list[str]:
        """Problems with one znode (empty list: it matches its row and schema)."""
        if any(path == p or path.startswith(p + "/") for p in EXEMPT_PREFIXES):
            return []
        row = self.row_for(path)
        if row is None:
            return [f"{path}: matches no row of zk-schema/README.md (data {data[:80]!r})"]
        problems = []
        want_ephemeral = row.kind == "ephemeral"
        if ephemeral != want_ephemeral:
            problems.append(f"{path}: is {'ephemeral' if ephemeral else 'persistent'}, {row.pattern} is {row.kind}")
        if row.encoding == "text":
            instance = data.decode("utf-8", errors="replace")
        elif row.encoding == "json-or-empty" and not data:
            return problems
        else:
            try:
                instance = json.loads(data)
            except ValueError as e:
                return problems + [f"{path}: not JSON ({e}): {data[:80]!r}"]
            if json.dumps(instance, separators=(",", ":"), ensure_ascii=False).encode() != data:
                problems.append(f"{path}: JSON is not compact: {data[:80]!r}")
        errors = sorted(self.validator(row.schema_file).iter_errors(instance), key=lambda e: list(e.path))
        problems += [f"{path} vs {row.schema_file}: {e.message}" for e in errors[:3]]
        return problems

    def examples(self) -> list[tuple[str, bytes]]:
        """The README's "Examples" bullets: (path, data) pairs."""
        text = (self.dir / "README.md").read_text()
        return [(p, d.encode()) for p, d in re.findall(r"^- `(/[^`]+)`: `([^`]*)`", text, re.M)]
