"""A TCP relay in front of a server that counts what a client costs in round trips: the connections it opens and
its request flights (bytes sent after an answer arrived on that connection, i.e. a request that had to wait for
one), up to the moment any connection has received `bulk` bytes, a read under way. Until then every answer is held
for `delay`, as on a link of that round trip, so requests written together count as one flight.

    with TcpCounter("127.0.0.1", 5432) as counter:
        ... connect to counter.port ...
    counter.connections, counter.flights_before_bulk
"""
import socket
import threading
import time


class TcpCounter:
    def __init__(self, host: str, port: int, bulk: int = 256 * 1024, delay: float = 0.01):
        self.target = (host, port)
        self.delay = delay
        self.bulk = bulk
        self.connections = 0
        self.flights = 0
        self.flights_before_bulk = None
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._listener.close()
        for s in self._sockets:  # shutdown first: close() alone leaves a socket another thread waits on connected
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self._sockets += [client, server]
            state = {"answered": True, "received": 0}  # the connection itself is the first flight
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._pump, args=(client, server, state, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, state, False), daemon=True).start()

    def _pump(self, source, destination, state, from_client):
        while True:
            try:
                data = source.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                for s in (source, destination):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return
            if not from_client and self.flights_before_bulk is None:
                time.sleep(self.delay)  # an answer later than any pipelined request: loopback is too quick to tell
            with self._lock:
                self._count(state, from_client, len(data))
            try:
                destination.sendall(data)
            except OSError:
                return

    def _count(self, state, from_client, size):
        if self.flights_before_bulk is not None:
            return
        if from_client:
            if state["answered"]:
                self.flights += 1
                state["answered"] = False
            return
        state["answered"] = True
        state["received"] += size
        if state["received"] >= self.bulk:
            self.flights_before_bulk = self.flights
