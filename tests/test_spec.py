"""tlogcheck.spec: the spec's JSON bodies, parsed strictly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tlogcheck import spec
from tlogcheck.errors import FormatError
from tlogcheck.spec import (
    MAX_PATH,
    ConsistencyProof,
    Health,
    InclusionProof,
    Request,
    malformed_requests,
    parse_consistency,
    parse_error,
    parse_health,
    parse_inclusion,
    parse_request,
    parse_root,
)

H1 = "ab" * 32
H2 = "0f" * 32
ROOT = {"tree_size": 2048, "root_hash": H1, "timestamp": "2025-01-01T00:00:00Z", "release": "v1"}
PROOF = {"leaf_index": 17, "tree_size": 2048, "leaf_hash": H1, "audit_path": [H2, H1]}
CONSISTENCY = {"first": 1024, "second": 2048, "consistency_path": [H2]}


def body(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def with_field(obj: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    return {**obj, name: value}


def test_root_parses() -> None:
    raw = body(ROOT)
    root = parse_root(raw)
    assert root.tree_size == 2048
    assert root.root_hash == bytes.fromhex(H1)
    assert root.timestamp == "2025-01-01T00:00:00Z"
    assert root.release == "v1"
    assert root.raw == raw


def test_root_release_is_optional_and_unknown_fields_are_ignored() -> None:
    obj = {k: v for k, v in ROOT.items() if k != "release"}
    root = parse_root(body({**obj, "future_field": [1, {"x": None}], "sth": "y"}))
    assert root.release is None
    assert root.tree_size == 2048


def test_key_order_and_whitespace_are_free() -> None:
    raw = b' {\n "release" : "v1", "timestamp":"2025-01-01T00:00:00Z",\t"root_hash":"' + (
        H1.encode() + b'", "tree_size" : 2048 }\n'
    )
    assert parse_root(raw).tree_size == 2048


def test_inclusion_and_consistency_parse() -> None:
    assert parse_inclusion(body(PROOF)) == InclusionProof(
        17, 2048, bytes.fromhex(H1), (bytes.fromhex(H2), bytes.fromhex(H1))
    )
    assert parse_consistency(body(CONSISTENCY)) == ConsistencyProof(
        1024, 2048, (bytes.fromhex(H2),)
    )
    assert parse_inclusion(body(with_field(PROOF, "audit_path", []))).audit_path == ()


def test_health_and_error_parse() -> None:
    assert parse_health(body({"status": "ok", "tree_size": 5, "release": "r"})) == Health(
        "ok", 5, "r"
    )
    assert parse_error(body({"error": "index 9 >= tree size 5"})) == "index 9 >= tree size 5"


BAD_UINTS = [True, False, 1.0, 2048.5, "2048", None, -1, 2**64, [], {}]


@pytest.mark.parametrize("value", BAD_UINTS, ids=repr)
@pytest.mark.parametrize(
    ("parse", "good", "name"),
    [
        (parse_root, ROOT, "tree_size"),
        (parse_inclusion, PROOF, "leaf_index"),
        (parse_inclusion, PROOF, "tree_size"),
        (parse_consistency, CONSISTENCY, "first"),
        (parse_consistency, CONSISTENCY, "second"),
    ],
)
def test_integers_are_strict(parse: Any, good: dict[str, Any], name: str, value: Any) -> None:
    with pytest.raises(FormatError, match=f"field '{name}' is .*non-negative integer"):
        parse(body(with_field(good, name, value)))


def test_uint64_bounds_accepted() -> None:
    assert parse_root(body(with_field(ROOT, "tree_size", 0))).tree_size == 0
    assert parse_root(body(with_field(ROOT, "tree_size", 2**64 - 1))).tree_size == 2**64 - 1


BAD_HASHES = [
    H1.upper(),
    H1[:-2],
    H1 + "00",
    "g" * 64,
    " " + H1[1:],
    H1[:-1] + "\n",
    "",
    None,
    7,
    H1 + " ",
]


@pytest.mark.parametrize("value", BAD_HASHES, ids=repr)
def test_hashes_are_64_lowercase_hex(value: Any) -> None:
    with pytest.raises(FormatError, match="'root_hash' .*64 lowercase hex"):
        parse_root(body(with_field(ROOT, "root_hash", value)))
    with pytest.raises(FormatError, match="'leaf_hash' .*64 lowercase hex"):
        parse_inclusion(body(with_field(PROOF, "leaf_hash", value)))
    with pytest.raises(FormatError, match=r"'audit_path\[1\]' .*64 lowercase hex"):
        parse_inclusion(body(with_field(PROOF, "audit_path", [H1, value])))
    with pytest.raises(FormatError, match=r"'consistency_path\[0\]'"):
        parse_consistency(body(with_field(CONSISTENCY, "consistency_path", [value])))


@pytest.mark.parametrize("value", [H1, None, {"0": H1}, 3])
def test_paths_must_be_arrays(value: Any) -> None:
    with pytest.raises(FormatError, match="'audit_path' .*array of hashes"):
        parse_inclusion(body(with_field(PROOF, "audit_path", value)))


def test_path_longer_than_any_tree_needs_is_refused() -> None:
    parse_inclusion(body(with_field(PROOF, "audit_path", [H1] * MAX_PATH)))
    with pytest.raises(FormatError, match=f"{MAX_PATH + 1} hashes"):
        parse_inclusion(body(with_field(PROOF, "audit_path", [H1] * (MAX_PATH + 1))))


@pytest.mark.parametrize(
    ("parse", "good"),
    [(parse_root, ROOT), (parse_inclusion, PROOF), (parse_consistency, CONSISTENCY)],
)
def test_every_required_field_is_required(parse: Any, good: dict[str, Any]) -> None:
    for name in good:
        if name == "release":
            continue
        partial = {k: v for k, v in good.items() if k != name}
        with pytest.raises(FormatError, match=f"required field '{name}' is missing"):
            parse(body(partial))


@pytest.mark.parametrize(
    "value",
    [
        "2025-01-01",
        "2025-01-01 00:00:00Z",
        "2025-13-01T00:00:00Z",
        "2025-02-30T00:00:00Z",
        "2025-01-01T24:00:00Z",
        "2025-01-01T00:00:61Z",
        "2025-01-01T00:00:00",
        "2025-01-01T00:00:00+25:00",
        "2025-01-01T00:00:00+01:60",
        "yesterday",
        1735689600,
    ],
)
def test_timestamp_must_be_rfc3339(value: Any) -> None:
    with pytest.raises(FormatError, match="'timestamp'"):
        parse_root(body(with_field(ROOT, "timestamp", value)))


@pytest.mark.parametrize(
    "value",
    [
        "2025-01-01T00:00:00Z",
        "2025-01-01t00:00:00z",
        "2025-01-01T00:00:00.123456Z",
        "2025-01-01T09:00:00+09:00",
        "2016-12-31T23:59:60Z",
    ],
)
def test_timestamp_forms_rfc3339_allows(value: str) -> None:
    assert parse_root(body(with_field(ROOT, "timestamp", value))).timestamp == value


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"[1, 2]", "JSON list, not an object"),
        (b'"root"', "JSON str, not an object"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"\xef\xbb\xbf{}", "not valid JSON"),
        (b'{"tree_size": NaN}', "not valid JSON"),
        (b'{"tree_size": Infinity}', "not valid JSON"),
        (b'{"tree_size": 1, "tree_size": 2}', "duplicate key 'tree_size'"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON"),
        (b'{"tree_size": ' + b"9" * 5000 + b"}", "not valid JSON"),
    ],
    ids=lambda x: repr(x)[:30],
)
def test_malformed_bodies(raw: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message) as info:
        parse_root(raw)
    assert str(info.value).startswith("root: ")


def test_message_quotes_the_served_value_truncated() -> None:
    long_value = "x" * 10_000
    with pytest.raises(FormatError) as info:
        parse_root(body(with_field(ROOT, "root_hash", long_value)))
    text = str(info.value)
    assert "'root_hash'" in text and "'xxxxxxxx" in text and "..." in text
    assert len(text) < 300


def test_error_body_needs_a_string() -> None:
    with pytest.raises(FormatError, match="'error'"):
        parse_error(body({"error": 404}))
    with pytest.raises(FormatError, match="required field 'error'"):
        parse_error(body({"message": "nope"}))


hashes = st.binary(min_size=32, max_size=32)
uints = st.integers(min_value=0, max_value=2**64 - 1)


@given(leaf_index=uints, tree_size=uints, leaf=hashes, path=st.lists(hashes, max_size=MAX_PATH))
@example(leaf_index=0, tree_size=1, leaf=b"\0" * 32, path=[])
def test_inclusion_round_trip(
    leaf_index: int, tree_size: int, leaf: bytes, path: list[bytes]
) -> None:
    obj = {
        "audit_path": [p.hex() for p in path],
        "leaf_hash": leaf.hex(),
        "tree_size": tree_size,
        "leaf_index": leaf_index,
    }
    assert parse_inclusion(body(obj)) == InclusionProof(leaf_index, tree_size, leaf, tuple(path))


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_another_error(raw: bytes) -> None:
    for parse in (parse_root, parse_inclusion, parse_consistency, parse_health, parse_error):
        try:
            parse(raw)
        except FormatError:
            pass


# --- requests read by the table's canonical rules -----------------------------------------


@pytest.mark.parametrize(
    "path, kind, index, size, first",
    [
        ("/v1/log/root", "root", None, None, None),
        ("/v1/log/checkpoint", "checkpoint", None, None, None),
        ("/healthz", "health", None, None, None),
        ("/v1/log/entry/0", "entry", 0, None, None),
        ("/v1/log/entry/18446744073709551615", "entry", 2**64 - 1, None, None),
        ("/v1/log/proof/3", "proof", 3, None, None),
        ("/v1/log/proof/3?tree_size=5", "proof", 3, 5, None),
        ("/v1/log/consistency?first=1&second=5", "consistency", None, 5, 1),
        ("/v1/log/consistency?first=5&second=5", "consistency", None, 5, 5),
    ],
)
def test_requests_spelled_as_the_spec_spells_them(
    path: str, kind: str, index: int | None, size: int | None, first: int | None
) -> None:
    assert parse_request(path) == Request(kind, index, size, first)


@pytest.mark.parametrize(
    "path",
    [
        # Every malformed request the root check sends, in the path and in the query.
        *malformed_requests(2048),
        "/v1/log/entry/+0",
        "/v1/log/entry/-0",
        "/v1/log/entry/00",
        "/v1/log/entry/%200",
        "/v1/log/entry/0%20",
        "/v1/log/entry/",
        "/v1/log/entry/\u0663",  # an Arabic-Indic digit: str.isdigit says yes
        "/v1/log/entry/18446744073709551616",
        "/v1/log/entry/0?x=1",
        "/v1/log/root?x=1",
        "/v1/log/proof/5?tree_size=5",  # outside its tree
        "/v1/log/proof/0?size=5",
        "/v1/log/consistency?second=5&first=1",  # out of the table's order
        "/v1/log/consistency?first=0&second=5",
        "/v1/log/consistency?first=6&second=5",
        "/v1/log/consistency?first=1&second=5&first=2",
        "/v1/log/other",
    ],
)
def test_anything_else_asks_nothing(path: str) -> None:
    assert parse_request(path) is None


@pytest.mark.parametrize(
    "value, ok",
    [
        ("public, max-age=60", True),
        ("public, max-age=300", True),
        ("public, max-age=60, s-maxage=300", True),
        ("public, max-age=60, stale-while-revalidate=3600", True),
        ("public, max-age=301", False),
        ("public, max-age=60, s-maxage=301", False),  # what a shared cache keeps it by
        ("public, max-age=60, s-maxage=x", False),
        ("public, max-age=60, stale-while-revalidate=31536000", False),
        ("public, max-age=60, immutable", False),
        ("no-store", False),
        ("no-cache", False),  # API v1's root: max-age <= 300 (a tiled log may say no-cache)
        (None, False),
    ],
)
def test_short_cache_rules_bound_every_lifetime(value: str | None, ok: bool) -> None:
    assert (spec.short_cache_problem(value) is None) == ok, spec.short_cache_problem(value)
    assert (spec.cache_control_problem("/v1/log/root", value) is None) == ok


@pytest.mark.parametrize(
    "value, allowance",
    [
        ("public, max-age=60", (60, 0)),
        ("public, max-age=60, stale-while-revalidate=600", (60, 600)),
        ("public, max-age=60, s-maxage=240", (240, 0)),
        ("public, max-age=60, s-maxage=900", (300, 0)),
        ("max-age=60, stale-while-revalidate=31536000", (60, 3600)),
        ("no-cache", (0, 0)),
        ("no-cache, max-age=60", (0, 0)),
        ("public", None),
        (None, None),
    ],
)
def test_lag_allowance_is_the_origins_bounded_by_the_table(
    value: str | None, allowance: tuple[int, int] | None
) -> None:
    assert spec.lag_allowance(value) == allowance


def test_cache_control_passed_through_compares_directives() -> None:
    assert spec.passed_through_problem("public, max-age=60", "Public,MAX-AGE=60") is None
    assert spec.passed_through_problem("max-age=60, public", "public, max-age=60") is None
    assert spec.passed_through_problem(None, None) is None
    rewritten = spec.passed_through_problem("public, max-age=300", "public, max-age=60")
    assert rewritten is not None and "rewritten" in rewritten and "max-age=60" in rewritten
    added = spec.passed_through_problem("public, max-age=60, s-maxage=900", "public, max-age=60")
    assert added is not None
    assert spec.passed_through_problem(None, "public, max-age=60") is not None


def test_canonical_numbers() -> None:
    for good in ("0", "1", "256", str(2**64 - 1), str(2**64)):
        assert spec.canonical_number(good)
    for bad in ("", "00", "05", "+5", "-5", " 5", "5 ", "５", "٥", "²", "5.0", "0x5", "1_0"):
        assert not spec.canonical_number(bad), bad
    assert spec.overflows(str(2**64)) and not spec.overflows(str(2**64 - 1))
    assert spec.refused_statuses("+5") == {400}
    assert spec.refused_statuses(str(2**64 + 5)) == {400, 404}


def test_every_listed_form_is_refused_in_every_slot() -> None:
    requests = spec.malformed_requests(256)
    slots = spec.number_slots(256)
    assert len(requests) == len(slots) * len(spec.malformed_forms("0")) + 2
    for template, valid in slots:
        forms = spec.malformed_forms(valid)
        assert all(not spec.canonical_number(f) or spec.overflows(f) for f in forms)
        # A digit of another script is among them: `５` is read as 5 by int().
        assert any(not f.isascii() and f.isdecimal() for f in forms)
        assert template.format(valid).count("{") == 0
    # Percent-encoded: what goes on the wire is ASCII.
    assert all(r.isascii() and " " not in r for r in requests)


@given(spec.malformed_numbers())
def test_generated_numbers_are_never_canonical_in_range(text: str) -> None:
    assert not spec.canonical_number(text) or spec.overflows(text)
    # And each one Python's int() would read, the reference origin must not.
    assert 200 not in spec.refused_statuses(text)
