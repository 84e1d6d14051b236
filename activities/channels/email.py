"""Email over SMTP (`RECOVERY_SMTP_URL`): MIME text + HTML, threaded per case.

`smtp://user:pass@host:587` upgrades with STARTTLS when the server offers it (`?starttls=require`
refuses to send in clear), `smtps://host:465` speaks TLS from the first byte, `?verify=false` accepts
a self-signed certificate. aiosmtplib rather than smtplib: it is asyncio-native (no thread per send
inside the activity worker), with STARTTLS, implicit TLS and timeouts built in.

Each message's Message-ID derives from its delivery key, so a resend after a crash carries the same
id; In-Reply-To/References point at the case's earlier customer messages, so a mail client shows
the whole case as one conversation.

The recipient is one addr-spec, parsed (`mailbox`, email-validator): the SMTP envelope goes to it
and to nothing else — never to what a header's display text might parse to — and the To header is
built from its parts (`email.headerregistry.Address`), the name as a display name only. Intake
refuses line breaks and controls in names and subjects; what an older record still carries is
made one line here (`header_safe`), so no text can add a header (a `Bcc:`, say) or fail the build.
"""

from __future__ import annotations

import html
import re
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from email_validator import EmailNotValidError, validate_email

from activities.channels import Rejected
from workflows.contact import header_safe


class EmailConfigError(ValueError):
    pass


class BadAddress(ValueError):
    """A recipient that is not exactly one email address: no retry will make it one."""


def mailbox(address: str) -> str:
    """`address` as exactly one RFC 5322 addr-spec (normalized), else `BadAddress`."""
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as err:
        raise BadAddress(f"{address!r} is not one email address: {err}") from None


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    starttls: str
    """`auto` (when offered), `require`, or `never`."""
    verify: bool
    sender: str
    timeout: float = 20.0

    @classmethod
    def from_url(cls, url: str, sender: str | None) -> SmtpConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise EmailConfigError(f"RECOVERY_SMTP_URL {url!r}: write smtp://user:pass@host:587 or smtps://host:465")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        starttls = query.get("starttls", "auto")
        if starttls not in ("auto", "require", "never"):
            raise EmailConfigError(f"RECOVERY_SMTP_URL: starttls={starttls!r}: one of auto, require, never")
        implicit = parts.scheme == "smtps"
        user = unquote(parts.username) if parts.username else None
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 587),
            username=user,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
            starttls=starttls,
            verify=query.get("verify", "true").lower() not in ("false", "0", "no"),
            sender=sender or (user if user and "@" in user else f"recovery@{parts.hostname}"),
        )

    @property
    def domain(self) -> str:
        return self.sender.rsplit("@", 1)[-1].strip(">") or "recovery.invalid"


def message_id(key: str, domain: str) -> str:
    """`<key@domain>` with the key's `:`/`~` made safe: the same key gives the same id."""
    return f"<{re.sub(r'[^A-Za-z0-9._-]', '.', key)}@{domain}>"


def build_message(
    *,
    key: str,
    thread: list[str],
    to: str,
    to_name: str | None,
    sender: str,
    reply_to: str | None,
    subject: str,
    text: str,
    case_id: str,
    domain: str,
    link: str | None = None,
) -> EmailMessage:
    """The message to `to`, which must be one addr-spec (`mailbox`); `BadAddress` otherwise."""
    local, _, at = mailbox(to).rpartition("@")
    msg = EmailMessage()
    msg["From"] = header_safe(sender)
    msg["To"] = Address(display_name=header_safe(to_name or ""), username=local, domain=at)
    if reply_to and header_safe(reply_to):
        msg["Reply-To"] = header_safe(reply_to)
    msg["Subject"] = header_safe(f"{subject} [case {case_id}]")
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id(key, domain)
    if thread:
        ids = [message_id(k, domain) for k in thread]
        msg["In-Reply-To"] = ids[-1]
        msg["References"] = " ".join(ids)
    msg["X-Recovery-Case"] = header_safe(case_id)
    msg.set_content((f"{text}\n\n{link}" if link else text) + "\n")
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n"))
    if link:  # `See your case: <url>` (and the follow-up's score links): each URL a link in the HTML part
        paragraphs += "".join(f"<p>{_linked(block)}</p>" for block in link.split("\n\n"))
    msg.add_alternative(
        f"<!doctype html><html><body>{paragraphs}"
        f'<p style="color:#666;font-size:small">Case {html.escape(case_id)}</p></body></html>',
        subtype="html",
    )
    return msg


def _linked(block: str) -> str:
    """A block of `label url` lines as HTML, each trailing URL a link."""
    lines = []
    for line in block.split("\n"):
        label, _, url = line.rpartition(" ")
        if url.startswith(("https://", "http://")):
            lines.append(f'{html.escape(label)} <a href="{html.escape(url)}">{html.escape(url)}</a>')
        else:
            lines.append(html.escape(line))
    return "<br>".join(lines)


async def send(config: SmtpConfig, msg: EmailMessage, recipient: str) -> str:
    """Hand `msg` to the SMTP server for `recipient` alone (one addr-spec, see `mailbox`); returns
    its answer. Raises on any refusal or outage. The envelope is given, never read off the headers."""
    recipient = mailbox(recipient)
    senders = msg["From"].addresses if msg["From"] is not None else ()
    envelope_from = senders[0].addr_spec if senders else config.sender
    context = ssl.create_default_context()
    if not config.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    start_tls: bool | None = {"auto": None, "require": True, "never": False}[config.starttls]
    if config.implicit_tls:
        start_tls = False
    try:
        _, answer = await aiosmtplib.send(
            msg,
            sender=envelope_from,
            recipients=[recipient],
            hostname=config.host,
            port=config.port,
            username=config.username,
            password=config.password,
            use_tls=config.implicit_tls,
            start_tls=start_tls,
            tls_context=context,
            timeout=config.timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as err:
        codes = [r.code for r in err.recipients]
        if codes and all(code >= 500 for code in codes):
            raise Rejected(f"the mail server refused {recipient}: {err.recipients[0].message}") from None
        raise
    except aiosmtplib.SMTPResponseException as err:
        # A 5xx answer is permanent (RFC 5321 4.2.1): the same message would be refused again.
        if err.code >= 500:
            raise Rejected(f"the mail server refused the message: {err.code} {err.message}") from None
        raise
    return answer
