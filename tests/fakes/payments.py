"""A loopback fake of a Stripe-style payment provider (API v1 shapes), for refunds and credits.

    provider = FakePayments(api_key="sk_test_fake")
    ... RECOVERY_PAYMENTS_URL=provider.url, RECOVERY_PAYMENTS_KEY=provider.api_key ...
    provider.close()

Protocol (what `activities.payments` speaks):
* `POST /v1/refunds` and `POST /v1/customers/{id}/balance_transactions`, form-encoded, with
  `metadata[name]` keys; answers 200 JSON with an `id` (`re_…` / `cbtxn_…`).
* `Authorization: Bearer <api_key>`, else 401 `invalid_request_error`.
* `Idempotency-Key`: the first answer an endpoint produced for a key is stored; the same key with the
  same path and parameters gets it replayed with `Idempotent-Replayed: true`; with other parameters,
  409 `idempotency_error`; while the first request with the key is still in flight, 409
  `idempotency_error`/`idempotency_key_in_use` with `Stripe-Should-Retry: true` (nothing stored).

Knobs (set from the test thread; the server runs in threads):
* `fail_next`: the next N requests answer 500 `api_error` before any work (nothing stored).
* `decline_next`: the next N new requests answer 402 `card_error`/`card_declined` (stored).
* `charge_limit`: a refund above this many minor units answers 400 `invalid_request_error`/
  `amount_too_large` (stored).
* `hold_next`: the next new request is recorded, its refund/credit created and its answer stored,
  then the response is held until `release` is set (`held` is set meanwhile): a worker can be
  killed or an activity cancelled mid-call.

Counters: `calls` (all requests), `calls_by_key` (per Idempotency-Key), `refunds` / `credits`
(objects created — replays create nothing), `requests` (every request as `(path, key, params)`).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

_CREDIT_PATH = re.compile(r"^/v1/customers/([^/]+)/balance_transactions$")


@dataclass(frozen=True)
class _Answer:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class _Stored:
    path: str
    params: tuple[tuple[str, str], ...]
    answer: _Answer


def _error(status: int, error_type: str, message: str, code: str | None = None, **extra: Any) -> _Answer:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if code:
        error["code"] = code
    error.update(extra)
    return _Answer(status, {"error": error})


def _metadata(params: dict[str, str]) -> dict[str, str]:
    meta = {}
    for name, value in params.items():
        match = re.fullmatch(r"metadata\[(.+)\]", name)
        if match:
            meta[match.group(1)] = value
    return meta


class FakePayments:
    def __init__(self, api_key: str = "sk_test_fake", *, charge_limit: int | None = None) -> None:
        self.api_key = api_key
        self.charge_limit = charge_limit
        self.fail_next = 0
        self.decline_next = 0
        self.hold_next = False
        self.held = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        self.calls_by_key: Counter[str] = Counter()
        self.refunds: list[dict[str, Any]] = []
        self.credits: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str | None, dict[str, str]]] = []
        self._stored: dict[str, _Stored] = {}
        self._in_flight: set[str] = set()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                params = dict(parse_qsl(raw, keep_blank_values=True))
                answer, headers, hold = fake._handle(self.path, self.headers.get("Authorization"),
                                                     self.headers.get("Idempotency-Key"), params)
                if hold is not None:
                    fake.held.set()
                    fake.release.wait(timeout=60)
                    with fake._lock:
                        fake._in_flight.discard(hold)
                try:
                    data = json.dumps(answer.body).encode()
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (cancelled, timed out, killed): the work is done anyway

            def do_GET(self) -> None:
                self.send_response(405)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    # ---- what tests read -------------------------------------------------------------------

    @property
    def refund_count(self) -> int:
        return len(self.refunds)

    def refunds_for(self, key: str) -> list[dict[str, Any]]:
        return [r for r in self.refunds if r["idempotency_key"] == key]

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakePayments:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the protocol ----------------------------------------------------------------------

    def _handle(self, path: str, auth: str | None, key: str | None,
                params: dict[str, str]) -> tuple[_Answer, dict[str, str], str | None]:
        """(answer, extra headers, key to release from in-flight after a hold)."""
        with self._lock:
            self.calls += 1
            self.requests.append((path, key, dict(params)))
            if key:
                self.calls_by_key[key] += 1
            if auth != f"Bearer {self.api_key}":
                return _error(401, "invalid_request_error", "Invalid API Key provided."), {}, None
            if self.fail_next > 0:
                self.fail_next -= 1
                return _error(500, "api_error", "An unknown error occurred (fake outage)."), {}, None
            signature = tuple(sorted(params.items()))
            if key:
                if key in self._in_flight:
                    return (_error(409, "idempotency_error", "There is currently another in-progress request "
                                   "using this Idempotency-Key. Retry later.", "idempotency_key_in_use"),
                            {"Stripe-Should-Retry": "true"}, None)
                stored = self._stored.get(key)
                if stored is not None:
                    if stored.path != path or stored.params != signature:
                        return (_error(409, "idempotency_error", "Keys for idempotent requests can only be "
                                       "used with the same parameters they were first used with.",
                                       "idempotency_key_reused"), {"Stripe-Should-Retry": "false"}, None)
                    return stored.answer, {"Idempotent-Replayed": "true"}, None
            answer = self._execute(path, key, params)
            if answer.status == 404 and answer.body.get("error", {}).get("code") == "no_route":
                return answer, {}, None
            if key:
                self._stored[key] = _Stored(path, signature, answer)
            hold = None
            if self.hold_next:
                self.hold_next = False
                if key:
                    self._in_flight.add(key)
                hold = key or ""
            return answer, {"Request-Id": f"req_{next(self._ids)}"}, hold

    def _execute(self, path: str, key: str | None, params: dict[str, str]) -> _Answer:
        credit = _CREDIT_PATH.match(path)
        if path != "/v1/refunds" and credit is None:
            return _error(404, "invalid_request_error", f"Unrecognized request URL (POST: {path}).", "no_route")
        try:
            amount = int(params["amount"])
            currency = params["currency"]
        except (KeyError, ValueError):
            return _error(400, "invalid_request_error", "Missing or invalid amount or currency.",
                          "parameter_missing")
        if currency != currency.lower() or len(currency) != 3:
            return _error(400, "invalid_request_error", f"Invalid currency: {currency}.", "parameter_invalid")
        if self.decline_next > 0:
            self.decline_next -= 1
            return _error(402, "card_error", "Your card was declined.", "card_declined",
                          decline_code="generic_decline")
        meta = _metadata(params)
        if credit is None:
            if amount <= 0:
                return _error(400, "invalid_request_error", "Refund amount must be positive.", "parameter_invalid")
            if self.charge_limit is not None and amount > self.charge_limit:
                return _error(400, "invalid_request_error",
                              f"Refund amount ({amount}) is greater than the charge amount ({self.charge_limit}).",
                              "amount_too_large")
            refund = {"id": f"re_fake{next(self._ids):06d}", "object": "refund", "amount": amount,
                      "currency": currency, "status": "succeeded", "metadata": meta, "idempotency_key": key}
            self.refunds.append(refund)
            return _Answer(200, {k: v for k, v in refund.items() if k != "idempotency_key"})
        if amount == 0:
            return _error(400, "invalid_request_error", "Amount must not be zero.", "parameter_invalid")
        txn = {"id": f"cbtxn_fake{next(self._ids):06d}", "object": "customer_balance_transaction",
               "amount": amount, "currency": currency, "customer": credit.group(1), "type": "adjustment",
               "description": params.get("description"), "metadata": meta, "idempotency_key": key}
        self.credits.append(txn)
        return _Answer(200, {k: v for k, v in txn.items() if k != "idempotency_key"})
