"""Webhook signature checks, including form posts through Flask and the SHA-256 SharedKey mode."""

from collections.abc import Iterator

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from smsapp.sms.signatures import is_valid_twilio_request
from tests.support.signing import signed_headers

TOKEN = "12345"
SHARED_KEY = "shared-key-secret"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}


def test_twilio_published_example_signature():
    # The worked example in Twilio's security documentation.
    assert signed_headers(URL, PARAMS, TOKEN) == {
        "X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    }
    assert is_valid_twilio_request(TOKEN, URL, PARAMS, signed_headers(URL, PARAMS, TOKEN))


@pytest.mark.parametrize(
    ("token", "url", "params"),
    [
        ("54321", URL, PARAMS),
        (TOKEN, URL.replace("foo=1", "foo=2"), PARAMS),
        (TOKEN, URL, {**PARAMS, "Digits": "1235"}),
        (TOKEN, URL, {**PARAMS, "Extra": "x"}),
        (TOKEN, URL, {k: v for k, v in PARAMS.items() if k != "To"}),
    ],
)
def test_any_change_breaks_the_signature(token: str, url: str, params: dict[str, str]):
    headers = signed_headers(URL, PARAMS, TOKEN)
    assert not is_valid_twilio_request(token, url, params, headers)


def test_missing_or_empty_header_is_rejected():
    assert not is_valid_twilio_request(TOKEN, URL, PARAMS, {})
    assert not is_valid_twilio_request(TOKEN, URL, PARAMS, {"X-Twilio-Signature": ""})


def test_empty_auth_token_never_validates():
    headers = signed_headers(URL, PARAMS, "")
    assert not is_valid_twilio_request("", URL, PARAMS, headers)


def test_header_name_is_case_insensitive_in_a_plain_dict():
    [(_, value)] = signed_headers(URL, PARAMS, TOKEN).items()
    assert is_valid_twilio_request(TOKEN, URL, PARAMS, {"x-twilio-signature": value})


def test_default_port_is_accepted_either_way():
    # Twilio is inconsistent about including :443, so both forms must pass.
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert is_valid_twilio_request(TOKEN, with_port, PARAMS, signed_headers(URL, PARAMS, TOKEN))
    assert is_valid_twilio_request(TOKEN, URL, PARAMS, signed_headers(with_port, PARAMS, TOKEN))


def test_repeated_form_values_are_all_signed():
    params = MultiDict([("Body", "yes"), ("MediaUrl", "b"), ("MediaUrl", "a")])
    headers = signed_headers(URL, params, TOKEN)
    assert is_valid_twilio_request(TOKEN, URL, params, headers)
    fewer = MultiDict([("Body", "yes"), ("MediaUrl", "a")])
    assert not is_valid_twilio_request(TOKEN, URL, fewer, headers)


def test_sha256_shared_key_signature_is_accepted():
    headers = signed_headers(URL, PARAMS, SHARED_KEY, mode="sha256")
    assert headers["X-Twilio-Webhooks-Signature-Settings"].endswith("algorithm=HMAC_SHA256")
    assert len(headers["X-Twilio-Signature"]) == 44  # base64 of 32 bytes
    assert is_valid_twilio_request(TOKEN, URL, PARAMS, headers, shared_key_secret=SHARED_KEY)


def test_sha256_signature_needs_the_shared_key_not_the_auth_token():
    signed_with_token = signed_headers(URL, PARAMS, TOKEN, mode="sha256")
    assert not is_valid_twilio_request(TOKEN, URL, PARAMS, signed_with_token)
    assert not is_valid_twilio_request(
        TOKEN, URL, PARAMS, signed_with_token, shared_key_secret=SHARED_KEY
    )


def test_sha256_signature_without_the_settings_header_is_rejected():
    headers = signed_headers(URL, PARAMS, SHARED_KEY, mode="sha256")
    del headers["X-Twilio-Webhooks-Signature-Settings"]
    assert not is_valid_twilio_request(SHARED_KEY, URL, PARAMS, headers)


def test_sha256_tampered_params_are_rejected():
    headers = signed_headers(URL, PARAMS, SHARED_KEY, mode="sha256")
    tampered = {**PARAMS, "From": "+447700900000"}
    assert not is_valid_twilio_request(TOKEN, URL, tampered, headers, shared_key_secret=SHARED_KEY)


def test_unknown_algorithm_is_rejected():
    headers = signed_headers(URL, PARAMS, SHARED_KEY, mode="sha256")
    headers["X-Twilio-Webhooks-Signature-Settings"] = "key=k,algorithm=HMAC_MD5"
    assert not is_valid_twilio_request(TOKEN, URL, PARAMS, headers, shared_key_secret=SHARED_KEY)


@pytest.fixture
def client() -> Iterator[FlaskClient]:
    app = Flask(__name__)

    @app.post("/sms/inbound")
    def inbound() -> tuple[str, int]:
        ok = is_valid_twilio_request(
            TOKEN, request.url, request.form, request.headers, shared_key_secret=SHARED_KEY
        )
        return ("ok", 200) if ok else ("forbidden", 403)

    yield app.test_client()


FORM = {"MessageSid": "SM" + "a" * 32, "From": "+447911123456", "Body": "Yes 😀 “quoted”"}
INBOUND = "http://localhost/sms/inbound"


@pytest.mark.parametrize("mode", ["sha1", "sha256"])
def test_signed_form_post_through_flask(client: FlaskClient, mode: str):
    secret = TOKEN if mode == "sha1" else SHARED_KEY
    headers = signed_headers(INBOUND, FORM, secret, mode=mode)  # type: ignore[arg-type]
    assert client.post("/sms/inbound", data=FORM, headers=headers).status_code == 200


def test_forged_form_post_through_flask(client: FlaskClient):
    headers = signed_headers(INBOUND, FORM, TOKEN)
    forged = {**FORM, "Body": "STOP"}
    assert client.post("/sms/inbound", data=forged, headers=headers).status_code == 403
    assert client.post("/sms/inbound", data=FORM).status_code == 403
