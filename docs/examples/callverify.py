#!/usr/bin/env python3
"""Dialtone from Python, standard library only.

1. Signs a callVerify request with X-AKSK and sends it.
2. Receives the call's first status push on a local HTTP server and verifies its signature,
   as your app server would.

    python3 callverify.py            # against http://127.0.0.1:8080 with the demo app

Environment: DIALTONE_URL, DIALTONE_APP_KEY, DIALTONE_APP_SECRET, DIALTONE_DISPLAY,
DIALTONE_CALLEE (the demo app's values by default). Exits non-zero on any failure.
"""

import base64
import datetime
import hashlib
import hmac
import http.server
import json
import os
import queue
import secrets
import sys
import threading
import urllib.error
import urllib.request

URL = os.environ.get("DIALTONE_URL", "http://127.0.0.1:8080").rstrip("/")
APP_KEY = os.environ.get("DIALTONE_APP_KEY", "k3VdT9wQx2LpR7mN4sB8cY1fHj6Z")
APP_SECRET = os.environ.get("DIALTONE_APP_SECRET", "dT4xQ9pLm2vR8wYz")
DISPLAY = os.environ.get("DIALTONE_DISPLAY", "+862087654321")
CALLEE = os.environ.get("DIALTONE_CALLEE", "+8613900001234")


def hmac_b64(secret, message):
    mac = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def request_headers(app_key, app_secret, nonce=None, created=None):
    """The two headers of a signed request: PasswordDigest = Base64(HMAC-SHA256(secret, Nonce + Created))."""
    nonce = nonce or secrets.token_hex(16).upper()
    created = created or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hmac_b64(app_secret, nonce + created)
    return {
        "Authorization": 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"',
        "X-AKSK": f'UsernameToken Username="{app_key}",PasswordDigest="{digest}",'
        f'Nonce="{nonce}",Created="{created}"',
    }


def parse_x_aksk(value):
    """The quoted attributes of an X-AKSK header, e.g. {"Nonce": "…", "Created": "…"}."""
    if not value.startswith("UsernameToken "):
        raise ValueError(f"not a UsernameToken header: {value!r}")
    attrs = {}
    for part in value[len("UsernameToken "):].split(","):
        name, _, quoted = part.strip().partition("=")
        attrs[name] = quoted.strip('"')
    return attrs


def push_is_genuine(headers, url, app_secret):
    """A receiver's check: Base64(HMAC-SHA256(secret, url + "\\n" + Nonce + "\\n" + Created)),
    with url exactly as registered (the one in statusUrl/feeUrl), compared in constant time."""
    attrs = parse_x_aksk(headers.get("X-AKSK", ""))
    expected = hmac_b64(app_secret, url + "\n" + attrs["Nonce"] + "\n" + attrs["Created"])
    return hmac.compare_digest(expected, attrs.get("PasswordDigest", ""))


def known_answers():
    """The worked examples of docs/api.md: a wrong implementation fails here, before any network."""
    h = request_headers(APP_KEY, "dT4xQ9pLm2vR8wYz", "9F2C4A7E1B3D4F6A8C0E2B4D6F8A1C3E", "2026-03-14T10:15:30Z")
    assert 'PasswordDigest="j07xD3Yp3Ox91zNkEUX6HCtY5jdi6FpdMt+BFVpZMBE="' in h["X-AKSK"], h
    push = {"X-AKSK": 'UsernameToken Username="k3VdT9wQx2LpR7mN4sB8cY1fHj6Z",'
            'PasswordDigest="zItAyarTuuM71HjKiIg83mp/M83GBbOjYz1tDLeJTKE=",'
            'Nonce="5E0B7C2A9D4F41B8A3C6E1F07B2D9A64",Created="2026-03-14T18:15:31Z"'}
    assert push_is_genuine(push, "http://127.0.0.1:9000/voice/status", "dT4xQ9pLm2vR8wYz")
    assert not push_is_genuine(push, "http://127.0.0.1:9000/voice/fee", "dT4xQ9pLm2vR8wYz")


def start_receiver(pushes):
    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            pushes.put((self.path, self.headers, body))  # case-insensitive lookups
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    known_answers()
    pushes = queue.Queue()
    receiver = start_receiver(pushes)
    status_url = f"http://127.0.0.1:{receiver.server_address[1]}/voice/status"

    body = {
        "displayNbr": DISPLAY,
        "calleeNbr": CALLEE,
        "languageType": 2,
        "preTone": "welcome.wav",
        "verifyCode": "4815",
        "times": 1,
        "statusUrl": base64.b64encode(status_url.encode()).decode(),
    }
    request = urllib.request.Request(
        URL + "/rest/httpsessions/callVerify/v1.0",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json;charset=UTF-8", **request_headers(APP_KEY, APP_SECRET)},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as refused:  # 4xx: the platform's JSON error body
        answer = json.load(refused)
    print("callVerify:", json.dumps(answer))
    if answer.get("resultcode") != "0":
        sys.exit(f"callVerify refused: {answer.get('resultcode')} {answer.get('resultdesc')}")

    try:
        path, headers, raw = pushes.get(timeout=10)
    except queue.Empty:
        sys.exit("no status push within 10 s")
    push = json.loads(raw)
    print("push:", push["eventType"], "for", push["statusInfo"]["sessionId"])
    if push["statusInfo"]["sessionId"] != answer["sessionId"]:
        sys.exit("the push is about another call")
    if not push_is_genuine(headers, status_url, APP_SECRET):
        sys.exit("push signature does NOT verify")
    print("push signature verified")
    receiver.shutdown()


if __name__ == "__main__":
    main()
