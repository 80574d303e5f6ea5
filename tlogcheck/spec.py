"""API v1 (`spec/tlog-ro-api-v1.md`) as data: its paths, its Cache-Control table, its
ETag rule, and its JSON bodies parsed strictly.

Every part of tlogcheck that speaks to or serves the API — the client, the suite, the
locust profile, `tlogcheck verify`, the reference deployment — takes its paths and
rules from here, so they are spelled once.

Bodies: one function per body of the spec: `parse_root`, `parse_inclusion`,
`parse_consistency`, `parse_health`, `parse_error`. Each takes the body bytes (already
bounded by the client's size cap) and returns a frozen dataclass, or raises
`FormatError` naming the body, the field and the value served (truncated).

Strict where the spec is fixed, lenient where it is free:

- the body is UTF-8 JSON holding one object; duplicate keys, NaN and Infinity are refused
  (a parser elsewhere could read them differently, so the check would prove nothing);
- hashes are exactly 64 lowercase hex characters;
- sizes and indices are JSON integers in 0 .. 2**64-1; `true`, `1.0`, `"1"` are refused;
- required fields must be present; unknown fields are ignored (the spec leaves them free).

Only the form is checked here. Whether a proof answers the question asked (its
`leaf_index` and `tree_size`) and whether it verifies is `tlogcheck.verify`'s business.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tlogcheck.errors import FormatError

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

__all__ = [
    "IMMUTABLE_CACHE_CONTROL",
    "PATH_CHECKPOINT",
    "PATH_HEALTH",
    "PATH_ROOT",
    "ConsistencyProof",
    "Request",
    "parse_request",
    "cache_control_problem",
    "lag_allowance",
    "passed_through_problem",
    "short_cache_problem",
    "content_type_problem",
    "canonical_number",
    "malformed_forms",
    "malformed_numbers",
    "malformed_requests",
    "number_slots",
    "overflows",
    "refused_statuses",
    "consistency_path",
    "entry_path",
    "etag_problem",
    "max_age",
    "parse_cache_control",
    "path_kind",
    "proof_path",
    "stale_while_revalidate",
    "Health",
    "InclusionProof",
    "Root",
    "parse_consistency",
    "parse_error",
    "parse_header",
    "parse_health",
    "parse_inclusion",
    "parse_root",
]

# --- paths ---------------------------------------------------------------------------

PATH_HEALTH = "/healthz"
PATH_ROOT = "/v1/log/root"
PATH_CHECKPOINT = "/v1/log/checkpoint"
PATH_ENTRY_PREFIX = "/v1/log/entry/"
PATH_PROOF_PREFIX = "/v1/log/proof/"
PATH_CONSISTENCY = "/v1/log/consistency"

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"


def entry_path(index: int | str) -> str:
    return f"{PATH_ENTRY_PREFIX}{index}"


def proof_path(index: int | str, tree_size: int | str | None = None) -> str:
    if tree_size is None:
        return f"{PATH_PROOF_PREFIX}{index}"
    return f"{PATH_PROOF_PREFIX}{index}?tree_size={tree_size}"


def consistency_path(first: int | str, second: int | str) -> str:
    return f"{PATH_CONSISTENCY}?first={first}&second={second}"


@dataclass(frozen=True)
class Request:
    """What a request of the API asks, read by the spec's rules: `kind` is "health",
    "root", "checkpoint", "entry" (`index`), "proof" (`index`, `size`; `size` None for
    the latest tree) or "consistency" (`first`, `size`: second)."""

    kind: str
    index: int | None = None
    size: int | None = None
    first: int | None = None


def _decimal(text: str) -> int | None:
    """A decimal integer as the spec writes one (`canonical_number`: nothing
    percent-encoded either), within uint64; None otherwise."""
    if len(text) > 20 or not canonical_number(text):
        return None
    value = int(text)
    return value if value <= MAX_UINT64 else None


def parse_request(path: str) -> Request | None:
    """What `path` (with its query) asks, spelled exactly as the API table spells it, or
    None: `/v1/log/entry/+0`, `-0`, `00` and `%200` are not entry 0, a query out of the
    table's order or with another parameter is no request of the API, and neither is a
    question the spec rules out (a proof of a leaf outside its tree, a consistency proof
    from 0 or backwards)."""
    bare, sep, query = path.partition("?")
    if bare in (PATH_HEALTH, PATH_ROOT, PATH_CHECKPOINT):
        if sep:
            return None
        kind = {PATH_HEALTH: "health", PATH_ROOT: "root", PATH_CHECKPOINT: "checkpoint"}[bare]
        return Request(kind)
    if bare.startswith(PATH_ENTRY_PREFIX) and not sep:
        index = _decimal(bare[len(PATH_ENTRY_PREFIX) :])
        return None if index is None else Request("entry", index)
    if bare.startswith(PATH_PROOF_PREFIX):
        index = _decimal(bare[len(PATH_PROOF_PREFIX) :])
        if index is None:
            return None
        if not sep:
            return Request("proof", index)
        name, eq, value = query.partition("=")
        size = _decimal(value) if (name, eq) == ("tree_size", "=") else None
        if size is None or index >= size:
            return None
        return Request("proof", index, size)
    if bare == PATH_CONSISTENCY and sep:
        first_part, amp, second_part = query.partition("&")
        first = _decimal(first_part.removeprefix("first=")) if amp else None
        second = _decimal(second_part.removeprefix("second="))
        if not first_part.startswith("first=") or not second_part.startswith("second="):
            return None
        if first is None or second is None or not 1 <= first <= second:
            return None
        return Request("consistency", size=second, first=first)
    return None


def canonical_number(text: str) -> bool:
    """Whether `text` (decoded) is an index or size as the spec writes one: ASCII decimal
    digits, no sign, no space, no leading zero. Anything else is answered 400."""
    return text.isascii() and text.isdigit() and (text == "0" or text[0] != "0")


# Where an index or size goes in a request, one slot each (`{}`), the rest valid for any
# tree of `n` >= 1 entries: the path and the query of every endpoint.
def number_slots(tree_size: int) -> list[tuple[str, str]]:
    """(template with one `{}`, the valid value it replaces) for every index and size of
    every endpoint, in the path and in the query."""
    n = str(tree_size)
    return [
        (PATH_ENTRY_PREFIX + "{}", "0"),
        (PATH_PROOF_PREFIX + "{}?tree_size=" + n, "0"),
        (PATH_PROOF_PREFIX + "{}", "0"),
        (PATH_PROOF_PREFIX + "0?tree_size={}", n),
        (PATH_CONSISTENCY + "?first={}&second=" + n, "1"),
        (PATH_CONSISTENCY + "?first=1&second={}", n),
    ]


# Digits of other scripts (each `isdecimal`, so int() reads them), look-alikes that are
# not decimal, signs, spaces that are not ASCII's.
OTHER_DIGITS = "０１２３４５６７８９٠١٢٣٤٥٦٧٨٩०१२३४५६७८९০১২৩৪৫৬৭৮৯๐๑๒๓๔๕๖๗๘๙𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗"
LOOKALIKES = "²³¹⁰₀₁①⑤"
SIGNS = ("+", "-", "\uff0b", "\u2212", "\ufe62")
SPACES = (" ", "\t", "\u00a0", "\u3000", "\u2009", "\n")


def malformed_forms(value: str) -> list[str]:
    """The forms of a valid `value` every server must refuse, one of each kind: a sign, a
    leading zero, a space before or after, not a number, a digit of another script, a
    number past uint64 (the last: 400, or 404 out of range, never 200)."""
    other = "".join(OTHER_DIGITS[int(d)] for d in value)  # fullwidth
    return [
        f"+{value}", f"-{value}", f"0{value}", f" {value}", f"{value} ", "x", other,
        value[:-1] + "\u0665" if value else "\u0665", str(2**64 + int(value)),
    ]  # fmt: skip


def malformed_requests(tree_size: int, forms: Sequence[str] | None = None) -> list[str]:
    """Requests of every endpoint with one index or size malformed, in the path or in the
    query: each must be answered 400 (spec: decimal integers without sign or leading
    zeros), an overflowing one 400 or 404. `forms` replaces the valid value of every slot
    (default: `malformed_forms` of each). Percent-encoded as clients send them; the other
    values are valid for any tree of `tree_size` >= 1, so nothing but the malformed one is
    wrong."""
    requests = []
    for template, valid in number_slots(tree_size):
        for bad in forms if forms is not None else malformed_forms(valid):
            requests.append(template.format(quote(bad, safe="")))
    requests += [f"{PATH_CONSISTENCY}?first=1", f"{PATH_CONSISTENCY}?second={tree_size}"]
    return requests


def overflows(text: str) -> bool:
    """Canonical digits beyond uint64: out of any range (404) or refused (400)."""
    return canonical_number(text) and int(text) > MAX_UINT64


def refused_statuses(text: str) -> frozenset[int]:
    """How a request whose index or size is `text` (not canonical, or past uint64) may be
    answered: 400, and for a canonical number past uint64 also 404 (out of range). Never
    200: a server that reads `５`, `+5` or 2**64 + 5 as 5 answers a question nobody
    asked, and caches store it under a key no honest client uses."""
    return frozenset({400, 404}) if overflows(text) else frozenset({400})


def malformed_numbers() -> SearchStrategy[str]:
    """Hypothesis strategy: texts that are not canonical ASCII decimal — digits of other
    scripts mixed in, signs, spaces (ASCII and not) anywhere, leading zeros, look-alikes,
    decimal points, exponents, hex, underscores — or overflow uint64. Imported lazily: only
    the suite's checks draw from it."""
    from hypothesis import strategies as st

    ascii_digits = st.text(alphabet="0123456789", min_size=1, max_size=6)
    foreign = st.sampled_from(OTHER_DIGITS + LOOKALIKES)

    @st.composite
    def mixed(draw: st.DrawFn) -> str:
        digits = list(draw(ascii_digits))
        at = draw(st.integers(0, len(digits) - 1))
        digits[at] = draw(foreign)
        return "".join(digits)

    @st.composite
    def decorated(draw: st.DrawFn) -> str:
        core = draw(st.one_of(ascii_digits, mixed()))
        sign = draw(st.sampled_from(("", *SIGNS)))
        before = draw(st.sampled_from(("", *SPACES)))
        after = draw(st.sampled_from(("", *SPACES)))
        zeros = draw(st.sampled_from(("", "0", "00")))
        return before + sign + zeros + core + after

    spelled = st.sampled_from(("0x10", "1e3", "1.0", "1_0", "0b1", "١٠", "٣", "۳", "five"))
    overflow = st.integers(MAX_UINT64 + 1, 10**30).map(str)
    return st.one_of(mixed(), decorated(), spelled, overflow).filter(
        lambda t: not canonical_number(t) or overflows(t)
    )


