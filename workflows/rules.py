"""Policy rules: which policy a ticket gets. Ordered rules, first match wins (as Zendesk SLA policies).

A policy set file holds named policies (each its own policy file) and the rules:

    default = "standard"                # when no rule matches (optional if the last rule matches all)
    [policies]
    standard = "standard.toml"          # paths relative to the set file
    vip = "vip.toml"
    [[rules]]
    name = "VIP customers"
    policy = "vip"
    tier = ["gold", "platinum"]

Conditions within a rule must all hold; a list means any of its values. Matching is pure; the
result (`RuleMatch`) is recorded in the case's `opened` event, so the history says which rule
matched and why.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from recovery.config import describe_config_error, read_config_file
from workflows.models import TicketEvent
from workflows.money import Amount, parse_currency
from workflows.policy import Policy, PolicyError, Severity
from workflows.policy_files import load_policy, parse_policy


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TotalRange(_Strict):
    """An order total range: `min` ≤ total < `max`, in `currency` when given."""

    min: Amount | None = None
    max: Amount | None = None
    currency: str | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return parse_currency(value) if value is not None else None

    @model_validator(mode="after")
    def _ordered(self) -> TotalRange:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"min {self.min} must be below max {self.max}")
        return self

    def __str__(self) -> str:
        low = f"{self.min} ≤ " if self.min is not None else ""
        high = f" < {self.max}" if self.max is not None else ""
        return f"{low}total{high}{' ' + self.currency if self.currency else ''}"


Values = Annotated[list[str], Field(min_length=1)]


class Rule(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    policy: str
    source: Values | None = None
    brand: Values | None = None
    group: Values | None = None
    project: Values | None = None
    tags: Values | None = None
    """Any of these tags."""
    tags_all: Values | None = None
    """All of these tags."""
    tier: Values | None = None
    order_total: TotalRange | None = None
    severity: Annotated[list[Severity], Field(min_length=1)] | None = None
    """The severity the ticket names (a ticket naming none does not match)."""

    @property
    def matches_all(self) -> bool:
        return all(getattr(self, key) is None for key in _CONDITIONS)

    def check(self, ticket: TicketEvent) -> tuple[bool, list[str]]:
        """(matched, reasons): why each condition holds, or the first that does not."""
        reasons: list[str] = []
        for key in _CONDITIONS:
            wanted = getattr(self, key)
            if wanted is None:
                continue
            held, reason = _check(key, wanted, ticket)
            if not held:
                return False, [reason]
            reasons.append(reason)
        return True, reasons or ["the rule has no conditions: it matches every ticket"]


_CONDITIONS = ["source", "brand", "group", "project", "tags", "tags_all", "tier", "order_total", "severity"]


def _check(key: str, wanted: Any, ticket: TicketEvent) -> tuple[bool, str]:
    if key == "order_total":
        order = ticket.order
        total = order.total if order is not None else None
        if order is None or total is None:
            return False, f"order_total: the ticket has no order total (rule wants {wanted})"
        assert isinstance(wanted, TotalRange)
        shown = f"{total} {order.currency}"
        if wanted.currency is not None and wanted.currency != order.currency:
            return False, f"order_total: {shown} is not in {wanted.currency}"
        if (wanted.min is not None and total < wanted.min) or (wanted.max is not None and total >= wanted.max):
            return False, f"order_total: {shown} is outside {wanted}"
        return True, f"order_total {shown} is within {wanted}"
    if key in ("tags", "tags_all"):
        have = {t.lower() for t in ticket.tags}
        want = [t.lower() for t in wanted]
        hits = [t for t in want if t in have]
        listed = ", ".join(ticket.tags) or "none"
        if key == "tags":
            return (
                (True, f"tags include {hits[0]}")
                if hits
                else (False, f"tags: none of {', '.join(want)} (ticket has {listed})")
            )
        missing = [t for t in want if t not in have]
        return (
            (True, f"tags include all of {', '.join(want)}")
            if not missing
            else (False, f"tags_all: missing {', '.join(missing)} (ticket has {listed})")
        )
    if key == "severity":
        actual = ticket.severity
        options = ", ".join(s.value for s in wanted)
        if actual is None:
            return False, f"severity: the ticket names none (rule wants {options})"
        return (
            (True, f"severity is {actual.value}")
            if actual in wanted
            else (False, f"severity is {actual.value}, not {options}")
        )
    value = ticket.customer.tier if key == "tier" else getattr(ticket, key)
    options = ", ".join(wanted)
    if value is None:
        return False, f"{key}: the ticket has none (rule wants {options})"
    if value.lower() in {w.lower() for w in wanted}:
        return True, f"{key} is {value}"
    return False, f"{key} is {value}, not {options}"


class RuleMatch(BaseModel):
    """Which rule gave a case its policy, and why: recorded in the `opened` event."""

    rule: str
    position: int
    """1-based position of the rule in the set; 0 for the set's default."""
    policy: str
    """`<name>@<version>` of the policy it selected."""
    why: list[str]


