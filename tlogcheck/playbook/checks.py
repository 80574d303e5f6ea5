"""The playbook's checks: each one's alert, section and next diagnostic step.

One table, read by failure messages, the gate's reason on the Rollout and the
report, so the three always tell the same story. Also the convention by which a
test report says "inconclusive": a `user_properties` entry under
`INCONCLUSIVE_KEY`, which survives xdist's report serialisation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

INCONCLUSIVE_KEY = "tlogcheck_inconclusive"
# A failure whose alert is not its check's (a stalled target, a rejected certificate)
# says which one in a user property under this key, which the gate's reason reads.
ALERT_KEY = "tlogcheck_alert"


@dataclass(frozen=True)
class Check:
    name: str
    alert: str
    section: str
    next_step: str


CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        Check(
            "health",
            "TLogAvailabilityDown",
            "§3.1",
            "abort the canary (`kubectl argo rollouts abort <rollout> -n <namespace>`), "
            "check running pods and HPA, then the pods' logs (`tlogcheck triage "
            "TLogAvailabilityDown --tlog-url $URL --rollout <rollout> --rollout-namespace "
            "<namespace>`)",
        ),
        Check(
            "root",
            "TLogInclusionProofFail",
            "§0, §3.2",
            "compare edge and origin: `curl -s $URL/v1/log/root | sha256sum` and "
            "`curl -H 'X-Bypass: 1' -s $URL/v1/log/root | sha256sum`",
        ),
        Check(
            "checkpoint",
            "TLogInclusionProofFail",
            "§3.2",
            "check the signing key and the checkpoint's tree against /v1/log/root "
            "on the origin (X-Bypass: 1)",
        ),
        Check(
            "etag",
            "TLogCacheMissHigh",
            "§4, §3.3",
            "check the headers (Cache-Control, ETag, immutable) on the origin with X-Bypass: 1",
        ),
        Check(
            "cache",
            "TLogCacheMissHigh",
            "§3.3",
            "re-check the CDN rules (Cache Everything / TTL) and run ./infra/cdn/invalidate.sh",
        ),
        Check(
            "parity",
            "TLogInclusionProofFail",
            "§2.3, §3.2",
            "compare origin and edge (X-Bypass: 1); if the edge is stale or split, "
            "invalidate the CDN (./infra/cdn/invalidate.sh)",
        ),
        Check(
            "inclusion",
            "TLogInclusionProofFail",
            "§3.2",
            "re-verify the failing index (`tlogcheck verify $URL INDEX`), then compare "
            "`sha256sum db.jsonl` with the release artefact",
        ),
        Check(
            "consistency",
            "TLogInclusionProofFail",
            "§5, §3.2",
            "the log is not append-only: roll back to the last good tag "
            "(`kubectl argo rollouts undo <rollout> -n <namespace>`) and check the CI append "
            "step",
        ),
        Check(
            "db",
            "TLogInclusionProofFail",
            "§4, §3.2",
            "compare `sha256sum db.jsonl` with the release artefact and rebuild the root "
            "(`tlogcheck root db.jsonl`)",
        ),
        Check(
            "canary",
            "TLogInclusionProofFail",
            "§3.2, §3.4",
            "the new release rewrote history: abort the canary "
            "(`kubectl argo rollouts abort <rollout> -n <namespace>`), compare its "
            "`sha256sum db.jsonl` with the stable release's, and check the CI pipeline's "
            "append step",
        ),
        Check(
            "load",
            "Ingress5xxHigh / LatencyP95High",
            "§3.4",
            "abort the canary (`kubectl argo rollouts abort <rollout> -n <namespace>`), "
            "check the CDN hit rate, origin load and HPA",
        ),
    )
}


# The canary check's other failure: the target answered with releases other than the
# one under test. Not a broken log but a gate aimed at the wrong pods (or pods running
# another image than the Rollout's), so no alert of its own; the gate still stops.
RELEASE_MIX = Check(
    "canary",
    "none: the target is not only the release under test",
    "§2 step 1, §3.4",
    "see which pods answer and their image tags (`kubectl argo rollouts get rollout "
    "<rollout> -n <namespace>`); gate the canary Service (Argo's canaryService), not the "
    "public URL",
)


# Whatever the check, a target that took the request and never answered is down for its
# users, one that began answering and trickled is slow, and one whose certificate real
# clients reject is down: those alerts, not the check's (a hung root is not a bad proof).
STALLED = Check(
    "health",
    "TLogAvailabilityDown",
    "§1, §3.1",
    "the target accepts connections but does not answer: check the pods' readiness and "
    "logs (`tlogcheck triage TLogAvailabilityDown --tlog-url $URL --rollout <rollout> "
    "--rollout-namespace <namespace>`) and the CDN's origin timeouts",
)
TRICKLED = Check(
    "load",
    "LatencyP95High",
    "§1, §3.4",
    "the answer started but did not finish within the deadline: check origin load, HPA and "
    "the CDN's streaming of that path (`curl -w '%{time_total}' -o /dev/null $URL/PATH`)",
)
# A 5xx (after the client's retries) met by any check where it needed an answer to judge:
# what users saw, not a verdict about the log (a proof or hash verdict needs a 200). On
# /healthz it is the health check's own failure (TLogAvailabilityDown).
SERVER_ERROR = Check(
    "load",
    "Ingress5xxHigh",
    "§1, §3.4",
    "the target answers 5xx: nothing was proved about the log. Abort the canary if the new "
    "release answers them (`kubectl argo rollouts abort <rollout> -n <namespace>`), read "
    "the pods' logs (`tlogcheck triage Ingress5xxHigh --tlog-url $URL --rollout <rollout> "
    "--rollout-namespace <namespace>`), check origin load and HPA",
)
CERTIFICATE = Check(
    "health",
    "TLogAvailabilityDown",
    "§1, §3.1",
    "real clients reject the certificate too: check the edge's certificate and chain "
    "(`openssl s_client -connect HOST:443 -servername HOST`); if the CA is private, give "
    "it with --tlog-ca-bundle",
)


# A tiled log (--tlog-api tiles) has no /v1/log paths: the next step names its own.
TILES: dict[str, Check] = {
    c.name: c
    for c in (
        replace(
            CHECKS["root"],
            next_step="compare edge and origin: `curl -s $URL/checkpoint` and "
            "`curl -H 'X-Bypass: 1' -s $URL/checkpoint`, then the tile named above "
            "(`curl -s $URL/TILE | sha256sum`, with and without X-Bypass: 1)",
        ),
        replace(
            CHECKS["inclusion"],
            next_step="re-verify the failing index (`tlogcheck verify $URL INDEX --tlog-api "
            "tiles`), "
            "fetch the tile or bundle named above from edge and origin, then compare "
            "`sha256sum db.jsonl` with the release artefact",
        ),
        replace(
            CHECKS["parity"],
            next_step="compare origin and edge (X-Bypass: 1) on /checkpoint and the tiles "
            "named; if the edge is stale or split, invalidate the CDN "
            "(./infra/cdn/invalidate.sh)",
        ),
        replace(
            CHECKS["checkpoint"],
            next_step="check the signing key (--tlog-vkey) and the checkpoint's tree against "
            "the origin's (`curl -H 'X-Bypass: 1' -s $URL/checkpoint`)",
        ),
        replace(
            CHECKS["etag"],
            next_step="check the headers (Cache-Control, ETag, immutable) of the tiles on the "
            "origin with X-Bypass: 1",
        ),
    )
}


def alert_of(user_properties: Iterable[tuple[str, object]]) -> str | None:
    """The alert a failed test named in place of its check's (ALERT_KEY), or None."""
    for key, val in user_properties:
        if key == ALERT_KEY:
            return str(val)
    return None


