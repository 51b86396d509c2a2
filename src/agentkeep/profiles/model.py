"""The profile: what differs between the products agentkeep serves, as one validated document.

A profile file is partial (it extends ``default``); the model describes the resolved profile, so
every section is required here and ``default.toml`` is the one source of the values a seed is
silent on. Unknown keys are errors that name the key (``extra="forbid"``).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from agentkeep.models import JsonObject


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _no_duplicates(values: tuple[str, ...]) -> tuple[str, ...]:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{value!r} is listed twice")
        seen.add(value)
    return values


def _valid_time_zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone") from None
    return name


def _no_padding(value: str) -> str:
    if value != value.strip():
        raise ValueError(f"{value!r} must not start or end with a space")
    return value


Term = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$"),
    AfterValidator(_no_padding),
]
Terms = Annotated[tuple[Term, ...], AfterValidator(_no_duplicates)]
Duration = Annotated[str, StringConstraints(pattern=r"^P(\d+Y)?(\d+M)?(\d+W)?(\d+D)?$", min_length=3)]
"""ISO 8601 years, months, weeks and days (P90D, P1Y); becomes an SQL interval."""
TimeZone = Annotated[str, AfterValidator(_valid_time_zone)]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,30}$")]
Label = Annotated[str, StringConstraints(min_length=1, max_length=255)]
SemVer = Annotated[str, StringConstraints(pattern=r"^\d+\.\d+\.\d+$", max_length=32)]


def vocabulary(name: str, description: str) -> Any:
    """A term list whose terms the database stores as vocabulary ``name`` (vocabulary_terms)."""
    return Field(description=description, json_schema_extra={"x-vocabulary": name})


class Vocabularies(Strict):
    """Term lists. The first three are enforced on existing columns; the rest are declared for
    the capabilities that will add their tables (they are stored now, and read by keep.profile)."""

    agent_session_types: Terms = vocabulary("agent_session_type", "agent_sessions.agent_type")
    agent_types: Terms = vocabulary("agent_type", "agents.persona_type")
    user_session_types: Terms = vocabulary("user_session_type", "user_sessions.session_type")
    processing_modes: Terms = vocabulary("processing_mode", "kai onboarding: processing mode")
    risk_profiles: Terms = vocabulary("risk_profile", "kai onboarding: risk profile")
    decision_types: Terms = vocabulary("decision_type", "decisions: decision type")
    decision_feedback: Terms = vocabulary("decision_feedback", "decisions: user feedback")
    trust_metric_types: Terms = vocabulary("trust_metric_type", "trust metrics: metric type")
    knowledge_types: Terms = vocabulary("knowledge_type", "memory: knowledge type")
    knowledge_domains: Terms = vocabulary("knowledge_domain", "memory: knowledge domain")
    content_types: Terms = vocabulary("content_type", "memory: content type")
    audit_risk_levels: Terms = vocabulary("audit_risk_level", "audit: risk level")
    governance_frameworks: Terms = vocabulary("governance_framework", "governance: framework")
    governance_event_types: Terms = vocabulary("governance_event_type", "governance: event type")
    ai_providers: Terms = vocabulary("ai_provider", "usage: AI provider")
    consent_scopes: Terms = vocabulary("consent_scope", "consent: scope")
    consent_actions: Terms = vocabulary("consent_action", "consent: action logged")
    activity_types: Terms = vocabulary("activity_type", "companion: agent activity type")
    intervention_categories: Terms = vocabulary("intervention_category", "companion: intervention")
    preference_categories: Terms = vocabulary("preference_category", "typed preferences: category")


class Defaults(Strict):
    agent_session_type: Term | None = Field(description="used when a new agent session names no type")
    user_session_type: Term
    user_timezone: TimeZone
    ai_provider: Term | None


class AgentSeed(Strict):
    """An agent the profile seeds (upserted by name; apply never deletes agents)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    persona_type: Term
    capabilities: JsonObject = Field(default_factory=dict)
    config: JsonObject = Field(default_factory=dict)
    is_active: bool = True


class PersonaSeed(Strict):
    """A persona the profile seeds (upserted by name and version; never deleted)."""

    persona_name: Label
    persona_version: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    specialization: Label
    capabilities: JsonObject = Field(default_factory=dict)
    activation_rules: JsonObject = Field(default_factory=dict)
    crisis_scenarios: JsonObject = Field(default_factory=dict)
    behavioral_patterns: JsonObject = Field(default_factory=dict)
    is_core: bool = False
    priority_level: int = Field(5, ge=1, le=10)
    is_active: bool = True