class RuleCheck(BaseModel):
    rule: str
    position: int
    matched: bool
    reasons: list[str]


class PolicySetFile(_Strict):
    default: str | None = None
    policies: dict[str, str]
    rules: list[Rule] = []

    @model_validator(mode="after")
    def _references(self) -> PolicySetFile:
        names = ", ".join(sorted(self.policies))
        for index, rule in enumerate(self.rules):
            if rule.policy not in self.policies:
                raise ValueError(
                    f"rules.{index}.policy: unknown policy {rule.policy!r} (defined in [policies]: {names})"
                )
        if self.default is not None and self.default not in self.policies:
            raise ValueError(f"default: unknown policy {self.default!r} (defined in [policies]: {names})")
        if self.default is None and not any(r.matches_all for r in self.rules):
            raise ValueError("some tickets would match no rule: set `default` or end with a rule without conditions")
        return self


class PolicySet:
    """Named policies and the ordered rules choosing among them. A single policy file is a set of
    one policy and one rule matching every ticket."""

    def __init__(self, policies: dict[str, Policy], rules: list[Rule], default: str | None, source: str):
        self.policies = policies
        self.rules = rules
        self.default = default
        self.source = source

    @classmethod
    def single(cls, policy: Policy, source: str = "policy") -> PolicySet:
        return cls({policy.name: policy}, [Rule(name="single policy", policy=policy.name)], None, source)

    @property
    def primary(self) -> Policy:
        """The set's default policy, else the first rule's: roles and defaults for callers that need one."""
        return self.policies[self.default or self.rules[0].policy]

    def explain(self, ticket: TicketEvent) -> tuple[Policy, RuleMatch, list[RuleCheck]]:
        """The policy the ticket gets, the match, and every rule checked on the way (in order)."""
        checks: list[RuleCheck] = []
        for position, rule in enumerate(self.rules, start=1):
            matched, reasons = rule.check(ticket)
            checks.append(RuleCheck(rule=rule.name, position=position, matched=matched, reasons=reasons))
            if matched:
                policy = self.policies[rule.policy]
                return policy, RuleMatch(rule=rule.name, position=position, policy=_label(policy), why=reasons), checks
        assert self.default is not None  # validated: some rule matches all, or there is a default
        policy = self.policies[self.default]
        match = RuleMatch(
            rule="default",
            position=0,
            policy=_label(policy),
            why=[f"no rule matched; the set's default policy is {self.default!r}"],
        )
        return policy, match, checks

    def select(self, ticket: TicketEvent) -> tuple[Policy, RuleMatch]:
        policy, match, _ = self.explain(ticket)
        return policy, match


def _label(policy: Policy) -> str:
    return f"{policy.name}@{policy.version}"


def is_policy_set(data: dict[str, Any]) -> bool:
    return "rules" in data or "policies" in data


def parse_policy_set(text: str, source: str, base_dir: Path) -> PolicySet:
    """A policy set file, or a single policy file (then a set of one)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from None
    if not is_policy_set(data):
        return PolicySet.single(parse_policy(text, source, base_dir), source)
    try:
        spec = PolicySetFile.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(describe_config_error(exc, source)) from None
    policies = {}
    for name, file in spec.policies.items():
        path = Path(file) if Path(file).is_absolute() else base_dir / file
        try:
            text_of = read_config_file(path, "policy", PolicyError)
        except PolicyError as exc:
            raise PolicyError(f"{source}: policies.{name}: {exc}") from None
        policies[name] = parse_policy(text_of, str(path), path.parent)
    return PolicySet(policies, spec.rules, spec.default, source)


def load_policy_set(path: str | os.PathLike[str] | None = None) -> PolicySet:
    """The policy set (or single policy) at `path`, else at $RECOVERY_POLICY, else the packaged default."""
    path = path or os.environ.get("RECOVERY_POLICY")
    if not path:
        return PolicySet.single(load_policy(None), "default policy")
    text = read_config_file(path, "policy", PolicyError)
    return parse_policy_set(text, str(Path(path)), Path(path).parent)
