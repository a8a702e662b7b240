#!/usr/bin/env python3
"""A PBX's side of one call, in Python 3 with the standard library only: sign, create, read the
ETag, wait for a change, cancel, read the final view.

    CALLWAKE_URL=http://127.0.0.1:3000 CALLWAKE_TENANT=t1 CALLWAKE_SECRET=... \
        python3 callwake_signer.py [callId] [push token hex] [wait seconds]

Every /v1/pbx request carries
    X-Callwake-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<METHOD>.<path>.<raw body>")>
over the path exactly as sent (the callId percent-encoded) and the body's exact bytes.
"""

import hashlib
import hmac
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# A proxy from the environment would see (and could rewrite) every signed path: talk directly.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Callwake:
    def __init__(self, url, tenant, secret):
        self.url = url.rstrip("/")
        self.tenant = tenant
        self.secret = secret.encode("utf-8")

    def request(self, method, path, body=None, headers=None, timeout=40):
        """Signs and sends one request; returns (status, headers, parsed JSON body or None)."""
        raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        timestamp = str(int(time.time()))
        signed = f"{timestamp}.{method}.{path}.".encode("utf-8") + raw
        signature = "v1=" + hmac.new(self.secret, signed, hashlib.sha256).hexdigest()
        all_headers = {
            "X-Callwake-Tenant": self.tenant,
            "X-Callwake-Timestamp": timestamp,
            "X-Callwake-Signature": signature,
            **({"Content-Type": "application/json"} if raw else {}),
            **(headers or {}),
        }
        # The bytes signed are the bytes sent: `raw` goes out as it is.
        req = urllib.request.Request(self.url + path, data=raw or None, method=method, headers=all_headers)
        try:
            with OPENER.open(req, timeout=timeout) as res:
                status, res_headers, text = res.status, res.headers, res.read()
        except urllib.error.HTTPError as e:  # 304 and every 4xx/5xx land here
            status, res_headers, text = e.code, e.headers, e.read()
        return status, res_headers, (json.loads(text) if text else None)

    @staticmethod
    def call_path(call_id):
        # A SIP Call-ID holds @, ; and more: percent-encode every reserved character.
        return "/v1/pbx/calls/" + urllib.parse.quote(call_id, safe="")

    def create(self, call):
        return self.request("POST", "/v1/pbx/calls", call)

    def view(self, call_id, etag=None, wait_seconds=None):
        headers = {}
        if etag is not None:
            headers["If-None-Match"] = etag
        if wait_seconds is not None:
            headers["Prefer"] = f"wait={wait_seconds}"
        return self.request("GET", self.call_path(call_id), headers=headers, timeout=(wait_seconds or 0) + 20)

    def cancel(self, call_id, reason="caller_hangup"):
        return self.request("POST", self.call_path(call_id) + "/cancel", {"reason": reason})


def shown(value):
    return "-" if value is None else value


def expect(what, status, body, *ok):
    if status not in ok:
        print(f"{what}: unexpected HTTP {status}: {json.dumps(body)}", file=sys.stderr)
        sys.exit(1)


def main():
    try:
        client = Callwake(os.environ["CALLWAKE_URL"], os.environ["CALLWAKE_TENANT"], os.environ["CALLWAKE_SECRET"])
    except KeyError as missing:
        print(f"set {missing.args[0]}", file=sys.stderr)
        sys.exit(2)
    call_id = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else f"{secrets.token_hex(8)}@pbx.example.com"
    push_token = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else secrets.token_hex(32)
    wait_seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 2

    status, _, body = client.create(
        {
            "callId": call_id,
            "from": {"number": "+15551230000", "displayName": "Python signer"},
            "devices": [{"pnProvider": "apns", "pnPrid": push_token, "pnParam": "LOCALTEAM1.com.example.phone.voip"}],
            "ringTimeoutSeconds": 60,
        }
    )
    expect("create", status, body, 200, 201)
    print(f"create {status} status={body['status']} callUuid={body['callUuid']}", flush=True)

    status, headers, body = client.view(call_id)
    expect("view", status, body, 200)
    etag = headers["ETag"]
    print(f"view {status} status={body['status']} etag={etag}", flush=True)

    print(f"waiting wait={wait_seconds}", flush=True)
    status, headers, body = client.view(call_id, etag=etag, wait_seconds=wait_seconds)
    expect("wait", status, body, 200, 304)
    if status == 304:
        print(f"wait 304 unchanged preference-applied={shown(headers.get('Preference-Applied'))}", flush=True)
    else:
        print(
            f"wait 200 changed status={body['status']} endReason={shown(body['endReason'])} etag={headers['ETag']}",
            flush=True,
        )

    status, _, body = client.cancel(call_id)
    expect("cancel", status, body, 200)
    print(f"cancel {status} status={body['status']} endReason={shown(body['endReason'])}", flush=True)

    status, headers, body = client.view(call_id)
    expect("final", status, body, 200)
    print(f"final {status} status={body['status']} endReason={shown(body['endReason'])} etag={headers['ETag']}")


if __name__ == "__main__":
    main()
