"""Permission denials reported as `AccessDenied`: the operation, the object or resource, and the fact that
the credentials in use lack the permission — instead of a pyarrow OSError or a botocore ClientError.

Denials are final: `is_access_denied` lets retry loops tell them apart from transient failures.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from smartcity.errors import AccessDenied

_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AllAccessDisabled"}
_PYARROW_DENIED = re.compile(r"AWS Error ACCESS_DENIED during (\w+) operation")
_PYARROW_OBJECT = re.compile(r"key '([^']*)' (?:in|to|from) bucket '([^']*)'")
_PRINCIPAL = re.compile(r"\b(arn:aws[a-z-]*:(?:sts|iam)::[0-9]{12}:[\w+=,.@/-]+)")
HELP = "each component runs with its own least-privilege role: see docs/security.md"


def is_access_denied(exc: BaseException) -> bool:
    """True for an AWS permission denial (pyarrow S3 or boto3); such an error must not be retried."""
    if isinstance(exc, AccessDenied):
        return True
    if isinstance(exc, OSError) and _PYARROW_DENIED.search(str(exc)):
        return True
    response = getattr(exc, "response", None)  # botocore ClientError
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code", "")
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in _DENIED_CODES or (status == 403 and ("AccessDenied" in str(exc) or "not authorized" in str(exc)))
    return False


def denial(action: str, resource: str, exc: BaseException) -> AccessDenied:
    """The `AccessDenied` to raise for `exc`: what was attempted, on what, and by whom when AWS said so."""
    text = str(exc)
    api = _PYARROW_DENIED.search(text)
    api_name = api.group(1) if api else getattr(exc, "operation_name", None)
    principal = _PRINCIPAL.search(text)
    detail = ", ".join(filter(None, [f"AWS API {api_name}" if api_name else None,
                                     f"as {principal.group(1)}" if principal else None]))
    return AccessDenied(f"access denied: cannot {action} {resource}"
                        + (f" ({detail})" if detail else "")
                        + f": the AWS credentials in use lack permission for this ({HELP})")


@contextmanager
def reporting_denials(action: str, resource: str) -> Iterator[None]:
    """Turn a permission denial inside the block into `AccessDenied`; other errors pass unchanged."""
    try:
        yield
    except AccessDenied:
        raise
    except Exception as exc:
        if not is_access_denied(exc):
            raise
        raise denial(action, resource, exc) from None


def reports_denials(action: str, resource: Callable[..., str]) -> Callable:
    """Method decorator: `resource(self, *args, **kwargs)` names what the call touches."""

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            with reporting_denials(action, resource(self, *args, **kwargs)):
                return method(self, *args, **kwargs)

        return wrapper

    return decorate


# What each `Lake` operation does to the objects it is given (its first argument: a path or a list of paths).
LAKE_ACTIONS = {"exists": "read", "size": "read", "read_bytes": "read", "read_parquet": "read",
                "read_parquet_part": "read", "parquet_footer": "read", "write_bytes": "write", "create_bytes": "write",
                "write_parquet": "write", "list_dir": "list", "list_subdirs": "list", "list_names_after": "list",
                "delete": "delete"}


def reports_lake_denials(cls: type) -> type:
    """Class decorator for `Lake`: every storage operation reports a permission denial as `AccessDenied`
    naming the object (as S3 named it, else the path the operation was given)."""
    for name, action in LAKE_ACTIONS.items():
        setattr(cls, name, _lake_operation(getattr(cls, name), action))
    return cls


def _lake_operation(method: Callable, action: str) -> Callable:
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except AccessDenied:
            raise
        except Exception as exc:
            if not is_access_denied(exc):
                raise
            target = next((a for a in args if isinstance(a, (str, list))), "")
            path = (target[0] if target else "") if isinstance(target, list) else target
            raise denial(action, _object_named(exc, self.uri_of(path)), exc) from None

    return wrapper


def _object_named(exc: BaseException, fallback: str) -> str:
    """The s3:// object a pyarrow error names, else `fallback`."""
    found = _PYARROW_OBJECT.search(str(exc))
    return f"s3://{found.group(2)}/{found.group(1)}" if found else fallback
