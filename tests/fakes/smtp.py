"""A real SMTP server on loopback (aiosmtpd), for the email channel.

    server = SmtpServer(user="mailer", password="secret")   # STARTTLS + AUTH required
    ... RECOVERY_SMTP_URL=server.url ...
    server.messages        # every accepted message, parsed (email.message.EmailMessage)
    server.stop(); server.start()   # an outage and its end, on the same port

With `implicit_tls=True` it speaks TLS from the first byte (`smtps://`). The certificate is a
fresh self-signed one, so URLs carry `verify=false`. `refuse_next` answers the next N DATA
commands with 451 (a temporary failure: the client must retry).
"""

from __future__ import annotations

import datetime
import ssl
import tempfile
import threading
from collections import Counter
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers import free_port


def _self_signed(directory: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


class SmtpServer:
    def __init__(self, *, user: str | None = "mailer", password: str = "secret", implicit_tls: bool = False) -> None:
        self.user, self.password, self.implicit_tls = user, password, implicit_tls
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse_next = 0
        self.reject_with: str | None = None
        """An answer to every message, e.g. "550 5.1.1 mailbox unavailable" (a permanent refusal)."""
        self.tls_used: list[bool] = []
        self._lock = threading.Lock()
        self._tmp = tempfile.TemporaryDirectory()
        self._tls = _self_signed(Path(self._tmp.name))
        self._controller: Controller | None = None
        self.start()

    @property
    def url(self) -> str:
        scheme = "smtps" if self.implicit_tls else "smtp"
        auth = f"{self.user}:{self.password}@" if self.user else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}?verify=false"

    def start(self) -> None:
        server = self

        class Handler:
            async def handle_DATA(self, smtp: SMTP, session: Any, envelope: Any) -> str:
                with server._lock:
                    if server.reject_with:
                        return server.reject_with
                    if server.refuse_next > 0:
                        server.refuse_next -= 1
                        return "451 4.3.0 try again later"
                    server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                    server.messages.append(message_from_bytes(envelope.content, policy=policy.default))
                    server.tls_used.append(smtp.transport.get_extra_info("sslcontext") is not None)
                return "250 2.0.0 OK queued"

        def authenticate(smtp: SMTP, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and data.login.decode() == server.user
                and data.password.decode() == server.password
            )
            return AuthResult(success=ok, handled=False)

        kwargs: dict[str, Any] = {"authenticator": authenticate, "auth_required": self.user is not None}
        if self.implicit_tls:
            kwargs["ssl_context"] = self._tls
            kwargs["auth_require_tls"] = False  # the whole session is TLS already
        else:
            kwargs["tls_context"] = self._tls
            kwargs["require_starttls"] = True
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def ids(self) -> Counter[str]:
        with self._lock:
            return Counter(str(m["Message-ID"]) for m in self.messages)

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if address in str(m["To"])]