# `alert:` / `fired:` lines, also as an assertion's message shows them (`E   fired: ...`).
_NAMED = re.compile(r"^(?:E\s+)?(alert|fired):\s+([A-Za-z0-9]+)(?:\s|$)", re.MULTILINE)


def failure_alert(check: Check | None, user_properties: Iterable[tuple[str, object]],
                  message: str) -> str | None:  # fmt: skip
    """The one §1 alert a failed test is a problem of: the one it named (ALERT_KEY), its
    check's when that is one alert, else the one its message says fired (`fired:`, then
    a single-alert `alert:` line: the load check's two alerts)."""
    named = alert_of(user_properties)
    if named is not None:
        return named
    if check is not None and " / " not in check.alert:
        return check.alert
    found = {kind: alert for kind, alert in _NAMED.findall(message)}
    return found.get("fired") or found.get("alert")


def check_of(keywords: Iterable[str]) -> Check | None:
    """The check a test belongs to, from its report's keywords (marker names)."""
    for word in keywords:
        if word in CHECKS:
            return CHECKS[word]
    return None


def inconclusive_reason(user_properties: Iterable[tuple[str, object]]) -> str | None:
    """The reason a test was inconclusive, or None when it was not."""
    for key, val in user_properties:
        if key == INCONCLUSIVE_KEY:
            return str(val)
    return None


