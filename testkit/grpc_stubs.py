"""Python stubs of the Partner SDK protocol (`fivetran_sdk.v2`), generated with grpcio-tools from the same .proto
files the Rust server is built from (crates/fivetran_source/proto), at test time into files/grpc_stubs/, so no
generated code is committed and the stubs cannot drift from the server.

    stubs = grpc_stubs.load()
    client = stubs.connector_sdk_grpc.SourceConnectorStub(grpc.insecure_channel(address))
    stubs.common.ValueType(decimal="1.50")

    python -m testkit.grpc_stubs contract [PROTO_DIR]   # the wire contract, as proto/wire_contract.txt holds it
"""
import functools
import hashlib
import importlib
import shutil
import sys
import tempfile
import types
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

from testkit.sync import ROOT

PROTO_DIR = ROOT / "crates" / "fivetran_source" / "proto"
PROTOS = ("connector_sdk.proto", "common.proto")
PACKAGE = "fivetran_sdk.v2"


def _protoc(proto_dir: Path, *outputs: str) -> None:
    """grpcio-tools' bundled protoc, with its well-known types (google/protobuf/timestamp.proto) on the path."""
    from grpc_tools import protoc

    well_known = files("grpc_tools") / "_proto"
    args = ["grpc_tools.protoc", f"-I{proto_dir}", f"-I{well_known}", *outputs, *PROTOS]
    if protoc.main(args) != 0:
        raise RuntimeError(f"grpc_tools.protoc failed on {proto_dir} (its message is above)")


def _cache_key(proto_dir: Path) -> str:
    """Changes with the .proto files and with grpcio-tools, whose output pins the grpcio it needs."""
    digest = hashlib.sha256(version("grpcio-tools").encode())
    for name in PROTOS:
        digest.update((proto_dir / name).read_bytes())
    return digest.hexdigest()[:16]


def generate(proto_dir: Path = PROTO_DIR) -> Path:
    """The directory holding common_pb2, connector_sdk_pb2 and connector_sdk_pb2_grpc, generated once per key."""
    out = ROOT / "files" / "grpc_stubs" / _cache_key(proto_dir)
    if out.is_dir():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    # Generated beside the cache and renamed into place, so a concurrent run never imports half a directory.
    staging = Path(tempfile.mkdtemp(dir=out.parent))
    _protoc(proto_dir, f"--python_out={staging}", f"--grpc_python_out={staging}")
    try:
        staging.rename(out)
    except OSError:  # another run got there first; its stubs are the same
        shutil.rmtree(staging)
    return out


@functools.cache
def load(proto_dir: Path = PROTO_DIR) -> types.SimpleNamespace:
    """The generated modules: `common`, `connector_sdk` (messages) and `connector_sdk_grpc` (stub and servicer)."""
    out = str(generate(proto_dir))
    # The generated modules import each other by top-level name; the path is needed only while they load.
    sys.path.insert(0, out)
    try:
        modules = {name: importlib.import_module(module) for name, module in
                   [("common", "common_pb2"), ("connector_sdk", "connector_sdk_pb2"),
                    ("connector_sdk_grpc", "connector_sdk_pb2_grpc")]}
    finally:
        sys.path.remove(out)
    return types.SimpleNamespace(**modules)


def wire_contract(proto_dir: Path = PROTO_DIR) -> list[str]:
    """Every wire fact of the package, one sorted line each: names, numbers, labels, types, oneofs, enum values and
    rpcs. Comments and options are not in it, so two files with the same contract give the same lines."""
    from google.protobuf import descriptor_pb2

    with tempfile.TemporaryDirectory() as scratch:
        descriptor = Path(scratch) / "set.pb"
        _protoc(proto_dir, f"--descriptor_set_out={descriptor}")
        fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor.read_bytes())
    lines: list[str] = []
    for file in fds.file:
        if file.package != PACKAGE:
            continue
        lines.append(f"file {file.name} package {file.package} {file.syntax} imports {' '.join(file.dependency)}")
        for message in file.message_type:
            _message_lines(f".{file.package}", message, lines)
        for enum in file.enum_type:
            _enum_lines(f".{file.package}", enum, lines)
        for service in file.service:
            for rpc in service.method:
                stream = "stream " if rpc.server_streaming else ""
                lines.append(f"rpc .{file.package}.{service.name}.{rpc.name} ({rpc.input_type}) returns ({stream}{rpc.output_type})")
    return sorted(lines)


def _message_lines(prefix: str, message, lines: list[str]) -> None:
    from google.protobuf.descriptor_pb2 import FieldDescriptorProto as Field

    name = f"{prefix}.{message.name}"
    lines.append(f"message {name}")
    for field in message.field:
        line = f"field {name}.{field.name} = {field.number} {Field.Label.Name(field.label)} {Field.Type.Name(field.type)}"
        line += f" {field.type_name}" if field.type_name else ""
        line += f" oneof {message.oneof_decl[field.oneof_index].name}" if field.HasField("oneof_index") else ""
        line += " proto3_optional" if field.proto3_optional else ""
        lines.append(line)
    for nested in message.nested_type:  # map fields are nested *Entry messages
        _message_lines(name, nested, lines)
    for enum in message.enum_type:
        _enum_lines(name, enum, lines)


def _enum_lines(prefix: str, enum, lines: list[str]) -> None:
    lines.extend(f"enum {prefix}.{enum.name}.{value.name} = {value.number}" for value in enum.value)


if __name__ == "__main__":
    if sys.argv[1:2] != ["contract"]:
        sys.exit("usage: python -m testkit.grpc_stubs contract [PROTO_DIR]")
    print("\n".join(wire_contract(Path(sys.argv[2]) if len(sys.argv) > 2 else PROTO_DIR)))
