"""A local HTTP server in a thread that stands in for a site publishing a directory file."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Answer:
    """What the server answers at one path."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/csv; charset=utf-8"})
    #: Send only this many bytes of the body, then close the connection (a download cut short).
    cut_after: int | None = None
    #: Send the body in chunks (Transfer-Encoding: chunked), with no Content-Length.
    chunked: bool = False
    #: Seconds to wait before answering (a server that has stopped answering).
    wait: float = 0.0


class FileServer:
    """Answers GET requests on 127.0.0.1 from `answers` (by path; 404 otherwise) and keeps each
    request's target and headers in `requests`. Use it as a context manager."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.stopping = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.file_server = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="file-server", daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()  # ends any wait
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server: FileServer = self.server.file_server  # type: ignore[attr-defined]
        server.requests.append((self.path, dict(self.headers)))
        answer = server.answers.get(urlsplit(self.path).path, Answer(b"not found", 404, {"Content-Type": "text/plain"}))
        if answer.wait:
            server.stopping.wait(answer.wait)
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        sent = answer.body if answer.cut_after is None else answer.body[: answer.cut_after]
        if answer.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(sent), 4096):
                chunk = sent[start : start + 4096]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if answer.cut_after is None:
                self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(sent)
        if answer.cut_after is not None:
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass
