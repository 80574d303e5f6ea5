"""`tlogcheck demo` (`make demo`): the suite against the embedded deployment, healthy and
then broken.

    tlogcheck demo              the demo steps, one after the other
    tlogcheck demo --matrix     the detection matrix table (README) from FAULTS
    tlogcheck demo --measure    run the suite against every fault, print what failed

Each step runs `pytest --pyargs tests_synthetic` in a subprocess, as a user would, and
says what to look at. The demo exits 0 when every step ended as it should: the healthy
run passed and the faulted run failed with the check that catches the fault.

Steps are `DemoStep`s in `STEPS`, then the gate's own step (`tlogcheck.gate.demo`: a
dry run of the Argo Rollouts abort).
"""

from __future__ import annotations

import argparse
import shlex
import textwrap
from collections.abc import Sequence

from tlogcheck.errors import EXIT_FAILED, EXIT_OK
from tlogcheck.playbook.checks import CHECK_MARKERS
from tlogcheck.runs import DEMO_ENTRIES, DemoStep, SuiteRun, run_suite

__all__ = [
    "STEPS",
    "DemoStep",
    "SuiteRun",
    "add_arguments",
    "run",
    "matrix_table",
    "run_suite",
]

_COMMON = (f"--tlog-embedded-entries={DEMO_ENTRIES}", "-m", "not load", "-rs")

STEPS: list[DemoStep] = [
    DemoStep(
        "1. A healthy deployment",
        "The suite starts the embedded reference deployment (an origin behind a caching "
        f"edge, serving a demo log of {DEMO_ENTRIES} entries signed with a demo key) and "
        "runs every functional check of the playbook against it: health, root, checkpoint, ETag, "
        "cache, edge/origin parity, inclusion of sampled entries, consistency, db.jsonl. "
        "The header names the target and the seed.",
        _COMMON,
        EXIT_OK,
        after="Every check passed. The 'tlogcheck' section at the end sums up per check, "
        "and gives the command that replays this run's sample (its seed).",
    ),
    DemoStep(
        "2. The same deployment with a corrupted entry",
        "Now the origin serves altered bytes for one entry of the log, 512 (fault "
        "`corrupt-entry:512`): still valid JSON, with an ETag that matches the altered "
        "body, so only hashing the entry and verifying its inclusion proof against the "
        "root can tell. 512 sits on a power-of-two boundary, one of the edge indices "
        "every run verifies. Expect the inclusion check to fail and the others to pass.",
        (*_COMMON, "--tlog-embedded-fault=corrupt-entry:512"),
        EXIT_FAILED,
        frozenset({"inclusion"}),
        after="Read the failure: what was expected, what was served (status, headers, "
        "hashes), the playbook alert and section (TLogInclusionProofFail, §3.2), the "
        "next diagnostic step, the seed, and the command that re-runs one failing index.",
    ),
    DemoStep(
        "3. The same log read as C2SP tiles, one tile corrupted",
        "The deployment also serves its log as a C2SP tiled log (/checkpoint, /tile/...), "
        "the layout of Tessera logs and Rekor v2. With --tlog-api tiles the suite reads "
        "it that way: proofs computed from tiles, every tile checked against the one "
        "above it. Here one hash of the full tile tile/0/000 is flipped (fault "
        "`tiles-corrupt-hash`): expect the inclusion check to fail naming that tile, and "
        "the API v1 checks to skip, saying why.",
        (*_COMMON, "--tlog-api=tiles", "--tlog-embedded-fault=tiles-corrupt-hash"),
        EXIT_FAILED,
        frozenset({"inclusion"}),
        after="The failure names the tile whose hashes do not add up to its parent "
        "(tile/1/000...), and the re-run command keeps --tlog-api=tiles.",
    ),
]


def steps() -> list[DemoStep]:
    """STEPS, then the gate's dry run."""
    from tlogcheck.gate.demo import demo_steps

    return [*STEPS, *demo_steps()]


def _banner(text: str) -> None:
    print("\n" + "=" * 78)
    print(text)
    print("=" * 78, flush=True)


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=78)


def run_demo(selected: Sequence[DemoStep]) -> int:
    ok = True
    for step in selected:
        _banner(step.title)
        print(_wrap(step.before))
        print("\n$ " + shlex.join(["pytest", "--pyargs", "tests_synthetic", *step.args]) + "\n")
        run = run_suite(step.args, echo=True)
        good = step.succeeded(run)
        ok = ok and good
        verdict = "as expected" if good else "NOT as expected"
        print(f"\n--> exit status {run.exitstatus} ({verdict}), {run.seconds:.1f}s")
        if step.after:
            print(_wrap(step.after))
    _banner("Demo " + ("done: every step ended as expected." if ok else "FAILED: see above."))
    return EXIT_OK if ok else EXIT_FAILED


# --- the detection matrix ------------------------------------------------------------------


def matrix_table() -> str:
    """The README's detection matrix, made from `refstack.faults.FAULTS`."""
    from tlogcheck.refstack.faults import FAULTS

    rows = [
        "| fault | side | API | imitates | caught by (must fail) | may also fail |",
        "|---|---|---|---|---|---|",
    ]
    for doc in FAULTS.values():
        alert = (
            f"{doc.alert} ({doc.section})" if doc.alert else f"nothing: legitimate ({doc.section})"
        )
        caught = ", ".join(doc.caught_by) or "— (every check passes)"
        also = ", ".join(doc.also) or "—"
        rows.append(f"| `{doc.usage}` | {doc.side} | {doc.api} | {alert} | {caught} | {also} |")
    return "\n".join(rows)


