"""The transports against real servers: aiosmtpd for e-mail, a recorder for SMS."""

from __future__ import annotations

import base64

import pytest

from backend.config import ConfigError, load_settings, parse_sms_url, parse_smtp_url
from backend.notifications.transports import (
    Email,
    PermanentSendError,
    SmtpTransport,
    TransientSendError,
    TwilioSms,
)
from tests.notifications.servers import SmsRecorder, SmtpServer

EMAIL = Email(
    to="dana@example.com",
    sender_name="Acme Deliveries",
    sender_address="hello@acme.example",
    subject="Your order A-1 was delivered",
    text="Delivered. See https://track.example/t/x\n",
    html="<p>Delivered. <a href='https://track.example/t/x'>See</a></p>",
    headers={"List-Unsubscribe": "<https://track.example/u/y>"},
)


def test_an_email_has_a_text_and_an_html_part_and_the_senders_name(smtp: SmtpServer) -> None:
    message_id = SmtpTransport(parse_smtp_url(smtp.url)).send(EMAIL)
    [received] = smtp.recorder.received
    assert received.envelope_from == "hello@acme.example"
    assert received.envelope_to == ["dana@example.com"]
    message = received.message
    assert message["From"] == "Acme Deliveries <hello@acme.example>"
    assert message["Message-ID"] == message_id
    assert message_id.endswith("@acme.example>")
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert message["List-Unsubscribe"] == "<https://track.example/u/y>"


def test_smtp_answers_sort_into_retry_and_refusal(smtp: SmtpServer) -> None:
    transport = SmtpTransport(parse_smtp_url(smtp.url))
    smtp.recorder.answers = ["451 4.3.0 try again later", "550 5.1.1 no such user"]
    with pytest.raises(TransientSendError, match="451"):
        transport.send(EMAIL)
    with pytest.raises(PermanentSendError, match="550"):
        transport.send(EMAIL)
    assert smtp.recorder.received == []


def test_an_unreachable_smtp_server_is_retried_later() -> None:
    target = parse_smtp_url("smtp://127.0.0.1:9?starttls=0&timeout=2")
    with pytest.raises(TransientSendError, match="unreachable"):
        SmtpTransport(target).send(EMAIL)


def test_sms_goes_to_twilios_messages_api_with_basic_auth(sms: SmsRecorder) -> None:
    sid = TwilioSms(parse_sms_url(sms.url)).send_sms("+12065550101", "Your order is here")
    assert sid.startswith("SM")
    [request] = sms.requests
    assert request.path == f"/2010-04-01/Accounts/{SmsRecorder.ACCOUNT}/Messages.json"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    credentials = base64.b64decode(request.headers["Authorization"].removeprefix("Basic "))
    assert credentials.decode() == f"{SmsRecorder.ACCOUNT}:secret-token"
    assert request.form == {
        "To": ["+12065550101"],
        "From": ["+15550001111"],
        "Body": ["Your order is here"],
    }


def test_sms_errors_carry_twilios_code_and_sort_into_retry_and_refusal(
    sms: SmsRecorder,
) -> None:
    provider = TwilioSms(parse_sms_url(sms.url))
    sms.answers = [
        (400, {"code": 21211, "message": "The 'To' number is not valid.", "status": 400}),
        (429, {"code": 20429, "message": "Too Many Requests", "status": 429}),
        (503, {}),
    ]
    with pytest.raises(PermanentSendError, match="Twilio 21211"):
        provider.send_sms("+1000", "x")
    with pytest.raises(TransientSendError, match="429"):
        provider.send_sms("+12065550101", "x")
    with pytest.raises(TransientSendError, match="503"):
        provider.send_sms("+12065550101", "x")
    assert len(sms.requests) == 3


GOOD_SID = "AC" + "a" * 32


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DOORSTEP_SMTP_URL", "http://mail.example.com", "smtp:// or smtps://"),
        ("DOORSTEP_SMTP_URL", "smtp://", "names no host"),
        ("DOORSTEP_SMTP_URL", "smtp://mail.example.com?starttls=0", "in clear"),
        ("DOORSTEP_SMTP_URL", "smtp://mail.example.com?starttls=yes", "starttls must be 0 or 1"),
        ("DOORSTEP_SMTP_URL", "smtps://mail.example.com?starttls=1", "TLS already"),
        ("DOORSTEP_SMTP_URL", "smtp://mail.example.com?tls=1", "unknown option"),
        ("DOORSTEP_SMTP_URL", "smtp://mail.example.com:99999", "not a valid URL"),
        ("DOORSTEP_SMTP_URL", "smtp://user@mail.example.com", "both user and password"),
        ("DOORSTEP_SMTP_URL", "smtp://mail.example.com?timeout=abc", "timeout"),
        ("DOORSTEP_SMS_URL", "nexmo://k:s@rest.nexmo.com?from=%2B15550001111", "twilio://"),
        ("DOORSTEP_SMS_URL", "twilio://nope:tok@api.twilio.com?from=%2B15550001111", "Account SID"),
        (
            "DOORSTEP_SMS_URL",
            f"twilio://{GOOD_SID}@api.twilio.com?from=%2B15550001111",
            "auth token",
        ),
        ("DOORSTEP_SMS_URL", f"twilio://{GOOD_SID}:t@api.twilio.com", "from="),
        ("DOORSTEP_SMS_URL", f"twilio://{GOOD_SID}:t@api.twilio.com?from=555", "E.164"),
        (
            "DOORSTEP_SMS_URL",
            f"twilio://{GOOD_SID}:t@api.twilio.com?from=%2B15550001111&base=http://sms.example.com",
            "plain http only to this machine",
        ),
        ("DOORSTEP_PUBLIC_URL", "track.example.com", r"an http\(s\) URL"),
    ],
)
def test_bad_notification_urls_stop_the_server_with_a_clear_message(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        load_settings(environ={variable: value, "DOORSTEP_SECRET_KEY": "k" * 40})
    assert variable in str(refused.value)


def test_good_notification_urls_are_read_whole() -> None:
    smtp = parse_smtp_url("smtps://me%40acme.example:p%2Fss@mail.example.com")
    assert (smtp.host, smtp.port, smtp.security) == ("mail.example.com", 465, "tls")
    assert (smtp.username, smtp.password) == ("me@acme.example", "p/ss")
    assert parse_smtp_url("smtp://u:p@mail.example.com").port == 587
    sms = parse_sms_url(f"twilio://{GOOD_SID}:tok@api.twilio.com?from=%2B15550001111")
    assert (sms.base_url, sms.sender, sms.account) == (
        "https://api.twilio.com",
        "+15550001111",
        GOOD_SID,
    )
    settings = load_settings(
        environ={"DOORSTEP_PUBLIC_URL": "https://track.example.com/", "DOORSTEP_SECRET_KEY": "k"}
    )
    assert settings.public_url == "https://track.example.com"
