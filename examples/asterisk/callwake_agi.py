#!/usr/bin/env python3
"""callwake_agi.py: ring a push-woken iPhone user from Asterisk through callwake (an AGI script).

extensions.conf (see extensions.conf beside this file):
    same => n,Set(AGISIGHUP=no)
    same => n,AGI(callwake_agi.py,ring,${EXTEN})     ; sets CALLWAKE_RESULT and CALLWAKE_DIAL
    exten => h,1,AGI(callwake_agi.py,end)            ; cancels unless the phone answered over SIP

Asterisk's environment must hold CALLWAKE_URL, CALLWAKE_TENANT and CALLWAKE_SECRET_FILE (a file
only Asterisk's user can read, the tenant's secret on its first line).

`ring <user>` holds the call (the dialplan has sent 180 Ringing) until the woken phone registers:
it creates the call in callwake (every device of the user is pushed), then waits on the call's
view in callwake (If-None-Match + Prefer: wait) one second at a time, so that it also notices the
registration (PJSIP_DIAL_CONTACTS) and the caller hanging up. It sets CALLWAKE_RESULT to
    registered   the phone registered: Dial(${CALLWAKE_DIAL})
    declined     the user declined on the phone
    unreachable  no push was accepted, or the user's settings refused the call
    ended        the ring timed out or the call was cancelled elsewhere
    failed       callwake could not be reached or refused the request
and, when the caller hangs up while it waits, cancels the call so the phone stops ringing at once.

`end` (from the h extension) cancels the call unless it was answered over SIP: caller_hangup when
the caller hung up, timeout when the phone did not answer the INVITE, error when it never took it.
"""

import os
import sys
import time
import urllib.error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import callwake_client  # noqa: E402  (beside this script)

RING_SECONDS = 45
REGISTER_GRACE_SECONDS = 15
WAIT_SECONDS = 1


class Hangup(Exception):
    """The caller's channel is gone."""


class Agi:
    """The AGI protocol on stdin/stdout: the environment, then one command and one answer at a time."""

    def __init__(self, stdin=sys.stdin, stdout=sys.stdout):
        self.stdin, self.stdout = stdin, stdout
        self.env = {}
        self.hung_up = False
        for line in self.stdin:
            line = line.rstrip("\n")
            if not line:
                break
            key, _, value = line.partition(": ")
            self.env[key] = value

    def command(self, text):
        if self.hung_up:
            raise Hangup()
        self.stdout.write(text + "\n")
        self.stdout.flush()
        while True:
            line = self.stdin.readline()
            if not line:  # Asterisk closed the pipe
                self.hung_up = True
                raise Hangup()
            line = line.strip()
            if line == "HANGUP":  # AGISIGHUP=no: a hangup arrives as a line; the answer follows
                self.hung_up = True
                continue
            if line.startswith("511"):  # a command on a dead channel
                self.hung_up = True
                raise Hangup()
            if not line.startswith("200"):
                raise RuntimeError(f"AGI: {text!r} answered {line!r}")
            return line

    def get(self, expression):
        """GET FULL VARIABLE: the value, or '' when unset or empty."""
        answer = self.command(f'GET FULL VARIABLE "{expression}"')
        if " result=1 " not in answer + " " or "(" not in answer:
            return ""
        return answer[answer.index("(") + 1 : answer.rindex(")")]

    def set(self, name, value):
        self.command(f'SET VARIABLE {name} "{value}"')

    def log(self, message, level=3):
        self.command(f'VERBOSE "callwake: {message}" {level}')


def ring(agi, cw, user):
    sip_call_id = agi.get("${CHANNEL(pjsip,call-id)}") or agi.env.get("agi_uniqueid", "")
    call_id = callwake_client.call_id_for(sip_call_id)
    agi.set("CALLWAKE_CALL_ID", call_id)
    caller = {"number": agi.env.get("agi_callerid", ""), "displayName": agi.env.get("agi_calleridname", "")}
    from_ = {k: v for k, v in caller.items() if v and v != "unknown"}
    if "number" not in from_:
        from_["uri"] = "sip:anonymous@anonymous.invalid"  # RFC 3261's anonymous caller
    try:
        status, _, created = cw.create(
            {"callId": call_id, "from": from_, "to": {"userId": user}, "ringTimeoutSeconds": RING_SECONDS}
        )
    except (urllib.error.URLError, OSError) as e:
        agi.log(f"cannot reach callwake: {e}", 1)
        return "failed"
    if status not in (200, 201):
        agi.log(f"create answered {status} {created and created.get('code')}", 1)
        return "failed"
    if created["status"] != "ringing":
        agi.log(f"not ringing: {created['status']}")
        return "unreachable"
    try:
        return hold(agi, cw, user, call_id)
    except Hangup:
        cw.cancel(call_id, "caller_hangup")
        return "hangup"


def hold(agi, cw, user, call_id):
    """Holds the ringing call until the phone registers or the call ends in callwake."""
    agi.log(f"pushed; call {call_id} ringing")
    etag, answered_at, give_up_at = None, None, time.monotonic() + RING_SECONDS + 10
    while True:
        contacts = agi.get(f"${{PJSIP_DIAL_CONTACTS({user})}}")
        if contacts:
            agi.set("CALLWAKE_DIAL", contacts)
            return "registered"
        try:
            status, headers, view = cw.view(call_id, etag, WAIT_SECONDS if etag else None)
        except (urllib.error.URLError, OSError):
            status, headers, view = None, None, None
            time.sleep(0.5)
        if status == 200:
            etag = headers["ETag"]
            if view["status"] == "declined":
                return "declined"
            if view["status"] == "answered":
                answered_at = answered_at or time.monotonic()
            elif view["status"] != "ringing":
                return "ended"
        if answered_at is None and time.monotonic() > give_up_at:
            cw.cancel(call_id, "timeout")
            return "ended"
        if answered_at is not None and time.monotonic() - answered_at > REGISTER_GRACE_SECONDS:
            agi.log("answered in the app but never registered: cancel")
            cw.cancel(call_id, "error")
            return "ended"


def end(agi, cw):
    call_id = agi.get("${CALLWAKE_CALL_ID}")
    result = agi.get("${CALLWAKE_RESULT}")
    dial_status = agi.get("${DIALSTATUS}")
    if not call_id or result in ("declined", "unreachable", "ended", "failed") or dial_status == "ANSWER":
        return
    reason = {"": "caller_hangup", "CANCEL": "caller_hangup", "NOANSWER": "timeout"}.get(dial_status, "error")
    cw.cancel(call_id, reason)
    agi.log(f"cancelled {call_id}: {reason}")


def main():
    agi = Agi()
    cw = callwake_client.connect()
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    try:
        if what == "ring" and len(sys.argv) > 2:
            result = ring(agi, cw, sys.argv[2])
            agi.set("CALLWAKE_RESULT", result)
        elif what == "end":
            end(agi, cw)
        else:
            agi.log("usage: callwake_agi.py ring <user> | end", 1)
            sys.exit(2)
    except Hangup:
        pass  # nothing more to tell a channel that is gone


if __name__ == "__main__":
    main()
