"""A TDS 7.4 server for tests: enough of MS-TDS for a SQL Server client to log in and run queries that really execute
on the engine (see engine.py). Not a product: SQL authentication only, one result set per request, no transactions
or cursors. Without `tls` PRELOGIN answers ENCRYPT_NOT_SUP; with an `ssl.SSLContext` it encrypts as SQL Server does
(MS-TDS 2.2.6.5): the TLS handshake travels inside PRELOGIN packets, then TLS runs directly over TCP, for the
whole session (client ENCRYPT_ON/REQ) or for the login only (client ENCRYPT_OFF). TDS 8.0 (strict) is not spoken.

Speaks: PRELOGIN, LOGIN7, SQL batch, RPC `sp_executesql` (parameters of the common scalar types, each converted to
the type its declaration gives, as SQL Server does), and answers with
LOGINACK, ENVCHANGE, COLMETADATA, ROW, NBCROW, DONE/DONEINPROC/DONEPROC, RETURNSTATUS and ERROR tokens carrying real
SQL Server error numbers. Faults can be injected: drop the connection after N rows, answer an error once (before
any row, or after N rows as SQL Server does when a deadlock victim is chosen mid-stream), refuse logins. A client
that opens with a TLS hello (TDS 8.0, `encrypt=strict`) gets no answer, as from a SQL Server before 2022.
"""
import re
import socket
import socketserver
import ssl
import struct
import threading
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from .engine import Engine, SqlError
from .types import encoder

PRELOGIN, LOGIN7, SQL_BATCH, RPC, ATTENTION, TRANSACTION, REPLY = 0x12, 0x10, 0x01, 0x03, 0x06, 0x0E, 0x04
TDS74 = 0x74000004
ENCRYPT_OFF, ENCRYPT_ON, ENCRYPT_NOT_SUP, ENCRYPT_REQ = 0x00, 0x01, 0x02, 0x03
TLS_HANDSHAKE = 0x16  # the first byte of a TLS record carrying a ClientHello


def client_encryption(prelogin: bytes) -> int:
    """The ENCRYPTION option of a client's PRELOGIN (ENCRYPT_NOT_SUP when absent)."""
    at = 0
    while at < len(prelogin) and prelogin[at] != 0xFF:
        tag, offset, length = struct.unpack(">BHH", prelogin[at:at + 5])
        if tag == 0x01 and length:
            return prelogin[offset]
        at += 5
    return ENCRYPT_NOT_SUP


def b_varchar(s: str) -> bytes:
    return bytes([len(s)]) + s.encode("utf-16-le")


def us_varchar(s: str) -> bytes:
    return struct.pack("<H", len(s)) + s.encode("utf-16-le")


