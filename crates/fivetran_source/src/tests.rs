//! The generated protocol layer against itself: the wire encoding of the values the engine will
//! send, and a served `SourceConnector` answering the generated client over loopback.

use prost::Message;
use prost_types::Timestamp;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::proto::source_connector_client::SourceConnectorClient;
use crate::proto::update_response::Operation;
use crate::proto::value_type::Inner;
use crate::proto::{
    form_field, ConfigurationFormRequest, ConfigurationFormResponse, ConfigurationTest, FormField,
    Record, RecordType, Records, SchemaRequest, SchemaResponse, TestRequest, TestResponse,
    TextField, UpdateRequest, UpdateResponse, ValueType,
};
use crate::server::source_connector_server::{SourceConnector, SourceConnectorServer};

fn value(inner: Inner) -> ValueType {
    ValueType { inner: Some(inner) }
}

/// A row as the server will send it: an exact decimal and a datetime2 with its 7th digit.
fn sample_record() -> Record {
    let data = [
        (
            "amount",
            value(Inner::Decimal("-12345678901234567890.1234567890".into())),
        ),
        (
            "at",
            value(Inner::NaiveDatetime(Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_456_700,
            })),
        ),
        ("gone", value(Inner::Null(true))),
    ];
    Record {
        schema_name: Some("public".into()),
        table_name: "orders".into(),
        r#type: RecordType::Upsert.into(),
        data: data.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
    }
}

#[test]
fn a_batched_record_round_trips_through_the_wire_encoding() {
    let sent = UpdateResponse {
        operation: Some(Operation::Records(Records {
            records: vec![sample_record()],
        })),
    };
    let bytes = sent.encode_to_vec();
    let received = UpdateResponse::decode(bytes.as_slice()).expect("decodes what it encoded");
    assert_eq!(received, sent);
    let Some(Operation::Records(batch)) = received.operation else {
        panic!("not a records batch")
    };
    let row = &batch.records[0];
    assert_eq!(row.r#type(), RecordType::Upsert);
    let inner = |column: &str| row.data[column].inner.clone();
    assert_eq!(
        inner("amount"),
        Some(Inner::Decimal("-12345678901234567890.1234567890".into()))
    );
    assert_eq!(
        inner("at"),
        Some(Inner::NaiveDatetime(Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_456_700
        }))
    );
}

#[test]
fn field_numbers_are_the_published_ones() {
    // UpdateResponse.records is field 6 and Records.records field 1: tag bytes 0x32 and 0x0a.
    let batch = UpdateResponse {
        operation: Some(Operation::Records(Records {
            records: vec![Record::default()],
        })),
    };
    assert_eq!(batch.encode_to_vec(), [0x32, 0x02, 0x0a, 0x00]);
    // ValueType.decimal is field 11 (tag 0x5a), ValueType.naive_time field 16 (tag 0x82 0x01).
    assert_eq!(
        value(Inner::Decimal("1".into())).encode_to_vec(),
        [0x5a, 0x01, b'1']
    );
    assert_eq!(
        value(Inner::NaiveTime(Timestamp {
            seconds: 1,
            nanos: 0
        }))
        .encode_to_vec(),
        [0x82, 0x01, 0x02, 0x08, 0x01]
    );
}

/// Answers ConfigurationForm only: enough to prove the generated server and client speak.
struct FormOnly;

#[tonic::async_trait]
impl SourceConnector for FormOnly {
    async fn configuration_form(
        &self,
        _: Request<ConfigurationFormRequest>,
    ) -> Result<Response<ConfigurationFormResponse>, Status> {
        let password = FormField {
            name: "password".into(),
            label: "Password".into(),
            required: Some(true),
            r#type: Some(form_field::Type::TextField(TextField::Password.into())),
            ..FormField::default()
        };
        let test = ConfigurationTest {
            name: "connect".into(),
            label: "Connecting to the database".into(),
        };
        Ok(Response::new(ConfigurationFormResponse {
            schema_selection_supported: true,
            table_selection_supported: true,
            fields: vec![password],
            tests: vec![test],
        }))
    }

    async fn test(&self, _: Request<TestRequest>) -> Result<Response<TestResponse>, Status> {
        Err(Status::unimplemented("Test"))
    }

    async fn schema(&self, _: Request<SchemaRequest>) -> Result<Response<SchemaResponse>, Status> {
        Err(Status::unimplemented("Schema"))
    }

