"""A minimal acme-dns-compatible responder for the tests (acme-dns itself is not packaged for
Debian): POST /register returns credentials and a subdomain of ZONE's `acmedns.` label; POST /update
with X-Api-User/X-Api-Key and {"subdomain","txt"} keeps the two latest values (as acme-dns does)
and writes them into the BIND/Knot zone with nsupdate.
Usage: acmedns_server.py PORT ZONE DNS_PORT TSIG(alg:name:secret)"""
import json, secrets, subprocess, sys, uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

port, zone, dns_port, tsig = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
accounts = {}  # username -> {password, subdomain, values}


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status); self.send_header("Content-Type", "application/json"); self.end_headers(); self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        if self.path == "/register":
            user, sub = str(uuid.uuid4()), str(uuid.uuid4())
            accounts[user] = {"password": secrets.token_urlsafe(30), "subdomain": sub, "values": []}
            return self.reply(201, {"username": user, "password": accounts[user]["password"], "subdomain": sub,
                                    "fulldomain": f"{sub}.acmedns.{zone}", "allowfrom": []})
        if self.path != "/update":
            return self.reply(404, {"error": "not found"})
        account = accounts.get(self.headers.get("X-Api-User", ""))
        if not account or account["password"] != self.headers.get("X-Api-Key") or account["subdomain"] != body.get("subdomain"):
            return self.reply(401, {"error": "forbidden"})
        account["values"] = (account["values"] + [body.get("txt", "")])[-2:]
        name = f"{account['subdomain']}.acmedns.{zone}."
        ops = [f"update delete {name} TXT"] + [f'update add {name} 1 TXT "{v}"' for v in account["values"]]
        script = f"server 127.0.0.1 {dns_port}\n" + "\n".join(ops) + "\nsend\n"
        result = subprocess.run(["nsupdate", "-y", tsig], input=script.encode(), capture_output=True)
        if result.returncode != 0:
            return self.reply(500, {"error": result.stderr.decode()})
        self.reply(200, {"txt": body.get("txt")})

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
