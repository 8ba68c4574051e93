"""The committed JSON Schemas are current, well-formed, and tell good results and events from bad ones."""

import copy
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.schema_check import SCHEMA_DIR, assert_valid_result, schema_errors
from worker import schemas
from worker.adapters.db import make_engine, upgrade
from worker.adapters.store import Arrival, Outcome, Store
from worker.core import ParseResult
from worker.core.result import (
    Code,
    Failure,
    FailureReason,
    Meta,
    Source,
    Status,
    make_issue,
)

FIELDS = Path(__file__).parent / "fixtures" / "spec" / "fields.json"
REGENERATE = "run `govreport schemas` and commit schemas/"


def _keys(template: str) -> list[str]:
    """The canonical cell keys of a template, from the spec's fields.json."""
    fields = json.loads(FIELDS.read_text(encoding="utf-8"))
    return [field["key"] for field in fields["templates"][template]]


def _source(data: bytes, filename: str = "report.txt") -> Source:
    """The source block a parser gives for these bytes."""
    digest = hashlib.sha256(data).hexdigest()
    return Source(filename=filename, sha256=digest, bytes=len(data), encoding="utf-8")


def valid_result() -> ParseResult:
    """A clean 2019-template report: every cell a number, an amount a decimal, no issues."""
    cells: dict[str, int | float | None] = dict.fromkeys(_keys("2019"), 0)
    cells["active.procurement.amount"] = 1150.5
    meta = Meta(title="2020年政府信息公开工作年度报告", organization="川汇区信访局", year=2020)
    return ParseResult(
        source=_source(b"valid"),
        status=Status.VALID,
        template="2019",
        meta=meta,
        cells=cells,
    )


def invalid_result() -> ParseResult:
    """A 2021-template report with a missing table (null cells), a broken identity and a warning."""
    cells: dict[str, int | float | None] = dict.fromkeys(_keys("2021"), 1)
    review = [key for key in cells if key.startswith("review_litigation.")]
    cells.update(dict.fromkeys(review, None))
    issues = [
        make_issue(Code.E_MISSING_TABLE, review, "表四 not found"),
        make_issue(Code.E_IDENTITY, ["applications.new_received.total"], "1 + 1 ≠ 1 + 1 + 1"),
        make_issue(Code.W_TEMPLATE_YEAR, [], "a 2021 template for 2020"),
    ]
    source = Source(filename="報告.txt", sha256="0" * 64, bytes=5, encoding="big5", script="traditional")
    return ParseResult(
        source=source,
        status=Status.INVALID,
        template="2021",
        meta=Meta(year=2020),
        cells=cells,
        issues=issues,
    )


def failed_result() -> ParseResult:
    """A file that is not a report."""
    failure = Failure(reason=FailureReason.NOT_A_REPORT, message="no table 二, 三 or 四")
    return ParseResult(source=_source(b"news", "news.html"), status=Status.FAILED, failure=failure)


def test_committed_schemas_are_current() -> None:
    """`schemas/` holds exactly the files the code generates, byte for byte."""
    stale = schemas.stale(SCHEMA_DIR)
    assert not stale, f"schemas/ is out of date with the code ({', '.join(stale)}): {REGENERATE}"
    committed = {path.name for path in SCHEMA_DIR.glob("*.schema.json")}
    extra = sorted(committed - set(schemas.generated()))
    assert not extra, f"schemas/ has files the code no longer makes ({extra}): {REGENERATE}"


@pytest.mark.parametrize("name", sorted(schemas.SCHEMAS))
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    """Every committed schema is itself a valid draft 2020-12 schema that names itself."""
    document = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"].endswith("/" + name)
    assert document["title"]


@pytest.mark.parametrize("make", [valid_result, invalid_result, failed_result])
def test_example_results_validate(make: Any) -> None:
    """Hand-made valid, invalid and failed results are accepted."""
    assert_valid_result(make())


