"""What differs between two resolved profiles: terms per vocabulary, policy values, seeded rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentkeep.profiles.model import Profile, vocabulary_terms

# Keys that describe a profile rather than configure the engine: never reported as differences.
DESCRIPTIVE = frozenset({"name", "version", "title", "description", "seed", "extends", "provenance"})
SEEDED = ("vocabularies", "agents", "personas")


@dataclass(frozen=True)
class TermChange:
    vocabulary: str
    added: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True)
class PolicyChange:
    key: str
    old: Any
    new: Any


@dataclass(frozen=True)
class RowChanges:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProfileDiff:
    old: str
    new: str
    terms: tuple[TermChange, ...] = ()
    policies: tuple[PolicyChange, ...] = ()
    agents: RowChanges = field(default_factory=RowChanges)
    personas: RowChanges = field(default_factory=RowChanges)

    @property
    def is_empty(self) -> bool:
        return not (self.terms or self.policies or any(self._row_changes()))

    def _row_changes(self) -> list[tuple[str, ...]]:
        return [self.agents.added, self.agents.removed, self.agents.changed, self.personas.added,
                self.personas.removed, self.personas.changed]  # fmt: skip

    def lines(self) -> list[str]:
        """For people: ``agent_type: +companion -developer``, ``quotas.default_tier: 'a' → 'b'``."""
        result = []
        for change in self.terms:
            marks = [f"+{term}" for term in change.added] + [f"-{term}" for term in change.removed]
            result.append(f"{change.vocabulary}: {' '.join(marks)}")
        result += [f"{change.key}: {change.old!r} → {change.new!r}" for change in self.policies]
        for kind, rows in (("agents", self.agents), ("personas", self.personas)):
            for verb, names in (("added", rows.added), ("removed", rows.removed), ("changed", rows.changed)):
                if names:
                    result.append(f"{kind} {verb}: {', '.join(names)}")
        return result


def term_changes(old: dict[str, tuple[str, ...]], new: dict[str, tuple[str, ...]]) -> tuple[TermChange, ...]:
    changes = []
    for vocabulary in sorted(set(old) | set(new)):
        before, after = old.get(vocabulary, ()), new.get(vocabulary, ())
        added = tuple(term for term in after if term not in before)
        removed = tuple(term for term in before if term not in after)
        if added or removed:
            changes.append(TermChange(vocabulary, added, removed))
    return tuple(changes)


def diff_profiles(old: Profile, new: Profile) -> ProfileDiff:
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    policies: list[PolicyChange] = []
    for key in after:
        if key not in DESCRIPTIVE and key not in SEEDED:
            _compare(key, before.get(key), after.get(key), policies)
    return ProfileDiff(
        old=old.name,
        new=new.name,
        terms=term_changes(vocabulary_terms(old), vocabulary_terms(new)),
        policies=tuple(policies),
        agents=_rows({a["name"]: a for a in before["agents"]}, {a["name"]: a for a in after["agents"]}),
        personas=_rows(_personas(before), _personas(after)),
    )


def _personas(content: dict[str, Any]) -> dict[str, Any]:
    return {f"{p['persona_name']} {p['persona_version']}": p for p in content["personas"]}


def _rows(before: dict[str, Any], after: dict[str, Any]) -> RowChanges:
    return RowChanges(
        added=tuple(name for name in after if name not in before),
        removed=tuple(name for name in before if name not in after),
        changed=tuple(name for name in after if name in before and after[name] != before[name]),
    )


def _compare(path: str, old: Any, new: Any, into: list[PolicyChange]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(key for key in new if key not in old)]:
            _compare(f"{path}.{key}", old.get(key), new.get(key), into)
    elif old != new:
        into.append(PolicyChange(path, old, new))