# What the measured matrix (and tests/synthetic/test_detection_matrix.py) runs each fault with.
MATRIX_ENTRIES = 256
MATRIX_ARGS: tuple[str, ...] = (
    f"--tlog-embedded-entries={MATRIX_ENTRIES}",
    "--tlog-sample=16",
    "-m",
    "not load",
)
# The tiles faults (api "tiles") are checked with --tlog-api tiles on a log with full
# tiles, partial ones at two levels and a partial bundle (1,000 = 3 × 256 + 232).
MATRIX_TILES_ENTRIES = 1000
MATRIX_TILES_ARGS: tuple[str, ...] = (
    "--tlog-api=tiles",
    f"--tlog-embedded-entries={MATRIX_TILES_ENTRIES}",
    "--tlog-sample=16",
    "-m",
    "not load",
)
# An argument for the faults that need one, and options some need to end in bounded time.
MATRIX_FAULT_SPEC = {
    "latency": "latency:50",
    "error-rate": "error-rate:5",
    "oversize-body": "oversize-body:17",
    "cdn-dialect": "cdn-dialect:akamai",
    "hang": "hang:/v1/log/root",
    "trickle": "trickle:/v1/log/root",
}
MATRIX_FAULT_OPTIONS: dict[str, tuple[str, ...]] = {
    "slow-body": ("--tlog-timeout=0.5",),
    "hang": ("--tlog-timeout=1",),
    "trickle": ("--tlog-timeout=1",),
}


def custody_root(size: int) -> str:
    """`SIZE:HEX` of the demo log's first `size` entries: a custody record (playbook §5)."""
    from tlogcheck.merkle import root_of
    from tlogcheck.refstack.data import demo_entries

    return f"{size}:{root_of(demo_entries(0, size)).hex()}"


def matrix_common(api: str = "v1") -> tuple[str, ...]:
    """The matrix's options for an API, the custody record of the log's first half included."""
    if api == "tiles":
        return (*MATRIX_TILES_ARGS, f"--tlog-known-root={custody_root(MATRIX_TILES_ENTRIES // 2)}")
    return (*MATRIX_ARGS, f"--tlog-known-root={custody_root(MATRIX_ENTRIES // 2)}")


def matrix_run(name: str) -> SuiteRun:
    """The functional suite, through the fault's API, against the embedded deployment with
    fault `name`."""
    from tlogcheck.refstack.faults import FAULTS

    args = [
        *matrix_common(FAULTS[name].api),
        f"--tlog-embedded-fault={MATRIX_FAULT_SPEC.get(name, name)}",
        *MATRIX_FAULT_OPTIONS.get(name, ()),
    ]
    return run_suite(args)


# The checks of tests_synthetic but the load phase, which has its own self-tests.
FUNCTIONAL_CHECKS = frozenset(CHECK_MARKERS) - {"load"}


def matrix_misses(
    caught_by: Sequence[str], also: Sequence[str], run: SuiteRun
) -> tuple[set[str], set[str]]:
    """(checks that should have failed and did not, checks that failed or were
    inconclusive though the registry does not allow it); the load check aside."""
    must = set(caught_by) & FUNCTIONAL_CHECKS
    troubled = run.failed_checks | run.inconclusive_checks
    return must - run.failed_checks, troubled - must - set(also)


def measure_matrix() -> int:
    from tlogcheck.refstack.faults import FAULTS

    print("| fault | failed (measured) | inconclusive | caught by (registry) | as registered |")
    print("|---|---|---|---|---|")
    ok = True
    for name, doc in FAULTS.items():
        run = matrix_run(name)
        failed = sorted(run.failed_checks)
        functional = set(doc.caught_by) - {"load"}
        allowed = functional | set(doc.also)
        good = (
            functional <= run.failed_checks
            and (run.failed_checks | run.inconclusive_checks) <= allowed
        )
        ok = ok and good
        print(
            f"| `{MATRIX_FAULT_SPEC.get(name, name)}` | {', '.join(failed) or '—'} "
            f"| {', '.join(sorted(run.inconclusive_checks)) or '—'} "
            f"| {', '.join(doc.caught_by) or '—'} | {'yes' if good else 'NO'} |",
            flush=True,
        )
    return EXIT_OK if ok else EXIT_FAILED


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--matrix", action="store_true", help="print the detection matrix table")
    parser.add_argument("--list", action="store_true", help="list the demo steps")
    parser.add_argument(
        "--measure", action="store_true", help="run every fault and print what the suite caught"
    )


def run(args: argparse.Namespace) -> int:
    if args.matrix:
        print(matrix_table())
        return EXIT_OK
    if args.measure:
        return measure_matrix()
    selected = steps()
    if args.list:
        for step in selected:
            print(
                f"{step.title}: {shlex.join(['pytest', '--pyargs', 'tests_synthetic', *step.args])}"
            )
        return EXIT_OK
    return run_demo(selected)
