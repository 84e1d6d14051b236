"""Payload encryption: the AES-256-GCM codec (rotation, tampering, pass-through, env parsing), a case
whose history holds no plaintext customer data on the real dev server, and the UI's codec server."""

from __future__ import annotations

import base64
import json
import os
import uuid
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.notifications import Notifier
from recovery.codec import (
    ENCODING,
    KEY_ID_METADATA,
    CodecConfigError,
    EncryptionCodec,
    codec_from_env,
    data_converter_with_codec,
)
from recovery.converter import data_converter
from starter.cases import open_case, status
from starter.codec_server import create_codec_app
from tests.helpers import WebhookReceiver, eventually, fast_policy
from worker import build_worker
from workflows import search_attributes as sa
from workflows.models import TicketEvent

KEY_A, KEY_B = os.urandom(32), os.urandom(32)
TOKEN = "codec-token-0123456789"
UI = "http://localhost:8233"
AUTH = {"Authorization": f"Bearer {TOKEN}", "X-Namespace": "default"}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def plain_payload(value: Any) -> Payload:
    return data_converter.payload_converter.to_payloads([value])[0]


# --- the codec ------------------------------------------------------------------------------------


async def test_roundtrip_hides_data_and_metadata() -> None:
    codec = EncryptionCodec({"a": KEY_A}, current="a")
    original = [plain_payload({"email": "someone@example.com"}), plain_payload("second"), Payload()]
    encoded = await codec.encode(original)
    assert len(encoded) == 3
    for payload in encoded:
        assert dict(payload.metadata) == {"encoding": ENCODING, KEY_ID_METADATA: b"a"}
        assert b"someone" not in payload.data and b"json/plain" not in payload.data
    assert encoded[0].data[:12] != encoded[1].data[:12]  # a fresh nonce each time
    assert await codec.decode(encoded) == original
    # The same value twice encrypts differently.
    again = await codec.encode(original[:1])
    assert again[0].data != encoded[0].data


async def test_rotation_decodes_old_and_new_keys() -> None:
    old = EncryptionCodec({"a": KEY_A}, current="a")
    rotated = EncryptionCodec({"a": KEY_A, "b": KEY_B}, current="b")
    by_a = await old.encode([plain_payload("written with a")])
    by_b = await rotated.encode([plain_payload("written with b")])
    assert by_b[0].metadata[KEY_ID_METADATA] == b"b"
    decoded = await rotated.decode([*by_a, *by_b])
    assert [data_converter.payload_converter.from_payload(p, str) for p in decoded] == [
        "written with a",
        "written with b",
    ]


async def test_unknown_key_id_is_named() -> None:
    by_b = await EncryptionCodec({"b": KEY_B}, current="b").encode([plain_payload("x")])
    with pytest.raises(ValueError, match="unknown key id 'b'"):
        await EncryptionCodec({"a": KEY_A}, current="a").decode(by_b)


async def test_tampering_fails_authentication() -> None:
    codec = EncryptionCodec({"a": KEY_A, "b": KEY_B}, current="a")
    [encoded] = await codec.encode([plain_payload("amount: 88.00")])
    flipped = Payload()
    flipped.CopyFrom(encoded)
    flipped.data = encoded.data[:-1] + bytes([encoded.data[-1] ^ 1])
    with pytest.raises(ValueError, match="key id 'a'.*failed authentication"):
        await codec.decode([flipped])
    relabelled = Payload()
    relabelled.CopyFrom(encoded)
    relabelled.metadata[KEY_ID_METADATA] = b"b"
    with pytest.raises(ValueError, match="failed authentication"):
        await codec.decode([relabelled])
    truncated = Payload(metadata=dict(encoded.metadata), data=encoded.data[:12])
    with pytest.raises(ValueError, match="too short"):
        await codec.decode([truncated])


async def test_unencrypted_payloads_pass_through() -> None:
    codec = EncryptionCodec({"a": KEY_A}, current="a")
    plain = [plain_payload({"old": "history"}), Payload(metadata={"encoding": b"binary/null"})]
    assert await codec.decode(plain) == plain


def test_constructor_rejects_bad_keys() -> None:
    with pytest.raises(CodecConfigError, match="32 bytes"):
        EncryptionCodec({"a": b"short"}, current="a")
    with pytest.raises(CodecConfigError, match="current key id 'z'"):
        EncryptionCodec({"a": KEY_A}, current="z")
    with pytest.raises(CodecConfigError, match="at least one key"):
        EncryptionCodec({}, current="a")


