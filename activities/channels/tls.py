"""The TLS settings every outgoing HTTP client shares: built once per process, because httpx builds
a new context (and reads the whole CA bundle, ~25 ms of CPU) for each client otherwise, and the
channels open one client per message."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def verified() -> ssl.SSLContext:
    """What `httpx.AsyncClient(verify=True)` would build (certifi's bundle, or SSL_CERT_FILE / SSL_CERT_DIR)."""
    return httpx.create_ssl_context()
