"""A minimal lego-httpreq-compatible endpoint for the tests: POST /present and /cleanup with
{"fqdn","value"} (RAW: {"domain","token","keyAuth"}), basic auth, writing into a BIND/Knot zone with nsupdate.
Usage: httpreq_server.py PORT USER PASSWORD DNS_PORT TSIG(alg:name:secret)"""
import base64, hashlib, json, subprocess, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

port, user, password, dns_port, tsig = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        if self.headers.get("Authorization") != expected:
            self.send_response(401); self.end_headers(); self.wfile.write(b"bad credentials"); return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        fqdn, value = body.get("fqdn"), body.get("value")
        if "keyAuth" in body:  # lego's RAW mode: {"domain","token","keyAuth"}
            fqdn = f"_acme-challenge.{body['domain']}."
            value = base64.urlsafe_b64encode(hashlib.sha256(body["keyAuth"].encode()).digest()).decode().rstrip("=")
        if self.path not in ("/present", "/cleanup") or not fqdn or not value:
            self.send_response(400); self.end_headers(); self.wfile.write(b"want /present or /cleanup with fqdn and value"); return
        op = f'update add {fqdn} 60 TXT "{value}"' if self.path == "/present" else f'update delete {fqdn} TXT "{value}"'
        script = f"server 127.0.0.1 {dns_port}\n{op}\nsend\n"
        result = subprocess.run(["nsupdate", "-y", tsig], input=script.encode(), capture_output=True)
        self.send_response(200 if result.returncode == 0 else 500); self.end_headers()
        self.wfile.write(result.stderr or b"ok")

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