def test_codec_from_env() -> None:
    assert codec_from_env({}) is None
    codec = codec_from_env({"RECOVERY_CODEC_KEYS": f"k1:{b64(KEY_A)}, k2:{b64(KEY_B)}"})
    assert codec is not None and codec.current == "k1" and codec.key_ids == ["k1", "k2"]
    codec = codec_from_env({"RECOVERY_CODEC_KEYS": f"k1:{b64(KEY_A)},k2:{b64(KEY_B)}", "RECOVERY_CODEC_KEY_ID": "k2"})
    assert codec is not None and codec.current == "k2"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RECOVERY_CODEC_KEYS": "k1"}, "entry 1 is not id:base64key"),
        ({"RECOVERY_CODEC_KEYS": f"k1:{b64(KEY_A)},"}, "entry 2 is empty"),
        ({"RECOVERY_CODEC_KEYS": ":" + b64(KEY_A)}, "entry 1 is not id:base64key"),
        ({"RECOVERY_CODEC_KEYS": "k1:not base64!"}, "key 'k1' is not valid base64"),
        ({"RECOVERY_CODEC_KEYS": f"k1:{b64(b'x' * 16)}"}, "key 'k1' is 16 bytes; AES-256 needs 32"),
        ({"RECOVERY_CODEC_KEYS": f"k1:{b64(KEY_A)},k1:{b64(KEY_B)}"}, "key id 'k1' appears twice"),
        (
            {"RECOVERY_CODEC_KEYS": f"k1:{b64(KEY_A)}", "RECOVERY_CODEC_KEY_ID": "k9"},
            "RECOVERY_CODEC_KEY_ID='k9' is not among the ids",
        ),
        ({"RECOVERY_CODEC_KEY_ID": "k1"}, "RECOVERY_CODEC_KEYS is not"),
    ],
)
def test_codec_from_env_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        codec_from_env(env)


async def test_data_converter_encrypts_failure_messages() -> None:
    converter = data_converter_with_codec(EncryptionCodec({"a": KEY_A}, current="a"))
    assert isinstance(converter.failure_converter, DefaultFailureConverterWithEncodedAttributes)
    assert data_converter_with_codec(None) is data_converter
    from temporalio.api.failure.v1 import Failure

    failure = Failure()
    await converter.encode_failure(
        ApplicationError("refund for planted@example.com failed", "detail@example.com", type="invalid"), failure
    )
    raw = failure.SerializeToString()
    assert b"planted@example.com" not in raw and b"detail@example.com" not in raw
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING
    error = await converter.decode_failure(failure)
    assert isinstance(error, ApplicationError)
    assert error.message == "refund for planted@example.com failed" and error.details == ("detail@example.com",)


# --- end to end: the dev server, the worker, the codec server -------------------------------------