def _wrong(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A valid result's document with one value replaced, or removed when `value` is ...."""
    document = copy.deepcopy(valid_result().model_dump(mode="json"))
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if value is ...:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return document


WRONG = {
    "status ok": (("status",), "ok"),
    "no source": (("source",), ...),
    "no status": (("status",), ...),
    "sha256 not hex": (("source", "sha256"), "z" * 64),
    "sha256 upper-case": (("source", "sha256"), "A" * 64),
    "sha256 too short": (("source", "sha256"), "0" * 63),
    "negative size": (("source", "bytes"), -1),
    "unknown script": (("source", "script"), "cyrillic"),
    "schema version 2": (("schema_version",), 2),
    "unknown template": (("template",), "2017"),
    "unknown failure reason": (("failure",), {"reason": "no_tables", "message": "…"}),
    "failure without message": (("failure",), {"reason": "empty"}),
    "year out of range": (("meta", "year"), 1800),
    "cell as text": (("cells", "active.regulations.made"), "12"),
    "unknown issue code": (
        ("issues",),
        [{"code": "E_WHATEVER", "severity": "error", "cells": [], "message": ""}],
    ),
    "extra property": (("verdict",), "fine"),
}


@pytest.mark.parametrize(("path", "value"), list(WRONG.values()), ids=list(WRONG))
def test_wrong_documents_are_rejected(path: tuple[str, ...], value: Any) -> None:
    """Clearly wrong documents break the schema."""
    assert schema_errors(_wrong(path, value))


def test_write_then_stale_round_trip(tmp_path: Path) -> None:
    """`write` produces what `stale` accepts; a missing or edited file is reported."""
    assert schemas.stale(tmp_path) == sorted(schemas.SCHEMAS)
    written = schemas.write(tmp_path)
    assert sorted(p.name for p in written) == sorted(schemas.SCHEMAS)
    assert schemas.stale(tmp_path) == []
    written[0].write_text(written[0].read_text(encoding="utf-8") + " ", encoding="utf-8")
    assert schemas.stale(tmp_path) == [written[0].name]


def test_generated_text_is_stable_json() -> None:
    """The generated text is newline-terminated JSON that renders back to itself."""
    for text in schemas.generated().values():
        assert text.endswith("}\n")
        assert schemas.render(json.loads(text)) == text


# -- events: real ones, made by the store, against the committed event schemas ---------------------

WHEN = datetime(2026, 11, 1, tzinfo=UTC)
CE_NAME = re.compile(r"^[a-z0-9]{1,20}$")  # CloudEvents 1.0: attribute names


def _event_validator(routing_key: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((SCHEMA_DIR / f"event.{routing_key}.schema.json").read_text("utf-8")))


def _outcome(result: ParseResult, path: str, minute: int) -> Outcome:
    return Outcome(result, None, Arrival(path, result.source.bytes, WHEN + timedelta(minutes=minute)))


def _yearly(year: int, carried_forward: int) -> ParseResult:
    """A valid report of one organ and year, identified by its year."""
    base = valid_result()
    cells = {**base.cells, "applications.carried_over.total": 2, "applications.carried_forward.total": carried_forward}
    source = base.source.model_copy(update={"sha256": f"{year:064d}"})
    meta = base.meta.model_copy(update={"year": year})
    return base.model_copy(update={"cells": cells, "source": source, "meta": meta})


@pytest.fixture(scope="module")
def real_events(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, dict[str, Any]]]:
    """Every kind of event the store queues: first events (with and without a path, superseding,
    superseded by), and change events of every cause, one of them changing the status."""
    url = f"sqlite:///{tmp_path_factory.mktemp('events') / 'events.db'}"
    engine = make_engine(url)
    upgrade(engine)
    store = Store(engine)
    valid, invalid, failed = valid_result(), invalid_result(), failed_result()
    store.save([_outcome(valid, "2024/a.txt", 0)])  # first event, with a path
    store.save([_outcome(invalid, "2024/a.txt", 5)])  # supersedes the valid one
    store.save([_outcome(failed, "2024/a.txt", 1)])  # an older version, late: superseded by
    store.save([_outcome(valid, "2024/a.txt", 9)])  # a revert: a placement change event
    store.save([Outcome(_yearly(2021, 0)), Outcome(_yearly(2019, 0))])  # no path
    store.save([Outcome(_yearly(2020, 3))])  # a cross-year change event on 2021
    store.replace(Outcome(failed.model_copy(update={"source": _yearly(2019, 0).source})))  # valid → failed
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT routing_key, body FROM outbox ORDER BY created_at").all()
    engine.dispose()
    return [(key, json.loads(body)) for key, body in rows]