Limit = Annotated[int, Field(ge=0, le=2**31 - 1)]


class TierLimits(Strict):
    daily_requests: Limit | None = Field(None, description="absent: unlimited")
    monthly_requests: Limit | None = Field(None, description="absent: unlimited")


class Quotas(Strict):
    tiers: dict[Term, TierLimits] = Field(json_schema_extra={"x-vocabulary": "usage_tier"})
    default_tier: Term
    reset_time_zone: TimeZone
    monthly_reset_day: int = Field(ge=1, le=28)


RecordKind = Literal[
    "messages",
    "conversations",
    "decisions",
    "audit_log",
    "trust_metrics",
    "governance_events",
    "user_sessions",
    "agent_sessions",
]


class RetentionRule(Strict):
    active: Duration | None = Field(None, description="kept online this long (ISO 8601)")
    archived: Duration | None = Field(None, description="then kept archived this long")
    then: Literal["delete", "aggregate", "keep"] = "delete"
    measured_from: Literal["created_at", "ended_at", "completed_at", "last_activity"] = "created_at"
    only_status: tuple[str, ...] = ()


class Retention(Strict):
    schedule: str | None = Field(description="cron text of the clean-up run")
    rules: dict[RecordKind, RetentionRule]


class Trust(Strict):
    """Trust earned from decision outcomes (docs/trust.md): the database reads these rules."""

    initial_level: int = Field(ge=0, le=4)
    promotion_after_successes: int | None = Field(
        ge=1, description="N: approvals at a level that earn the next one (absent: never promoted)"
    )
    promotion_min_success_rate: Decimal = Field(
        ge=0, le=1, description="X: approvals / outcomes at the level, at least this to be promoted"
    )
    promotion_clean_window: int = Field(
        ge=0, description="W: promoted only if none of the last W outcomes is a rejection"
    )
    demotion_after_rejections: int | None = Field(
        ge=1, description="K: this many consecutive rejections cost a level (absent: never)"
    )
    max_earned_level: int = Field(ge=0, le=4, description="the highest level outcomes can earn")
    metric_ranges: dict[Term, tuple[Decimal, Decimal]]


ConsentTier = Literal["passive", "suggestive", "active", "autonomous"]


class ActivityRule(Strict):
    """When an agent activity of one type may proceed without asking (docs/consent.md)."""

    tier: ConsentTier = Field(description="the consent tier of the activity's scope it needs")
    trust_level: int = Field(ge=0, le=4, description="the agent session's trust level it needs")


class Consent(Strict):
    default_tier: ConsentTier
    default_scopes: Terms
    activities: dict[Term, ActivityRule] = Field(
        description="activity type -> what it needs to proceed without asking; an activity type "
        "without a rule always asks",
        json_schema_extra={"x-vocabulary": "activity_type"},
    )


class Governance(Strict):
    """The gates the database enforces on agent sessions (docs/governance.md)."""

    require_approval_event: bool
    approval_event_types: Terms
    enforcement_framework: Term = Field(
        description="framework_type of the events the database records itself (cost, stop, breaker)"
    )
    default_max_cost_limit: Decimal | None = Field(
        None, ge=0, max_digits=12, decimal_places=4, description="for sessions without max_cost_limit"
    )
    circuit_breaker_failures: int | None = Field(
        None, ge=1, le=10_000, description="failed sessions of one agent type that trip it; absent: off"
    )
    circuit_breaker_window_seconds: int = Field(ge=1, le=31_536_000)


class Decisions(Strict):
    subject_required: bool
    encrypted_fields: tuple[str, ...]
    confidence_min: Decimal
    confidence_max: Decimal


class Memory(Strict):
    embedding_dimensions: int = Field(ge=1, le=16000)


class Health(Strict):
    max_active_connections: int = Field(ge=1)
    max_db_size_mb: int = Field(ge=1)
    min_cache_hit_ratio: Decimal = Field(ge=0, le=100)


