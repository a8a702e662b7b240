#!/usr/bin/env bash
# A PBX's side of one call, from a shell: sign, create, read the ETag, wait for a change, cancel,
# read the final view. Needs bash, openssl, curl and jq.
#
#   CALLWAKE_URL=http://127.0.0.1:3000 CALLWAKE_TENANT=t1 CALLWAKE_SECRET=… \
#     ./callwake.sh [callId] [push token hex] [wait seconds]
#
# Every /v1/pbx request carries
#   X-Callwake-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<METHOD>.<path>.<raw body>")>
# over the path exactly as sent (the callId percent-encoded) and the body's exact bytes.
set -euo pipefail

: "${CALLWAKE_URL:?set CALLWAKE_URL, e.g. http://127.0.0.1:3000}"
: "${CALLWAKE_TENANT:?set CALLWAKE_TENANT}"
: "${CALLWAKE_SECRET:?set CALLWAKE_SECRET}"
for tool in openssl curl jq; do
  command -v "$tool" >/dev/null || { echo "callwake.sh needs $tool" >&2; exit 2; }
done

call_id=${1:-"$(openssl rand -hex 8)@pbx.example.com"}
push_token=${2:-$(openssl rand -hex 32)}
wait_seconds=${3:-2}
base=${CALLWAKE_URL%/}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# HMAC-SHA256 built from two SHA-256s (RFC 2104), so the secret never appears on a command line
# (`openssl dgst -hmac <key>` would show it to every local user in ps). The key and the padding
# are handled by bash builtins; openssl only hashes what arrives on its standard input.
# Prints the lowercase hex MAC of the file $1 under CALLWAKE_SECRET.
hmac_sha256_hex() {
  local key_hex ipad='' opad='' i byte
  key_hex=$(printf '%s' "$CALLWAKE_SECRET" | od -An -v -tx1 | tr -d ' \n')
  if [ ${#key_hex} -gt 128 ]; then # a key longer than the block is hashed first
    key_hex=$(printf '%s' "$CALLWAKE_SECRET" | openssl dgst -sha256 -r | cut -d' ' -f1)
  fi
  while [ ${#key_hex} -lt 128 ]; do key_hex="${key_hex}00"; done
  for ((i = 0; i < 128; i += 2)); do
    byte=$((16#${key_hex:i:2}))
    ipad+=$(printf '\\x%02x' $((byte ^ 0x36)))
    opad+=$(printf '\\x%02x' $((byte ^ 0x5c)))
  done
  { printf '%b' "$ipad"; cat "$1"; } | openssl dgst -sha256 -binary >"$tmp/inner"
  { printf '%b' "$opad"; cat "$tmp/inner"; } | openssl dgst -sha256 -r | cut -d' ' -f1
}

# request METHOD PATH [BODY FILE] [curl options…]: sets $status and $etag, the body in $tmp/out.
request() {
  local method=$1 path=$2 body=${3:-} ts
  shift 3 || shift $#
  ts=$(date +%s)
  { printf '%s.%s.%s.' "$ts" "$method" "$path"; [ -n "$body" ] && cat "$body"; } >"$tmp/signed"
  local args=(--silent --show-error --globoff --path-as-is --max-time 40 -X "$method"
    -o "$tmp/out" -D "$tmp/headers" -w '%{http_code}'
    -H "X-Callwake-Tenant: $CALLWAKE_TENANT"
    -H "X-Callwake-Timestamp: $ts"
    -H "X-Callwake-Signature: v1=$(hmac_sha256_hex "$tmp/signed")")
  if [ -n "$body" ]; then args+=(-H 'Content-Type: application/json' --data-binary "@$body"); fi
  status=$(curl "${args[@]}" "$@" "$base$path")
  etag=$(tr -d '\r' <"$tmp/headers" | sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' | tail -n 1)
}

field() { jq -r "$1 // \"-\"" "$tmp/out"; }
expect() {
  if [ "$status" != "$1" ]; then
    echo "$2: unexpected HTTP $status: $(cat "$tmp/out")" >&2
    exit 1
  fi
}

# The body is built by jq from the values (never by pasting strings into JSON), written without a
# trailing newline, signed and sent from the same file: the bytes signed are the bytes sent.
jq -cnj --arg callId "$call_id" --arg prid "$push_token" '{
  callId: $callId,
  from: { number: "+15551230000", displayName: "Shell signer" },
  devices: [ { pnProvider: "apns", pnPrid: $prid, pnParam: "LOCALTEAM1.com.example.phone.voip" } ],
  ringTimeoutSeconds: 60
}' >"$tmp/create.json"
request POST /v1/pbx/calls "$tmp/create.json"
[ "$status" = 201 ] || [ "$status" = 200 ] || expect 201 create
echo "create $status status=$(field .status) callUuid=$(field .callUuid)"

# The callId goes into the path percent-encoded (a SIP Call-ID holds @, ; and more); the path is
# signed exactly as sent.
path="/v1/pbx/calls/$(jq -rn --arg v "$call_id" '$v | @uri')"
request GET "$path" ''
expect 200 view
echo "view $status status=$(field .status) etag=$etag"

echo "waiting wait=$wait_seconds"
request GET "$path" '' -H "If-None-Match: $etag" -H "Prefer: wait=$wait_seconds"
if [ "$status" = 304 ]; then
  applied=$(tr -d '\r' <"$tmp/headers" | sed -n 's/^[Pp]reference-[Aa]pplied: *//p')
  echo "wait 304 unchanged preference-applied=${applied:--}"
else
  expect 200 wait
  echo "wait 200 changed status=$(field .status) endReason=$(field .endReason) etag=$etag"
fi

jq -cnj '{ reason: "caller_hangup" }' >"$tmp/cancel.json"
request POST "$path/cancel" "$tmp/cancel.json"
expect 200 cancel
echo "cancel $status status=$(field .status) endReason=$(field .endReason)"

request GET "$path" ''
expect 200 final
echo "final $status status=$(field .status) endReason=$(field .endReason) etag=$etag"
