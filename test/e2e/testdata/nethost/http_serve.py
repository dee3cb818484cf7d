# python3's http.server serving DIR on 127.0.0.1:PORT for N requests
# (its SimpleHTTPRequestHandler, quiet), then exiting.
import functools
import http.server
import sys

port, n, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


srv = http.server.HTTPServer(("127.0.0.1", port), functools.partial(Quiet, directory=root))
print("serving", flush=True)
for _ in range(n):
    srv.handle_request()
print("served", n, flush=True)
