"""The AsyncAPI document of the events (schemas/asyncapi.yaml): valid AsyncAPI 3.0, its references
resolve, and it says what the code does (exchange, routing keys, types, AMQP properties)."""

import copy
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from worker.adapters.broker import Topology
from worker.core.result import Status
from worker.events import EVENT_CONTENT_TYPE, PendingRow, event_message, event_type, routing_key

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
DOCUMENT = SCHEMAS / "asyncapi.yaml"
FIXTURES = Path(__file__).parent / "fixtures" / "asyncapi"
# The official AsyncAPI 3.0.0 JSON Schema: schemas/3.0.0-without-$id.json of the npm package
# @asyncapi/specs 6.11.1 (Apache-2.0, LICENSE and NOTICE beside it), vendored so the test runs offline.
OFFICIAL_SCHEMA = FIXTURES / "asyncapi-3.0.0.schema.json"
OFFICIAL_SHA256 = "abe96881dbfaad495ccbb6bd8d3fb43ca18a13b9d7564849ccb66f39d5e5b20f"
DEFINITIONS = ROOT / "ops" / "rabbitmq" / "definitions.json"


def load_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    return document


def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(OFFICIAL_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


def resolve(document: dict[str, Any], ref: str) -> Any:
    """A local reference (`#/a/b`) of the document, followed."""
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def references(node: Any) -> list[str]:
    """Every `$ref` value anywhere in a document."""
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in references(value)]
    return []


def followed(document: dict[str, Any], node: Any) -> Any:
    """A node, or what it references, until it is no reference."""
    while isinstance(node, dict) and set(node) == {"$ref"}:
        node = resolve(document, node["$ref"])
    return node


def test_the_vendored_schema_is_the_official_file() -> None:
    assert hashlib.sha256(OFFICIAL_SCHEMA.read_bytes()).hexdigest() == OFFICIAL_SHA256


def test_the_document_is_valid_asyncapi_3_0() -> None:
    document = load_document()
    assert document["asyncapi"] == "3.0.0"
    errors = [f"{error.json_path}: {error.message[:200]}" for error in validator().iter_errors(document)]
    assert errors == []


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(lambda d: d.pop("info"), id="no info"),
        pytest.param(
            lambda d: d["channels"]["reportValid"].update(bindings={"amqp": {"is": "topic"}}), id="bad binding"
        ),
        pytest.param(lambda d: d["operations"]["sendReportValid"].update(action="publish"), id="2.x action"),
    ],
)
def test_the_validation_catches_a_broken_document(breakage: Any) -> None:
    document = copy.deepcopy(load_document())
    breakage(document)
    assert list(validator().iter_errors(document))


def test_every_reference_resolves() -> None:
    document = load_document()
    refs = references(document)
    assert refs
    for ref in refs:
        if ref.startswith("#"):
            assert resolve(document, ref) is not None, ref
            continue
        target, _, fragment = ref.partition("#")
        path = (SCHEMAS / target).resolve()
        assert path.parent == SCHEMAS and path.is_file(), ref
        schema = json.loads(path.read_text(encoding="utf-8"))
        if fragment:
            assert resolve(schema, f"#{fragment}") is not None, ref


def payload_files(document: dict[str, Any]) -> dict[str, str]:
    """Each message's payload schema file, by message name."""
    found = {}
    for name, message in document["components"]["messages"].items():
        payload = message["payload"]
        assert payload["schemaFormat"] == "application/schema+json;version=2020-12"
        found[name] = payload["schema"]["$ref"].removeprefix("./")
    return found


def test_every_event_schema_is_a_documented_payload() -> None:
    # A new event schema (a new kind of event) needs its channel and message here.
    documented = set(payload_files(load_document()).values())
    committed = {path.name for path in SCHEMAS.glob("event.*.schema.json")}
    assert committed
    assert documented == committed


def channel_for(document: dict[str, Any], status: Status) -> dict[str, Any]:
    found = [c for c in document["channels"].values() if c["address"] == routing_key(status)]
    assert len(found) == 1, f"one channel for {routing_key(status)}"
    channel: dict[str, Any] = found[0]
    return channel


@pytest.mark.parametrize("status", list(Status))
def test_each_status_is_a_channel_carrying_its_event_type(status: Status) -> None:
    document = load_document()
    channel = channel_for(document, status)
    (reference,) = channel["messages"].values()
    message = followed(document, reference)
    assert message["bindings"]["amqp"]["messageType"] == event_type(status)
    payload = json.loads((SCHEMAS / message["payload"]["schema"]["$ref"]).read_text(encoding="utf-8"))
    assert payload["properties"]["type"]["const"] == event_type(status)


@pytest.mark.parametrize("status", list(Status))
def test_what_the_relay_publishes_is_what_the_document_says(status: Status) -> None:
    document = load_document()
    channel = channel_for(document, status)
    (reference,) = channel["messages"].values()
    message = followed(document, reference)
    traits = [followed(document, trait) for trait in message.get("traits", [])]
    content_type = next(t["contentType"] for t in [message, *traits] if "contentType" in t)
    exchange = followed(document, channel["bindings"])["amqp"]["exchange"]
    (operation,) = [o for o in document["operations"].values() if followed(document, o["channel"]) is channel]
    sent = followed(document, operation["bindings"])["amqp"]

    row = PendingRow(id="an-id", routing_key=routing_key(status), body="{}", created_at=datetime.now(UTC))
    published = event_message(Topology("govreport"), row)

    assert operation["action"] == "send"
    assert (exchange["name"], exchange["type"], exchange["durable"]) == (published.exchange, "topic", True)
    assert channel["address"] == published.routing_key
    assert content_type == published.properties.content_type == EVENT_CONTENT_TYPE
    assert message["bindings"]["amqp"]["contentEncoding"] == published.properties.content_encoding
    assert message["bindings"]["amqp"]["messageType"] == published.properties.type
    assert sent["deliveryMode"] == published.properties.delivery_mode
    assert sent["mandatory"] == published.mandatory


def test_the_documented_vhost_is_the_one_the_definitions_create() -> None:
    document = load_document()
    vhosts = {v["name"] for v in json.loads(DEFINITIONS.read_text(encoding="utf-8"))["vhosts"]}
    exchanges = {followed(document, c["bindings"])["amqp"]["exchange"]["vhost"] for c in document["channels"].values()}
    assert exchanges == vhosts
    assert {server["pathname"] for server in document["servers"].values()} == {f"/{v}" for v in vhosts}
