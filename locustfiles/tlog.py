"""The TLog load profile for locust: `locust -f locustfiles/tlog.py --host https://tlog.example.com`.

A realistic read mix through the edge (root, checkpoint, entries with a hot set, proofs
pinned to a tree size, consistency) in named request groups. The profile itself lives in
`tlogcheck.load.profile` so the installed suite carries it; its docstring lists the
environment variables (weights, hot set, wait, request cap, ...). `pytest --load` and
`tlogcheck nightly` run this same profile in a locust subprocess.
"""

from __future__ import annotations

from tlogcheck.load.profile import *  # noqa: F403
