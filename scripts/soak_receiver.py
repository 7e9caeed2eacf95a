"""A push receiver for scripts/soak.sh: answers every POST with 200 and counts them.

Threaded, HTTP/1.1 keep-alive, standard library only; prints the count when stopped.
Usage: python3 soak_receiver.py PORT
"""
import http.server
import signal
import sys
import threading

count = 0
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global count
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        with lock:
            count += 1
        body = b'{"resultcode":"0"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main():
    server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    print(f"receiver: {count} pushes", file=sys.stderr)


if __name__ == "__main__":
    main()
