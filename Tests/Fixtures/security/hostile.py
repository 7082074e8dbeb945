#!/usr/bin/env python3
"""Hostile input against a live `certfleet api`: every route with no key, with another
project's key and with too few scopes; oversized and malformed bodies for every write
route. Prints one JSON summary line; the Swift test decides what it must hold.

    hostile.py CONFIG.json     (base URL, keys, the victim's identifiers; see TenantSecurityTests)
"""
import http.client
import json
import sys
import urllib.parse

config = json.load(open(sys.argv[1]))
base = urllib.parse.urlsplit(config["base"])
victim = config["victim"]           # uuid, name, serial, job, key_id, consumer, zone
keys = config["keys"]               # attacker (all scopes, other project), reader, writer (victim's project)
secrets = [victim["serial"], victim["fingerprint"], "BEGIN CERTIFICATE", "PRIVATE KEY"]

results = []  # (case, method, path, status, problem or "")


def call(method, path, key=None, body=None, headers=None):
    connection = http.client.HTTPConnection(base.hostname, base.port, timeout=30)
    all_headers = dict(headers or {})
    if key:
        all_headers["Authorization"] = "Bearer " + key
    if body is not None and "Content-Type" not in all_headers:
        all_headers["Content-Type"] = "application/json"
    if isinstance(body, str):
        body = body.encode("utf-8")
    try:
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        return response.status, response.read()
    except Exception as error:  # a dropped connection is a finding, not a crash of this script
        return 0, repr(error).encode()
    finally:
        connection.close()


def record(case, method, path, status, text, allowed):
    problem = ""
    if status == 0:
        problem = "connection failed: " + text.decode(errors="replace")[:200]
    elif status >= 500:
        problem = "server error"
    elif status not in allowed:
        problem = "status %d not in %s" % (status, sorted(allowed))
    else:
        for secret in secrets:
            if secret.encode() in text:
                problem = "response holds %r" % secret[:20]
        if status >= 400:
            try:
                error = json.loads(text).get("error")
                # The API's {"error": {"code": …}}, or NGINX Unit's {"error": "…"} under /unit.
                if not (isinstance(error, dict) and error.get("code")) and not isinstance(error, str):
                    problem = "error without a code"
            except ValueError:
                if not text.startswith(b"not found"):
                    problem = "error body is not JSON"
    results.append({"case": case, "method": method, "path": path, "status": status, "problem": problem})


ref, name = victim["uuid"], victim["name"]
routes = [
    ("GET", "/v1/certificates?uuid=%s" % ref, None),
    ("GET", "/v1/certificates?name=%s" % name, None),
    ("POST", "/v1/certificates", {"domains": ["x.example.com"]}),
    ("DELETE", "/v1/certificates?uuid=%s" % ref, None),
    ("GET", "/v1/certificates/list", None),
    ("GET", "/v1/certificates/%s" % ref, None),
    ("GET", "/v1/certificates/%s" % name, None),
    ("PUT", "/v1/certificates/%s" % ref, {"chain": "x", "pkey": "y"}),
    ("PATCH", "/v1/certificates/%s" % ref, {"renew_before": "720h"}),
    ("DELETE", "/v1/certificates/%s" % ref, None),
    ("GET", "/v1/certificates/%s/pem?type=key" % ref, None),
    ("GET", "/v1/certificates/%s/pem" % ref, None),
    ("GET", "/v1/certificates/%s/events" % ref, None),
    ("POST", "/v1/certificates/%s/renew" % ref, {}),
    ("POST", "/v1/certificates/%s/revoke" % ref, {"reason": 0}),
    ("GET", "/v1/certificates/%s/challenges" % ref, None),
    ("PUT", "/v1/certificates/%s/bindings/intruder" % ref, None),
    ("DELETE", "/v1/certificates/%s/bindings/%s" % (ref, victim["consumer"]), None),
    ("GET", "/v1/certificates/%s/chain/0/subject" % ref, None),
    ("GET", "/v1/jobs/%s" % victim["job"], None),
    ("GET", "/v1/jobs", None),
    ("GET", "/v1/match?host=%s" % victim["host"], None),
    ("POST", "/v1/keys", {"name": "x", "scopes": ["certificates:read"]}),
    ("GET", "/v1/keys", None),
    ("DELETE", "/v1/keys/%s" % victim["key_id"], None),
    ("POST", "/v1/projects", {"name": "intruder-project"}),
    ("POST", "/v1/acme/accounts", {"name": "x", "directory_url": "http://127.0.0.1:1/dir"}),
    ("GET", "/v1/acme/accounts", None),
    ("POST", "/v1/domains", {"zone": victim["zone"]}),
    ("GET", "/v1/domains", None),
    ("POST", "/v1/domains/%s/verify" % victim["zone"], None),
    ("DELETE", "/v1/domains/%s" % victim["zone"], None),
    ("GET", "/v1/consumers/%s/tls" % victim["consumer"], None),
    ("PUT", "/v1/consumers/%s/tls" % victim["consumer"], {"certfile": "x", "keyfile": "y"}),
    ("DELETE", "/v1/consumers/%s/tls" % victim["consumer"], None),
    ("GET", "/unit/certificates", None),
    ("GET", "/unit/certificates/%s" % name, None),
    ("DELETE", "/unit/certificates/%s" % name, None),
]
writes = {"POST", "PUT", "PATCH", "DELETE"}