# --- Content-Type ------------------------------------------------------------------------


def content_type_problem(path: str, value: str | None) -> str | None:
    """What is wrong with `value` as the Content-Type of a 200 for `path`, or None.

    JSON bodies are application/json; the checkpoint is text/plain in UTF-8. Parameters
    beyond a charset of UTF-8 are free."""
    want = TEXT_TYPE if path.partition("?")[0] == PATH_CHECKPOINT else JSON_TYPE
    if value is None:
        return f"no Content-Type; expected {want}"
    media, _, params = value.partition(";")
    if media.strip().lower() != want.partition(";")[0]:
        return f"Content-Type: {value}; expected {want}"
    charset = parse_cache_control(params.replace(";", ",")).get("charset")
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        return f"Content-Type: {value}; the body is UTF-8"
    return None


# --- Cache-Control: the spec's table ------------------------------------------------------

SHORT_MAX_AGE = 300
# The most a short path's `stale-while-revalidate` may add to its max-age: a cache may
# then serve a root up to SHORT_MAX_AGE + SHORT_STALE_MAX seconds old, never days.
SHORT_STALE_MAX = 3600
IMMUTABLE_MAX_AGE = 31536000
IMMUTABLE_CACHE_CONTROL = f"public, max-age={IMMUTABLE_MAX_AGE}, immutable"
NO_STORE = "no-store"


