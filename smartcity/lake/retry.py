"""Retries of lake operations on transient object-store errors, with exponential backoff.

Two layers. The S3 clients retry each request themselves (`pyarrow`'s AwsStandardS3RetryStrategy and
boto3's standard mode, `SMARTCITY_S3_MAX_ATTEMPTS` attempts): throttling (503 SlowDown), 5xx and
timeouts. On top of that a whole lake operation (write a file, commit a manifest, list a folder, read an
object) is retried `SMARTCITY_LAKE_RETRIES` times with a longer backoff, because the clients give up
within a second or two and do not retry everything: pyarrow does not retry a GET of a small object whose
error body does not fit the requested range, and an answer lost after the store did the work (a timeout)
surfaces as an error. Permanent errors (AccessDenied, NoSuchBucket, a missing key) are never retried.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from smartcity.errors import SmartcityError

log = logging.getLogger("smartcity.lake")
T = TypeVar("T")

# pyarrow's S3 errors: "AWS Error <KIND> during <Operation> operation: ..."; curl errors are network errors
_TRANSIENT_ARROW = re.compile(r"AWS Error (SLOW_DOWN|THROTTLING|SERVICE_UNAVAILABLE|INTERNAL_FAILURE|"
                              r"NETWORK_CONNECTION|REQUEST_TIMEOUT|REQUEST_TIMEOUT_EXCEPTION)\b|"
                              r"HTTP status 5\d\d|curlCode|Curl error")
_TRANSIENT_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable",
                    "InternalError", "RequestTimeout", "RequestTimeTooSkewed"}


class LakeUnavailable(SmartcityError, OSError):
    """The object store kept failing with transient errors after every retry."""


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3  # whole-operation retries after the client's own attempts
    backoff_s: float = 1.0  # first delay; doubles each retry (with jitter), at most max_backoff_s
    max_backoff_s: float = 20.0

    def delay(self, retry: int) -> float:
        return min(self.max_backoff_s, self.backoff_s * 2 ** retry) * random.uniform(0.5, 1.0)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: throttling, 5xx, timeouts and connection errors; never access or not-found errors."""
    if isinstance(exc, FileNotFoundError | PermissionError | LakeUnavailable):
        return False
    try:
        import botocore.exceptions as boto
    except ImportError:  # pragma: no cover - boto3 is a dependency
        boto = None
    if boto is not None:
        if isinstance(exc, boto.ClientError):
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            return error.get("Code") in _TRANSIENT_CODES or status >= 500
        if isinstance(exc, boto.ConnectionError | boto.HTTPClientError):
            return True
    return isinstance(exc, OSError) and bool(_TRANSIENT_ARROW.search(str(exc)))


def retrying(what: str, where: str, policy: RetryPolicy, operation: Callable[[], T]) -> T:
    """Run `operation`; on a transient error wait and run it again, up to `policy.retries` times.

    `what` names the operation and `where` the lake for log lines and the final error.
    """
    for retry in range(policy.retries + 1):
        try:
            return operation()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if retry == policy.retries:
                raise LakeUnavailable(
                    f"the lake at {where} kept failing while {what} ({policy.retries + 1} tries, each with the "
                    f"S3 client's own retries): {_one_line(exc)}. Check the object store's health and "
                    "throttling; SMARTCITY_S3_MAX_ATTEMPTS and SMARTCITY_LAKE_RETRIES set how long to insist"
                ) from exc
            delay = policy.delay(retry)
            log.warning("lake at %s: %s failed (%s); retry %d of %d in %.1f s", where, what, _one_line(exc),
                        retry + 1, policy.retries, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"
