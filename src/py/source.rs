//! `PostgresSource`: a parsed configuration, its discovered catalog, and readers over its tables.

use super::arrow::{ArrowReader, SnapshotHolder};
use super::plans;
use super::reader::BatchReader;
use super::wait::wait;
use crate::config::Config;
use crate::error::Error;
use crate::messages::Messages;
use crate::model::{FivetranType, Table};
use crate::monitor::{Limits, Monitor, Shared};
use crate::plan::TablePlan;
use crate::postgres::types::Decoder;
use crate::postgres::{connect, discover, planning, preprocess, read};
use crate::retry::Policy;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::Receiver;

type Catalog = Arc<Vec<Arc<Table>>>;

/// A PostgreSQL source, made from a configuration dict (values as strings, as Fivetran passes them).
#[pyclass(frozen, module = "connector_accel._core")]
pub struct PostgresSource {
    config: Config,
    warnings: Vec<String>,
    catalog: Mutex<Option<(Catalog, Vec<String>)>>,
    log: Messages,
}

/// Configuration values as strings: Fivetran sends strings; a library user may pass numbers or booleans.
pub(super) fn as_strings(configuration: &Bound<'_, PyDict>) -> PyResult<BTreeMap<String, String>> {
    let mut raw = BTreeMap::new();
    for (k, v) in configuration.iter() {
        if v.is_none() {
            continue;
        }
        let text = if v.is_instance_of::<PyBool>() {
            if v.is_truthy()? {
                "true".to_string()
            } else {
                "false".to_string()
            }
        } else {
            v.str()?.to_string()
        };
        raw.insert(k.str()?.to_string(), text);
    }
    Ok(raw)
}

fn type_descriptor<'py>(py: Python<'py>, t: FivetranType) -> PyResult<Bound<'py, PyAny>> {
    Ok(match t {
        FivetranType::Decimal { precision, scale } => {
            let d = PyDict::new(py);
            d.set_item("type", "DECIMAL")?;
            d.set_item("precision", precision)?;
            d.set_item("scale", scale)?;
            d.into_any()
        }
        other => other.name().into_pyobject(py)?.into_any(),
    })
}

pub(super) fn describe<'py>(
    py: Python<'py>,
    t: &Table,
    plan: &TablePlan,
    resumable: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("tier", plan.tier.name())?;
    d.set_item("checkpoint_rows", plan.checkpoint_rows)?;
    d.set_item("schema", &t.schema)?;
    d.set_item("table", &t.name)?;
    d.set_item("primary_key", &t.primary_key)?;
    d.set_item("row_estimate", t.row_estimate)?;
    d.set_item("resumable", resumable)?;
    match &t.cursor {
        Ok(c) => {
            d.set_item("cursor", &c.column)?;
            d.set_item("cursor_reason", py.None())?;
        }
        Err(reason) => {
            d.set_item("cursor", py.None())?;
            d.set_item("cursor_reason", reason)?;
        }
    }
    d.set_item("soft_delete", &t.soft_delete)?;
    d.set_item("filtered", !t.filters.is_empty())?;
    let nullable = PyDict::new(py);
    for c in &t.columns {
        nullable.set_item(&c.name, c.nullable)?;
    }
    d.set_item("nullable", nullable)?;
    let columns = PyDict::new(py);
    let source_types = PyDict::new(py);
    for c in &t.columns {
        columns.set_item(&c.name, type_descriptor(py, c.fivetran_type)?)?;
        source_types.set_item(&c.name, &c.source_type)?;
    }
    for f in &t.flat_columns {
        columns.set_item(&f.name, type_descriptor(py, f.fivetran_type)?)?;
    }
    d.set_item("columns", columns)?;
    d.set_item("source_types", source_types)?;
    Ok(d)
}

impl PostgresSource {
    fn catalog(&self, py: Python<'_>) -> PyResult<(Catalog, Vec<String>)> {
        if let Some(found) = self
            .catalog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            return Ok(found.clone());
        }
        let config = self.config.clone();
        let (tables, warnings) = wait(py, async move {
            let client = connect::connect(&config.connection).await?;
            discover::discover(&client, &config).await
        })?;
        let found = (
            Arc::new(tables.into_iter().map(Arc::new).collect::<Vec<_>>()),
            warnings,
        );
        *self.catalog.lock().unwrap_or_else(|p| p.into_inner()) = Some(found.clone());
        Ok(found)
    }
}