class Ethics(Strict):
    default_validator: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Profile(Strict):
    """A resolved profile: a file merged over the profiles it extends, then validated."""

    schema_version: Literal[1]
    name: Name
    version: SemVer
    title: Label
    description: str
    seed: str | None = Field(
        None, description="the seed document this profile carries, e.g. 000_671c48fc3a80c465"
    )
    extends: str | None = Field(None, description="a shipped name or a path relative to this file")
    compatibility_schema: Name | None = Field(description="the schema serving the seed's own SQL")
    vocabularies: Vocabularies
    defaults: Defaults
    agents: tuple[AgentSeed, ...]
    personas: tuple[PersonaSeed, ...]
    quotas: Quotas
    retention: Retention
    trust: Trust
    consent: Consent
    governance: Governance
    decisions: Decisions
    memory: Memory
    health: Health
    ethics: Ethics
    provenance: dict[str, str] = Field(
        description="dotted key -> where its value comes from: 'seed NNN line L: …', 'inferred: …' "
        "or 'silent: …'; a key covers everything below it"
    )

    @model_validator(mode="after")
    def _references_hold(self) -> Profile:
        terms = self.vocabularies
        _member("defaults.user_session_type", self.defaults.user_session_type, terms.user_session_types)
        if self.defaults.agent_session_type is not None:
            _member(
                "defaults.agent_session_type", self.defaults.agent_session_type, terms.agent_session_types
            )
        if self.defaults.ai_provider is not None:
            _member("defaults.ai_provider", self.defaults.ai_provider, terms.ai_providers)
        for index, agent in enumerate(self.agents):
            _member(f"agents[{index}].persona_type", agent.persona_type, terms.agent_types)
        _unique("agents", [agent.name for agent in self.agents])
        _unique("personas", [(p.persona_name, p.persona_version) for p in self.personas])
        _member("quotas.default_tier", self.quotas.default_tier, tuple(self.quotas.tiers))
        for scope in self.consent.default_scopes:
            _member("consent.default_scopes", scope, terms.consent_scopes)
        for activity_type in self.consent.activities:
            _member("consent.activities", activity_type, terms.activity_types)
        for event in self.governance.approval_event_types:
            _member("governance.approval_event_types", event, terms.governance_event_types)
        _member(
            "governance.enforcement_framework",
            self.governance.enforcement_framework,
            terms.governance_frameworks,
        )
        for metric, (low, high) in self.trust.metric_ranges.items():
            _member("trust.metric_ranges", metric, terms.trust_metric_types)
            if not low < high:
                raise ValueError(f"trust.metric_ranges.{metric}: the minimum must be below the maximum")
        if not self.decisions.confidence_min < self.decisions.confidence_max:
            raise ValueError("decisions.confidence_min: must be below decisions.confidence_max")
        known = set(dotted_paths(self))
        for key in self.provenance:
            if key not in known:
                raise ValueError(f"provenance.{key}: no such profile key")
        return self


def _member(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{key}: {value!r} is not one of {', '.join(allowed) or '(none)'}")


def _unique(key: str, values: list[Any]) -> None:
    if len(set(values)) != len(values):
        raise ValueError(f"{key}: two entries have the same name")


def dotted_paths(value: Any, prefix: str = "") -> Iterator[str]:
    """Every key a profile holds, as dotted paths (``quotas.tiers.free.daily_requests``)."""
    if isinstance(value, BaseModel):
        items: Any = ((name, getattr(value, name)) for name in type(value).model_fields)
    elif isinstance(value, dict):
        items = value.items()
    else:
        return
    for name, child in items:
        path = f"{prefix}{name}"
        yield path
        if name != "provenance":
            yield from dotted_paths(child, f"{path}.")


def vocabulary_names() -> dict[str, str]:
    """Vocabularies field -> the vocabulary name the database stores its terms under."""
    names = {}
    for field, info in Vocabularies.model_fields.items():
        extra = info.json_schema_extra
        assert isinstance(extra, dict), field
        names[field] = str(extra["x-vocabulary"])
    return names


USAGE_TIER = "usage_tier"


def vocabulary_terms(profile: Profile) -> dict[str, tuple[str, ...]]:
    """Vocabulary name -> its terms in order, as the database stores them."""
    terms = {name: getattr(profile.vocabularies, field) for field, name in vocabulary_names().items()}
    terms[USAGE_TIER] = tuple(profile.quotas.tiers)
    return terms


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of a resolved profile (profiles/profile.schema.json)."""
    schema = Profile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://agentkeep.dev/schemas/profile-1.json"
    return schema
