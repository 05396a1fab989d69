"""A real webhook receiver for the tests: an http.server on 127.0.0.1 in a thread that records
every POST and answers from a script (statuses in order, then 200; or a sleep past the timeout)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """`answers`: the statuses of the first requests (then 200, or `always` if given); `delay_s`:
    how long each request is held before the answer. `received`: bodies answered 200; `tries`:
    every body that arrived."""

    def __init__(self, answers: tuple[int, ...] = (), always: int = 200, delay_s: float = 0.0):
        self.answers, self.always, self.delay_s = list(answers), always, delay_s
        self.received: list[dict] = []
        self.tries: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    receiver.tries.append(body)
                    status = receiver.answers.pop(0) if receiver.answers else receiver.always
                    if status == 200:
                        receiver.received.append(body)
                time.sleep(receiver.delay_s)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(b"ok" if status == 200 else b"error")
                except OSError:  # the client gave up waiting
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
