"""The JSON Schemas of `schemas/`, generated from the code's models so the two cannot drift."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.core.result import ParseResult, Status
from worker.events import EVENT_CONTENT_TYPE, EXTENSIONS, ReportEvent, event_type, routing_key

DRAFT = "https://json-schema.org/draft/2020-12/schema"
# An identifier, not a location (`.invalid` is reserved and never resolves): a shared base lets
# sibling schemas, such as the events' envelope, `$ref` the result by its file name.
ID_BASE = "https://govreport.invalid/schemas/"

JsonSchema = dict[str, Any]
_HEAD = ("$schema", "$id", "title")


@dataclass(frozen=True, slots=True)
class Entry:
    """One schema file: its title and how to build its body from the code."""

    title: str
    build: Callable[[], JsonSchema]


# Attributes only a change event (revision 1 and later) has.
_CHANGE_ONLY = ("cause", "changed", "statusbefore", "issuesadded", "issuesremoved", "cellschanged")


def _event_schema(status: Status) -> JsonSchema:
    """The envelope with this event's `type` and its data's `status` pinned."""
    body = ReportEvent.model_json_schema(mode="serialization")
    properties = body["properties"]
    for name in EXTENSIONS:
        properties[name] = _absent_not_null(properties[name])
    properties["type"] = {"const": event_type(status), "title": "Type", "type": "string"}
    properties["data"] = {
        "allOf": [{"$ref": "#/$defs/ParseResult"}, {"properties": {"status": {"const": status.value}}}]
    }
    # A first event (revision 0) says nothing about a change; a change event always says why.
    body["if"] = {"properties": {"revision": {"const": 0}}}
    body["then"] = {"not": {"anyOf": [{"required": [name]} for name in _CHANGE_ONLY]}}
    body["else"] = {"required": ["cause"]}
    body["not"] = {"required": ["supersedes", "supersededby"]}
    body["description"] = (
        f"CloudEvents 1.0 (structured JSON) published to the topic exchange <namespace>.events with routing "
        f"key {routing_key(status)}; AMQP message_id = id, type = type, content_type = {EVENT_CONTENT_TYPE}. "
        "`data` is the report's result as stored now. A report's first event has revision 0; each later "
        "change to it (cause crossyear or reparse: the result changed; placement: the content became the "
        "current version at `path` again) is announced by an event with the next revision and a new id. "
        "Extension attributes are scalars, lists space-separated, and absent when unset (never null). "
        "The current version of a file: the subject of the latest event carrying `path` that is a first "
        "event without `supersededby`, or a placement; `supersedes` names the version it replaced."
    )
    return body


def _absent_not_null(prop: JsonSchema) -> JsonSchema:
    """An optional attribute's schema without its null branch and default: it is left out instead."""
    branches = prop.get("anyOf")
    if branches is None:
        return prop
    kept = [branch for branch in branches if branch != {"type": "null"}]
    rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
    return {**kept[0], **rest} if len(kept) == 1 else {"anyOf": kept, **rest}


def _event_entry(status: Status) -> Entry:
    return Entry(title=f"govreport event {routing_key(status)}", build=lambda: _event_schema(status))


# Serialization mode: the schema describes the document we emit, not what we would accept.
SCHEMAS: dict[str, Entry] = {
    "report.schema.json": Entry(
        title="govreport parse result (spec §3)",
        build=lambda: ParseResult.model_json_schema(mode="serialization"),
    ),
    **{f"event.{routing_key(status)}.schema.json": _event_entry(status) for status in Status},
}


def schema(name: str) -> JsonSchema:
    """The schema of one file, with its `$schema`, `$id` and `title` first."""
    entry = SCHEMAS[name]
    body = {k: v for k, v in entry.build().items() if k not in _HEAD}
    return {"$schema": DRAFT, "$id": ID_BASE + name, "title": entry.title, **body}


def render(document: JsonSchema) -> str:
    """The exact committed text of a schema: stable, readable, UTF-8 and newline-terminated."""
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def generated() -> dict[str, str]:
    """Every schema file's name mapped to the text it must have."""
    return {name: render(schema(name)) for name in SCHEMAS}


def write(directory: Path) -> list[Path]:
    """Write every schema into `directory`; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in generated().items():
        path = directory / name
        # Bytes, not text mode: no platform newline translation may change the committed file.
        path.write_bytes(text.encode("utf-8"))
        paths.append(path)
    return paths


def stale(directory: Path) -> list[str]:
    """Names of the schema files in `directory` that are missing or differ from the code."""
    expected = generated()
    return sorted(name for name, text in expected.items() if _read(directory / name) != text)


def _read(path: Path) -> str | None:
    """A committed file's text, or None when it is missing or not UTF-8."""
    try:
        return path.read_bytes().decode("utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None
