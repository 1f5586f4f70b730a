"""Handing a rendered message to the world: e-mail over SMTP, SMS through a provider.

Every transport sorts what can go wrong into three, because the outbox promises each
message at most once:

- :class:`TransientSendError`: the message certainly did not leave (no connection, a
  4xx answer from the mail server, HTTP 429/5xx before anything was accepted); it is
  retried later.
- :class:`PermanentSendError`: the far side refused it for good (a bad address, a
  5xx from SMTP, a 4xx from the SMS API); it is not retried.
- :class:`OutcomeUnknown`: the connection broke after the message was handed over
  and before the answer came back; it may have been delivered, so it is not retried.
"""

from __future__ import annotations

import base64
import http.client
import json
import smtplib
import ssl
from dataclasses import dataclass, field
from email.errors import MessageError
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from typing import Protocol
from urllib.parse import urlencode, urlsplit

from backend.config import SmsTarget, SmtpTarget, parse_sms_url, parse_smtp_url


class SendError(Exception):
    """The message was not (known to be) sent."""


class TransientSendError(SendError):
    """Not sent; worth trying again later."""


class PermanentSendError(SendError):
    """Refused for good; trying again would be refused again."""


class OutcomeUnknown(SendError):
    """Handed over, but the answer was lost: it may have been delivered."""


@dataclass(frozen=True)
class Email:
    to: str
    sender_name: str
    sender_address: str
    subject: str
    text: str
    html: str
    # Extra headers: List-Unsubscribe and List-Unsubscribe-Post.
    headers: dict[str, str] = field(default_factory=dict)


def build_email(email: Email) -> EmailMessage:
    """A multipart/alternative message: the plain-text part first, then the HTML.

    A header value with a line break (a sender's name, an address) would start a new
    header; the email package refuses it with ValueError. That message can never be
    built, so it is a :class:`PermanentSendError` for its row alone, not an exception
    that stops the worker's pass.
    """
    message = EmailMessage()
    try:
        message["From"] = formataddr((email.sender_name, email.sender_address))
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=email.sender_address.rpartition("@")[2] or None)
        for name, value in email.headers.items():
            message[name] = value
    except (ValueError, MessageError) as exc:
        raise PermanentSendError(f"cannot build the message's headers: {exc}") from exc
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


class SmtpTransport:
    """E-mail through one SMTP server (``DOORSTEP_SMTP_URL``) with the standard library."""

    def __init__(self, target: SmtpTarget) -> None:
        self.target = target

    def _connect(self) -> smtplib.SMTP:
        target = self.target
        tls = ssl.create_default_context()
        server: smtplib.SMTP
        if target.security == "tls":
            server = smtplib.SMTP_SSL(
                target.host, target.port, timeout=target.timeout_s, context=tls
            )
        else:
            server = smtplib.SMTP(target.host, target.port, timeout=target.timeout_s)
        try:
            server.ehlo()
            if target.security == "starttls":
                server.starttls(context=tls)
                server.ehlo()
            if target.username:
                server.login(target.username, target.password)
        except BaseException:
            server.close()
            raise
        return server

    def send(self, email: Email) -> str:
        """Send ``email``; returns its Message-ID."""
        message = build_email(email)
        try:
            server = self._connect()
        except smtplib.SMTPAuthenticationError as exc:
            # The configuration is wrong; the operator fixes it and the row retries.
            raise TransientSendError(f"SMTP login refused: {exc.smtp_code}") from exc
        except smtplib.SMTPResponseException as exc:
            raise TransientSendError(f"SMTP {exc.smtp_code} before sending") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientSendError(f"SMTP unreachable: {exc}") from exc
        try:
            server.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentSendError(f"recipient refused: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            # An explicit answer: nothing was accepted. 4xx is "later", 5xx is "never".
            error = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            if 400 <= exc.smtp_code < 500:
                raise TransientSendError(error) from exc
            raise PermanentSendError(error) from exc
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise OutcomeUnknown(f"connection lost while sending: {exc}") from exc
        finally:
            try:
                server.quit()
            except (OSError, smtplib.SMTPException):
                server.close()
        return str(message["Message-ID"])


class SmsProvider(Protocol):
    """An SMS gateway: send ``body`` to ``to`` (+E.164); returns the provider's id."""

    def send_sms(self, to: str, body: str) -> str: ...


class TwilioSms:
    """Twilio Programmable Messaging: ``POST /2010-04-01/Accounts/{sid}/Messages.json``
    with form fields To, From and Body under HTTP Basic auth (the Account SID and auth
    token); 201 answers the message's JSON with its ``sid``, errors carry a JSON
    ``code`` and ``message``."""

    def __init__(self, target: SmsTarget) -> None:
        self.target = target

    def send_sms(self, to: str, body: str) -> str:
        target = self.target
        base = urlsplit(target.base_url)
        assert base.hostname is not None, "checked by parse_sms_url"
        connection: http.client.HTTPConnection
        if base.scheme == "https":
            connection = http.client.HTTPSConnection(
                base.hostname,
                base.port or 443,
                timeout=target.timeout_s,
                context=ssl.create_default_context(),
            )
        else:
            connection = http.client.HTTPConnection(
                base.hostname, base.port or 80, timeout=target.timeout_s
            )
        path = f"{base.path.rstrip('/')}/2010-04-01/Accounts/{target.account}/Messages.json"
        form = urlencode({"To": to, "From": target.sender, "Body": body}).encode()
        credentials = base64.b64encode(f"{target.account}:{target.token}".encode()).decode()
        headers = {
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        try:
            try:
                connection.connect()
            except OSError as exc:
                raise TransientSendError(f"SMS API unreachable: {exc}") from exc
            try:
                connection.request("POST", path, body=form, headers=headers)
                response = connection.getresponse()
                status, raw = response.status, response.read(65536)
            except (OSError, http.client.HTTPException) as exc:
                raise OutcomeUnknown(f"connection lost while sending: {exc}") from exc
        finally:
            connection.close()
        return _twilio_answer(status, raw)


def _twilio_answer(status: int, raw: bytes) -> str:
    try:
        answer = json.loads(raw) if raw else {}
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    if status in (200, 201):
        sid = answer.get("sid")
        if not isinstance(sid, str) or not sid:
            raise OutcomeUnknown(f"HTTP {status} without a message sid")
        return sid
    error = f"HTTP {status}"
    if "code" in answer or "message" in answer:
        error += f" (Twilio {answer.get('code')}: {answer.get('message')})"
    if status == 429 or status >= 500:
        # Rate limited or the provider failing: nothing was queued, try again later.
        raise TransientSendError(error)
    raise PermanentSendError(error)


@dataclass
class Transports:
    """The transports the worker has; a channel without one is not sent."""

    email: SmtpTransport | None = None
    sms: SmsProvider | None = None


def from_settings(smtp_url: str, sms_url: str) -> Transports:
    return Transports(
        email=SmtpTransport(parse_smtp_url(smtp_url)) if smtp_url else None,
        sms=TwilioSms(parse_sms_url(sms_url)) if sms_url else None,
    )