def test_real_events_cover_every_kind(real_events: list[tuple[str, dict[str, Any]]]) -> None:
    """The fixture really made every kind of event (else the validation below proves little)."""
    bodies = [body for _, body in real_events]
    assert {key for key, _ in real_events} == {"report.valid", "report.invalid", "report.failed"}
    assert {b.get("cause") for b in bodies} == {None, "placement", "crossyear", "reparse"}
    assert any("supersedes" in b for b in bodies) and any("supersededby" in b for b in bodies)
    assert any("path" not in b for b in bodies) and any("statusbefore" in b for b in bodies)


def test_real_events_validate_against_the_committed_event_schemas(
    real_events: list[tuple[str, dict[str, Any]]],
) -> None:
    """Every event the store queues is valid under the schema of its routing key, and under no other."""
    for key, body in real_events:
        errors = [f"{e.json_path}: {e.message}" for e in _event_validator(key).iter_errors(body)]
        assert not errors, f"{key} {body.get('cause')}: {errors}"
        others = {"report.valid", "report.invalid", "report.failed"} - {key}
        assert all(list(_event_validator(other).iter_errors(body)) for other in others)


def test_event_attribute_names_follow_cloudevents(real_events: list[tuple[str, dict[str, Any]]]) -> None:
    """CloudEvents attribute names are lowercase letters and digits; extension values are scalars."""
    for _, body in real_events:
        assert all(CE_NAME.fullmatch(name) for name in body), sorted(body)
        assert all(not isinstance(v, dict | list) for name, v in body.items() if name != "data")
    document = json.loads((SCHEMA_DIR / "event.report.valid.schema.json").read_text("utf-8"))
    assert all(CE_NAME.fullmatch(name) for name in document["properties"])


def _changed(body: dict[str, Any], **values: Any) -> dict[str, Any]:
    document = copy.deepcopy(body)
    for name, value in values.items():
        if value is ...:
            document.pop(name, None)
        else:
            document[name] = value
    return document


WRONG_EVENTS = {
    "a first event saying why it changed": {"revision": 0, "cause": "reparse"},
    "a change event not saying why": {"revision": 1, "cause": ...},
    "supersedes and superseded by at once": {"supersedes": "a" * 64, "supersededby": "b" * 64},
    "supersedes not a SHA-256": {"supersedes": "2024/a.txt"},
    "a null path": {"path": None},
    "a negative revision": {"revision": -1},
    "no revision": {"revision": ...},
    "an unknown cause": {"revision": 1, "cause": "whim"},
    "issue codes as a list": {"revision": 1, "cause": "reparse", "issuesadded": ["W_CROSS_YEAR"]},
    "an attribute not in the schema": {"changes": "status"},
}


@pytest.mark.parametrize("values", list(WRONG_EVENTS.values()), ids=list(WRONG_EVENTS))
def test_wrong_events_are_rejected(real_events: list[tuple[str, dict[str, Any]]], values: dict[str, Any]) -> None:
    """A real first event, changed in one way the contract forbids, breaks its schema."""
    key, body = next((k, b) for k, b in real_events if b["revision"] == 0 and "path" in b)
    assert not list(_event_validator(key).iter_errors(body))
    assert list(_event_validator(key).iter_errors(_changed(body, **values)))
