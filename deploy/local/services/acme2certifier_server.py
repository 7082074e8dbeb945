# Serves acme2certifier's own WSGI application (acme2certifier.share.acme2certifier_wsgi)
# over HTTPS on 127.0.0.1 with the standard library only. Run by services/acme2certifier.sh:
#   python acme2certifier_server.py PORT CERT KEY DNS_PORT HTTP01_PORT
# ACME_SRV_CONFIGFILE must name the acme_srv.cfg to load (read when the app is imported).
import socketserver
import ssl
import sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import dns.resolver
from acme2certifier.acme_srv.helpers import network

port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
dns_port, http_port = int(sys.argv[4]), int(sys.argv[5])

# Two test-stack redirections, the equivalent of Pebble's -dnsserver HOST:PORT and httpPort
# (acme2certifier 0.46.3 has neither option; its proxy_server_list, the documented way to
# reroute http-01 fetches, is never applied: Challenge loads it into self.proxy_server_list
# but validates with self.config.proxy_server_list, which stays None):
# 1. it resolves identifiers (http-01 targets, dns-01 TXT records) with dnspython, which
#    asks port 53 of the servers in dns_server_list: ask the test DNS server's port instead;
# 2. its http-01 check fetches http://<resolved IP>/.well-known/acme-challenge/<token>
#    (network._http_url_host builds that address and the Host header, nothing else uses it):
#    add the port, so it fetches http://<IP>:<port>/... with Host: <name>:<port>, as Pebble does.
_reset = dns.resolver.Resolver.reset


def _reset_to_test_port(self):
    _reset(self)
    self.port = dns_port


dns.resolver.Resolver.reset = _reset_to_test_port
_url_host = network._http_url_host
network._http_url_host = lambda host: f"{_url_host(host)}:{http_port}"

from acme2certifier.share.acme2certifier_wsgi import application  # noqa: E402  (after the patches)


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
