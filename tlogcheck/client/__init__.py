"""The HTTP stack: how tlogcheck asks a deployment, bounded, and reads what it answers.

- `http`: `TLogClient`, the edge and origin views of one target (retries, redirects,
  body cap, deadline, shared answers);
- `transport`: the socket layer that enforces the deadline on every route, proxies;
- `tls`: trust stores and certificate failures in plain words;
- `response`: one answer as the checks read it (status, headers, body, cache status);
- `memo`: one answer per read of a run, shared between checks;
- `purpose`: why each request was asked (the check, and a read, a probe, ...), recorded
  with its response for evidence bundles;
- `coding`: bounded gzip, deflate and br decoding;
- `profiles`: the clients a log's users read it with, as whole requests;
- `cdn`: what an edge says about its cache, in every vendor's words.

The names most callers need are here: `from tlogcheck.client import TLogClient`.
"""

from __future__ import annotations

from tlogcheck.client.http import (
    DEFAULT_MAX_BODY,
    RETRY_STATUSES,
    USER_AGENT,
    VIEWS,
    TLogClient,
)
from tlogcheck.client.memo import ResponseMemo
from tlogcheck.client.purpose import Purpose, asking, checking
from tlogcheck.client.response import Response
from tlogcheck.client.transport import proxy_for, redact_url
from tlogcheck.spec import parse_header

__all__ = [
    "DEFAULT_MAX_BODY",
    "RETRY_STATUSES",
    "USER_AGENT",
    "VIEWS",
    "Purpose",
    "Response",
    "ResponseMemo",
    "TLogClient",
    "asking",
    "checking",
    "parse_header",
    "proxy_for",
    "redact_url",
]
