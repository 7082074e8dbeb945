"""A webhook receiver for CertFleet's delivery tests (stdlib only).

Usage: webhook_receiver.py PORT SECRET LOGFILE [--fail-first N] [--gone]
Checks the CertFleet-Signature header (t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>)
and a 300 s replay window, answers 503 to the first N requests and 410 to all with --gone,
and appends one JSON line per request to LOGFILE: event id, type, version, signature check,
status answered. Duplicates (same event id) are answered 200 and logged as duplicate.
"""
import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, secret, logfile = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
fail_first = int(sys.argv[sys.argv.index("--fail-first") + 1]) if "--fail-first" in sys.argv else 0
gone = "--gone" in sys.argv
seen = set()
count = 0


def verified(header, body):
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        stamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - stamp) > 300:
        return False
    expected = hmac.new(secret, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        count += 1
        valid = verified(self.headers.get("CertFleet-Signature", ""), body)
        try:
            event = json.loads(body)
        except ValueError:
            event = {}
        event_id = event.get("id")
        if not valid:
            status = 401
        elif gone:
            status = 410
        elif count <= fail_first:
            status = 503
        else:
            status = 200
        duplicate = status == 200 and event_id in seen
        if status == 200:
            seen.add(event_id)
        with open(logfile, "a") as log:
            log.write(json.dumps({
                "id": event_id, "type": event.get("type"), "version": event.get("data", {}).get("version"),
                "serial": event.get("data", {}).get("serial"), "valid": valid, "status": status, "duplicate": duplicate,
                "content_type": self.headers.get("Content-Type"), "has_key": "PRIVATE KEY" in body.decode(errors="replace"),
                "at": time.time(),
            }) + "\n")
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"gone\n" if status == 410 else b"ok\n")

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