def path_kind(path: str) -> str:
    """The spec's Cache-Control class of a path: 'no-store', 'short' or 'immutable'."""
    bare, _, query = path.partition("?")
    if bare == PATH_HEALTH:
        return "no-store"
    if bare in (PATH_ROOT, PATH_CHECKPOINT):
        return "short"
    if bare.startswith(PATH_ENTRY_PREFIX) or bare == PATH_CONSISTENCY:
        return "immutable"
    if bare.startswith(PATH_PROOF_PREFIX):
        return "immutable" if "tree_size=" in query else "short"
    raise ValueError(f"{path} is not a path of the API")


def parse_cache_control(value: str | None) -> dict[str, str | None]:
    """Directives of a Cache-Control value, names lower-cased, quotes removed."""
    out: dict[str, str | None] = {}
    for part in (value or "").split(","):
        name, sep, arg = part.strip().partition("=")
        if not name:
            continue
        out[name.strip().lower()] = arg.strip().strip('"') if sep else None
    return out


def max_age(value: str | None) -> int | None:
    """`max-age` of a Cache-Control value, None when absent or not a number."""
    arg = parse_cache_control(value).get("max-age")
    if arg is None or not arg.isdigit():
        return None
    return int(arg)


def stale_while_revalidate(value: str | None) -> int:
    """`stale-while-revalidate` of a Cache-Control value (RFC 5861), 0 when absent or bad."""
    arg = parse_cache_control(value).get("stale-while-revalidate")
    return int(arg) if arg is not None and arg.isdigit() else 0


