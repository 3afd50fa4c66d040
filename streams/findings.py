"""What a consistency check found: counts, problems by kind, a few examples of each.

Shared by agents.reconcile (topics against account state) and sinks.reconcile (topics against
the sinks' stores), so `paystream reconcile` reports one summary.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

EXAMPLES_MAX = 5


@dataclass
class Findings:
    counts: Counter[str] = field(default_factory=Counter)
    problems: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def problem(self, kind: str, example: str) -> None:
        self.problems[kind] += 1
        if len(self.examples[kind]) < EXAMPLES_MAX:
            self.examples[kind].append(example)

    def merge(self, other: Findings) -> None:
        self.counts.update(other.counts)
        for kind, n in other.problems.items():
            self.problems[kind] += n
            self.examples[kind].extend(other.examples[kind][:EXAMPLES_MAX - len(self.examples[kind])])

    def summary(self) -> dict[str, Any]:
        return {"ok": not self.problems, **dict(sorted(self.counts.items())),
                "problems": dict(self.problems), "examples": dict(self.examples)}
