"""A delay line for benchmarks: a network namespace reached from this host through a pair of TUN devices, with a
user-space program in between that holds every packet for a set time in each direction. The kernel here has no
netem; TCP still runs end to end in both kernels (windows, slow start, zero-window stalls), so a round trip of
20 ms costs what it costs on a real link.

    host 10.213.0.1 (ca_d0) --[this program: delay/2 each way]-- (ca_d1) 10.213.0.2 in namespace ca_delay

Controlled through stdin/stdout, one line each:
    delay MS     round-trip time in milliseconds (half each way)          -> ok
    mark         start counting: the next client packet starts the clock  -> ok
    report       {"first_bulk_s": ..., "flights": ...}                     -> JSON line

`first_bulk_s` is the time from the first client packet after `mark` to the first server packet carrying 4000 or
more bytes of payload on a connection that asked for the table's rows (a statement naming `wide`, other than a key
sample with TABLESAMPLE): catalogue answers and planning samples are not the read. `flights` counts the client's
payload-carrying packets (or SYNs) sent after something arrived from the server on that connection, up to then:
each one is a request that waited on an answer.

Run as root (namespaces, TUN). `DelayLine` starts and tears everything down.
"""
import fcntl
import heapq
import json
import os
import select
import struct
import subprocess
import sys
import time

NAMESPACE = "ca_delay"
HOST_IF, NS_IF = "ca_d0", "ca_d1"
HOST_IP, NS_IP = "10.213.0.1", "10.213.0.2"
# Jumbo frames, as inside a cloud network. Not larger: with 64 KB segments the receiver's initial window holds one
# segment, its buffer autotuning never sees more than that arrive per round trip, and the window never opens.
MTU = 9000
BULK = 4000


def _ip(*args, ns=False):
    prefix = ["ip", "netns", "exec", NAMESPACE] if ns else []
    subprocess.run(prefix + ["ip", *args], check=True, capture_output=True)


def _tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", name.encode(), 0x0001 | 0x1000))  # TUNSETIFF, IFF_TUN|NO_PI
    return fd


def _tcp(packet):
    """(flow key, syn, payload length) of an IPv4 TCP packet, or None."""
    if len(packet) < 40 or packet[0] >> 4 != 4 or packet[9] != 6:
        return None
    ihl = (packet[0] & 15) * 4
    total = struct.unpack_from("!H", packet, 2)[0]
    sport, dport = struct.unpack_from("!HH", packet, ihl)
    offset = (packet[ihl + 12] >> 4) * 4
    syn = bool(packet[ihl + 13] & 0x02)
    return (sport, dport), syn, total - ihl - offset


class Counter:
    """Round trips before the bulk read: see the module's docstring."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.start = self.first_bulk = None
        self.flights = 0
        self.answered = set()
        self.reading = set()

    def client(self, packet, now):
        tcp = _tcp(packet)
        if tcp is None or self.first_bulk is not None:
            return
        (sport, _), syn, length = tcp
        if self.start is None and (syn or length):
            self.start = now
        if syn or (length and sport in self.answered):
            self.flights += 1
            self.answered.discard(sport)
        if length and b"wide" in packet and b"TABLESAMPLE" not in packet:
            self.reading.add(sport)

    def server(self, packet, now):
        tcp = _tcp(packet)
        if tcp is None or self.start is None or self.first_bulk is not None:
            return
        (_, dport), _, length = tcp
        if length:
            self.answered.add(dport)
        if length >= BULK and dport in self.reading:
            self.first_bulk = now

    def report(self):
        elapsed = None if self.first_bulk is None else self.first_bulk - self.start
        return {"first_bulk_s": elapsed, "flights": self.flights}


def serve():
    host, ns = _tun(HOST_IF), _tun(NS_IF)
    subprocess.run(["ip", "netns", "add", NAMESPACE], capture_output=True)
    _ip("link", "set", NS_IF, "netns", NAMESPACE)
    _ip("addr", "add", HOST_IP, "peer", NS_IP, "dev", HOST_IF)
    # Long queues: a packet the kernel drops for want of room here is a loss no real link of this kind would have.
    _ip("link", "set", HOST_IF, "mtu", str(MTU), "txqueuelen", "20000", "up")
    _ip("addr", "add", NS_IP, "peer", HOST_IP, "dev", NS_IF, ns=True)
    _ip("link", "set", NS_IF, "mtu", str(MTU), "txqueuelen", "20000", "up", ns=True)
    _ip("link", "set", "lo", "up", ns=True)
    one_way = 0.0
    counter = Counter()
    queue = []  # (due, sequence, destination fd, packet): one FIFO in effect, as every packet gets the same delay
    sequence = 0
    dropped = 0
    poller = select.epoll()
    poller.register(host, select.EPOLLIN)
    poller.register(ns, select.EPOLLIN)
    poller.register(sys.stdin.fileno(), select.EPOLLIN)
    print("ok", flush=True)
    while True:
        timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else 1.0
        for fd, _ in poller.poll(timeout):
            if fd == sys.stdin.fileno():
                line = sys.stdin.readline().split()
                if not line:
                    return
                if line[0] == "delay":
                    one_way = float(line[1]) / 2000.0
                    print("ok", flush=True)
                elif line[0] == "mark":
                    counter.reset()
                    print("ok", flush=True)
                elif line[0] == "report":
                    print(json.dumps(dict(counter.report(), dropped=dropped)), flush=True)
                continue
            while True:
                try:
                    packet = os.read(fd, MTU + 100)
                except BlockingIOError:
                    break
                now = time.monotonic()
                (counter.client if fd == host else counter.server)(packet, now)
                sequence += 1
                heapq.heappush(queue, (now + one_way, sequence, ns if fd == host else host, packet))
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, destination, packet = heapq.heappop(queue)
            try:
                os.write(destination, packet)
            except OSError:
                dropped += 1  # a full receive queue drops the packet, as a router would; TCP resends it


class DelayLine:
    """The delay program as a child process; `close()` removes the namespace and the devices."""

    def __init__(self):
        subprocess.run(["ip", "netns", "del", NAMESPACE], capture_output=True)
        # Real-time priority: on a machine the readers keep busy, a delay line that waits for a core adds jitter
        # (late ACKs, bursts) that no real link of this round trip has, and that hurts whichever tool it hits.
        self.proc = subprocess.Popen(["chrt", "-f", "50", sys.executable, __file__, "serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self._answer()

    def _answer(self):
        line = self.proc.stdout.readline().strip()
        if not line:
            raise RuntimeError("the delay line did not start (root, /dev/net/tun and ip netns are needed)")
        return line

    def _ask(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def set_rtt(self, ms):
        self._ask(f"delay {ms}")

    def mark(self):
        self._ask("mark")

    def report(self):
        return json.loads(self._ask("report"))

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", NAMESPACE], capture_output=True)


if __name__ == "__main__" and sys.argv[1:] == ["serve"]:
    serve()
