"""A Snowflake endpoint for tests: fakesnow's server (an independent emulation of Snowflake over DuckDB) answers every
statement, and this thin wrapper in front of it adds what the real service does and fakesnow does not, written from
Snowflake's documentation and its drivers' protocol (tests only, like testkit/tdsfixture):

- login: the password of the registered user is checked (390100), a key-pair JWT is verified against the registered
  public key (RS256 signature, `ACCOUNT.USER.SHA256:<fingerprint>` issuer, at most an hour of validity: 390144), an
  account other than the registered one gets HTTP 404 (no such account host); the reply carries a master token;
- session expiry: with --expire-after N, a session token is refused after N statements (390112) until it is renewed
  with the master token at /session/token-request (fakesnow has no master token and no renewal);
- multi-chunk results: with --chunk-rows N, a result is cut into Arrow IPC streams of N rows: the first inline,
  the others listed in `chunks` and served from /chunks/<id>, gzipped one in two (Content-Encoding: gzip), refused (403) without the
  `chunkHeaders` the reply names (fakesnow answers inline only); each chunk request's arrival time is recorded
  (/testkit/counts), so that a client's pacing of them can be seen;
- encodings: with --encoding snowflake, NUMBER(p<=18,s) is re-encoded as Arrow int64 with the scale in the field's
  metadata, TIMESTAMP_NTZ/LTZ as int64 of 10^-6 s (scale 6), TIMESTAMP_TZ as the two-field struct (epoch in 10^-6 s,
  timezone), as the service sends them at those scales (fakesnow sends decimal128 and nine-digit structs);
- asynchronous statements: with --async-polls N, a statement first answers "still running" (333334) with its
  getResultUrl, which answers so N-1 more times before the result;
- concurrency: fakesnow runs a session's statements on one DuckDB cursor, which cannot take two at once; the
  wrapper queues a session's statements, where the service runs them side by side;
- /testkit/sql runs setup statements on the shared database directly (the tests' own door, not Snowflake's).

Run: python -m testkit.snowflake.server --port P [options]; it prints "ready" when listening.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import hashlib
import importlib
import json
import secrets
import time

import pyarrow as pa
import uvicorn
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

# fakesnow's package exports a function named `server` that hides the module of that name.
fake = importlib.import_module("fakesnow.server")
ARGS: argparse.Namespace
# our session token -> [fakesnow's token, statements left before expiry, master token]
SESSIONS: dict[str, list] = {}
MASTERS: dict[str, str] = {}  # master token -> fakesnow's token
CHUNKS: dict[str, bytes] = {}
CHUNK_KEY = secrets.token_hex(8)
RUNNING: dict[str, list] = {}  # query id -> [polls left, reply]
LOCKS: dict[str, asyncio.Lock] = {}  # fakesnow's token -> one statement at a time
COUNTS = {"logins": 0, "renewals": 0, "chunk_downloads": 0, "polls": 0, "queries": 0}
CHUNK_TIMES: list[float] = []  # time.monotonic() at each chunk request's arrival, to see a client's pacing


def error(code: str, message: str, status: int = 200, sqlstate: str | None = None) -> JSONResponse:
    return JSONResponse({"data": {"errorCode": code, "sqlState": sqlstate}, "code": code, "message": message,
                         "success": False}, status_code=status)


def fingerprint(public_pem: bytes) -> str:
    key = serialization.load_pem_public_key(public_pem)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_jwt(token: str, account: str, user: str) -> str | None:
    """Why the JWT is refused, or None (Snowflake's key-pair rules)."""
    if not ARGS.public_key:
        return "no public key is registered for the user"
    try:
        header, claims, signature = token.split(".")
        head, body = json.loads(b64url(header)), json.loads(b64url(claims))
    except ValueError:
        return "not a JWT"
    public_pem = open(ARGS.public_key, "rb").read()
    key = serialization.load_pem_public_key(public_pem)
    try:
        key.verify(b64url(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except Exception:  # noqa: BLE001 - any verification failure is a refusal
        return "bad signature"
    subject = f"{account.upper()}.{user.upper()}"
    now = time.time()
    if head.get("alg") != "RS256":
        return "not RS256"
    if body.get("sub") != subject or body.get("iss") != f"{subject}.{fingerprint(public_pem)}":
        return f"issuer {body.get('iss')} is not {subject}.{fingerprint(public_pem)}"
    if not (body["iat"] - 60 <= now <= body["exp"]) or body["exp"] - body["iat"] > 3600:
        return "expired or valid too long"
    return None


async def body_of(request: Request) -> dict:
    raw = await request.body()
    return json.loads(gzip.decompress(raw) if request.headers.get("Content-Encoding") == "gzip" else raw)


async def login(request: Request) -> Response:
    body = await body_of(request)
    data = body["data"]
    if data.get("ACCOUNT_NAME", "").upper() != ARGS.account.upper():
        return Response("<html>no such account</html>", status_code=404, media_type="text/html")
    if data.get("LOGIN_NAME", "").upper() != ARGS.user.upper():
        return error("390100", "Incorrect username or password was specified.")
    if data.get("AUTHENTICATOR") == "SNOWFLAKE_JWT":
        why = check_jwt(data.get("TOKEN", ""), data["ACCOUNT_NAME"], data["LOGIN_NAME"])
        if why:
            return error("390144", f"JWT token is invalid. [{why}]")
    elif data.get("PASSWORD") != ARGS.password:
        return error("390100", "Incorrect username or password was specified.")
    reply = await fake.login_request(request)
    answer = json.loads(reply.body)
    inner = answer["data"]["token"]
    token, master = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    SESSIONS[token] = [inner, ARGS.expire_after, master]
    MASTERS[master] = inner
    COUNTS["logins"] += 1
    answer["data"].update(token=token, masterToken=master, validityInSeconds=3600, masterValidityInSeconds=14400,
                          sessionId=len(SESSIONS))
    return JSONResponse(answer)


def token_of(request: Request) -> str:
    return request.headers.get("Authorization", "")[17:-1]


def inner_request(request: Request, inner: str, body: bytes) -> Request:
    """The request as fakesnow reads it, carrying fakesnow's own token."""
    scope = dict(request.scope)
    scope["headers"] = [(k, v) for k, v in request.scope["headers"] if k != b"authorization"]
    scope["headers"].append((b"authorization", f'Snowflake Token="{inner}"'.encode()))

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}
    return Request(scope, receive)


async def query(request: Request) -> Response:
    session = SESSIONS.get(token_of(request))
    if session is None:
        return error("390104", "User must login again to access the service.", 401)
    if session[1] is not None:
        if session[1] <= 0:
            return error("390112", "Your session has expired. Please login again.", 401)
        session[1] -= 1
    COUNTS["queries"] += 1
    body = await request.body()
    async with LOCKS.setdefault(session[0], asyncio.Lock()):
        reply = await fake.query_request(inner_request(request, session[0], body))
    answer = json.loads(reply.body)
    if answer.get("success"):
        reencode(answer["data"])
        chunk(answer["data"], request)
    if ARGS.async_polls and answer.get("success"):
        qid = answer["data"].get("queryId") or secrets.token_hex(8)
        RUNNING[qid] = [ARGS.async_polls - 1, answer]
        return JSONResponse({"code": "333334", "message": "Asynchronous execution in progress.", "success": False,
                             "data": {"queryId": qid, "getResultUrl": f"/queries/{qid}/result"}})
    return JSONResponse(answer, status_code=reply.status_code)


async def result(request: Request) -> Response:
    if token_of(request) not in SESSIONS:
        return error("390104", "User must login again to access the service.", 401)
    qid = request.path_params["qid"]
    COUNTS["polls"] += 1
    left, answer = RUNNING[qid]
    if left > 0:
        RUNNING[qid][0] -= 1
        return JSONResponse({"code": "333334", "message": "Asynchronous execution in progress.", "success": False,
                             "data": {"queryId": qid, "getResultUrl": f"/queries/{qid}/result"}})
    return JSONResponse(answer)


async def renew(request: Request) -> Response:
    master = token_of(request)
    if master not in MASTERS:
        return error("390114", "Authentication token has expired.  The user must authenticate again.", 401)
    body = await body_of(request)
    old = SESSIONS.pop(body.get("oldSessionToken"), None)
    token = secrets.token_urlsafe(24)
    SESSIONS[token] = [MASTERS[master], ARGS.expire_after, master]
    COUNTS["renewals"] += 1
    return JSONResponse({"data": {"sessionToken": token, "validityInSecondsST": 3600, "masterToken": master,
                                  "renewed_from_known": old is not None}, "success": True})


async def session(request: Request) -> Response:
    s = SESSIONS.get(token_of(request))
    if s is None:
        return error("390104", "User must login again to access the service.", 401)
    if request.query_params.get("delete"):
        SESSIONS.pop(token_of(request), None)
    return JSONResponse({"data": None, "code": None, "message": None, "success": True})


def null_structs(arr: pa.Array) -> pa.Array:
    """fakesnow's timestamp structs put a NULL in their non-nullable children and none on the struct itself, which
    Arrow's validation (arrow-rs, ours) refuses and Snowflake never sends: its structs carry the NULL themselves.
    Marked here on the struct, the children's values kept."""
    if not pa.types.is_struct(arr.type) or arr.null_count or not arr.field(0).null_count:
        return arr
    mask = arr.field(0).is_null()
    children = [arr.field(i) for i in range(arr.type.num_fields)]
    return pa.StructArray.from_arrays(children, fields=list(arr.type), mask=mask)


def reencode(data: dict) -> None:
    """fakesnow's Arrow with NULL structs marked (null_structs); with --encoding snowflake, in the service's own
    encodings at these scales (see the module's docstring)."""
    if not data.get("rowsetBase64"):
        return
    table = pa.ipc.open_stream(base64.b64decode(data["rowsetBase64"])).read_all()
    arrays, fields = [], []
    for i, (col, field) in enumerate(zip(table.columns, table.schema, strict=True)):
        meta = dict(field.metadata or {})
        kind = data["rowtype"][i]["type"]
        arr = null_structs(col.combine_chunks())
        if ARGS.encoding != "snowflake":
            pass
        elif kind == "fixed" and pa.types.is_decimal(arr.type) and arr.type.precision <= 18:
            scale = arr.type.scale
            ints = [None if v is None else int(v.scaleb(scale)) for v in arr.to_pylist()]
            arr, meta[b"scale"] = pa.array(ints, pa.int64()), str(scale).encode()
        elif kind in ("timestamp_ntz", "timestamp_ltz", "timestamp_tz") and pa.types.is_struct(arr.type):
            epoch = [None if v is None else v["epoch"] * 1_000_000 + v["fraction"] // 1000 for v in arr.to_pylist()]
            if kind == "timestamp_tz":
                tz = [None if v is None else v["timezone"] for v in arr.to_pylist()]
                arr = pa.StructArray.from_arrays([pa.array(epoch, pa.int64()), pa.array(tz, pa.int32())],
                                                 names=["epoch", "timezone"], mask=pa.array([v is None for v in epoch]))
            else:
                arr = pa.array(epoch, pa.int64())
            meta[b"scale"] = b"6"
            data["rowtype"][i]["scale"] = 6
        arrays.append(arr)
        fields.append(pa.field(field.name, arr.type, field.nullable, meta))
    out = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    data["rowsetBase64"] = base64.b64encode(ipc(out.to_batches())).decode()


def ipc(batches: list) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batches[0].schema) as writer:
        for b in batches:
            writer.write_batch(b)
    return sink.getvalue().to_pybytes()


def chunk(data: dict, request: Request) -> None:
    """The rows cut into chunks of --chunk-rows: the first inline, the rest at their URLs (see the docstring)."""
    if not ARGS.chunk_rows or not data.get("rowsetBase64"):
        return
    table = pa.ipc.open_stream(base64.b64decode(data["rowsetBase64"])).read_all()
    if table.num_rows <= ARGS.chunk_rows:
        return
    parts = table.to_batches(max_chunksize=ARGS.chunk_rows)
    data["rowsetBase64"] = base64.b64encode(ipc(parts[:1])).decode()
    base = f"{request.url.scheme}://{request.url.netloc}"
    data["chunks"] = []
    for n, part in enumerate(parts[1:]):
        name = secrets.token_hex(8)
        body = ipc([part])
        CHUNKS[name] = gzip.compress(body) if n % 2 == 0 else body
        data["chunks"].append({"url": f"{base}/chunks/{name}?sig=x", "rowCount": part.num_rows,
                               "uncompressedSize": len(body), "compressedSize": len(CHUNKS[name])})
    data["chunkHeaders"] = {"x-amz-server-side-encryption-customer-key": CHUNK_KEY}
    data["qrmk"] = "not-the-key-the-headers-name"


async def chunk_download(request: Request) -> Response:
    if request.headers.get("x-amz-server-side-encryption-customer-key") != CHUNK_KEY:
        return Response("<Error><Code>AccessDenied</Code></Error>", status_code=403)
    if request.headers.get("authorization"):
        return Response("a chunk URL is presigned: no Authorization header", status_code=400)
    COUNTS["chunk_downloads"] += 1
    CHUNK_TIMES.append(time.monotonic())
    body = CHUNKS[request.path_params["name"]]
    # A gzipped object says so, as storage serves one uploaded with that encoding (requests then inflates it).
    headers = {"Content-Encoding": "gzip"} if body[:2] == b"\x1f\x8b" else {}
    return Response(body, media_type="application/octet-stream", headers=headers)


async def testkit_sql(request: Request) -> Response:
    body = json.loads(await request.body())
    conn = fake.shared_fs.connect(body.get("database"), body.get("schema"))
    rows = []
    for statement in body["sql"]:
        cur = conn.cursor()
        try:
            cur.execute(statement)
        except Exception as e:  # noqa: BLE001 - a setup mistake of a test, said back to it
            return Response(f"{statement}: {type(e).__name__}: {e}", status_code=400)
        rows = [list(map(str, r)) for r in (cur.fetchall() if cur.description else [])]
    return JSONResponse({"rows": rows})


async def counts(_: Request) -> Response:
    return JSONResponse({**COUNTS, "sessions": len(SESSIONS), "chunk_times": CHUNK_TIMES})


def main() -> None:
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--account", default="TESTACCOUNT")
    parser.add_argument("--user", default="TESTER")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--public-key")
    parser.add_argument("--expire-after", type=int)
    parser.add_argument("--chunk-rows", type=int, default=0)
    parser.add_argument("--encoding", choices=["fakesnow", "snowflake"], default="fakesnow")
    parser.add_argument("--async-polls", type=int, default=0)
    ARGS = parser.parse_args()
    routes = [
        Route("/session/v1/login-request", login, methods=["POST"]),
        Route("/session/token-request", renew, methods=["POST"]),
        Route("/session", session, methods=["POST"]),
        Route("/session/heartbeat", session, methods=["POST"]),
        Route("/queries/v1/query-request", query, methods=["POST"]),
        Route("/queries/{qid}/result", result, methods=["GET"]),
        Route("/chunks/{name}", chunk_download, methods=["GET"]),
        Route("/testkit/sql", testkit_sql, methods=["POST"]),
        Route("/testkit/counts", counts, methods=["GET"]),
        Mount("/", app=fake.app),
    ]
    app = Starlette(routes=routes)
    config = uvicorn.Config(app, host="127.0.0.1", port=ARGS.port, log_level="warning")
    print("ready", flush=True)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
