"""The SMS channel (docs/events.md, "Channels"): a generic HTTP gateway, called the way SMS
providers usually are: a POST (or GET) whose parameters are templates of ${to}, ${text} and
${secret}, sent as JSON, a form or the query string. A 2xx answer is delivered; redirects are
never followed; a 4xx other than 408 and 429 is not retried."""

from string import Template

import httpx

from baoling.verifier.channels_config import SmsSettings
from baoling.verifier.errors import DeliveryFailed

_RETRIED_4XX = (408, 429)


class SmsGateway:
    """Sends texts through one gateway."""

    def __init__(self, settings: SmsSettings) -> None:
        self._settings = settings
        self._secret = settings.secret()  # read now: a missing file stops the start
        self._client = httpx.Client(timeout=settings.timeout_seconds, follow_redirects=False)

    def close(self) -> None:
        self._client.close()

    def send(self, to: str, text: str) -> None:
        s = self._settings
        values = {"to": to, "text": text, "secret": self._secret}
        params = {name: Template(t).substitute(values) for name, t in s.params.items()}
        headers = {name: Template(t).substitute(values) for name, t in s.headers.items()}
        for name, value in headers.items():
            if not value.isascii():  # never the value: a header may hold ${secret}
                raise DeliveryFailed(
                    f"the SMS gateway's header {name} cannot carry this text "
                    "(an HTTP header is ASCII)",
                    retry=False,
                )
        request: dict[str, object] = {"headers": headers}
        if s.encoding == "json":
            request["json"] = params
        elif s.encoding == "form":
            request["data"] = params
        else:
            request["params"] = params
        try:
            answer = self._client.request(s.method, s.url, **request)  # type: ignore[arg-type]
        except httpx.TimeoutException:
            raise DeliveryFailed(
                "the SMS gateway gave no answer within the timeout", retry=True
            ) from None
        except httpx.HTTPError as exc:
            raise DeliveryFailed(
                f"cannot reach the SMS gateway: {type(exc).__name__}", retry=True
            ) from None
        if answer.is_success:
            return
        status = answer.status_code
        refused = 400 <= status < 500 and status not in _RETRIED_4XX
        raise DeliveryFailed(f"the SMS gateway answered {status}", retry=not refused)
