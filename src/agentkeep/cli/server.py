"""``agentkeep up`` and ``agentkeep serve``: the API server.

The listening socket is bound before anything else starts, so a busy or impossible address is
one line and exit 1 with nothing started; "serving on" is printed only once uvicorn accepts
connections on it, and "stopped" only after a clean shutdown.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentkeep.cli.output import fail, out, print_line, run, settings
from agentkeep.errors import AgentkeepError
from agentkeep.keep import Keep
from agentkeep.profiles.loader import load_profile
from agentkeep.settings import Settings

if TYPE_CHECKING:
    import uvicorn

HostOption = Annotated[str | None, typer.Option(help="Address to listen on (default AGENTKEEP_HOST).")]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="Profile to apply: a shipped name or a file (default AGENTKEEP_PROFILE, else default).",
    ),
]
PortOption = Annotated[
    int | None, typer.Option(help="Port to listen on, 1 to 65535 (default AGENTKEEP_PORT).")
]

LOWEST_PORT = 1
HIGHEST_PORT = 65535


def up(host: HostOption = None, port: PortOption = None, profile: ProfileOption = None) -> None:
    """Start the embedded database, migrate, apply the profile, serve the API. First run prints a key."""
    spec = profile or settings().profile or "default"
    try:
        load_profile(spec)  # a bad file is one line before anything starts
    except AgentkeepError as exc:
        fail(exc.detail)
    _serve_command(host, port, first_run_key=True, apply_profile=spec)


def serve(host: HostOption = None, port: PortOption = None) -> None:
    """Serve the API on the configured database."""
    _serve_command(host, port, first_run_key=False)


def _serve_command(
    host: str | None, port: int | None, *, first_run_key: bool, apply_profile: str | None = None
) -> None:
    if port is not None and not LOWEST_PORT <= port <= HIGHEST_PORT:
        fail(f"--port: {port} is not a port number ({LOWEST_PORT} to {HIGHEST_PORT})")
    loaded = settings()
    host = host if host is not None else loaded.host
    port = port if port is not None else loaded.port
    listener = bind_listener(host, port)
    try:
        run(
            _serve(
                loaded, listener, url_of(host, port), first_run_key=first_run_key, apply_profile=apply_profile
            )
        )
    finally:
        listener.close()


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def bind_listener(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not yet listening), or one line and exit 1."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        fail(f"--host: cannot listen on {host!r}: {getattr(exc, 'strerror', None) or exc}")
    listener = socket.socket(family, kind, proto)
    try:
        # As uvicorn does: a port left in TIME_WAIT by the previous run may be reused at once.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
    except OSError as exc:
        listener.close()
        option = "--host" if exc.errno == errno.EADDRNOTAVAIL else "--port"
        fail(f"{option}: cannot listen on {url_of(host, port)}: {exc.strerror or exc}")
    return listener


async def _serve(
    settings: Settings,
    listener: socket.socket,
    url: str,
    *,
    first_run_key: bool,
    apply_profile: str | None = None,
) -> None:
    import uvicorn

    from agentkeep.api.app import create_app
    from agentkeep.api.server import ProblemH11Protocol

    keep = await Keep.connect(settings, apply_profile=apply_profile)
    try:
        if first_run_key and (created := await keep.access_keys.create_first_service_key()):
            out.print("A service key was created for this new database. It is shown once; keep it:")
            print_line(f"  {created.secret}")
            print_line(f"  curl -H 'Authorization: Bearer <key>' {url}/api/agents")
        # ProblemH11Protocol: the HTTP parser's own 400s (a NUL in a header) are problem bodies too.
        config = uvicorn.Config(
            create_app(keep=keep), log_level="info", lifespan="on", http=ProblemH11Protocol
        )
        server = _server(config, on_started=lambda: _say_serving(url))
        await server.serve(sockets=[listener])
    except BaseException:
        await keep.close()
        raise
    await keep.close()
    if settings.uses_embedded_server:
        out.print("agentkeep stopped; the embedded database was shut down cleanly.")
    else:
        out.print("agentkeep stopped.")


def _say_serving(url: str) -> None:
    out.print(f"agentkeep is serving on [bold]{url}[/bold] (API docs at /docs). Ctrl-C stops it.")


class ServerDidNotStart(AgentkeepError):
    title = "Server did not start"


def _server(config: uvicorn.Config, *, on_started: Any) -> uvicorn.Server:
    """A uvicorn server that reports when it accepts connections, and returns after a Ctrl-C.

    uvicorn re-raises the signal it caught once it has shut down; asyncio.run would then cancel
    our own shutdown (closing the pool, stopping the embedded database) half way. It also calls
    sys.exit when its start-up fails, which would skip that shutdown too.
    """
    import uvicorn

    class GracefulServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            try:
                await super().startup(sockets)
            except SystemExit:
                raise ServerDidNotStart("the API server did not start (see the log above)") from None
            if self.started:
                on_started()

    return GracefulServer(config)
