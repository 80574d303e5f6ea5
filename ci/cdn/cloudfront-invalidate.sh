#!/bin/sh
# CDN invalidation for tlogcheck's gate (--gate-invalidate), Amazon CloudFront.
#
# After the gate aborted the canary (playbook §3.2 step 3: roll back, then invalidate),
# the edge still holds the bad release's mutable answers until their TTL runs out:
# the root, the checkpoint and the proofs without tree_size (API v1's short-TTL
# paths). Entries and proofs at a fixed tree size are immutable and stay cached.
#
#   tlogcheck ... --rollout tlog-ro --gate-invalidate ci/cdn/cloudfront-invalidate.sh
#
# Needs: the aws CLI with credentials allowed cloudfront:CreateInvalidation, and
#   CLOUDFRONT_DISTRIBUTION_ID   the distribution in front of the log
# Reads what the gate sets: TLOG_ROLLOUT, TLOG_NAMESPACE, TLOG_CHECK, TLOG_ALERT,
# TLOG_RELEASE, TLOG_URL, TLOG_REASON. Exits non-zero when the invalidation was refused.
set -eu

: "${CLOUDFRONT_DISTRIBUTION_ID:?set CLOUDFRONT_DISTRIBUTION_ID to the distribution in front of the log}"
: "${TLOG_ROLLOUT:?not set: run this from tlogcheck --gate-invalidate}"

echo "tlogcheck: invalidating /v1/log/root, /v1/log/checkpoint, /v1/log/proof/* on CloudFront" \
    "distribution ${CLOUDFRONT_DISTRIBUTION_ID} after ${TLOG_ALERT:-a failing check}" \
    "(check ${TLOG_CHECK:-?}, releases ${TLOG_RELEASE:-unknown}) aborted" \
    "${TLOG_NAMESPACE:-?}/${TLOG_ROLLOUT}"

# A caller reference unique per abort: a retried call with the same one is not a
# second invalidation.
exec aws cloudfront create-invalidation \
    --distribution-id "${CLOUDFRONT_DISTRIBUTION_ID}" \
    --invalidation-batch "{\"Paths\":{\"Quantity\":3,\"Items\":[\"/v1/log/root\",\"/v1/log/checkpoint\",\"/v1/log/proof/*\"]},\"CallerReference\":\"tlogcheck-${TLOG_NAMESPACE:-}-${TLOG_ROLLOUT}-$(date -u +%Y%m%dT%H%M%SZ)\"}" \
    --output json
