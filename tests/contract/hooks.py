"""Schemathesis hooks for tests/contract.rs.

They drop a failure only when SPEC §4 makes the answer right and no JSON
Schema can say so; every other failure still fails the run, and the
summary counts what was dropped ("dropped by `filter_failure`").

- ST202 (a schema-valid request refused): dropped when the refusal names,
  by its problem+json `code` or its exact `errors[]` entries, a rule that
  a schema cannot express (opaque signed values, rules between fields, a
  secret), or when the case was not schema-valid after all (schemathesis's
  coverage phase sometimes pairs a positive case with a negative part).
- ST301 (a deleted resource still found): dropped when what was read
  again is a page of a collection (`{data, next_cursor}`): a DELETE of a
  collection ends its members (`DELETE /auth/editors/{id}/sessions`
  revokes every session), and the collection answers 200 with what is
  left, as it should; a deleted single resource must still be 404.
- ST302 (a created resource not found): dropped when the "creation" was
  an idempotent replay (`Idempotent-Replayed: true`) of a review that has
  since been retracted: SPEC §4 replays the first answer as it was.
"""

import json

import requests
import schemathesis

# Refusals whose cause a schema cannot describe, by problem `code`.
OPAQUE = {
    # Cursors are opaque and tamper-evident (SPEC §4): any made-up string
    # is a bad cursor, and a bad cursor is a 400.
    "invalid_cursor",
    # X-Consistency-Token is signed by the writer (SPEC §4): a forged or
    # garbled one is a 400.
    "invalid_consistency_token",
    # If-Match names a version only the server knows: a stale one is 412.
    "precondition_failed",
    # The same Idempotency-Key with another body is a 422 (SPEC §4), and
    # generated cases may reuse a key.
    "idempotency_key_reused",
    # A password reset token is a secret an admin was shown once: any
    # made-up one is a 400.
    "invalid_reset_token",
}

# Rules between fields or parameters (OpenAPI parameters are independent;
# SPEC §3, §4 "Query parameters"), or about a secret, as the exact
# (field, message) pairs of `errors[]`.
CROSS_FIELD = {
    ("rating_min", "must not be above rating_max"),
    ("published_after", "must not be after published_before"),
    ("since", "must not be after until"),
    ("sort", "relevance needs a search query q"),
    ("subject.specs.focal_min_mm", "must not be greater than focal_max_mm"),
    ("current_password", "is incorrect"),
    # An embargo: `status` and `publish_at` decide together, and "future"
    # is relative to the server's clock, which no schema knows.
    ("publish_at", "is required for a scheduled review: a time in the future"),
    ("publish_at", "must be left out for a draft"),
    ("publish_at", "must be in the future for a scheduled review"),
    ("publish_at", "must be at most a year from now"),
    ("status", "must be scheduled, or left out, when publish_at is in the future"),
}

# Ids of reviews named by replayed answers (see ST302 above).
REPLAYED = set()


def _problem(response):
    """The problem+json body; a HEAD answer has none, so ask again with GET."""
    if response.request.method == "HEAD":
        again = requests.get(response.request.url, headers=dict(response.request.headers), timeout=10)
        return again.json()
    return json.loads(response.content or b"null")


def _negative_part(case):
    components = getattr(case.meta, "components", None) or {}
    return any(info.mode.is_negative for info in components.values())


def _by_design_refusal(case, response):
    if _negative_part(case):
        return True
    try:
        problem = _problem(response)
    except ValueError:
        return False
    if not isinstance(problem, dict):
        return False
    if problem.get("code") in OPAQUE:
        return True
    errors = problem.get("errors") or []
    pairs = {(e.get("field"), e.get("message")) for e in errors if isinstance(e, dict)}
    return bool(pairs) and pairs <= CROSS_FIELD


def _collection_page(response):
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("data"), list) and "next_cursor" in body


@schemathesis.hook
def after_call(context, case, response):
    if response.headers.get("idempotent-replayed", [""])[0] == "true":
        try:
            REPLAYED.add(str(response.json()["id"]))
        except (ValueError, KeyError, TypeError):
            pass


@schemathesis.hook
def filter_failure(context, failure, case, response):
    code = getattr(failure, "code", None)
    if code == "ST202":
        return not _by_design_refusal(case, response)
    if code == "ST301":
        return not _collection_page(response)
    if code == "ST302":
        return str((case.path_parameters or {}).get("id")) not in REPLAYED
    return True