#[pymethods]
impl PostgresSource {
    #[new]
    fn new(configuration: &Bound<'_, PyDict>) -> PyResult<Self> {
        let (config, warnings) = Config::parse(&as_strings(configuration)?)?;
        if config.mssql.is_some() {
            return Err(Error::config(
                "mssql_server",
                "names a SQL Server; use MssqlSource (connector_accel.source(configuration) picks the right one)",
            )
            .into());
        }
        Ok(PostgresSource {
            config,
            warnings,
            catalog: Mutex::new(None),
            log: Messages::default(),
        })
    }

    /// Warnings about the configuration (unknown keys).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    /// Whether the SYNC_VALIDATION table is written.
    #[getter]
    fn sync_validation(&self) -> bool {
        self.config.sync_validation
    }

    /// Whether the SOURCE_TABLES / SOURCE_COLUMNS tables are written.
    #[getter]
    fn source_metadata(&self) -> bool {
        self.config.source_metadata
    }

    /// Messages from planning and preprocessing (level, text) since the last call.
    fn take_log(&self) -> Vec<(String, String)> {
        self.log.take_named()
    }

    /// Whether `debug` was set.
    #[getter]
    fn debug(&self) -> bool {
        self.config.debug
    }

    /// The selected tables, smallest first, as dicts (schema, table, primary_key, row_estimate, resumable,
    /// columns with Fivetran types, source_types), and the warnings discovery raised. Discovered once per source.
    fn discover<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyList>, Vec<String>)> {
        let (tables, warnings) = self.catalog(py)?;
        let list = PyList::empty(py);
        for t in tables.iter() {
            list.append(describe(py, t, &self.table_plan(t), read::resumable(t))?)?;
        }
        Ok((list, warnings))
    }

    /// How `schema.table` is read: tier, batch size, workers, queue depth, checkpoint interval, and its partitions
    /// (`{"lo", "hi", "nulls"}`, keys as text) from a page sample of its keys.
    fn plan<'py>(
        &self,
        py: Python<'py>,
        schema: &str,
        table: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let found = self.table(py, schema, table)?;
        let plan = self.table_plan(&found);
        let (conn, retry, log) = (
            self.config.connection.clone(),
            self.retry(),
            self.log.clone(),
        );
        let t = found.clone();
        let parts = wait(py, async move {
            let what = format!("{}: planning partitions", t.qualified());
            crate::retry::run(retry, &what, &log, || async {
                let client = connect::connect(&conn).await?;
                planning::partitions(&client, &t, plan.partitions).await
            })
            .await
        })?;
        plans::plan_dict(py, &plan, &parts)
    }

    /// The incremental watermark of `schema.table` (`{"high", "guard", "sees_all"}`), or None without a cursor.
    fn watermark<'py>(
        &self,
        py: Python<'py>,
        schema: &str,
        table: &str,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let found = self.table(py, schema, table)?;
        let (conn, retry, log) = (
            self.config.connection.clone(),
            self.retry(),
            self.log.clone(),
        );
        let mark = wait(py, async move {
            let what = format!("{}: reading the cursor", found.qualified());
            crate::retry::run(retry, &what, &log, || async {
                let client = connect::connect(&conn).await?;
                planning::watermark(&client, &found).await
            })
            .await
        })?;
        mark.map(|m| plans::watermark_dict(py, &m)).transpose()
    }

    /// Exports a snapshot from a session that stays open while the returned holder lives: readers given its `id`
    /// (in this process or any other on the same database) all see the same committed data.
    fn export_snapshot(&self, py: Python<'_>) -> PyResult<SnapshotHolder> {
        let conn = self.config.connection.clone();
        let (client, id) = wait(py, async move {
            crate::postgres::parallel::export_snapshot(&conn).await
        })?;
        Ok(SnapshotHolder::new(client, id))
    }

    /// Runs the preprocessing statements (when enabled) with `state`'s values bound; returns rows changed.
    fn preprocess(&self, py: Python<'_>, state: BTreeMap<String, String>) -> PyResult<Option<u64>> {
        if self.config.preprocessing.statements.is_empty() {
            return Ok(None);
        }
        let statements = preprocess::statements(&self.config.preprocessing, &state)?;
        let (conn, log) = (self.config.connection.clone(), self.log.clone());
        let changed = wait(py, async move {
            let mut client = connect::connect(&conn).await?;
            preprocess::run(&mut client, &statements, &log).await
        })?;
        Ok(Some(changed))
    }

    /// A reader of ready dict batches over `schema.table`. `partitions` (from `plan()`, each optionally with the
    /// `after` key already emitted) are read concurrently on one snapshot; without it the table is one range,
    /// resumed after `after`. `incremental` (`{"high", "guard"}` from `watermark()`) reads only rows changed since.
    #[pyo3(signature = (schema, table, after=None, partitions=None, incremental=None, batch_size=None, workers=None, queue_depth=None, snapshot=None))]
    #[allow(clippy::too_many_arguments)]
    fn read(
        &self,
        py: Python<'_>,
        schema: &str,
        table: &str,
        after: Option<Vec<String>>,
        partitions: Option<Bound<'_, PyList>>,
        incremental: Option<Bound<'_, PyDict>>,
        batch_size: Option<usize>,
        workers: Option<usize>,
        queue_depth: Option<usize>,
        snapshot: Option<String>,
    ) -> PyResult<BatchReader> {
        let found = self.table(py, schema, table)?;
        let parts = match partitions {
            Some(list) => plans::parts_from(&list)?,
            None => vec![read::PartRead {
                index: 0,
                range: Default::default(),
                after,
            }],
        };
        let span = match incremental {
            None => read::Span::Full,
            Some(mark) => {
                plans::span_from(&found, &mark, self.config.incremental.lookback_seconds)?
            }
        };
        let columns: Vec<String> = found.columns.iter().map(|c| c.name.clone()).collect();
        let (receiver, log, monitor) = self.start(
            found,
            parts,
            span,
            (batch_size, workers, queue_depth),
            snapshot,
            None,
        );
        BatchReader::new(py, receiver, &columns, log, monitor)
    }

    /// An Arrow stream over `schema.table` (`__arrow_c_stream__`), its partitions read concurrently on one
    /// snapshot. JSON columns arrive as their text; every batch holds at most `batch_size` rows.
    /// `snapshot` (an id from `export_snapshot()`, possibly in another process) makes every partition read that
    /// snapshot.
    #[pyo3(signature = (schema, table, partitions=None, batch_size=None, snapshot=None))]
    fn read_arrow(
        &self,
        py: Python<'_>,
        schema: &str,
        table: &str,
        partitions: Option<Bound<'_, PyList>>,
        batch_size: Option<usize>,
        snapshot: Option<String>,
    ) -> PyResult<ArrowReader> {
        let found = self.table(py, schema, table)?;
        self.arrow_reader(&found, partitions, batch_size, snapshot)
    }

    /// An Arrow stream over the rows of `query` (one stream: a query has no key to partition by).
    #[pyo3(signature = (query, batch_size=None))]
    fn read_arrow_query(
        &self,
        py: Python<'_>,
        query: String,
        batch_size: Option<usize>,
    ) -> PyResult<ArrowReader> {
        let conn = self.config.connection.clone();
        let (table, warnings) = wait(py, async move {
            let client = connect::connect(&conn).await?;
            crate::postgres::describe::describe(&client, &query).await
        })?;
        warnings.into_iter().for_each(|w| self.log.warning(w));
        self.arrow_reader(&table, None, batch_size, None)
    }
}