# What a next step names, as placeholders the run fills in (`fill_next`): the Rollout and
# namespace (the gate's, from --rollout / --rollout-namespace), the target's URL, and
# the run's target options after `tlogcheck verify $URL INDEX`.
ROLLOUT_PLACEHOLDER = "<rollout>"
NAMESPACE_PLACEHOLDER = "<namespace>"
URL_PLACEHOLDER = "$URL"
_VERIFY_INDEX = "INDEX"
NEXT_PREFIX = "next:     "


def fill_next(
    text: str,
    *,
    rollout: str | None = None,
    namespace: str | None = None,
    url: str | None = None,
    verify_args: str = "",
) -> str:
    """A failure message with the placeholders of its `next:` line filled in: the run's
    Rollout, namespace, URL, and its target options after `tlogcheck verify $URL INDEX`.
    Only the `next:` line changes; a value not given keeps its placeholder."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if not line.startswith(NEXT_PREFIX):
            continue
        if verify_args and f"tlogcheck verify {URL_PLACEHOLDER} {_VERIFY_INDEX}" in line:
            line = line.replace(
                f"{URL_PLACEHOLDER} {_VERIFY_INDEX}",
                f"{URL_PLACEHOLDER} {_VERIFY_INDEX}{verify_args}",
            )
        for placeholder, value in (
            (ROLLOUT_PLACEHOLDER, rollout),
            (NAMESPACE_PLACEHOLDER, namespace),
            (URL_PLACEHOLDER, url),
        ):
            if value:
                line = line.replace(placeholder, value)
        lines[i] = line
    return "\n".join(lines)


def explain(
    check: str | Check, *, expected: str, served: str, extra: Mapping[str, str] | None = None
) -> str:
    """A failure message: expected, served, the alert and section, the next step.

    `check` is a check's name, or a `Check` whose alert and next step fit this failure
    better than its check's (`RELEASE_MIX`).
    """
    c = CHECKS[check] if isinstance(check, str) else check
    lines = [f"expected: {expected}", f"served:   {served}"]
    lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
    lines.append(f"alert:    {c.alert} (playbook {c.section})")
    lines.append(f"{NEXT_PREFIX}{c.next_step}")
    return "\n".join(lines)


# One marker per check of tests_synthetic, in the playbook's words.
CHECK_MARKERS = {
    "health": "/healthz answers 200 within the timeout (playbook §0, §3.1)",
    "root": "the root is well-formed and served as the spec fixes (playbook §0)",
    "checkpoint": "the checkpoint is a signed note that verifies (playbook §0, §3.2)",
    "etag": "ETag equals the SHA-256 of the body (playbook §4)",
    "cache": "Cache-Control per the spec; immutable reads hit the edge (playbook §3.3)",
    "parity": "edge and origin (X-Bypass: 1) serve the same log (playbook §2.3, §3.2)",
    "inclusion": "sampled entries verify against the served root (playbook §0, §3.2)",
    "consistency": "the log only grows: consistency from every recorded tree (playbook §5)",
    "db": "db.jsonl matches its release hash and the served root (playbook §4)",
    "canary": "the target is the expected release and extends the stable side's log "
    "(playbook §3.2, §3.4)",
    "load": "error rate and p95 under load (playbook §3.4)",
}


_FIELDS = ("expected", "served", "alert", "next")


def read_explanation(text: str) -> dict[str, str | None] | None:
    """The fields of a message `explain` wrote (expected, served, alert, next), read
    back for a failure recorded without them as data (an older report, a failure the
    suite's hooks explained); None when the text is not such an explanation."""
    fields: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if sep and key in _FIELDS:
            current = key
            fields[key] = [rest.strip()]
        elif current == "served" and line.startswith(" "):
            fields[current].append(line.strip())
        else:
            current = None  # an extra line (`seed: ...`) ends the field before it
    if "expected" not in fields or "served" not in fields:
        return None
    alert = " ".join(fields.get("alert", [])).split(" (playbook", 1)[0]
    return {
        "expected": " ".join(fields["expected"]),
        "served": "\n".join(fields["served"]),
        "alert": alert or None,
        "next": " ".join(fields.get("next", [])) or None,
    }