def body_of(payload):
    return None if payload is None else json.dumps(payload)


# 1. No key: 401 everywhere.
for method, path, payload in routes:
    status, text = call(method, path, None, body_of(payload))
    record("no_key", method, path, status, text, {401})

# 2. Another project's key with every scope: never the victim's objects.
for method, path, payload in routes:
    status, text = call(method, path, keys["attacker"], body_of(payload))
    record("other_project", method, path, status, text, {200, 201, 202, 204, 400, 403, 404, 405, 409, 413, 422, 429})

# 3. The victim's own read-only key on every write route: 403, never a change.
for method, path, payload in routes:
    if method in writes and not path.startswith("/unit"):
        status, text = call(method, path, keys["reader"], body_of(payload))
        record("read_only_key", method, path, status, text, {403, 405})

# 4. Malformed and oversized bodies on every write route (the victim's writer key).
deep = "[" * 100000 + "]" * 100000
hostile_bodies = [
    ("deep_json", deep.encode()),
    ("ten_megabytes", b'{"name":"' + b"a" * (10 * 1024 * 1024) + b'"}'),
    ("invalid_utf8", b'{"name":"\xff\xfe\xfd","zone":"\xc3\x28"}'),
    ("nul", json.dumps({"name": "a\u0000b", "zone": "a\u0000.test", "chain": "\u0000", "pkey": "\u0000",
                        "domains": ["a\u0000.test"], "scopes": ["\u0000"]}).encode()),
    ("ten_thousand_sans", json.dumps({"domains": ["n%d.example.com" % i for i in range(10000)]}).encode()),
    ("wrong_types", json.dumps({"name": 7, "domains": "x", "scopes": {}, "zone": [], "chain": 1, "limit": -1}).encode()),
    ("not_json", b"\x00\x01\x02 definitely not json"),
    ("path_traversal", json.dumps({"name": "../../etc/passwd", "zone": "../..", "domains": ["../../etc"]}).encode()),
]
for method, path, _ in routes:
    if method not in writes or path.startswith("/unit"):
        continue
    for case, raw in hostile_bodies:
        status, text = call(method, path, keys["writer"], raw)
        record(case, method, path, status, text, {200, 201, 202, 204, 400, 403, 404, 405, 409, 413, 415, 422, 429})

# 5. Hostile query strings and paths on the read routes.
for path in ["/v1/certificates/list?limit=-1", "/v1/certificates/list?limit=99999999999999999999999",
             "/v1/certificates/list?limit=0", "/v1/certificates/list?cursor=%27%3B--",
             "/v1/certificates/list?expires_before=yesterday", "/v1/certificates/list?domain=..%2F..",
             "/v1/certificates/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/v1/certificates/" + "a" * 5000,
             "/v1/certificates/%s/chain/999999999999999999/subject" % ref, "/v1/certificates/%s/..%%2F..%%2F" % ref,
             "/v1/certificates/%s/pem?type=../../key" % ref, "/v1/match?host=%00", "/v1/jobs/not-a-uuid",
             "/unit/certificates/..%2F..%2Fetc", "/v1/certificates?uuid=" + ",".join(["x"] * 500)]:
    status, text = call("GET", path, keys["writer"])
    record("hostile_path", "GET", path, status, text, {200, 400, 404, 413, 414, 422, 429, 431})

healthy, _ = call("GET", "/healthz")
problems = [r for r in results if r["problem"]]
print(json.dumps({
    "requests": len(results),
    "routes": len(routes),
    "cases": sorted({r["case"] for r in results}),
    "server_errors": sum(1 for r in results if r["status"] >= 500),
    "problems": problems[:50],
    "problem_count": len(problems),
    "healthz_after": healthy,
}))
