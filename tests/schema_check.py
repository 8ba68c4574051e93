"""Checks a parse result against the committed `schemas/report.schema.json`, for any test."""

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from worker.core import ParseResult

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
REPORT_SCHEMA = SCHEMA_DIR / "report.schema.json"


@cache
def report_validator() -> Draft202012Validator:
    """A validator of the committed result schema, loaded once per test run."""
    schema = json.loads(REPORT_SCHEMA.read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


def schema_errors(document: Any) -> list[str]:
    """Every way a JSON document breaks the committed result schema, one line each."""
    errors = report_validator().iter_errors(document)
    return sorted(f"{e.json_path}: {e.message}" for e in errors)


def strict_json(result: ParseResult) -> str:
    """The result as the JSON text that is stored and sent; fail if it cannot be strict JSON."""
    try:
        # NaN/Infinity are not JSON, and a lone surrogate cannot be written as UTF-8.
        text = json.dumps(result.model_dump(mode="json"), ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except ValueError as error:
        raise AssertionError(f"result is not strict UTF-8 JSON: {error}") from error
    return text


def assert_valid_result(result: ParseResult) -> None:
    """Fail unless the result is strict JSON that the committed schema accepts."""
    errors = schema_errors(json.loads(strict_json(result)))
    assert not errors, "result breaks schemas/report.schema.json:\n" + "\n".join(errors)
