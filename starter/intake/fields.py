"""Reading fields out of verified webhook bodies and building the `TicketEvent`, shared by the sources."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, overload

from pydantic import ValidationError

from recovery.validation import describe_validation_error
from workflows.models import TicketEvent
from workflows.policy import Severity


class PayloadError(ValueError):
    """A verified webhook body that cannot be mapped to a ticket event; the message names the field."""


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _scalar_text(value: Any) -> str | None:
    """A string or integer as stripped text; None for null, empty and anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    return None


def _require(container: Mapping[str, Any], key: str, where: str) -> str:
    value = _scalar_text(container.get(key))
    if value is None:
        raise PayloadError(f"{where}{key}: required field is missing or empty")
    return value


@overload
def _object(container: Mapping[str, Any], key: str, where: str) -> dict[str, Any]: ...
@overload
def _object(container: Mapping[str, Any], key: str, where: str, required: bool) -> dict[str, Any] | None: ...
def _object(container: Mapping[str, Any], key: str, where: str, required: bool = True) -> dict[str, Any] | None:
    value = container.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, dict):
        raise PayloadError(
            f"{where}{key}: required object is missing" if value is None else f"{where}{key}: must be an object"
        )
    return value


def _amount_text(value: Any, where: str) -> str | None:
    """Amount text for `Order`: strings as given, integers via str(), floats via their decimal text."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise PayloadError(f"{where}: must be an amount, not a boolean")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        try:
            return format(Decimal(str(value)), "f")
        except InvalidOperation:
            raise PayloadError(f"{where}: {value!r} is not an amount") from None
    if isinstance(value, str):
        return value.strip()
    raise PayloadError(f'{where}: must be an amount such as "12.50"')


def _severity(priority: Any, priority_map: Mapping[str, Severity]) -> Severity | None:
    if not isinstance(priority, str) or not priority.strip():
        return None
    lowered = {key.lower(): severity for key, severity in priority_map.items()}
    return lowered.get(priority.strip().lower())


def _aware_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _link(url: Any) -> str | None:
    text = _scalar_text(url)
    if text is None:
        return None
    return text if re.match(r"^https?://", text) else f"https://{text}"


def _ticket(**fields: Any) -> TicketEvent:
    fields["subject"] = _clip(fields["subject"], 300)
    fields["description"] = _clip(fields.get("description") or "", 20000)
    try:
        return TicketEvent.model_validate(fields)
    except ValidationError as exc:
        raise PayloadError(f"invalid ticket: {describe_validation_error(exc)}") from None


def _customer(customer_id: str, name: str | None, email: str | None) -> dict[str, Any]:
    return {"id": customer_id, "name": _clip(name or "", 200) or customer_id, "email": email or None}
