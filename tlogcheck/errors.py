"""The one exception tree of tlogcheck.

    TLogCheckError
    ├── ProofError          (also ValueError)  a Merkle proof did not verify
    ├── FormatError         (also ValueError)  served or stored data is malformed
    │   └── NoteError                          a signed note / checkpoint is malformed or unsigned
    ├── DbError             (also ValueError)  db.jsonl is malformed (names the 1-based line)
    ├── ConfigError                            an option or configuration value is wrong
    ├── Inconclusive                           the check cannot decide: the run is inconclusive
    │   └── TargetUnreachable                  we could not ask the target
    │       └── RunBudgetSpent                 --tlog-run-timeout passed before the test was decided
    ├── TargetStalled                          asked, no complete answer in the deadline: fails
    ├── ServerError                            asked, answered 5xx after the retries: fails
    ├── TargetCertificateError                 the target's TLS certificate does not verify: fails
    └── GateError                              the Argo Rollouts gate could not act

"The target proved wrong" raises ProofError / FormatError and fails a check;
"we could not ask" raises TargetUnreachable, and "we asked but cannot tell" (a cache
status in a vocabulary we do not know) raises Inconclusive: both make the run
inconclusive, never failed. Between the two: a target that accepted the request (TCP
and TLS up, request sent) but gave no complete answer within the deadline is failing
its users (TargetStalled), and so is one whose certificate real clients reject
(TargetCertificateError). A 5xx where a rule needs an answer to judge (ServerError) is
an availability finding, never a proof or format verdict: whichever check met it, it
fails under Ingress5xxHigh (TLogAvailabilityDown for /healthz).
"""

from __future__ import annotations


class TLogCheckError(Exception):
    """Root of every error tlogcheck raises on purpose."""


class ProofError(TLogCheckError, ValueError):
    """A Merkle inclusion or consistency proof did not verify; the message names the rule."""


class FormatError(TLogCheckError, ValueError):
    """Data served by the target (or given by the user) is not of the form the spec fixes."""


class NoteError(FormatError):
    """A C2SP signed note or checkpoint is malformed, oversized or carries no valid signature."""


class DbError(TLogCheckError, ValueError):
    """db.jsonl (or its .sha256 file) is malformed; the message names the 1-based line."""


class ConfigError(TLogCheckError):
    """An option, environment variable or ini value is wrong."""


class Inconclusive(TLogCheckError):
    """The check cannot decide either way: the run is inconclusive, not failed."""


class TargetUnreachable(Inconclusive):
    """The target could not be reached after retries: the run is inconclusive, not failed."""


class RunBudgetSpent(TargetUnreachable):
    """The run's budget (--tlog-run-timeout) was spent before this request could answer."""


class TargetStalled(TLogCheckError):
    """The target took the request but gave no complete answer within the deadline.

    `started` tells whether a response had begun (status line and headers received, then
    the body trickled: LatencyP95High) or not (nothing came back: TLogAvailabilityDown).
    """

    def __init__(self, message: str, *, started: bool) -> None:
        super().__init__(message)
        self.started = started


class ServerError(TLogCheckError):
    """The target answered 5xx (after the client's retries) where a rule needed an answer
    to judge: what a user saw, not a proof about the log. `status`, `view` and `path`
    say what was served; the message is the response's one-line evidence."""

    def __init__(self, message: str, *, status: int, view: str, path: str) -> None:
        super().__init__(message)
        self.status = status
        self.view = view
        self.path = path


class TargetCertificateError(TLogCheckError):
    """The target's TLS certificate does not verify: real clients get the same error."""


class GateError(TLogCheckError):
    """The Argo Rollouts gate could not act (API error, RBAC, no such Rollout)."""


# Exit statuses of the `tlogcheck` command and of a pytest run with the plugin.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
# Outside pytest's own 0-5 so a pipeline can tell "could not ask" from "proved wrong".
EXIT_INCONCLUSIVE = 6
