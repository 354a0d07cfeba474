"""Errors a user can act on. The CLI prints their message (no traceback) and exits non-zero."""


class SmartcityError(Exception):
    """Base class: the message says what went wrong and what to do about it."""


class ConfigError(SmartcityError):
    """A setting or command-line argument is invalid."""


class BrokerUnavailable(SmartcityError):
    """The Kafka broker cannot be reached."""


class StackError(SmartcityError):
    """An embedded service could not be started, checked or stopped."""


class AccessDenied(SmartcityError):
    """The AWS credentials in use lack a permission (IAM). Never retried: retrying cannot help."""
