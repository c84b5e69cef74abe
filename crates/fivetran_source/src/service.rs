//! `fivetran_sdk.v2.SourceConnector` over the engine: the form, the setup test, the schema, and `Update`, which
//! streams from `crate::sync` through a bounded channel (a slow client holds the read back instead of filling
//! memory; a client that goes away stops it and closes its sessions).

use crate::proto::{
    form_field, schema_response, test_response, ConfigurationFormRequest,
    ConfigurationFormResponse, ConfigurationTest, DropdownField, FormField, Schema, SchemaList,
    SchemaRequest, SchemaResponse, Table as ProtoTable, TestRequest, TestResponse, TextField,
    ToggleField, UpdateRequest,
};
use crate::server::source_connector_server::SourceConnector;
use crate::wire::Encoded;
use connector_accel_core::connector::Connector;
use connector_accel_core::error::Error;
use connector_accel_core::form::{self, Kind};
use std::collections::BTreeMap;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// Responses waiting for the client: a few batches of at most ~100 KiB each.
const PENDING_RESPONSES: usize = 8;
/// The setup test's name, as `ConfigurationForm` lists it.
pub const TEST_NAME: &str = "connect";

/// The connector; `source` ("postgres" or "sqlserver") picks the form shown (a configuration names its own
/// database either way).
#[derive(Debug, Clone)]
pub struct Service {
    pub source: &'static str,
}

/// The gRPC status of an engine error the sync cannot turn into a task: retried ones that ran out are UNAVAILABLE,
/// so Fivetran tries the sync again; the message (which never holds a secret) says what failed.
pub fn status(err: &Error) -> Status {
    let message = err.to_string();
    match err {
        Error::Config { .. } => Status::invalid_argument(message),
        Error::Connect { .. } => Status::unavailable(message),
        Error::Query { .. } if err.is_transient() => Status::unavailable(message),
        Error::Query { .. } => Status::failed_precondition(message),
        Error::Conversion(_) => Status::data_loss(message),
        Error::Closed => Status::cancelled(message),
        Error::Interrupted(_) => Status::aborted(message),
        Error::Internal(_) => Status::internal(message),
    }
}

fn field(f: form::Field) -> FormField {
    let (kind, required, placeholder) = match f.kind {
        Kind::Text {
            required,
            placeholder,
            secret,
        } => {
            let text = if secret {
                TextField::Password
            } else {
                TextField::PlainText
            };
            (
                form_field::Type::TextField(text.into()),
                required,
                placeholder,
            )
        }
        Kind::Dropdown(options) => {
            let values = options.iter().map(|(v, _)| v.to_string()).collect();
            (
                form_field::Type::DropdownField(DropdownField {
                    dropdown_field: values,
                }),
                false,
                None,
            )
        }
        Kind::Toggle => (form_field::Type::ToggleField(ToggleField {}), false, None),
    };
    FormField {
        name: f.name.into(),
        label: f.label.into(),
        required: Some(required),
        description: Some(f.description.into()),
        r#type: Some(kind),
        default_value: None,
        placeholder: placeholder.map(str::to_string),
    }
}

/// The configuration the request carries, as the engine reads it.
pub fn connector(
    configuration: &std::collections::HashMap<String, String>,
) -> Result<Connector, Error> {
    let raw: BTreeMap<String, String> = configuration
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Connector::new(&raw)
}

/// Connects and discovers the selected tables: what the setup test and `Schema` both need.
async fn discovered(
    configuration: &std::collections::HashMap<String, String>,
) -> Result<connector_accel_core::connector::Catalog, Error> {
    let connector = connector(configuration)?;
    let (tables, warnings) = connector.catalog().await?;
    connector
        .warnings
        .iter()
        .chain(&warnings)
        .for_each(|w| crate::logs::warning(w));
    crate::naming::check(&tables)?;
    Ok(tables)
}

#[tonic::async_trait]
impl SourceConnector for Service {
    async fn configuration_form(
        &self,
        _: Request<ConfigurationFormRequest>,
    ) -> Result<Response<ConfigurationFormResponse>, Status> {
        let fields = form::fields(self.source).unwrap_or_default();
        Ok(Response::new(ConfigurationFormResponse {
            schema_selection_supported: true,
            table_selection_supported: true,
            fields: fields.into_iter().map(field).collect(),
            tests: vec![ConfigurationTest {
                name: TEST_NAME.into(),
                label: form::TEST_LABEL.into(),
            }],
        }))
    }

    async fn test(&self, request: Request<TestRequest>) -> Result<Response<TestResponse>, Status> {
        let request = request.into_inner();
        let outcome = match discovered(&request.configuration).await {
            Err(e) => test_response::Response::Failure(e.to_string()),
            Ok(tables) if tables.is_empty() => test_response::Response::Failure(
                "connected, but no table is selected; check 'schemas', 'tables' and 'exclude_tables'".into(),
            ),
            Ok(_) => test_response::Response::Success(true),
        };
        Ok(Response::new(TestResponse {
            response: Some(outcome),
        }))
    }

    async fn schema(
        &self,
        request: Request<SchemaRequest>,
    ) -> Result<Response<SchemaResponse>, Status> {
        let tables = discovered(&request.into_inner().configuration)
            .await
            .map_err(|e| status(&e))?;
        let mut schemas: BTreeMap<String, Vec<ProtoTable>> = BTreeMap::new();
        for t in tables.iter() {
            let table = ProtoTable {
                name: t.name.clone(),
                columns: crate::values::columns(t),
            };
            schemas.entry(t.schema.clone()).or_default().push(table);
        }
        let schemas = schemas
            .into_iter()
            .map(|(name, tables)| Schema { name, tables })
            .collect();
        Ok(Response::new(SchemaResponse {
            response: Some(schema_response::Response::WithSchema(SchemaList {
                schemas,
            })),
            selection_not_supported: Some(false),
        }))
    }

    type UpdateStream = ReceiverStream<Result<Encoded, Status>>;

    async fn update(
        &self,
        request: Request<UpdateRequest>,
    ) -> Result<Response<Self::UpdateStream>, Status> {
        let (tx, rx) = tokio::sync::mpsc::channel(PENDING_RESPONSES);
        tokio::spawn(crate::sync::run(request.into_inner(), tx));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
