"""The Python side of the Partner SDK protocol: stubs generated from our .proto files carry the published wire
contract, and speak the encoding the Rust server's tests pin (crates/fivetran_source/src/tests.rs)."""
from testkit import grpc_stubs

FIXTURE = grpc_stubs.PROTO_DIR / "wire_contract.txt"


def test_our_proto_files_carry_the_published_wire_contract():
    published = [line for line in FIXTURE.read_text().splitlines() if not line.startswith("#")]
    ours = grpc_stubs.wire_contract()
    assert [line for line in ours if line not in published] == []
    assert [line for line in published if line not in ours] == []


def test_generated_stubs_encode_as_the_server_decodes():
    stubs = grpc_stubs.load()
    common, sdk = stubs.common, stubs.connector_sdk
    # The same bytes the Rust test expects: UpdateResponse.records is field 6, Records.records field 1,
    # ValueType.decimal field 11, ValueType.naive_time field 16.
    assert sdk.UpdateResponse(records=sdk.Records(records=[sdk.Record()])).SerializeToString() == bytes([0x32, 0x02, 0x0A, 0x00])
    assert common.ValueType(decimal="1").SerializeToString() == bytes([0x5A, 0x01]) + b"1"
    at = common.ValueType()
    at.naive_time.seconds = 1
    assert at.SerializeToString() == bytes([0x82, 0x01, 0x02, 0x08, 0x01])
    assert {"ConfigurationForm", "Test", "Schema", "Update"} <= set(dir(stubs.connector_sdk_grpc.SourceConnectorServicer))


def test_stubs_are_generated_once_per_proto_content():
    assert grpc_stubs.generate() == grpc_stubs.generate()
    assert (grpc_stubs.generate() / "connector_sdk_pb2_grpc.py").is_file()