def _seconds(value: str | None, name: str) -> int | None:
    arg = parse_cache_control(value).get(name)
    return int(arg) if arg is not None and arg.isdigit() else None


def short_cache_problem(
    value: str | None, what: str = "a short path", *, no_cache_ok: bool = False
) -> str | None:
    """What is wrong with `value` as the Cache-Control of what is cached briefly (the root,
    the checkpoint), or None: max-age <= SHORT_MAX_AGE, and so the `s-maxage` shared
    caches keep it by; `stale-while-revalidate` <= SHORT_STALE_MAX, the most it may add;
    never immutable, never no-store. `no_cache_ok`: `no-cache` (revalidate every time)
    stands in for a max-age (a tiled log's checkpoint, as C2SP asks)."""
    cc = parse_cache_control(value)
    shown = "no Cache-Control header" if value is None else f"Cache-Control: {value}"
    age = max_age(value)
    if "immutable" in cc:
        return f"{shown}; {what} must never be immutable"
    if "no-store" in cc:
        return f"{shown}; {what} is cached briefly, not no-store"
    if age is None and not (no_cache_ok and "no-cache" in cc):
        return f"{shown}; expected max-age <= {SHORT_MAX_AGE}"
    if age is not None and age > SHORT_MAX_AGE:
        return f"{shown}; max-age {age} > {SHORT_MAX_AGE}"
    shared = _seconds(value, "s-maxage")
    if "s-maxage" in cc and (shared is None or shared > SHORT_MAX_AGE):
        return f"{shown}; s-maxage (what shared caches keep it by) must be <= {SHORT_MAX_AGE}"
    if "stale-while-revalidate" in cc:
        swr = _seconds(value, "stale-while-revalidate")
        if swr is None or swr > SHORT_STALE_MAX:
            return (
                f"{shown}; stale-while-revalidate lets a cache serve {what} that much past "
                f"its max-age: at most {SHORT_STALE_MAX}"
            )
    return None


def lag_allowance(value: str | None) -> tuple[int, int] | None:
    """How old a cache's copy of a short path may be, by the Cache-Control its ORIGIN sent
    (`value`): (fresh, stale) seconds — a shared cache's lifetime (`s-maxage`, else
    `max-age`; 0 with `no-cache`), and the `stale-while-revalidate` past it — each
    bounded by the spec's table (SHORT_MAX_AGE, SHORT_STALE_MAX), so a directive beyond
    the table (which the cache check reports) never buys a cache more. None: the origin
    sent no lifetime to tell by."""
    cc = parse_cache_control(value)
    fresh = _seconds(value, "s-maxage")
    if fresh is None:
        fresh = max_age(value)
    if fresh is None and "no-cache" in cc:
        fresh = 0
    if fresh is None:
        return None
    if "no-cache" in cc:
        fresh = 0
    swr = stale_while_revalidate(value)
    return min(fresh, SHORT_MAX_AGE), min(swr, SHORT_STALE_MAX)


def passed_through_problem(edge: str | None, origin: str | None) -> str | None:
    """What the edge changed in the origin's Cache-Control (spec: the edge passes it
    through unchanged), or None. Directives are compared, not spellings: case, order and
    spaces are free."""
    if parse_cache_control(edge) == parse_cache_control(origin):
        return None
    shown = "none" if edge is None else edge
    sent = "none" if origin is None else origin
    return f"the edge serves Cache-Control: {shown}, the origin sent {sent}: rewritten"


