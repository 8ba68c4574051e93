"""The templates in code are the ones of spec/fields.json."""

import json

import pytest

from tests.corpus import FIELDS
from worker.core import forms
from worker.core.labels import label_key


@pytest.mark.parametrize("template", forms.TEMPLATES)
def test_keys_are_those_of_fields_json(template: forms.Template) -> None:
    spec = json.loads(FIELDS.read_text(encoding="utf-8"))["templates"][template]
    assert list(forms.keys(template)) == [f["key"] for f in spec]
    assert len(forms.keys(template)) == {"2019": 198, "2021": 200}[template]


@pytest.mark.parametrize("template", forms.TEMPLATES)
def test_every_row_label_is_one_fields_json_prints(template: forms.Template) -> None:
    spec = json.loads(FIELDS.read_text(encoding="utf-8"))["templates"][template]
    printed = {label_key(f["label"].split(" / ")[0].split(" ")[-1])[1] for f in spec}
    for row in forms.ROWS[template]:
        assert label_key(row.labels[0])[1] in printed, row.labels[0]


def test_result_rows_exclude_totals() -> None:
    for template in forms.TEMPLATES:
        assert "results_total" not in forms.RESULT_ROWS[template]
        assert forms.RESULT_ROWS[template][0] == "granted"
