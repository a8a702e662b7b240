#!/bin/sh
# Points a tenant's signed callbacks at Kamailio (PUT /v1/pbx/webhook), once per deployment.
#
#   CW_SECRET=<the tenant's secret> examples/kamailio/register-webhook.sh \
#     <callwake base URL> <tenant> <URL callwake POSTs events to>
#
#   e.g. CW_SECRET=… examples/kamailio/register-webhook.sh http://127.0.0.1:3000 t1 \
#          http://127.0.0.1:8060/callwake/events
#
# Needs curl and openssl. Signs the request as every PBX request is signed:
# v1=<hex HMAC-SHA256(secret, "<timestamp>.PUT./v1/pbx/webhook.<body>")>.
set -eu

if [ "$#" -ne 3 ] || [ -z "${CW_SECRET:-}" ]; then
  echo "usage: CW_SECRET=<secret> $0 <callwake base URL> <tenant> <events URL>" >&2
  exit 2
fi
base=${1%/}
tenant=$2
events_url=$3

path=/v1/pbx/webhook
# Only the events that end a held INVITE: a decline, the ring's end, a cancel from anywhere.
body=$(printf '{"url":"%s","events":["call.declined","call.expired","call.cancelled"]}' "$events_url")
ts=$(date +%s)
sig=$(printf '%s' "$ts.PUT.$path.$body" | openssl dgst -sha256 -hmac "$CW_SECRET" -r | cut -d' ' -f1)

answer=$(curl -sS -w '\n%{http_code}' -X PUT "$base$path" \
  -H 'content-type: application/json' \
  -H "x-callwake-tenant: $tenant" \
  -H "x-callwake-timestamp: $ts" \
  -H "x-callwake-signature: v1=$sig" \
  --data-binary "$body")
status=$(printf '%s\n' "$answer" | tail -n 1)
if [ "$status" != 200 ]; then
  echo "PUT $path answered $status: $(printf '%s\n' "$answer" | sed '$d')" >&2
  exit 1
fi
echo "callwake now sends call.declined, call.expired and call.cancelled of tenant $tenant to $events_url"
