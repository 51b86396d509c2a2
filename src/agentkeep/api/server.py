"""How uvicorn should serve the API: its h11 protocol, answering unparsable requests with problems.

A request the HTTP parser refuses (a NUL or another control character in a header value, a
malformed request line) never reaches the application: uvicorn answers it itself, with a
``text/plain`` 400. This protocol gives that answer the problem+json body of every other error.
Pass it as ``uvicorn.Config(..., http=ProblemH11Protocol)``.
"""

from __future__ import annotations

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from agentkeep.api.problems import PROBLEM_JSON, problem


class ProblemH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        body = bytes(problem(400, f"the request is not valid HTTP: {msg}", title="Malformed request").body)
        headers = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()
