"""Exceptions raised by batchverify, and the exit code each maps to.

::

    BatchVerifyError                 base; .exit_code
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
Only the command line turns these exceptions into exit codes and one-line messages.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_USAGE = 2
EXIT_FATAL_API = 3
EXIT_STORAGE = 4  # calls were made, then the checkpoint or output could not be written; answers kept
EXIT_INTERNAL = 70  # a bug: an exception batchverify did not expect (BATCHVERIFY_DEBUG=1 shows it)
EXIT_INTERRUPTED = 130


class BatchVerifyError(Exception):
    """Base class of every error batchverify reports to the user."""

    exit_code = EXIT_USAGE


class UsageError(BatchVerifyError):
    """Options that are missing, malformed or contradict each other."""


class CredentialError(BatchVerifyError):
    """No usable Tencent Cloud credentials were found."""


class InputError(BatchVerifyError):
    """The input file cannot be read, or it has no usable phone column."""


class OutputError(BatchVerifyError):
    """The output cannot be written where asked."""


class CheckpointError(BatchVerifyError):
    """The checkpoint store beside the output cannot be used."""


class BusyError(BatchVerifyError):
    """Another batchverify run is working on the same output."""


class EncryptionError(BatchVerifyError):
    """The number could not be encrypted (bad public key, unknown algorithm)."""


class EndpointError(BatchVerifyError):
    """The endpoint cannot be used at all (its host name does not resolve); nothing was sent."""


class FatalApiError(BatchVerifyError):
    """The API refused the whole job (authentication, arrears, not activated, ...).

    Carries Tencent's error code and message so the user can act on them.
    """

    exit_code = EXIT_FATAL_API

    def __init__(self, code: str, message: str, request_id: str = "") -> None:
        self.code = code
        self.message = message
        self.request_id = request_id
        self.summary: object | None = None  # the run's Summary, when raised by the Python API
        detail = f"{code}: {message}" if message else code
        if request_id:
            detail += f" (RequestId {request_id})"
        super().__init__(f"the API refused the job: {detail}")
