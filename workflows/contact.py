"""The customer's contact fields as they enter (API, webhooks, CLI): parsed, not trusted.

`email_address`: exactly one RFC 5322 addr-spec, checked by the `email-validator` library (no
display name, no quoted local part, no list, no DNS look-up) and kept in its normalized form: the
email channel sends to this one address and nothing else. `header_text`: a field that ends up in a
mail header (the customer's name, the subject) holds no line break or other control character —
CR, LF, NUL, tab, every C0 and C1 control, DEL, U+0085, U+2028 and U+2029.

Checked on entry only: a history already written is read as written (the data converter says so
in the validation context), and the email builder cleans what an older record still carries.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo

HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
"""C0 controls (CR, LF, tab, NUL, …), DEL, C1 controls (NEL U+0085 among them), line and paragraph separators."""


def _entering(info: ValidationInfo) -> bool:
    from temporalio import workflow

    stored = bool(info.context and info.context.get("stored"))
    return not stored and not workflow.in_workflow()


def email_address(value: str, info: ValidationInfo) -> str:
    if not _entering(info):
        return value
    # Imported here: never needed in workflow code (which reads addresses as written).
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as err:
        raise ValueError(f"{value!r} is not one email address (write name@example.com, nothing else): {err}") from None


def header_text(value: str, info: ValidationInfo) -> str:
    if _entering(info) and (found := HEADER_UNSAFE.search(value)):
        raise ValueError(
            f"control character or line break U+{ord(found.group()):04X} is not allowed (it reaches mail headers)"
        )
    return value


def header_safe(text: str) -> str:
    """`text` for a mail header whatever it holds (an older record): line breaks and controls become spaces."""
    return " ".join(HEADER_UNSAFE.sub(" ", text).split())


EmailAddress = Annotated[
    str, AfterValidator(email_address), Field(json_schema_extra={"pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$"})
]
HeaderText = Annotated[str, AfterValidator(header_text)]
"""Text that reaches a mail header (the customer's name, the subject): one line, no controls."""
