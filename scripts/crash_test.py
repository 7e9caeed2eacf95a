#!/usr/bin/env python3
"""One run of Dialtone's crash test (see scripts/crash-test.sh and docs/reliability.md).

Starts the given dialtone binary on a scaled clock with a fresh data directory, a recording push
receiver and a load of signed callVerify requests, all on 127.0.0.1. Kills the server with
SIGKILL at random moments and restarts it. Then lets every call finish, stops the server and
checks:

  * every call answered "0" is in the database, ended, with a CDR (lost = 0), and its CDR
    reached the receiver;
  * PRAGMA integrity_check is "ok";
  * no CDR runs backwards (start <= alerting <= answer <= end);
  * a push the receiver got more than once always carried one idempotency key, and every
    call's disconnect and CDR each came under one key.

Prints one JSON line of figures; exits 1 if any check failed. Python standard library only.
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from datetime import datetime, timezone

APP_KEY = "k3VdT9wQx2LpR7mN4sB8cY1fHj6Z"
APP_SECRET = "dT4xQ9pLm2vR8wYz"
IDEMPOTENCY = "x-dialtone-idempotency-key"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """Answers every push with 200 and records (kind, idempotency key, body)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.pushes = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.pushes.append(
                        (self.path, self.headers.get(IDEMPOTENCY, ""), body)
                    )
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Quiet(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a killed Dialtone resets its kept-alive connections: expected here

        self.server = Quiet(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def snapshot(self):
        with self.lock:
            return list(self.pushes)


def signed_headers():
    nonce = "".join(random.choice("0123456789ABCDEF") for _ in range(32))
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(
        hmac.new(APP_SECRET.encode(), (nonce + created).encode(), hashlib.sha256).digest()
    ).decode()
    return {
        "Content-Type": "application/json;charset=UTF-8",
        "Authorization": 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"',
        "X-AKSK": f'UsernameToken Username="{APP_KEY}",PasswordDigest="{digest}",'
        f'Nonce="{nonce}",Created="{created}"',
    }


class Server:
    def __init__(self, binary, config, data_dir, port, speed, log):
        self.args = [
            binary, "serve", "--config", config, "--data-dir", data_dir,
            "--listen", f"127.0.0.1:{port}", "--clock", "scaled", "--speed", str(speed),
        ]
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dialtone exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
        raise RuntimeError("dialtone did not become healthy")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def b64(text):
    return base64.b64encode(text.encode()).decode()


def load(server, receiver_port, stop, accepted, stats, worker):
    n = 0
    while not stop.is_set():
        n += 1
        body = {
            "displayNbr": "+862087654321",
            # A new callee each time: the default config's frequency rule counts per callee.
            "calleeNbr": f"+86139{worker:02d}{n:06d}",
            "languageType": 2,
            "preTone": "welcome.wav",
            "verifyCode": f"{n % 10000:04d}",
            "times": 1,
            # The platform takes push URLs Base64-encoded.
            "statusUrl": b64(f"http://127.0.0.1:{receiver_port}/status"),
            "feeUrl": b64(f"http://127.0.0.1:{receiver_port}/fee"),
        }
        req = urllib.request.Request(
            server.base + "/rest/httpsessions/callVerify/v1.0",
            data=json.dumps(body).encode(),
            headers=signed_headers(),
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                reply = json.load(r)
        except urllib.error.HTTPError as e:
            stats["http_error"] += 1
            try:
                reply = json.load(e)
            except ValueError:
                continue
        except (urllib.error.URLError, ConnectionError, OSError, ValueError):
            # The server is down (killed) or the answer was cut: the client never saw "0".
            stats["no_answer"] += 1
            time.sleep(0.05)
            continue
        code = reply.get("resultcode")
        stats[f"code_{code}"] += 1
        if code == "0":
            accepted.append(reply["sessionId"])
        time.sleep(0.01)


def pushes_by_session(pushes):
    """session -> {"disconnect": [keys...], "fee": [keys...]}, and CDRs seen by session."""
    keys = defaultdict(lambda: defaultdict(list))
    cdrs = {}
    for path, key, body in pushes:
        try:
            doc = json.loads(body)
        except ValueError:
            continue
        if path == "/fee":
            for fee in doc.get("feeLst", []):
                keys[fee.get("sessionId")]["fee"].append(key)
                cdrs[fee.get("sessionId")] = fee
        elif doc.get("eventType") == "disconnect":
            keys[doc["statusInfo"]["sessionId"]]["disconnect"].append(key)
    return keys, cdrs


def ordered(*times):
    present = [t for t in times if t]
    return all(a <= b for a, b in zip(present, present[1:]))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--seconds", type=float, default=40, help="load duration (wall)")
    p.add_argument("--speed", type=float, default=20)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--keep", action="store_true", help="keep the data directory")
    args = p.parse_args()
    rng = random.Random(args.seed)
    random.seed(args.seed)

    work = tempfile.mkdtemp(prefix="dialtone-crash-")
    data_dir = os.path.join(work, "data")
    config = os.path.join(work, "dialtone.toml")
    example = os.path.join(os.path.dirname(__file__), "..", "fixtures", "dialtone.example.toml")
    text = open(example, encoding="utf-8").read()
    text = text.replace("max_concurrent_calls = 20 ", "max_concurrent_calls = 1000 ")
    text = text.replace('rules = [{ scope = "callee", max_calls = 10, window_s = 86400 }]', "rules = []")
    # Quick retries for both kinds, so pushes owed at a kill go out within the run.
    text = text.replace('[status_push]\nretry = "fidelity"', '[status_push]\nretry = "dev"')
    text = text.replace("[fee_push]\n", '[fee_push]\nretry = "dev"\n')
    open(config, "w", encoding="utf-8").write(text)

    receiver = Receiver()
    log = open(os.path.join(work, "dialtone.log"), "wb")
    server = Server(args.bin, config, data_dir, free_port(), args.speed, log)
    server.start()

    stop = threading.Event()
    accepted = []
    stats = defaultdict(int)
    workers = [
        threading.Thread(target=load, args=(server, receiver.port, stop, accepted, stats, w))
        for w in range(args.workers)
    ]
    for w in workers:
        w.start()

    kills = 0
    end = time.monotonic() + args.seconds
    while True:
        wait = rng.uniform(0.5, 5.0)
        if time.monotonic() + wait >= end:
            break
        time.sleep(wait)
        server.kill9()
        kills += 1
        server.start()
    time.sleep(max(0.0, end - time.monotonic()))
    stop.set()
    for w in workers:
        w.join()

    # Let every call end and every CDR arrive (a call lasts well under 60 simulated seconds).
    want = set(accepted)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        _, cdrs = pushes_by_session(receiver.snapshot())
        if want <= cdrs.keys():
            break
        time.sleep(0.25)
    server.stop()
    log.close()

    db = sqlite3.connect(f"file:{os.path.join(data_dir, 'dialtone.db')}?mode=ro", uri=True)
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    ended = {
        row[0]: row[1]
        for row in db.execute("SELECT session_id, state_code FROM calls WHERE state_code IS NOT NULL")
    }
    stored_cdrs = {
        row[0]: row[1:]
        for row in db.execute(
            "SELECT session_id, call_out_start_time, call_out_alerting_time, "
            "call_out_answer_time, call_end_time FROM cdrs"
        )
    }
    db.close()

    keys, cdrs = pushes_by_session(receiver.snapshot())
    lost = sorted(s for s in want if s not in ended or s not in stored_cdrs)
    cdr_not_received = sorted(s for s in want if s not in cdrs)
    reversals = sorted(s for s, t in stored_cdrs.items() if not ordered(*t))
    reversals += sorted(
        s for s, f in cdrs.items()
        if not ordered(f.get("callOutStartTime"), f.get("callOutAlertingTime"),
                       f.get("callOutAnswerTime"), f.get("callEndTime"))
    )
    by_key = defaultdict(int)
    for _, key, _ in receiver.snapshot():
        by_key[key] += 1
    duplicates = sum(n - 1 for n in by_key.values() if n > 1)
    split_keys = sorted(
        s for s, k in keys.items() if len(set(k["disconnect"])) > 1 or len(set(k["fee"])) > 1
    )
    twice_disconnected = sum(1 for k in keys.values() if len(k["disconnect"]) > 1)

    figures = {
        "kills": kills,
        "requests_answered": sum(v for k, v in stats.items() if k.startswith("code_")),
        "answered_0": len(want),
        "no_answer": stats["no_answer"],
        "codes": {k[5:]: v for k, v in stats.items() if k.startswith("code_")},
        "lost": len(lost),
        "cdr_not_received": len(cdr_not_received),
        "time_reversals": len(reversals),
        "pushes": len(receiver.snapshot()),
        "duplicate_pushes": duplicates,
        "calls_disconnected_twice": twice_disconnected,
        "calls_with_two_keys": len(split_keys),
        "integrity_check": integrity,
    }
    ok = (
        integrity == "ok"
        and not lost
        and not cdr_not_received
        and not reversals
        and not split_keys
        and len(want) > 0
    )
    figures["ok"] = ok
    if not ok:
        figures["examples"] = {
            "lost": lost[:5],
            "cdr_not_received": cdr_not_received[:5],
            "reversals": reversals[:5],
            "two_keys": split_keys[:5],
        }
        figures["work_dir"] = work
        # What the receiver got, for the diagnosis: one line per push.
        with open(os.path.join(work, "received.jsonl"), "w", encoding="utf-8") as f:
            for path, key, body in receiver.snapshot():
                f.write(json.dumps({"path": path, "key": key, "body": body.decode("utf-8", "replace")}) + "\n")
    print(json.dumps(figures, sort_keys=True), flush=True)
    if ok and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
