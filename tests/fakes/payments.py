"""A loopback fake of Stripe (API v1 shapes, as the official `stripe` library speaks them), for
refunds and customer credits.

    provider = FakePayments(api_key="sk_test_fake")
    ... RECOVERY_PAYMENTS_URL=provider.url, RECOVERY_PAYMENTS_KEY=provider.api_key ...
    provider.close()

Protocol (what `activities.payments` speaks):
* `POST /v1/refunds` (with `payment_intent=pi_…` or `charge=ch_…`, else 400 `parameter_missing`;
  an id not `add_payment`ed is a USD payment; the refund takes the payment's currency) and
  `POST /v1/customers/{cus_…}/balance_transactions` (`currency` required; another id is 404
  `resource_missing`), form-encoded, with `metadata[name]` keys; answers 200 JSON objects with an
  `id` (`re_…` / `cbtxn_…`) and `object`.
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
* `drop_next`: the next new request is processed and its answer stored, then the connection is
  closed without an answer (the client never learns the payment was made).
  `outage_after_drop`: then answer that many requests 500 (an outage that starts right after).
* `forget_keys()`: drop every stored idempotency key (the provider forgets keys after 24 hours).
* `GET /v1/refunds` (optionally `payment_intent`/`charge`) and
  `GET /v1/customers/{id}/balance_transactions` list objects newest first (`limit`,
  `starting_after`, `has_more`), so a payment can be looked up by its metadata.
* `POST /v1/coupons` (`amount_off` + `currency`, `duration`, `max_redemptions`) and
  `POST /v1/promotion_codes` (`promotion[type]=coupon`, `promotion[coupon]`, `code`: unique) →
  `coupons`, `promotion_codes`.
* `rate_limit_next`: the next N requests answer 429 `rate_limit_error`/`rate_limit` (nothing stored).
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
        self.drop_next = False
        self.outage_after_drop = 0
        self.rate_limit_next = 0
        self.payments: dict[str, tuple[str, int | None]] = {}
        self.coupons: list[dict[str, Any]] = []
        self.promotion_codes: list[dict[str, Any]] = []
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
                answer, headers, hold = fake._handle(
                    self.path, self.headers.get("Authorization"), self.headers.get("Idempotency-Key"), params
                )
                if hold == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)  # processed; the answer never reaches the client
                    return
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
                path, _, query = self.path.partition("?")
                answer = fake._list(path, self.headers.get("Authorization"), dict(parse_qsl(query)))
                data = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # ---- what tests read -------------------------------------------------------------------

    @property
    def refund_count(self) -> int:
        return len(self.refunds)

    def refunds_for(self, key: str) -> list[dict[str, Any]]:
        return [r for r in self.refunds if r["idempotency_key"] == key]

    def add_payment(self, ident: str, currency: str, amount: int | None = None) -> None:
        """A payment (`pi_…`/`ch_…`) in `currency` (lowercase), refundable up to `amount` minor units."""
        self.payments[ident] = (currency, amount)

    def _promotion(self, path: str, key: str | None, params: dict[str, str]) -> _Answer:
        meta = _metadata(params)
        if path == "/v1/coupons":
            if "amount_off" in params and "currency" not in params:
                return _error(
                    400, "invalid_request_error", "currency is required with amount_off.", "parameter_missing"
                )
            coupon = {
                "id": f"co_fake{next(self._ids):06d}",
                "object": "coupon",
                "amount_off": int(params.get("amount_off", "0")),
                "currency": params.get("currency"),
                "duration": params.get("duration", "once"),
                "max_redemptions": int(params.get("max_redemptions", "0")) or None,
                "metadata": meta,
            }
            self.coupons.append(coupon)
            return _Answer(200, coupon)
        coupon_id = params.get("promotion[coupon]")
        if params.get("promotion[type]") != "coupon" or coupon_id not in {c["id"] for c in self.coupons}:
            return _error(
                400,
                "invalid_request_error",
                "promotion[coupon] must name an existing coupon.",
                "resource_missing",
                param="promotion[coupon]",
            )
        code = params.get("code") or f"PROMO{next(self._ids):06d}"
        if any(p["code"] == code for p in self.promotion_codes):
            return _error(
                400,
                "invalid_request_error",
                "A promotion code with this code already exists.",
                "resource_already_exists",
                param="code",
            )
        promo = {
            "id": f"promo_fake{next(self._ids):06d}",
            "object": "promotion_code",
            "code": code,
            "active": True,
            "promotion": {"type": "coupon", "coupon": coupon_id},
            "customer": params.get("customer"),
            "metadata": meta,
        }
        self.promotion_codes.append(promo)
        return _Answer(200, promo)

    def forget_keys(self) -> None:
        with self._lock:
            self._stored.clear()

    def _list(self, path: str, auth: str | None, params: dict[str, str]) -> _Answer:
        with self._lock:
            self.calls += 1
            self.requests.append((f"GET {path}", None, dict(params)))
            if auth != f"Bearer {self.api_key}":
                return _error(401, "invalid_request_error", "Invalid API Key provided.")
            if self.fail_next > 0:
                self.fail_next -= 1
                return _error(500, "api_error", "An unknown error occurred (fake outage).")
            credit = _CREDIT_PATH.match(path)
            if path == "/v1/refunds":
                objects = [
                    r
                    for r in self.refunds
                    if all(r.get(p) == params[p] for p in ("payment_intent", "charge") if p in params)
                ]
            elif credit is not None:
                objects = [c for c in self.credits if c["customer"] == credit.group(1)]
            else:
                return _error(404, "invalid_request_error", f"Unrecognized request URL (GET: {path}).")
            newest = [{k: v for k, v in o.items() if k != "idempotency_key"} for o in reversed(objects)]
            after = params.get("starting_after")
            if after:
                ids = [o["id"] for o in newest]
                newest = newest[ids.index(after) + 1 :] if after in ids else []
            limit = max(1, min(int(params.get("limit", "10")), 100))
            return _Answer(
                200, {"object": "list", "url": path, "has_more": len(newest) > limit, "data": newest[:limit]}
            )

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakePayments:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the protocol ----------------------------------------------------------------------

    def _handle(
        self, path: str, auth: str | None, key: str | None, params: dict[str, str]
    ) -> tuple[_Answer, dict[str, str], str | None]:
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
            if self.rate_limit_next > 0:
                self.rate_limit_next -= 1
                return (
                    _error(429, "rate_limit_error", "Too many requests hit the API too quickly.", "rate_limit"),
                    {},
                    None,
                )
            signature = tuple(sorted(params.items()))
            if key:
                if key in self._in_flight:
                    return (
                        _error(
                            409,
                            "idempotency_error",
                            "There is currently another in-progress request using this Idempotency-Key. Retry later.",
                            "idempotency_key_in_use",
                        ),
                        {"Stripe-Should-Retry": "true"},
                        None,
                    )
                stored = self._stored.get(key)
                if stored is not None:
                    if stored.path != path or stored.params != signature:
                        return (
                            _error(
                                409,
                                "idempotency_error",
                                "Keys for idempotent requests can only be "
                                "used with the same parameters they were first used with.",
                                "idempotency_key_reused",
                            ),
                            {"Stripe-Should-Retry": "false"},
                            None,
                        )
                    return stored.answer, {"Idempotent-Replayed": "true"}, None
            answer = self._execute(path, key, params)
            if answer.status == 404 and answer.body.get("error", {}).get("code") == "no_route":
                return answer, {}, None
            if key:
                self._stored[key] = _Stored(path, signature, answer)
            hold = None
            if self.drop_next:
                self.drop_next = False
                self.fail_next = self.outage_after_drop
                return answer, {}, "drop"
            if self.hold_next:
                self.hold_next = False
                if key:
                    self._in_flight.add(key)
                hold = key or ""
            return answer, {"Request-Id": f"req_{next(self._ids)}"}, hold

    def _execute(self, path: str, key: str | None, params: dict[str, str]) -> _Answer:
        if path in ("/v1/coupons", "/v1/promotion_codes"):
            return self._promotion(path, key, params)
        credit = _CREDIT_PATH.match(path)
        if path != "/v1/refunds" and credit is None:
            return _error(404, "invalid_request_error", f"Unrecognized request URL (POST: {path}).", "no_route")
        payment = params.get("payment_intent") or params.get("charge")
        limit = self.charge_limit
        if credit is None:
            if not payment:
                return _error(
                    400,
                    "invalid_request_error",
                    "One of the following params should be provided for this request: payment_intent or charge.",
                    "parameter_missing",
                )
            currency, payment_limit = self.payments.get(payment, ("usd", None))
            limit = payment_limit if payment_limit is not None else limit
        elif not credit.group(1).startswith("cus_"):
            return _error(
                404,
                "invalid_request_error",
                f"No such customer: '{credit.group(1)}'",
                "resource_missing",
                param="customer",
            )
        try:
            amount = int(params["amount"])
            currency = currency if credit is None else params["currency"]
        except (KeyError, ValueError):
            return _error(400, "invalid_request_error", "Missing or invalid amount or currency.", "parameter_missing")
        if currency != currency.lower() or len(currency) != 3:
            return _error(400, "invalid_request_error", f"Invalid currency: {currency}.", "parameter_invalid")
        if self.decline_next > 0:
            self.decline_next -= 1
            return _error(402, "card_error", "Your card was declined.", "card_declined", decline_code="generic_decline")
        meta = _metadata(params)
        if credit is None:
            if amount <= 0:
                return _error(400, "invalid_request_error", "Refund amount must be positive.", "parameter_invalid")
            if limit is not None and amount > limit:
                return _error(
                    400,
                    "invalid_request_error",
                    f"Refund amount ({amount}) is greater than the charge amount ({limit}).",
                    "amount_too_large",
                )
            target = "payment_intent" if payment.startswith("pi_") else "charge"
            refund = {
                "id": f"re_fake{next(self._ids):06d}",
                "object": "refund",
                "amount": amount,
                "currency": currency,
                "status": "succeeded",
                target: payment,
                "metadata": meta,
                "idempotency_key": key,
            }
            self.refunds.append(refund)
            return _Answer(200, {k: v for k, v in refund.items() if k != "idempotency_key"})
        if amount == 0:
            return _error(400, "invalid_request_error", "Amount must not be zero.", "parameter_invalid")
        txn = {
            "id": f"cbtxn_fake{next(self._ids):06d}",
            "object": "customer_balance_transaction",
            "amount": amount,
            "currency": currency,
            "customer": credit.group(1),
            "type": "adjustment",
            "description": params.get("description"),
            "metadata": meta,
            "idempotency_key": key,
        }
        self.credits.append(txn)
        return _Answer(200, {k: v for k, v in txn.items() if k != "idempotency_key"})
