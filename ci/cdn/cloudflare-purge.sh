#!/bin/sh
# CDN invalidation for tlogcheck's gate (--gate-invalidate), Cloudflare: purge by URL.
#
# After the gate aborted the canary (playbook §3.2 step 3: roll back, then invalidate),
# the edge still holds the bad release's mutable answers until their TTL runs out:
# the root and the checkpoint (API v1's short-TTL paths). Purge-by-URL takes exact
# URLs, so proofs without tree_size (also short-TTL) age out by their own max-age.
#
#   tlogcheck ... --rollout tlog-ro --gate-invalidate ci/cdn/cloudflare-purge.sh
#
# Needs: curl, and
#   CLOUDFLARE_ZONE_ID     the zone serving the log
#   CLOUDFLARE_API_TOKEN   a token with Zone.Cache Purge (sent on stdin, never on argv)
#   CDN_PUBLIC_URL         the log's public URL (default: TLOG_URL, the URL tlogcheck checked)
# Reads what the gate sets: TLOG_ROLLOUT, TLOG_NAMESPACE, TLOG_CHECK, TLOG_ALERT,
# TLOG_RELEASE, TLOG_URL, TLOG_REASON. Exits non-zero when the purge was refused.
set -eu

: "${CLOUDFLARE_ZONE_ID:?set CLOUDFLARE_ZONE_ID to the zone serving the log}"
: "${CLOUDFLARE_API_TOKEN:?set CLOUDFLARE_API_TOKEN (Zone.Cache Purge)}"
: "${TLOG_ROLLOUT:?not set: run this from tlogcheck --gate-invalidate}"
base="${CDN_PUBLIC_URL:-${TLOG_URL:?neither CDN_PUBLIC_URL nor TLOG_URL is set}}"
base="${base%/}"

echo "tlogcheck: purging ${base}/v1/log/root and ${base}/v1/log/checkpoint from Cloudflare" \
    "zone ${CLOUDFLARE_ZONE_ID} after ${TLOG_ALERT:-a failing check}" \
    "(check ${TLOG_CHECK:-?}, releases ${TLOG_RELEASE:-unknown}) aborted" \
    "${TLOG_NAMESPACE:-?}/${TLOG_ROLLOUT}"

printf 'Authorization: Bearer %s\n' "${CLOUDFLARE_API_TOKEN}" |
    curl --silent --show-error --fail-with-body --max-time 60 \
        --header @- \
        --header "Content-Type: application/json" \
        --request POST \
        --data "{\"files\":[\"${base}/v1/log/root\",\"${base}/v1/log/checkpoint\"]}" \
        "https://api.cloudflare.com/client/v4/zones/${CLOUDFLARE_ZONE_ID}/purge_cache"