def base64_forms(secret: bytes) -> list[str]:
    """The base64 text `secret` shows at each of the three alignments it can have inside a longer
    base64-encoded blob (only the groups made entirely of its bytes)."""
    forms = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret).decode()
        first, last = -(-shift // 3), (shift + len(secret)) // 3
        forms.append(encoded[4 * first : 4 * last])
    return forms


def test_base64_forms_find_the_secret_at_any_offset() -> None:
    secret = b"planted-0123456789@example.com"
    for prefix in (b"", b"a", b"ab", b"abc", b"abcd"):
        blob = base64.b64encode(prefix + secret + b"tail").decode()
        assert any(form in blob for form in base64_forms(secret)), prefix


@pytest.fixture
def codec() -> EncryptionCodec:
    return EncryptionCodec({"old": KEY_A, "new": KEY_B}, current="new")


@pytest.fixture
async def http(codec: EncryptionCodec) -> Any:
    app = create_codec_app(codec, TOKEN, UI)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec") as client:
        yield client


async def test_history_holds_no_plaintext_and_the_codec_server_decodes_it(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    db,
    receiver: WebhookReceiver,
    codec: EncryptionCodec,
    http: httpx.AsyncClient,
) -> None:
    email = f"planted-{uuid.uuid4().hex}@example.com"
    customer = f"cust-codec-{uuid.uuid4().hex[:8]}"
    event = TicketEvent.model_validate(
        {
            "source": "generic",
            "event_id": f"evt-{uuid.uuid4().hex[:8]}",
            "ticket_id": "T-codec",
            "customer": {"id": customer, "name": "Dana Example", "email": email},
            "order": {"id": "ord-1", "currency": "USD", "total": "88.00", "shipping": "9.00"},
            "subject": "Wrong size shipped",
            "description": f"Please write to {email}.",
            "occurred_at": "2026-11-20T10:00:00+00:00",
        }
    )
    encrypted = Client(
        dev_env.client.service_client,
        namespace=dev_env.client.namespace,
        data_converter=data_converter_with_codec(codec),
    )
    receiver.fail_next = 1  # one failed notification: its failure lands in the history (last_failure)
    async with build_worker(encrypted, pool=db, queue=task_queue, notifier=Notifier(receiver.url)):
        opened = await open_case(encrypted, event, fast_policy(), task_queue)
        assert opened.created
        assert (await status(encrypted, opened.case_id)).case_id == opened.case_id  # the worker decodes

        async def delivered() -> bool:
            return any(item["template"] == "new_case" for item in receiver.for_case(opened.case_id))

        await eventually(delivered)

        plain = dev_env.client
        handle = plain.get_workflow_handle(opened.workflow_id)

        async def retried_activity_recorded():
            history = await handle.fetch_history()
            return (
                history
                if any(e.activity_task_started_event_attributes.HasField("last_failure") for e in history.events)
                else None
            )

        history = await eventually(retried_activity_recorded)

    # The raw history, as the server (and anyone without the key) sees it.
    raw = history.to_json()
    assert email not in raw
    assert uuid.UUID(email.removeprefix("planted-").split("@")[0]).hex not in raw
    for form in base64_forms(email.encode()):
        assert form not in raw, form
    assert "notification webhook answered" not in raw  # failure messages are encrypted too
    assert customer in raw  # ...but the search attribute (an id) is not

    started = history.events[0]
    assert started.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    inputs = list(started.workflow_execution_started_event_attributes.input.payloads)
    assert inputs and all(p.metadata["encoding"] == ENCODING and p.metadata[KEY_ID_METADATA] == b"new" for p in inputs)

    # The failed attempt's failure decodes with the key.
    [failed] = [
        e.activity_task_started_event_attributes.last_failure
        for e in history.events
        if e.activity_task_started_event_attributes.HasField("last_failure")
    ]
    assert failed.message == "Encoded failure"
    error = await data_converter_with_codec(codec).decode_failure(failed)
    assert "notification webhook answered 503" in str(error)

    # Search attributes hold ids only.
    described = await handle.describe()
    values = [str(v) for v in described.search_attributes.values()]
    assert not any(email in v or "@" in v for v in values), values
    assert described.typed_search_attributes.get(sa.CUSTOMER_ID) == customer

    # The UI's codec server decodes the started event's input.
    body = {"payloads": [json_format.MessageToDict(p) for p in inputs]}
    response = await http.post("/decode", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == UI
    decoded = [json_format.ParseDict(p, Payload()) for p in response.json()["payloads"]]
    assert decoded[0].metadata["encoding"] == b"json/plain"
    assert email in decoded[0].data.decode()
    assert json.loads(decoded[0].data)["ticket"]["customer"]["email"] == email

    # Without the token, or with the wrong one: 401, and nothing decoded.
    for headers in (
        {"X-Namespace": "default"},
        {"Authorization": "Bearer nope", "X-Namespace": "default"},
        {"Authorization": TOKEN},
    ):
        refused = await http.post("/decode", json=body, headers=headers)
        assert refused.status_code == 401
        assert refused.json() == {"error": "missing or wrong bearer token"}
        assert email not in refused.text


async def test_codec_server_encode_roundtrip_and_errors(http: httpx.AsyncClient) -> None:
    original = plain_payload({"email": "x@example.com"})
    body = {"payloads": [json_format.MessageToDict(original)]}
    encoded = await http.post("/encode", json=body, headers=AUTH)
    assert encoded.status_code == 200
    [item] = encoded.json()["payloads"]
    assert base64.b64decode(item["metadata"]["encoding"]) == ENCODING
    assert base64.b64decode(item["metadata"][KEY_ID_METADATA]) == b"new"
    decoded = await http.post("/decode", json=encoded.json(), headers=AUTH)
    assert json_format.ParseDict(decoded.json()["payloads"][0], Payload()) == original
    # Unencrypted payloads come back unchanged.
    assert (await http.post("/decode", json=body, headers=AUTH)).json() == body

    unknown = await EncryptionCodec({"gone": KEY_A}, current="gone").encode([original])
    bad = await http.post("/decode", json={"payloads": [json_format.MessageToDict(unknown[0])]}, headers=AUTH)
    assert bad.status_code == 400 and "unknown key id 'gone'" in bad.json()["error"]
    for junk in (b"not json", b'{"payloads": 3}', b'{"payloads": [{"data": 5}]}', b'{"payloads": [{"nope": 1}]}'):
        answer = await http.post("/decode", content=junk, headers={**AUTH, "Content-Type": "application/json"})
        assert answer.status_code == 400, junk
        assert answer.headers["access-control-allow-origin"] == UI


async def test_codec_server_answers_cors_preflight(http: httpx.AsyncClient) -> None:
    for path in ("/decode", "/encode"):
        response = await http.options(
            path,
            headers={
                "Origin": UI,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
            },
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == UI
        assert response.headers["access-control-allow-methods"] == "POST, OPTIONS"
        assert response.headers["access-control-allow-headers"] == "Content-Type, X-Namespace, Authorization"
        assert response.headers["access-control-allow-credentials"] == "true"


def test_codec_server_needs_a_token(codec: EncryptionCodec) -> None:
    with pytest.raises(CodecConfigError, match="bearer token"):
        create_codec_app(codec, "", UI)


def test_serve_refuses_to_start_without_keys_or_token() -> None:
    from starter.codec_server import serve

    with pytest.raises(CodecConfigError, match="RECOVERY_CODEC_KEYS"):
        serve(env={})
    with pytest.raises(CodecConfigError, match="RECOVERY_CODEC_TOKEN"):
        serve(env={"RECOVERY_CODEC_KEYS": f"k1:{b64(KEY_A)}"})


async def test_the_ui_can_reach_the_codec_with_the_token_in_the_path() -> None:
    """The stock Web UI adds no Authorization header: `recovery dev` gives it /t/<token> as endpoint."""
    import base64 as _b64

    import httpx as _httpx

    from recovery.codec import EncryptionCodec as _Codec
    from starter.codec_server import create_codec_app as _create

    codec = _Codec({"k": bytes(32)}, "k")
    app = _create(codec, "s3cret-token", "http://127.0.0.1:8233")
    plain = {"metadata": {"encoding": _b64.b64encode(b"json/plain").decode()}, "data": _b64.b64encode(b'"hi"').decode()}
    async with _httpx.AsyncClient(transport=_httpx.ASGITransport(app=app), base_url="http://codec") as http:
        encoded = await http.post("/t/s3cret-token/encode", json={"payloads": [plain]})
        assert encoded.status_code == 200
        decoded = await http.post("/t/s3cret-token/decode", json=encoded.json())
        assert decoded.json()["payloads"][0]["data"] == plain["data"]
        assert (await http.post("/t/wrong/decode", json=encoded.json())).status_code == 401
        preflight = await http.options("/t/s3cret-token/decode")
        assert preflight.headers["access-control-allow-origin"] == "http://127.0.0.1:8233"


async def test_codec_server_refuses_foreign_origins(http: httpx.AsyncClient) -> None:
    """Issue 15.10: a token is not enough when the request comes from another site's page."""
    body = {"payloads": [json_format.MessageToDict(plain_payload("x"))]}
    for origin in ("https://evil.example", "http://localhost:8234", "null"):
        refused = await http.post("/decode", json=body, headers={**AUTH, "Origin": origin})
        assert refused.status_code == 403, origin
        assert "not allowed" in refused.json()["error"]
        assert "access-control-allow-origin" not in refused.headers
        preflight = await http.options("/decode", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 403
        assert "access-control-allow-origin" not in preflight.headers
        assert (await http.post("/t/" + TOKEN + "/encode", json=body, headers={"Origin": origin})).status_code == 403
    # The UI's own origin and clients without an Origin (CLI) still work.
    assert (await http.post("/decode", json=body, headers={**AUTH, "Origin": UI})).status_code == 200
    assert (await http.post("/decode", json=body, headers=AUTH)).status_code == 200
