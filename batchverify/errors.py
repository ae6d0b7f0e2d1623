"""Exceptions raised by batchverify: each with a stable ``code``, its ``params``, and an exit code.

::

    BatchVerifyError                 base; .code, .params, .exit_code
    ├── UsageError                   bad or conflicting options                 -> exit 2
    ├── CredentialError              no usable secret id / key                  -> exit 2
    ├── InputError                   unreadable input, no phone column          -> exit 2
    ├── OutputError                  output not writable, equal to the input    -> exit 2
    ├── CheckpointError              checkpoint store unusable                  -> exit 2
    ├── BusyError                    another run holds the output's lock        -> exit 2
    ├── EncryptionError              bad public key / encryption failure        -> exit 2
    ├── EndpointError                the endpoint's host name does not resolve  -> exit 2
    └── FatalApiError                AuthFailure.*, UnauthorizedOperation.* ... -> exit 3

Per-row verdicts (busy, invalid number, an API error for one number) are data, never exceptions.

A message is a template whose options are named through ``{o[name]}`` (``name`` is the field of
``batchverify.engine.options.Options``). ``str(exc)`` names them as the Python API does
(``column=``); each front end renders them its own way with ``exc.render(namer)``: the command line
as flags (``--column``), the upload page as its fields. A front end that speaks another language
looks the ``code`` up in its own words and fills them from ``params``: no message text is parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_USAGE = 2
EXIT_FATAL_API = 3
EXIT_STORAGE = 4  # calls were made, then the checkpoint or output could not be written; answers kept
EXIT_BUDGET = 5  # the run's budget (max billable) is reached: the rest waits for the next budget
EXIT_QUOTA = 6  # the account's daily quota is used up: the rest waits for tomorrow
EXIT_UNREACHABLE = 7  # the API could not be reached, kept giving no answer, or is not the API
EXIT_THROTTLED = 8  # the API refused for rate for too long: something else uses the account's 20/s
EXIT_INTERNAL = 70  # a bug: an exception batchverify did not expect (BATCHVERIFY_DEBUG=1 shows it)
EXIT_INTERRUPTED = 130

# A run that ended with rows not final, by why its sending stopped (a stop reason's code).
_STOPPED = {
    "budget": EXIT_BUDGET,
    "daily_limit": EXIT_QUOTA,
    "network": EXIT_UNREACHABLE,
    "no_answer": EXIT_UNREACHABLE,
    "bad_replies": EXIT_UNREACHABLE,
    "throttled": EXIT_THROTTLED,
}
_ENDED = {
    "complete": EXIT_OK,
    "dry_run": EXIT_OK,
    "declined": EXIT_USAGE,  # the confirmation was answered no: nothing sent
    "error": EXIT_USAGE,
    "interrupted": EXIT_INTERRUPTED,
    "fatal": EXIT_FATAL_API,
    "storage_error": EXIT_STORAGE,
}


def exit_code_for(outcome: str, stop_reason: str | None) -> int:
    """The exit code of a run that ended with ``outcome`` (and, when its sending stopped early,
    ``stop_reason``): one table for the command line, the summary JSON and the Python API."""
    if outcome == "incomplete":
        return _STOPPED.get(stop_reason or "", EXIT_INCOMPLETE)
    return _ENDED.get(outcome, EXIT_INCOMPLETE)


class OptionNames(Mapping[str, str]):
    """How a front end names an option in its messages: ``names[field]``."""

    def __init__(self, style: Callable[[str], str]) -> None:
        self._style = style

    def __getitem__(self, key: str) -> str:
        return self._style(key)

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


PYTHON_NAMES = OptionNames(lambda field: f"{field}=")
# For the engine's own log lines, which any front end may show: the option in words ("max age").
PLAIN_NAMES = OptionNames(lambda field: "the " + field.replace("_", " ") + " option")


class BatchVerifyError(Exception):
    """Base class of every error batchverify reports to the user.

    ``code`` is stable (front ends and scripts may rely on it); ``params`` are the values its
    message names; ``option`` (in ``params``) the option at fault, when there is one.
    """

    exit_code = EXIT_USAGE
    default_code = "error"

    def __init__(self, message: str = "", *, code: str | None = None, **params: Any) -> None:
        self.template = message
        self.code = code or self.default_code
        self.params = params
        super().__init__(self.render(PYTHON_NAMES))

    @property
    def option(self) -> str | None:
        """The option at fault (an ``Options`` field name), if the error is about one."""
        value = self.params.get("option")
        return value if isinstance(value, str) else None

    def render(self, names: Mapping[str, str], template: str | None = None) -> str:
        """The message (or ``template``, another language's words for ``code``) with options named
        by ``names``."""
        text = self.template if template is None else template
        if not self.params:
            return text  # no template: the message as written (it may hold braces of its own)
        try:
            return text.format(o=names, **self.params)
        except (KeyError, IndexError, ValueError, AttributeError):
            return text  # a template that does not fit its params: shown as written, never lost


class UsageError(BatchVerifyError):
    """Options that are missing, malformed or contradict each other."""

    default_code = "usage"


class CredentialError(BatchVerifyError):
    """No usable Tencent Cloud credentials were found."""

    default_code = "credentials"


class InputError(BatchVerifyError):
    """The input file cannot be read, or it has no usable phone column."""

    default_code = "input"


class OutputError(BatchVerifyError):
    """The output cannot be written where asked."""

    default_code = "output"


class CheckpointError(BatchVerifyError):
    """The checkpoint store beside the output cannot be used."""

    default_code = "checkpoint"


class BusyError(BatchVerifyError):
    """Another batchverify run is working on the same output."""

    default_code = "busy"


class EncryptionError(BatchVerifyError):
    """The number could not be encrypted (bad public key, unknown algorithm)."""

    default_code = "encryption"


class EndpointError(BatchVerifyError):
    """The endpoint cannot be used at all (its host name does not resolve); nothing was sent."""

    default_code = "endpoint"


class FatalApiError(BatchVerifyError):
    """The API refused the whole job (authentication, arrears, not activated, ...).

    Carries Tencent's error code and message so the user can act on them.
    """

    exit_code = EXIT_FATAL_API

    def __init__(self, code: str, message: str, request_id: str = "") -> None:
        detail = f"{code}: {message}" if message else code
        if request_id:
            detail += f" (RequestId {request_id})"
        # ``code`` is Tencent's error code (AuthFailure.SignatureFailure, ...): stable and documented.
        super().__init__("the API refused the job: {detail}", code=code, detail=detail, api_message=message)
        self.message = message
        self.request_id = request_id
        self.summary: object | None = None  # the run's Summary, when raised by the Python API