def token(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + struct.pack("<H", len(body)) + body


def done(kind=0xFD, status=0, cmd=0, rows=0) -> bytes:
    return bytes([kind]) + struct.pack("<HHQ", status, cmd, rows)


def error(number: int, message: str, severity=16, state=1) -> bytes:
    body = struct.pack("<iBB", number, state, severity) + us_varchar(message) + b_varchar("tdsfixture") + \
        b_varchar("") + struct.pack("<i", 1)
    return token(0xAA, body)


class Faults:
    """Injected failures, each used up as it fires. `match` is a substring of the statement it applies to."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []
        self.refuse_login = False
        self.fired = []

    def add(self, kind: str, match: str = "", times: int = 1, **args):
        with self.lock:
            self.items.append(dict(kind=kind, match=match, times=times, **args))

    def take(self, statement: str):
        with self.lock:
            for f in self.items:
                if f["times"] > 0 and f["match"] in statement:
                    f["times"] -= 1
                    self.fired.append(f["kind"])
                    return f
        return None


class Session(socketserver.BaseRequestHandler):
    def setup(self):
        self.sock: socket.socket = self.request
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.packet_size = 4096
        self.engine = None
        self.buffer = bytearray()
        self.tls = None  # the session's ssl.SSLObject once the handshake is done
        self.server.tds.count_session()

    def finish(self):
        if self.engine:
            self.engine.close()

    # --- packets ---
    def read_message(self):
        kind, data = None, bytearray()
        while True:
            header = self._recv(8)
            if header is None:
                return None, None
            kind, status, length = header[0], header[1], struct.unpack(">H", header[2:4])[0]
            data += self._recv(length - 8) or b""
            if status & 0x01:
                return kind, bytes(data)

    def _recv(self, n):
        chunks = b""
        while len(chunks) < n:
            part = self._recv_some(n - len(chunks))
            if not part:
                return None
            chunks += part
        return chunks

    def _recv_some(self, n):
        if self.tls is None:
            return self.sock.recv(n)
        while True:
            try:
                return self.tls.read(n)
            except ssl.SSLWantReadError:
                data = self.sock.recv(65536)
                if not data:
                    return b""
                self.incoming.write(data)
            except (ssl.SSLError, OSError):
                return b""

    def _send_raw(self, data: bytes):
        if self.tls is None:
            self.sock.sendall(data)
            return
        self.tls.write(data)
        self.sock.sendall(self.outgoing.read())

    def write(self, data: bytes):
        self.buffer += data
        room = self.packet_size - 8
        while len(self.buffer) > room:
            self._send_packet(self.buffer[:room], last=False)
            del self.buffer[:room]

    def end(self):
        self._send_packet(self.buffer, last=True)
        self.buffer = bytearray()

    def _send_packet(self, payload, last):
        header = struct.pack(">BBHHBB", REPLY, 1 if last else 0, len(payload) + 8, 0, 1, 0)
        self._send_raw(header + bytes(payload))

    # --- protocol ---
    def handle(self):
        kind, data = self.read_message()
        if kind == TLS_HANDSHAKE:
            # TDS 8.0's TLS first: a server without it waits for a PRELOGIN that never comes, until the client
            # gives up.
            while self._recv_some(65536):
                pass
            return
        if kind != PRELOGIN:
            return
        encryption = self.prelogin(client_encryption(data))
        if encryption is not None and not self.handshake():
            return
        kind, data = self.read_message()
        if encryption == ENCRYPT_OFF:
            self.tls = None  # login-only encryption: the rest of the session is plain
        if kind != LOGIN7 or not self.login(data):
            return
        while True:
            kind, data = self.read_message()
            if kind is None:
                return
            if kind == ATTENTION:
                self.write(done(status=0x0020))
                self.end()
                continue
            try:
                if kind == SQL_BATCH:
                    text = data[struct.unpack("<I", data[:4])[0]:].decode("utf-16-le")
                    self.run(text, [], rpc=False)
                elif kind == TRANSACTION:
                    self.transaction(data)
                elif kind == RPC:
                    text, params = parse_rpc(data)
                    self.run(text, params, rpc=True)
                else:
                    return
            except ConnectionError:
                return

    def prelogin(self, asked):
        """Answers PRELOGIN; returns the encryption agreed (None: none at all)."""
        tls = self.server.tds.tls
        agreed = None if tls is None or asked == ENCRYPT_NOT_SUP else (ENCRYPT_OFF if asked == ENCRYPT_OFF else ENCRYPT_ON)
        answer = ENCRYPT_NOT_SUP if agreed is None else agreed
        options = [(0x00, bytes([16, 0, 0x10, 0x36, 0, 0])), (0x01, bytes([answer])), (0x02, b"\x00"), (0x03, b""),
                   (0x04, b"\x00")]
        offset = len(options) * 5 + 1
        table, payload = b"", b""
        for tag, value in options:
            table += struct.pack(">BHH", tag, offset + len(payload), len(value))
            payload += value
        self.write(table + b"\xff" + payload)
        self.end()
        return agreed

    def handshake(self) -> bool:
        """The TLS handshake, its records carried in PRELOGIN packets both ways; then TLS over the bare socket."""
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.server.tds.tls.wrap_bio(self.incoming, self.outgoing, server_side=True)
        while True:
            try:
                tls.do_handshake()
                finished = True
            except ssl.SSLWantReadError:
                finished = False
            except (ssl.SSLError, OSError) as e:
                self.server.tds.tls_failures.append(str(e))
                finished = None
            out = self.outgoing.read()
            if out:
                self.sock.sendall(struct.pack(">BBHHBB", PRELOGIN, 1, len(out) + 8, 0, 1, 0) + out)
            if finished is None:
                return False
            if finished:
                self.tls = tls
                return True
            kind, data = self.read_message()
            if kind is None:
                self.server.tds.tls_failures.append("the client closed the connection during the handshake")
                return False
            self.incoming.write(data)

    def login(self, data: bytes) -> bool:
        def field(at):
            off, length = struct.unpack("<HH", data[at:at + 4])
            return data[off:off + 2 * length]
        self.packet_size = max(512, min(struct.unpack("<I", data[8:12])[0] or 4096, 32767))
        user = field(40).decode("utf-16-le")
        password = bytes(((b ^ 0xA5) << 4 & 0xF0) | ((b ^ 0xA5) >> 4) for b in field(44)).decode("utf-16-le")
        database = field(68).decode("utf-16-le") or "master"
        tds = self.server.tds
        if tds.faults.refuse_login or tds.users.get(user) != password:
            self.write(error(18456, f"Login failed for user '{user}'.", 14, 1) + done(status=0x0002))
            self.end()
            return False
        if database not in tds.databases:
            self.write(error(4060, f'Cannot open database "{database}" requested by the login. The login failed.',
                             11, 1) + error(18456, f"Login failed for user '{user}'.", 14, 1) + done(status=0x0002))
            self.end()
            return False
        self.engine = Engine(tds.databases[database])
        size = str(self.packet_size)
        self.write(token(0xE3, b"\x01" + b_varchar(database) + b_varchar("master")))
        self.write(token(0xE3, b"\x07\x05" + bytes([0x09, 0x04, 0xD0, 0x00, 0x34]) + b"\x00"))
        self.write(token(0xE3, b"\x04" + b_varchar(size) + b_varchar("4096")))
        ack = b"\x01" + struct.pack(">I", TDS74) + b_varchar("Microsoft SQL Server") + bytes([16, 0, 0x10, 0x36])
        self.write(token(0xAD, ack) + done())
        self.end()
        return True

    def transaction(self, data: bytes):
        """Transaction manager requests are acknowledged, not honoured: every statement runs in autocommit."""
        request = struct.unpack("<H", data[struct.unpack("<I", data[:4])[0]:][:2])[0]
        if request == 5:  # begin
            self.write(token(0xE3, b"\x08\x08" + b"\x01" * 8 + b"\x00"))
        elif request in (7, 8):  # commit, rollback
            self.write(token(0xE3, bytes([9 if request == 7 else 10, 0, 8]) + b"\x01" * 8))
        self.write(done())
        self.end()

    def run(self, text: str, params, rpc: bool):
        self.server.tds.statements.append((text, [p[1] for p in params]))
        fault = self.server.tds.faults.take(text)
        final = (lambda s, c, n: done(0xFF, s | 0x0001, c, n) + b"\x79" + struct.pack("<i", 0) + done(0xFE)) if rpc else \
            (lambda s, c, n: done(0xFD, s, c, n))
        if fault and fault["kind"] == "error" and "after_rows" not in fault:
            self.write(error(fault["number"], fault.get("message", "injected fault"), fault.get("severity", 13)) +
                       final(0x0002, 0, 0))
            self.end()
            return
        try:
            columns, rows = self.engine.execute(text, params)
        except SqlError as e:
            self.write(error(e.number, e.message, e.severity, e.state) + final(0x0002, 0, 0))
            self.end()
            return
        if columns is None:
            self.write(final(0x0010, 0xC3, rows))
            self.end()
            return
        self.stream(columns, rows, final, fault)

    def stream(self, columns, rows, final, fault):
        encoders = [encoder(ty) for _, ty in columns]
        meta = b"\x81" + struct.pack("<H", len(columns))
        for (name, ty), (info, _) in zip(columns, encoders, strict=False):
            user_type = 0x50 if ty.name == "timestamp" else 0
            meta += struct.pack("<IH", user_type, 0x0009) + info + b_varchar(name)
        self.write(meta)
        encode = [e for _, e in encoders]
        n = len(encode)
        drop_after = fault["after_rows"] if fault and fault["kind"] == "drop" else None
        fail_after = fault["after_rows"] if fault and fault["kind"] == "error" else None
        count = 0
        for row in rows:
            if fail_after is not None and count >= fail_after:
                # rows already sent stay sent; the error and a DONE with its error bit end the statement
                self.write(error(fault["number"], fault.get("message", "injected fault"), fault.get("severity", 13)) +
                           final(0x0002, 0xC1, count))
                self.end()
                return
            if drop_after is not None and count >= drop_after:
                self._send_packet(self.buffer, last=False)
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.sock.close()
                raise ConnectionError("injected drop")
            if None in row:
                bitmap = bytearray((n + 7) // 8)
                body = b""
                for i, (value, enc) in enumerate(zip(row, encode, strict=False)):
                    if value is None:
                        bitmap[i // 8] |= 1 << (i % 8)
                    else:
                        body += enc(value)
                self.write(b"\xd2" + bytes(bitmap) + body)
            else:
                self.write(b"\xd1" + b"".join([enc(v) for enc, v in zip(encode, row, strict=False)]))
            count += 1
        self.write(final(0x0010, 0xC1, count))
        self.end()


# --- RPC parameters -------------------------------------------------------------------------------------------

class Reader:
    def __init__(self, data: bytes, at: int = 0):
        self.data, self.at = data, at

    def take(self, n: int) -> bytes:
        out = self.data[self.at:self.at + n]
        self.at += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("<H", self.take(2))[0]

    def more(self):
        return self.at < len(self.data)


def parse_rpc(data: bytes):
    r = Reader(data, struct.unpack("<I", data[:4])[0])
    name_len = r.u16()
    if name_len == 0xFFFF:
        proc = r.u16()
        if proc != 10:
            raise SqlError(2812, f"Could not find stored procedure id {proc}.")
    else:
        name = r.take(2 * name_len).decode("utf-16-le")
        if name.lower() != "sp_executesql":
            raise SqlError(2812, f"Could not find stored procedure '{name}'.")
    r.u16()  # option flags
    values = []
    while r.more():
        pname = r.take(2 * r.u8()).decode("utf-16-le")
        r.u8()  # status flags
        values.append((pname, read_value(r)))
    stmt = values[0][1]
    # sp_executesql's second argument declares the parameters ("@P1 int, @P2 nvarchar(4000)"): SQL Server converts
    # each value to its declared type before the statement sees it, so the engine casts to it too.
    declared = _declarations(values[1][1] if len(values) > 1 else None)
    params = [(n, v) for n, v in values[2:]]
    if params and not params[0][0]:
        params = [(declared[i][0], v) for i, (_, v) in enumerate(params)]
    types = dict(declared)
    params = [(n, v, types.get(n.lower())) for n, v in params]
    return stmt, params


def _declarations(text):
    """[(lower-case name, T-SQL type)] of an sp_executesql parameter declaration list."""
    found = []
    for part in re.split(r",(?![^()]*\))", text or ""):
        words = part.strip().split(None, 1)
        if len(words) == 2:
            found.append((words[0].lower(), re.sub(r"\s+(OUTPUT|OUT)$", "", words[1].strip(), flags=re.I)))
    return found


def _plp(r: Reader):
    total = struct.unpack("<Q", r.take(8))[0]
    if total == 0xFFFFFFFFFFFFFFFF:
        return None
    out = b""
    while True:
        n = struct.unpack("<I", r.take(4))[0]
        if n == 0:
            return out
        out += r.take(n)


def read_value(r: Reader):
    """One RPC parameter value, as text for the engine (PostgreSQL casts it where the statement says)."""
    t = r.u8()
    if t in (0xE7, 0xEF, 0xA7, 0xAF):  # nvarchar, nchar, varchar, char
        maxlen = r.u16()
        r.take(5)
        raw = _plp(r) if maxlen == 0xFFFF else (lambda n: None if n == 0xFFFF else r.take(n))(r.u16())
        return None if raw is None else raw.decode("utf-16-le" if t in (0xE7, 0xEF) else "cp1252")
    if t in (0xA5, 0xAD):  # varbinary, binary
        maxlen = r.u16()
        raw = _plp(r) if maxlen == 0xFFFF else (lambda n: None if n == 0xFFFF else r.take(n))(r.u16())
        return None if raw is None else "\\x" + raw.hex()
    if t in (0x26, 0x68, 0x6D, 0x24, 0x6F, 0x6E):  # intn, bitn, floatn, guid, datetimen, moneyn
        r.u8()
        n = r.u8()
        raw = r.take(n)
        if n == 0:
            return None
        if t == 0x26:
            return str(int.from_bytes(raw, "little", signed=n > 1))
        if t == 0x68:
            return "true" if raw[0] else "false"
        if t == 0x6D:
            return repr(struct.unpack("<f" if n == 4 else "<d", raw)[0])
        if t == 0x24:
            return str(uuid.UUID(bytes_le=raw))
        if t == 0x6E:
            v = struct.unpack("<i", raw)[0] if n == 4 else (struct.unpack("<iI", raw)[0] << 32 | struct.unpack("<iI", raw)[1])
            return str(Decimal(v).scaleb(-4))
        days, rest = struct.unpack("<iI", raw) if n == 8 else struct.unpack("<HH", raw)
        base = datetime(1900, 1, 1) + timedelta(days=days)
        return (base + (timedelta(seconds=rest / 300) if n == 8 else timedelta(minutes=rest))).isoformat()
    if t in (0x6A, 0x6C):  # decimal, numeric
        r.u8()
        r.u8()
        scale = r.u8()
        n = r.u8()
        if n == 0:
            return None
        raw = r.take(n)
        v = int.from_bytes(raw[1:], "little")
        return str(Decimal(v if raw[0] else -v).scaleb(-scale))
    if t in (0x28, 0x29, 0x2A, 0x2B):  # date, time, datetime2, datetimeoffset
        scale = r.u8() if t != 0x28 else 0
        n = r.u8()
        if n == 0:
            return None
        raw = r.take(n)
        tlen = 0 if t == 0x28 else (3 if scale <= 2 else 4 if scale <= 4 else 5)
        seconds = int.from_bytes(raw[:tlen], "little") / 10 ** scale if tlen else 0
        if t == 0x29:
            return str(timedelta(seconds=seconds))
        day = date(1, 1, 1) + timedelta(days=int.from_bytes(raw[tlen:tlen + 3], "little"))
        value = datetime.combine(day, datetime.min.time()) + timedelta(seconds=seconds)
        if t == 0x28:
            return day.isoformat()
        if t == 0x2B:  # the date and time of a datetimeoffset are UTC; the offset only says how to show them
            return value.replace(tzinfo=timezone.utc).isoformat()
        return value.isoformat()
    raise SqlError(8016, f"The incoming RPC parameter type 0x{t:02x} is not supported by the fixture.")


class TdsServer:
    """A TDS server on 127.0.0.1:`port` (0 picks one) in background threads. `databases` maps a database name to
    the psycopg connection settings of the PostgreSQL database behind it; `users` maps logins to passwords."""

    def __init__(self, databases: dict, users: dict, port: int = 0, forking: bool = False, tls=None):
        from .engine import bootstrap
        for conninfo in databases.values():
            bootstrap(conninfo)
        self.databases, self.users, self.faults = databases, users, Faults()
        self._sessions, self._sessions_lock = 0, threading.Lock()
        self.tls = tls  # an ssl.SSLContext (server side) to encrypt with, or None
        self.tls_failures = []  # why handshakes failed, as the server saw it
        self.statements = []  # (T-SQL text, parameter values) of every request, for tests to inspect
        # Forking gives every session its own interpreter (benchmarks); threads keep faults, statements and
        # counters in this process, where tests read them.
        kind = socketserver.ForkingTCPServer if forking else socketserver.ThreadingTCPServer
        server = kind(("127.0.0.1", port), Session, bind_and_activate=False)
        server.allow_reuse_address = True
        server.daemon_threads = True
        server.server_bind()
        server.server_activate()
        server.tds = self
        self.server = server
        self.port = server.server_address[1]
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)
        self.thread.start()

    def count_session(self):
        with self._sessions_lock:  # sessions start on threads of their own: `+=` alone can lose one
            self._sessions += 1

    @property
    def sessions(self) -> int:
        """Connections (each a session) accepted so far."""
        with self._sessions_lock:
            return self._sessions

    def reset(self):
        """Forgets faults not yet fired, what fired, and the statement log: a test starts from a clean server."""
        with self.faults.lock:
            self.faults.items.clear()
            self.faults.fired.clear()
            self.faults.refuse_login = False
        self.statements.clear()
        self.tls_failures.clear()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