impl PostgresSource {
    fn arrow_reader(
        &self,
        found: &Table,
        partitions: Option<Bound<'_, PyList>>,
        batch_size: Option<usize>,
        snapshot: Option<String>,
    ) -> PyResult<ArrowReader> {
        let mut plain = found.clone();
        plain.flat_columns.clear();
        for c in plain.columns.iter_mut() {
            c.flattened = false;
            // JSON goes out as text: let the server send its text form instead of parsing and re-serialising.
            if matches!(Decoder::from_u8(c.decoder), Decoder::Json | Decoder::Jsonb) {
                c.decoder = Decoder::CastText as u8;
            }
        }
        let plain = Arc::new(plain);
        let parts = match partitions {
            Some(list) => plans::parts_from(&list)?,
            None => vec![read::PartRead::default()],
        };
        let (receiver, log, monitor) = self.start(
            plain.clone(),
            parts,
            read::Span::Full,
            (batch_size, None, None),
            snapshot,
            Some(crate::arrow_batch::schema(&plain)),
        );
        Ok(ArrowReader::new(
            crate::arrow_batch::Stream::new(&plain, receiver, Box::new(super::arrow::interrupted)),
            log,
            monitor,
        ))
    }
}

impl PostgresSource {
    fn table(&self, py: Python<'_>, schema: &str, table: &str) -> PyResult<Arc<Table>> {
        let (tables, _) = self.catalog(py)?;
        find_table(&tables, schema, table)
    }

