#!/usr/bin/env bash
# The REST API with curl: an OAuth2 client-credentials token, then a stream
# created, read and deleted. Any answer that is not 2xx stops the script with
# the status and body on stderr.
#
#   NOVA_URL=http://127.0.0.1:8080 NOVA_CLIENT_ID=… NOVA_CLIENT_SECRET=… docs/examples/curl.sh
#   NOVA_URL=http://127.0.0.1:8080 NOVA_ADMIN_TOKEN=… docs/examples/curl.sh   # creates a client first
#
# Needs bash, curl and python3 (for reading JSON; jq is not assumed).
set -euo pipefail

NOVA_URL="${NOVA_URL:-http://127.0.0.1:8080}"
NOVA_URL="${NOVA_URL%/}"
TITLE="${NOVA_TITLE:-curl.sh example}"

die() { echo "curl.sh: $*" >&2; exit 1; }
command -v curl >/dev/null || die "curl is not installed"
command -v python3 >/dev/null || die "python3 is not installed (it reads the JSON answers)"

# call METHOD PATH [curl args…]: prints the body; exits on a non-2xx status.
call() {
  local method="$1" path="$2" out status
  shift 2
  out="$(mktemp)"
  status="$(curl -sS -o "$out" -w '%{http_code}' -X "$method" "$NOVA_URL$path" "$@")" || { rm -f "$out"; die "$method $path: curl failed"; }
  if [[ "$status" != 2?? ]]; then
    echo "curl.sh: $method $path answered $status:" >&2
    cat "$out" >&2; echo >&2
    rm -f "$out"
    exit 1
  fi
  cat "$out"
  rm -f "$out"
}

# field NAME: one top-level field of the JSON on stdin.
field() {
  python3 -c 'import json, sys; v = json.load(sys.stdin)[sys.argv[1]]; print(v if isinstance(v, str) else json.dumps(v))' "$1"
}

# 1. Credentials: a client of our own, unless one is given.
if [[ -z "${NOVA_CLIENT_ID:-}" || -z "${NOVA_CLIENT_SECRET:-}" ]]; then
  [[ -n "${NOVA_ADMIN_TOKEN:-}" ]] || die "set NOVA_CLIENT_ID and NOVA_CLIENT_SECRET, or NOVA_ADMIN_TOKEN"
  client="$(call POST /api/v1/clients -H "authorization: Bearer $NOVA_ADMIN_TOKEN" -H 'content-type: application/json' \
    -d '{"name":"curl.sh example","scopes":["streams:read","streams:write"]}')"
  NOVA_CLIENT_ID="$(field client_id <<<"$client")"
  NOVA_CLIENT_SECRET="$(field client_secret <<<"$client")"
  echo "client $NOVA_CLIENT_ID created (its secret is shown only in that answer)"
fi

# 2. An access token (RFC 6749 §4.4: form-encoded, client credentials by HTTP Basic).
tokens="$(call POST /api/v1/auth/token -u "$NOVA_CLIENT_ID:$NOVA_CLIENT_SECRET" -d grant_type=client_credentials)"
ACCESS_TOKEN="$(field access_token <<<"$tokens")"
echo "access token for scopes: $(field scope <<<"$tokens") (expires in $(field expires_in <<<"$tokens") s)"
auth=(-H "authorization: Bearer $ACCESS_TOKEN")

# 3. A stream. The Idempotency-Key makes a retried POST return the same stream instead of a second one.
title_json="$(python3 -c 'import json, sys; print(json.dumps({"title": sys.argv[1]}))' "$TITLE")"
stream="$(call POST /api/v1/streams "${auth[@]}" -H 'content-type: application/json' \
  -H "idempotency-key: curl-sh-$(date +%s)-$RANDOM$RANDOM" -d "$title_json")"
STREAM_ID="$(field id <<<"$stream")"
echo "stream $STREAM_ID created"
echo "  publish to: $(field publish_url <<<"$stream")"
echo "  watch at:   $(field hls_url <<<"$stream")"

# 4. Its status.
status="$(call GET "/api/v1/streams/$STREAM_ID" "${auth[@]}")"
echo "stream $STREAM_ID status: $(field status <<<"$status"), viewers: $(field viewers <<<"$status")"

# 5. Delete it: it ends, its stream key stops working, and a publisher still connected is dropped.
deleted="$(call DELETE "/api/v1/streams/$STREAM_ID" "${auth[@]}")"
echo "stream $STREAM_ID deleted: status $(field status <<<"$deleted"), end reason $(field end_reason <<<"$deleted")"