def cache_control_problem(path: str, value: str | None) -> str | None:
    """What is wrong with `value` as the Cache-Control of a 200 for `path`, or None."""
    kind = path_kind(path)
    cc = parse_cache_control(value)
    shown = "no Cache-Control header" if value is None else f"Cache-Control: {value}"
    if kind == "no-store":
        return None if "no-store" in cc else f"{shown}; expected no-store"
    if kind == "short":
        return short_cache_problem(value)
    want = parse_cache_control(IMMUTABLE_CACHE_CONTROL)
    if {k: cc.get(k, "<absent>") for k in want} != want:
        return f"{shown}; expected {IMMUTABLE_CACHE_CONTROL}"
    return None


# --- ETag: the strong "<sha256 of the body>" -------------------------------------------

_STRONG_ETAG = re.compile(r'"([0-9a-f]{64})"')


def etag_of(body: bytes) -> str:
    """The ETag the spec fixes for a body."""
    return f'"{hashlib.sha256(body).hexdigest()}"'


def etag_problem(etag: str | None, body: bytes) -> str | None:
    """What is wrong with `etag` as the ETag of `body`, or None (also when there is none)."""
    if etag is None:
        return None
    body_hash = hashlib.sha256(body).hexdigest()
    if etag.startswith(("W/", "w/")):
        return f'weak ETag {etag}; expected the strong "{body_hash}"'
    m = _STRONG_ETAG.fullmatch(etag)
    if m is None:
        return f'ETag {etag} is not "<64 lowercase hex>"; expected "{body_hash}"'
    if m.group(1) != body_hash:
        return f"ETag {etag} but SHA-256 of the body is {body_hash}"
    return None


# --- bodies -------------------------------------------------------------------------------

# RFC 9162 tree sizes and indices are uint64.
MAX_UINT64 = 2**64 - 1
# A path longer than this would need a tree of more than 2**64 leaves.
MAX_PATH = 64
# How much of a bad value a message quotes.
_QUOTE = 80

_HEX64 = re.compile(r"[0-9a-f]{64}")
# RFC 3339 §5.6 date-time; "T"/"Z" may be lower case there.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
)


@dataclass(frozen=True)
class Root:
    """`GET /v1/log/root`."""

    tree_size: int
    root_hash: bytes
    timestamp: str
    release: str | None
    raw: bytes


@dataclass(frozen=True)
class InclusionProof:
    """`GET /v1/log/proof/{i}?tree_size={n}`."""

    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    audit_path: tuple[bytes, ...]


@dataclass(frozen=True)
class ConsistencyProof:
    """`GET /v1/log/consistency?first={m}&second={n}`."""

    first: int
    second: int
    path: tuple[bytes, ...]


@dataclass(frozen=True)
class Health:
    """`GET /healthz`."""

    status: str
    tree_size: int
    release: str | None


def _quote(value: object) -> str:
    text = repr(value)
    if len(text) > _QUOTE:
        text = text[: _QUOTE - 3] + "..."
    return text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON the spec allows")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, val in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = val
    return obj


