"""A TCP proxy on loopback that a test can cut and restore: a database or store going away."""

from __future__ import annotations

import socket
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = 0
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None
        self.lose_answer_to: bytes | None = None
        self.cut_after_loss = False
        self.flowing = threading.Event()
        self.flowing.set()
        self.restore()

    def stall(self) -> None:
        """Keep every connection open but forward nothing, either way, and connect new ones to
        nothing: a server that hangs (frozen, not gone). Bytes sent meanwhile wait in the proxy."""
        self.flowing.clear()

    def resume(self) -> None:
        """Forward again what waited, and everything after it."""
        self.flowing.set()

    def lose_the_answer_to_next(self, marker: bytes, *, then_cut: bool = False) -> None:
        """Forward the next client message holding ``marker`` (b"COMMIT"), then drop that connection
        before the server's answer comes back: the server did it, the client never hears so.
        ``then_cut``: and the server goes away with the answer (nothing can ask it what happened)."""
        self.lose_answer_to, self.cut_after_loss = marker, then_cut

    def restore(self) -> None:
        """Listen (again, on the same port) and forward."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Stop listening and drop every open connection, as a restarting server does."""
        self._stop_listening()
        with self.lock:
            for connection in self.connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                connection.close()
            self.connections.clear()

    def close(self) -> None:
        self.cut()

    def _stop_listening(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            try:  # wakes the thread blocked in accept(): close() alone leaves it accepting (Linux)
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self.flowing.wait()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)  # an idle connection stays, as a server's does
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections += [client, upstream]
            for a, b, outbound in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=(a, b, outbound), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, outbound: bool) -> None:
        try:
            while data := source.recv(65536):
                self.flowing.wait()
                marker = self.lose_answer_to
                if outbound and marker is not None and marker in data:
                    self.lose_answer_to = None
                    sink.sendall(data)
                    if self.cut_after_loss:  # before the client hears of the loss: no new connection gets in
                        self._stop_listening()
                    source.shutdown(socket.SHUT_RDWR)  # the client's side goes: no answer reaches it
                    if self.cut_after_loss:
                        self.cut()
                    return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.close()
                except OSError:
                    pass
