"""The corpus (tests/fixtures/corpus): real reports and their hand-checked truth."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = FIXTURES / "corpus"
FIELDS = FIXTURES / "spec" / "fields.json"


@dataclass(frozen=True)
class Case:
    """One corpus file and its truth."""

    path: Path
    truth: dict[str, Any]

    @property
    def id(self) -> str:
        """A short test id."""
        return self.path.name


def cases() -> list[Case]:
    """Every corpus file that has a truth file."""
    found = []
    for truth_file in sorted(CORPUS.glob("*/expected/*.json")):
        truth = json.loads(truth_file.read_text(encoding="utf-8"))
        found.append(Case(truth_file.parent.parent / truth["file"], truth))
    return found
