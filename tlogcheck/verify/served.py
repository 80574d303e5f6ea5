"""What a rule found, typed, and the rule every rule applies first: what was answered.

A rule (`verify.health`, `verify.trees`, `verify.parity`, `verify.cache`,
`verify.probe`, `verify.release`) is a plain function over responses and trees that
returns a `Verdict`: passed, failed with `Finding`s, skipped or inconclusive, with the
reason. The suite's checks, `tlogcheck triage`, the checklists and the exporter call
the same functions and only render the verdict's fields (the model is schemathesis'
`checks.py`: a 5xx is a `ServerError` whichever check met it).

A `Finding` says what was expected, what was served, the suite check whose rule it is,
the §1 alert it is a problem of, and whether it was *proved* (a hash, a proof, a
signature shows it) or *observed* (a status, a time, a header as answered).

What was answered decides before any verdict about the log:

- a 5xx after the client's retries is what a user saw: an availability finding
  (Ingress5xxHigh; TLogAvailabilityDown for `/healthz`), never a proof or format
  verdict (`server_error`, `answered`); a proof or hash verdict needs a 200 answer. A
  check sending many requests at once asks those still 502/503/504 once more first
  (`asked_once_more`): a short run of 503s meets all of them at once;
- a request taken and never answered (`TargetStalled`) is TLogAvailabilityDown, one
  that began and trickled LatencyP95High, a certificate clients reject
  TLogAvailabilityDown (`finding_of`);
- a request that could not be asked is no finding: the verdict is inconclusive.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from tlogcheck import spec
from tlogcheck.client.http import RETRY_STATUSES
from tlogcheck.errors import (
    FormatError,
    ProofError,
    ServerError,
    TargetCertificateError,
    TargetStalled,
    TargetUnreachable,
    TLogCheckError,
)
from tlogcheck.playbook.checks import CHECKS

if TYPE_CHECKING:
    from tlogcheck.client import Response, TLogClient

__all__ = [
    "DOWN",
    "SERVER_5XX",
    "SLOW",
    "Finding",
    "How",
    "Verdict",
    "answered",
    "asked_once_more",
    "could_not_ask",
    "finding",
    "finding_of",
    "response_facts",
    "server_error",
    "server_error_alert",
    "server_errors",
    "verdict_of",
]

DOWN = "TLogAvailabilityDown"
SERVER_5XX = "Ingress5xxHigh"
SLOW = "LatencyP95High"

How = Literal["proved", "observed"]
Status = Literal["passed", "failed", "skipped", "inconclusive"]


@dataclass(frozen=True)
class Finding:
    """One thing a rule found wrong."""

    check: str  # the suite's check whose rule found it (playbook.checks.CHECKS)
    alert: str  # the §1 alert it is a problem of
    expected: str
    served: str
    how: How = "observed"
    # What was served, as data (`response_facts`): the notice and RCA quote it.
    facts: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def line(self) -> str:
        """One line: alert, what was served (first line), how it is known."""
        first = self.served.splitlines()[0] if self.served else ""
        return f"{self.alert}: {first} ({self.how})"


def finding(
    check: str,
    *,
    expected: str,
    served: str,
    how: How = "observed",
    alert: str | None = None,
    response: Response | None = None,
) -> Finding:
    """A finding of `check`'s rule, under the check's own alert unless `alert` says;
    `response`: the answer it is about, kept as facts."""
    facts = response_facts(response) if response is not None else {}
    return Finding(check, alert or CHECKS[check].alert, expected, served, how, facts)


def response_facts(response: Response) -> dict[str, Any]:
    """One response as facts: view, path, status, release, cache status, body SHA-256."""
    return {
        "view": response.view,
        "path": response.path,
        "status": response.status,
        "release": response.release,
        "cache_status": response.cache_status,
        "sha256": response.sha256,
    }


@dataclass(frozen=True)
class Verdict:
    """What a rule decided, and why.

    `summary`: what was verified (passed), or why the rule did not decide (skipped,
    inconclusive). `unjudged`: what a rule that ended otherwise could not judge — a
    5xx, a stall or an unreachable target met before its own question was answered —
    so a reader knows its own alert is not ruled out. `evidence`: request-level
    detail; `notes`: what a run summary should say even on a pass.
    """

    status: Status
    summary: str = ""
    findings: tuple[Finding, ...] = ()
    evidence: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    unjudged: str | None = None

    @classmethod
    def passed(
        cls, summary: str, *, evidence: Iterable[str] = (), notes: Iterable[str] = ()
    ) -> Verdict:
        return cls("passed", summary, evidence=tuple(evidence), notes=tuple(notes))

    @classmethod
    def failed(
        cls,
        *findings: Finding,
        summary: str = "",
        evidence: Iterable[str] = (),
        notes: Iterable[str] = (),
        unjudged: str | None = None,
    ) -> Verdict:
        text = summary or "; ".join(f.served.splitlines()[0] for f in findings[:3])
        return cls("failed", text, tuple(findings), tuple(evidence), tuple(notes), unjudged)

    @classmethod
    def skipped(cls, reason: str) -> Verdict:
        return cls("skipped", reason)

    @classmethod
    def inconclusive(cls, reason: str, *, evidence: Iterable[str] = ()) -> Verdict:
        return cls("inconclusive", reason, evidence=tuple(evidence), unjudged=reason)

    @property
    def alerts(self) -> set[str]:
        return {f.alert for f in self.findings}

    def with_evidence(self, lines: Iterable[str]) -> Verdict:
        return replace(self, evidence=(*self.evidence, *lines))


# --- what was answered ---------------------------------------------------------------------


def server_error_alert(path: str) -> str:
    """The alert of a 5xx: TLogAvailabilityDown for the health endpoint, else Ingress5xxHigh."""
    return DOWN if path.partition("?")[0] == spec.PATH_HEALTH else SERVER_5XX


def server_error(response: Response) -> ServerError | None:
    """A 5xx answer (the client already retried 502/503/504) as a `ServerError`; else None."""
    if response.status < 500:
        return None
    return ServerError(
        response.describe(), status=response.status, view=response.view, path=response.path
    )


def answered(*responses: Response) -> None:
    """Raise the first 5xx among `responses`: a rule that needs an answer to judge has none."""
    for response in responses:
        exc = server_error(response)
        if exc is not None:
            raise exc


def asked_once_more(client: TLogClient, responses: Sequence[Response]) -> list[Response]:
    """`responses` (asked without headers), each one still 502/503/504 after the client's
    retries asked once more after the client's next wait (`TLogClient.next_wait`: the
    Retry-After, else the next backoff), the others as they are.

    A check that sends many requests at once meets a short run of 503s (a pod restarting,
    the reference deployment's `blip`) with all of them, beyond what each request's own
    retries wait; asked once more, the run is carried as the retries carry one 503. What is
    still 5xx after that is what was answered (`answered`: Ingress5xxHigh)."""
    waiting = [i for i, r in enumerate(responses) if r.status in RETRY_STATUSES]
    if not waiting:
        return list(responses)
    wait = max(client.next_wait(responses[i]) for i in waiting)
    if client.run_end is not None and time.monotonic() + wait >= client.run_end:
        return list(responses)
    client.sleep(wait)
    again = client.map(lambda r: client.get(r.path, view=r.view), [responses[i] for i in waiting])
    out = list(responses)
    for i, response in zip(waiting, again, strict=True):
        out[i] = response
    return out


def server_errors(found: Sequence[ServerError], asked: int, what: str) -> ServerError:
    """One `ServerError` for several reads of a rule that met 5xx (the first one's status,
    view and path), saying how many of the `asked` reads of `what` it left unjudged."""
    first = found[0]
    return ServerError(
        f"{len(found)} of {asked} {what} answered 5xx after retries, e.g. {first}",
        status=first.status,
        view=first.view,
        path=first.path,
    )


_EXPECTED_ANSWER = "an answer to judge: a proof or hash verdict needs a 200"


def finding_of(exc: BaseException, check: str = "health") -> Finding | None:
    """The finding an exception of the client stands for, or None when it is none (could
    not ask: inconclusive; anything else: not the target's doing)."""
    if isinstance(exc, ServerError):
        return Finding(
            check,
            server_error_alert(exc.path),
            _EXPECTED_ANSWER,
            str(exc),
            facts={"view": exc.view, "path": exc.path, "status": exc.status},
        )
    if isinstance(exc, TargetStalled):
        return Finding(
            check,
            SLOW if exc.started else DOWN,
            "a complete answer within the deadline (the target took the request)",
            str(exc),
        )
    if isinstance(exc, TargetCertificateError):
        return Finding(check, DOWN, "a TLS certificate clients can verify", str(exc))
    return None


def could_not_ask(exc: BaseException) -> bool:
    """Whether an exception means the target could not be asked (inconclusive)."""
    return isinstance(exc, TargetUnreachable)


def verdict_of(exc: TLogCheckError, check: str, what: str) -> Verdict | None:
    """A rule's verdict when the client raised before it could judge `what`: the finding
    of a 5xx / stall / certificate (its own question unjudged), inconclusive when the
    target could not be asked, a finding of `check` itself for a proof or format error
    that escaped the rule's own explanation (proved / observed); None for anything else
    (the caller's to handle)."""
    found = finding_of(exc, check)
    if found is not None:
        return Verdict.failed(found, unjudged=f"{what}: not judged ({found.alert})")
    if could_not_ask(exc):
        return Verdict.inconclusive(f"{what}: could not ask the target: {exc}")
    if isinstance(exc, (ProofError, FormatError)):
        how: How = "proved" if isinstance(exc, ProofError) else "observed"
        expected = f"{what}: an answer of the spec's form"
        return Verdict.failed(finding(check, expected=expected, served=str(exc), how=how))
    return None
