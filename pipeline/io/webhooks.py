"""POST a JSON body to a webhook (stdlib urllib), with a timeout per try and retries with
exponential backoff on what may pass (no connection, a timeout, HTTP 429 or 5xx). Another 4xx
would be refused the same way again, so it fails at once. `retried` gives the same retries to
another sender (a Prefect notification block)."""
from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable


class DeliveryError(OSError):
    """A message that did not arrive; the message says where and why (never the URL: it is a secret)."""


def post_json(url: str, body: dict, timeout_s: float, retries: int, backoff_s: float) -> int:
    """POST `body` as JSON to `url`; returns the number of tries it took. Raises DeliveryError after
    `retries` retries, `backoff_s` x 2^n seconds apart."""
    if not url.startswith(("http://", "https://")):  # urllib would also open file: and ftp: URLs
        raise DeliveryError(f"not an http(s) URL (starts {url.split(':', 1)[0][:10]!r})")
    data = json.dumps(body).encode()
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff_s * 2 ** (attempt - 1))
        request = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": "nightwatch-alerts"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                response.read()
            return attempt + 1
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            if exc.code != 429 and exc.code < 500:
                raise DeliveryError(f"refused with {last} (not retried)") from None
        except (socket.timeout, TimeoutError):
            last = f"no answer within {timeout_s:g}s"
        except (urllib.error.URLError, OSError) as exc:
            last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    raise DeliveryError(f"{last} after {retries + 1} tries")


def retried(send: Callable[[], None], retries: int, backoff_s: float) -> int:
    """Call `send` until it returns, `retries` more times after a failure, `backoff_s` x 2^n apart;
    returns the number of tries. A ValueError, TypeError or KeyError (a setting that is wrong) fails
    at once; what still fails raises DeliveryError."""
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff_s * 2 ** (attempt - 1))
        try:
            send()
            return attempt + 1
        except (ValueError, TypeError, KeyError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc} (not retried)") from None
        except Exception as exc:  # noqa: BLE001 - a service's own errors (HTTP, connection) are worth a retry
            last = f"{type(exc).__name__}: {exc}"
    raise DeliveryError(f"{last} after {retries + 1} tries")
