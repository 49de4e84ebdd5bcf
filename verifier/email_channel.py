"""The e-mail channel (docs/events.md, "Channels"): one message per event and recipient through
an SMTP server, over STARTTLS (or TLS from the start) with the certificate checked, and
logging in when a username is set. The Message-ID carries the event id, so a mail client or a
filter can drop a message delivered twice."""

import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from baoling.verifier.channels_config import SmtpSettings
from baoling.verifier.errors import DeliveryFailed
from baoling.verifier.inputs import mail_address

# 5xx answers to a recipient or the message: the server will never take it.
_PERMANENT = range(500, 600)


def _short_hash(text: str) -> str:
    """The same for the same recipient in every process: one Message-ID per event and
    recipient."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class Mailer:
    """Sends e-mail through one SMTP server; each message opens its own connection."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._password = settings.password()  # read now: a missing file stops the start
        self._tls = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None
        )

    def send(self, event_id: str, to: str, subject: str, text: str, language: str) -> None:
        """Send one message; DeliveryFailed says why not (retry False for a 5xx refusal)."""
        s = self._settings
        try:
            mail_address(to)
        except ValueError as exc:
            raise DeliveryFailed(str(exc), retry=False) from None
        message = EmailMessage()
        message["From"], message["To"] = s.sender, to
        # One line: a field with a line break (a RADIUS client's name is a TOML key, which may
        # hold one) must neither add a header nor make the message fail every attempt.
        message["Subject"] = " ".join(subject.split())
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = f"<{event_id}.{_short_hash(to)}@baoling>"
        message.set_content(text, charset="utf-8")
        message["Content-Language"] = language  # after set_content, which clears Content-*
        try:
            if s.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout_seconds, context=self._tls
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
            with smtp:
                if s.security == "starttls":
                    smtp.starttls(context=self._tls)
                if s.username is not None and self._password is not None:
                    smtp.login(s.username, self._password)
                try:
                    smtp.send_message(message, to_addrs=[to])
                except smtplib.SMTPNotSupportedError:  # here, only SMTPUTF8 can be missing
                    raise DeliveryFailed(
                        "the mail server does not take non-ASCII addresses (SMTPUTF8)",
                        retry=False,
                    ) from None
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPSenderRefused) as exc:
            # This node's settings (a wrong password, a sender it may not use), not the message:
            # retried whatever the code, so that alerts wait for the fix instead of all dying.
            refused = (
                "the login" if isinstance(exc, smtplib.SMTPAuthenticationError) else "the sender"
            )
            raise DeliveryFailed(
                f"the mail server refused {refused} ({exc.smtp_code})", retry=True
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailed(
                f"the mail server answered {exc.smtp_code}", retry=exc.smtp_code not in _PERMANENT
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryFailed(
                f"the mail server refused the recipient ({codes[0]})",
                retry=codes[0] not in _PERMANENT,
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise DeliveryFailed(
                f"cannot reach the mail server {s.host}:{s.port}: {reason or type(exc).__name__}",
                retry=True,
            ) from None