def _object(kind: str, body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{kind}: body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except ValueError as exc:  # JSONDecodeError, our hooks, int digit limits
        raise FormatError(f"{kind}: body is not valid JSON ({exc}): {_quote(body)}") from None
    except RecursionError:
        raise FormatError(f"{kind}: body is JSON nested too deeply") from None
    if not isinstance(obj, dict):
        raise FormatError(f"{kind}: body is a JSON {type(obj).__name__}, not an object")
    return obj


def _field(kind: str, obj: dict[str, Any], name: str) -> Any:
    if name not in obj:
        present = ", ".join(sorted(obj)) or "none"
        raise FormatError(f"{kind}: required field {name!r} is missing (fields: {present})")
    return obj[name]


def _bad(kind: str, name: str, value: object, expected: str) -> FormatError:
    return FormatError(
        f"{kind}: field {name!r} is {_quote(value)} ({_json_type(value)}), expected {expected}"
    )


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _uint(kind: str, obj: dict[str, Any], name: str) -> int:
    value = _field(kind, obj, name)
    # bool is an int subclass in Python; JSON's true is not a number.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_UINT64:
        raise _bad(kind, name, value, "a non-negative integer (uint64)")
    return value


def _hash(kind: str, name: str, value: object) -> bytes:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise _bad(kind, name, value, "64 lowercase hex characters")
    return bytes.fromhex(value)


def _hash_field(kind: str, obj: dict[str, Any], name: str) -> bytes:
    return _hash(kind, name, _field(kind, obj, name))


def _path(kind: str, obj: dict[str, Any], name: str) -> tuple[bytes, ...]:
    value = _field(kind, obj, name)
    if not isinstance(value, list):
        raise _bad(kind, name, value, "an array of hashes")
    if len(value) > MAX_PATH:
        raise FormatError(
            f"{kind}: field {name!r} has {len(value)} hashes; no tree of at most 2**64 "
            f"leaves needs more than {MAX_PATH}"
        )
    return tuple(_hash(kind, f"{name}[{i}]", item) for i, item in enumerate(value))


def _string(kind: str, obj: dict[str, Any], name: str, *, optional: bool = False) -> str | None:
    if optional and name not in obj:
        return None
    value = _field(kind, obj, name)
    if not isinstance(value, str):
        raise _bad(kind, name, value, "a string")
    return value


def _timestamp(kind: str, obj: dict[str, Any], name: str) -> str:
    value = _string(kind, obj, name)
    assert value is not None
    m = _RFC3339.fullmatch(value)
    if m is None:
        raise _bad(kind, name, value, "an RFC 3339 date-time")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    offset = m.group(8)
    try:
        # RFC 3339 allows a leap second (60); datetime does not.
        datetime(year, month, day, hour, minute, min(second, 59))
        if second > 60 or (offset[0] in "+-" and (int(offset[1:3]) > 23 or int(offset[4:]) > 59)):
            raise ValueError(value)
    except ValueError:
        raise _bad(kind, name, value, "an RFC 3339 date-time") from None
    return value


def parse_root(body: bytes) -> Root:
    """`{"tree_size":N,"root_hash":"<hex>","timestamp":"<RFC 3339>","release":"R"}`."""
    kind = "root"
    obj = _object(kind, body)
    return Root(
        tree_size=_uint(kind, obj, "tree_size"),
        root_hash=_hash_field(kind, obj, "root_hash"),
        timestamp=_timestamp(kind, obj, "timestamp"),
        release=_string(kind, obj, "release", optional=True),
        raw=bytes(body),
    )


def parse_inclusion(body: bytes) -> InclusionProof:
    """`{"leaf_index":i,"tree_size":n,"leaf_hash":"<hex>","audit_path":["<hex>",...]}`."""
    kind = "inclusion proof"
    obj = _object(kind, body)
    return InclusionProof(
        leaf_index=_uint(kind, obj, "leaf_index"),
        tree_size=_uint(kind, obj, "tree_size"),
        leaf_hash=_hash_field(kind, obj, "leaf_hash"),
        audit_path=_path(kind, obj, "audit_path"),
    )


def parse_consistency(body: bytes) -> ConsistencyProof:
    """`{"first":m,"second":n,"consistency_path":["<hex>",...]}`."""
    kind = "consistency proof"
    obj = _object(kind, body)
    return ConsistencyProof(
        first=_uint(kind, obj, "first"),
        second=_uint(kind, obj, "second"),
        path=_path(kind, obj, "consistency_path"),
    )


def parse_health(body: bytes) -> Health:
    """`{"status":"ok","tree_size":N,"release":"R"}`; any status string is returned as served."""
    kind = "healthz"
    obj = _object(kind, body)
    status = _string(kind, obj, "status")
    assert status is not None
    return Health(
        status=status,
        tree_size=_uint(kind, obj, "tree_size"),
        release=_string(kind, obj, "release", optional=True),
    )


def parse_error(body: bytes) -> str:
    """`{"error":"<text>"}` of a 400 or 404: the text."""
    kind = "error"
    text = _string(kind, _object(kind, body), "error")
    assert text is not None
    return text


# --- request headers a deployment adds ------------------------------------------------

# An access gateway's token or a tenant header: sent on every request, given on the
# command line or in the environment as one `Name: value` line.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def parse_header(raw: str) -> tuple[str, str]:
    """`Name: value` -> (name, value); the value is a secret and never appears in a message."""
    name, sep, val = raw.partition(":")
    name, val = name.strip(), val.strip()
    if not sep or not _TOKEN.fullmatch(name):
        raise ValueError("expected `Name: value`: a header name (letters, digits, -), a colon")
    if not val or any(ord(c) < 0x20 or ord(c) == 0x7F for c in val):
        raise ValueError(f"header {name}: the value is empty or holds control characters")
    if name.lower() in ("host", "content-length", "transfer-encoding", "accept-encoding"):
        raise ValueError(f"header {name} is set by tlogcheck itself")
    return name, val