    fn table_plan(&self, t: &Table) -> TablePlan {
        self.config.plan_for(t.row_estimate, read::resumable(t))
    }

    /// Starts a read on the shared runtime with the table's planned limits (or the given batch size, workers and
    /// queue depth), and its resource monitor.
    fn start(
        &self,
        table: Arc<Table>,
        parts: Vec<read::PartRead>,
        span: read::Span,
        (batch_size, workers, queue_depth): (Option<usize>, Option<usize>, Option<usize>),
        snapshot: Option<String>,
        arrow: Option<arrow::datatypes::SchemaRef>,
    ) -> (
        Receiver<crate::error::Result<read::Batch>>,
        Messages,
        Option<Monitor>,
    ) {
        let plan = self.table_plan(&table);
        let sizes = (batch_size, workers, queue_depth);
        let (request, log, monitor) = read_request(
            &self.config,
            &plan,
            table,
            parts,
            span,
            sizes,
            snapshot,
            arrow,
        );
        let _guard = crate::runtime::get().enter();
        (
            read::spawn(self.config.connection.clone(), request),
            log,
            monitor,
        )
    }

    fn retry(&self) -> Policy {
        self.config.retry_policy()
    }
}

/// `schema.table` among the discovered tables, or an error naming the keys that select tables.
pub(super) fn find_table(tables: &[Arc<Table>], schema: &str, table: &str) -> PyResult<Arc<Table>> {
    let found = tables
        .iter()
        .find(|t| t.schema == schema && t.name == table)
        .cloned();
    Ok(found.ok_or_else(|| {
        Error::config(
            "tables",
            format!("table '{schema}.{table}' is not among the selected tables; check 'tables' and 'schemas'"),
        )
    })?)
}

/// A read as planned (batch size, workers and queue depth overridable by the caller), with its live limits, its
/// log and, when enabled, the resource monitor that adjusts those limits.
#[allow(clippy::too_many_arguments)]
pub(super) fn read_request(
    config: &Config,
    plan: &TablePlan,
    table: Arc<Table>,
    parts: Vec<read::PartRead>,
    span: read::Span,
    (batch_size, workers, queue_depth): (Option<usize>, Option<usize>, Option<usize>),
    snapshot: Option<String>,
    arrow: Option<arrow::datatypes::SchemaRef>,
) -> (read::ReadRequest, Messages, Option<Monitor>) {
    let limits = Limits {
        batch_size: batch_size.unwrap_or(plan.batch_size).max(1),
        queue_depth: queue_depth.unwrap_or(plan.queue_depth).max(1),
        workers: workers.unwrap_or(plan.workers).clamp(1, parts.len().max(1)),
    };
    let shared = Shared::new(limits);
    let log = Messages::default();
    let monitor = config
        .resource_monitoring
        .then(|| Monitor::start(shared.clone(), table.qualified(), log.clone()));
    let request = read::ReadRequest {
        table,
        parts,
        span,
        limits: shared,
        flatten: config.flatten.clone(),
        retry: config.retry_policy(),
        log: log.clone(),
        snapshot,
        arrow,
    };
    (request, log, monitor)
}