    type UpdateStream = tokio_stream::Empty<Result<crate::wire::Encoded, Status>>;

    async fn update(
        &self,
        _: Request<UpdateRequest>,
    ) -> Result<Response<Self::UpdateStream>, Status> {
        Err(Status::unimplemented("Update"))
    }
}

#[tokio::test]
async fn the_generated_client_reads_the_form_from_a_served_connector() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds loopback");
    let address = listener.local_addr().expect("has an address");
    let server = tonic::transport::Server::builder()
        .add_service(SourceConnectorServer::new(FormOnly))
        .serve_with_incoming(TcpIncoming::from(listener));
    let server = tokio::spawn(server);

    let mut client = SourceConnectorClient::connect(format!("http://{address}"))
        .await
        .expect("connects");
    let form = client
        .configuration_form(ConfigurationFormRequest {})
        .await
        .expect("answers")
        .into_inner();
    assert_eq!(form.fields[0].name, "password");
    assert_eq!(
        form.fields[0].r#type,
        Some(form_field::Type::TextField(TextField::Password.into()))
    );
    assert_eq!(form.tests[0].name, "connect");
    let status = client
        .test(TestRequest::default())
        .await
        .expect_err("Test is not implemented here");
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    server.abort();
}

/// The real service on an ephemeral loopback port, and a client of it.
async fn served() -> (
    SourceConnectorClient<tonic::transport::Channel>,
    tokio::task::JoinHandle<Result<(), String>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds loopback");
    let address = listener.local_addr().expect("has an address");
    let server = tokio::spawn(crate::serve_on(
        listener,
        "postgres",
        std::future::pending(),
    ));
    let client = SourceConnectorClient::connect(format!("http://{address}"))
        .await
        .expect("connects");
    (client, server)
}

#[tokio::test]
async fn the_form_is_the_core_form_with_the_password_secret() {
    let (mut client, server) = served().await;
    let form = client
        .configuration_form(ConfigurationFormRequest {})
        .await
        .expect("answers")
        .into_inner();
    let core = connector_accel_core::form::fields("postgres").expect("a form for postgres");
    let names: Vec<&str> = form.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, core.iter().map(|f| f.name).collect::<Vec<_>>());
    let secret: Vec<&str> = form
        .fields
        .iter()
        .filter(|f| f.r#type == Some(form_field::Type::TextField(TextField::Password.into())))
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(secret, ["password"]);
    assert_eq!(form.tests[0].name, crate::service::TEST_NAME);
    server.abort();
}

#[tokio::test]
async fn a_bad_configuration_fails_the_test_and_becomes_a_task_naming_the_key() {
    let (mut client, server) = served().await;
    let config = |port: &str| {
        [
            ("host", "127.0.0.1"),
            ("port", port),
            ("user", "u"),
            ("database", "d"),
            ("password", "s3cret-pw"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let outcome = client
        .test(TestRequest {
            name: "connect".into(),
            configuration: config("not-a-port"),
        })
        .await
        .expect("answers")
        .into_inner();
    let Some(crate::proto::test_response::Response::Failure(message)) = outcome.response else {
        panic!("a bad port passed the test: {outcome:?}")
    };
    assert!(
        message.contains("'port'") && !message.contains("s3cret-pw"),
        "{message}"
    );
    let mut stream = client
        .update(UpdateRequest {
            configuration: config("not-a-port"),
            ..UpdateRequest::default()
        })
        .await
        .expect("starts")
        .into_inner();
    let first = stream
        .message()
        .await
        .expect("a response")
        .expect("one message");
    let Some(Operation::Task(task)) = first.operation else {
        panic!("not a task: {first:?}")
    };
    assert!(task.message.contains("'port'"), "{}", task.message);
    assert!(
        stream.message().await.expect("ends cleanly").is_none(),
        "a task ends the sync"
    );
    server.abort();
}

#[test]
fn the_arguments_name_themselves_when_wrong() {
    let args = |a: &[&str]| crate::parse_args(a.iter().map(|s| s.to_string()));
    assert_eq!(args(&[]).map(|o| o.port), Ok(crate::DEFAULT_PORT));
    assert_eq!(
        args(&["--port", "6000", "--source=sqlserver"]).map(|o| (o.port, o.source)),
        Ok((6000, "sqlserver"))
    );
    assert!(args(&["--port", "x"]).is_err_and(|e| e.contains("--port")));
    assert!(args(&["--bogus"]).is_err_and(|e| e.contains("--bogus")));
}
