# Serves acme2certifier's own WSGI application (acme2certifier.share.acme2certifier_wsgi)
# over HTTPS on 127.0.0.1 with the standard library only. Run by services/acme2certifier.sh:
#   python acme2certifier_server.py PORT CERT KEY DNS_PORT
# ACME_SRV_CONFIGFILE must name the acme_srv.cfg to load (read when the app is imported).
import socketserver
import ssl
import sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import dns.resolver

port, cert, key, dns_port = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])

# acme2certifier resolves identifiers (http-01 targets, dns-01 TXT records) with dnspython,
# which only ever asks port 53 of the servers in dns_server_list. Point it at the test DNS
# server's port instead, as Pebble's -dnsserver HOST:PORT does.
_reset = dns.resolver.Resolver.reset


def _reset_to_test_port(self):
    _reset(self)
    self.port = dns_port


dns.resolver.Resolver.reset = _reset_to_test_port

from acme2certifier.share.acme2certifier_wsgi import application  # noqa: E402  (after the patch)


class Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Handler(WSGIRequestHandler):
    def address_string(self):  # no reverse DNS lookup per request
        return self.client_address[0]

    def log_message(self, *args):  # acme2certifier logs every request itself
        pass


context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server = Server(("127.0.0.1", port), Handler)
server.set_app(application)
server.base_environ["HTTPS"] = "on"  # wsgi.url_scheme, which the ACME URLs it returns are built from
# Handshake in the request thread, so one stalled client cannot block accept().
server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
print(f"acme2certifier listening on https://127.0.0.1:{port}", flush=True)
server.serve_forever()
