//! `Source`: a parsed configuration, the database source it names (picked here, the one place that knows both),
//! its discovered catalog, and readers over its tables.

use super::arrow::{ArrowReader, SnapshotHolder};
use super::plans;
use super::reader::BatchReader;
use super::tables::describe;
use super::wait::wait;
use crate::config::{Config, Connection};
use crate::error::Error;
use crate::messages::Messages;
use crate::model::Table;
use crate::monitor::{Limits, Monitor, Shared};
use crate::plan::{Partition, TablePlan};
use crate::read::{Batch, PartRead, ReadRequest, Sizes, Span};
use crate::source::Source as DataSource;
use futures_util::future::BoxFuture;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::Receiver;

type Catalog = Arc<Vec<Arc<Table>>>;

/// A PostgreSQL or SQL Server source (SQL Server when the configuration has `mssql_server`), made from a
/// configuration dict (values as strings, as Fivetran passes them).
#[pyclass(frozen, module = "connector_accel._core")]
pub struct Source {
    config: Arc<Config>,
    source: Arc<dyn DataSource>,
    warnings: Vec<String>,
    catalog: Mutex<Option<(Catalog, Vec<String>)>>,
    log: Messages,
}

/// The source a configuration names.
fn open(connection: &Connection) -> Arc<dyn DataSource> {
    match connection {
        Connection::Postgres(c) => Arc::new(crate::postgres::PgSource::new(c.clone())),
        Connection::Mssql(c) => Arc::new(crate::mssql::MssqlSource::new(c.clone())),
    }
}

#[pymethods]
impl Source {
    #[new]
    fn new(configuration: &Bound<'_, PyDict>) -> PyResult<Self> {
        let (config, warnings) = Config::parse(&as_strings(configuration)?)?;
        Ok(Source {
            source: open(&config.connection),
            config: Arc::new(config),
            warnings,
            catalog: Mutex::new(None),
            log: Messages::default(),
        })
    }

    /// `"postgres"` or `"sqlserver"`.
    #[getter]
    fn kind(&self) -> &'static str {
        match self.config.connection {
            Connection::Postgres(_) => "postgres",
            Connection::Mssql(_) => "sqlserver",
        }
    }

    /// Warnings about the configuration (unknown keys, TLS leniency).
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

    /// How rows reach the SDK: `"auto"` (the fast path where verified) or `"sdk"` (its public operations).
    #[getter]
    fn emit(&self) -> &'static str {
        match self.config.emit {
            crate::config::Emit::Auto => "auto",
            crate::config::Emit::Sdk => "sdk",
        }
    }

    /// Whether `debug` was set.
    #[getter]
    fn debug(&self) -> bool {
        self.config.debug
    }

    /// Messages from planning and preprocessing (level, text) since the last call.
    fn take_log(&self) -> Vec<(String, String)> {
        self.log.take_named()
    }

    /// The selected tables, smallest first, as dicts (schema, table, primary_key, row_estimate, resumable,
    /// columns with Fivetran types, source_types), and the warnings discovery raised. Discovered once per source.
    fn discover<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyList>, Vec<String>)> {
        let (tables, warnings) = self.catalog(py)?;
        let list = PyList::empty(py);
        for t in tables.iter() {
            list.append(describe(
                py,
                t,
                &self.table_plan(t),
                self.source.resumable(t),
            )?)?;
        }
        Ok((list, warnings))
    }

    /// How `schema.table` is read: tier, batch size, workers, queue depth, checkpoint interval, and its partitions
    /// (`{"lo", "hi"}`, keys as text) cut at quantiles of a page sample of its keys.
    fn plan<'py>(
        &self,
        py: Python<'py>,
        schema: &str,
        table: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let found = self.table(py, schema, table)?;
        let plan = self.table_plan(&found);
        if let Some(asked) = plan.capped_from {
            self.log.warning(format!(
                "{}: partitions={asked} would cut ~{} rows into ranges of a few rows; reading {} partition(s) of at \
                 least {} rows each",
                found.qualified(),
                found.row_estimate.unwrap_or(0),
                plan.partitions,
                crate::plan::MIN_PARTITION_ROWS
            ));
        }
        let parts = if plan.partitions <= 1 || !self.source.resumable(&found) {
            vec![Partition::default()]
        } else {
            let percent = crate::plan::sample_percent_for(found.row_estimate, plan.partitions);
            let what = format!("{}: planning partitions", found.qualified());
            let wanted = plan.partitions;
            let sample = self.retried(py, what, move |s| {
                s.sample_keys(found.clone(), percent, wanted)
            })?;
            crate::plan::partitions(&sample, plan.partitions)
        };
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
        let what = format!("{}: reading the cursor", found.qualified());
        let (name, cursor) = (
            found.qualified(),
            found.cursor.as_ref().ok().map(|c| c.column.clone()),
        );
        let mark = self.retried(py, what, move |s| s.watermark(found.clone()))?;
        if let (Some(zone), Some(column)) = (mark.as_ref().and_then(|m| m.zone.as_ref()), cursor) {
            self.log.info(format!(
                "{name}: cursor {column} is a timestamp without time zone on a server whose time zone is {zone}: its \
                 values are taken as that zone's wall clock (the open-writer guard and the clock are converted to \
                 it), and each read also looks back over the hour the zone repeats when its clocks fall back; rows written by \
                 sessions in another zone are compared wrongly (a timestamptz cursor needs none of this)"
            ));
        }
        if let Some(note) = mark.as_ref().and_then(|m| m.note.clone()) {
            self.log.warning(note);
        }
        mark.map(|m| plans::watermark_dict(py, &m)).transpose()
    }

    /// Exports a snapshot from a session that stays open while the returned holder lives: readers given its `id`
    /// (in this process or any other on the same database) all see the same committed data. PostgreSQL only.
    fn export_snapshot(&self, py: Python<'_>) -> PyResult<SnapshotHolder> {
        let snapshot = wait(py, self.source.export_snapshot())?;
        Ok(SnapshotHolder::new(snapshot))
    }

    /// Runs the preprocessing statements (when enabled) with `state`'s values bound; returns rows changed.
    fn preprocess(&self, py: Python<'_>, state: BTreeMap<String, String>) -> PyResult<Option<u64>> {
        let preprocessing = self.config.preprocessing.clone();
        if preprocessing.statements.is_empty() {
            return Ok(None);
        }
        let changed = wait(
            py,
            self.source
                .preprocess(preprocessing, state, self.log.clone()),
        )?;
        Ok(Some(changed))
    }

    /// A reader of ready dict batches over `schema.table`. `partitions` (from `plan()`, each optionally with the
    /// `after` key already emitted) are read concurrently (on one snapshot, in PostgreSQL); without it the table is
    /// one range, resumed after `after`. `incremental` (`{"high", "guard"}` from `watermark()`) reads only rows
    /// changed since.
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
        batch_size: Option<i64>,
        workers: Option<i64>,
        queue_depth: Option<i64>,
        snapshot: Option<String>,
    ) -> PyResult<BatchReader> {
        let found = self.table(py, schema, table)?;
        let parts = plans::parts_or_whole(partitions, after)?;
        let span = match incremental {
            None => Span::Full,
            Some(mark) => {
                plans::span_from(&found, &mark, self.config.incremental.lookback_seconds)?
            }
        };
        let columns: Vec<String> = found.columns.iter().map(|c| c.name.clone()).collect();
        let sizes = Sizes {
            batch_size: size("batch_size", batch_size, crate::config::MAX_BATCH_SIZE)?,
            workers: size("workers", workers, crate::config::MAX_WORKERS)?,
            queue_depth: size("queue_depth", queue_depth, crate::config::MAX_QUEUE_ROWS)?,
        };
        let (receiver, log, monitor) = self.start(found, parts, span, sizes, snapshot, None)?;
        BatchReader::new(py, receiver, &columns, log, monitor)
    }

    /// An Arrow stream over `schema.table` (`__arrow_c_stream__`), its partitions read concurrently. JSON columns
    /// arrive as their text; every batch holds at most `batch_size` rows. `snapshot` (an id from
    /// `export_snapshot()`, possibly in another process) makes every partition read that snapshot.
    #[pyo3(signature = (schema, table, partitions=None, batch_size=None, snapshot=None))]
    fn read_arrow(
        &self,
        py: Python<'_>,
        schema: &str,
        table: &str,
        partitions: Option<Bound<'_, PyList>>,
        batch_size: Option<i64>,
        snapshot: Option<String>,
    ) -> PyResult<ArrowReader> {
        let found = self.table(py, schema, table)?;
        let parts = plans::parts_or_whole(partitions, None)?;
        self.arrow_reader(&found, parts, batch_size, snapshot)
    }

    /// An Arrow stream over the rows of `query` (one stream: a query has no key to partition by). PostgreSQL only.
    #[pyo3(signature = (query, batch_size=None))]
    fn read_arrow_query(
        &self,
        py: Python<'_>,
        query: String,
        batch_size: Option<i64>,
    ) -> PyResult<ArrowReader> {
        let (table, warnings) = wait(py, self.source.describe_query(query))?;
        warnings.into_iter().for_each(|w| self.log.warning(w));
        self.arrow_reader(&table, vec![PartRead::default()], batch_size, None)
    }
}

impl Source {
    /// Waits for `call` on the source, retried on transient errors under the configured policy.
    fn retried<T: Send + 'static>(
        &self,
        py: Python<'_>,
        what: String,
        call: impl Fn(&dyn DataSource) -> BoxFuture<'static, crate::error::Result<T>> + Send + Sync,
    ) -> PyResult<T> {
        let (source, retry, log) = (
            self.source.clone(),
            self.config.retry_policy(),
            self.log.clone(),
        );
        wait(py, async move {
            crate::retry::run(retry, &what, &log, || call(source.as_ref())).await
        })
    }

    fn catalog(&self, py: Python<'_>) -> PyResult<(Catalog, Vec<String>)> {
        if let Some(found) = self
            .catalog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            return Ok(found.clone());
        }
        let (tables, warnings) = wait(py, self.source.discover(self.config.clone()))?;
        let found = (
            Arc::new(tables.into_iter().map(Arc::new).collect::<Vec<_>>()),
            warnings,
        );
        *self.catalog.lock().unwrap_or_else(|p| p.into_inner()) = Some(found.clone());
        Ok(found)
    }

    fn table(&self, py: Python<'_>, schema: &str, table: &str) -> PyResult<Arc<Table>> {
        let (tables, _) = self.catalog(py)?;
        find_table(&tables, schema, table)
    }

    fn table_plan(&self, t: &Table) -> TablePlan {
        self.config
            .plan_for(t.row_estimate, self.source.resumable(t))
    }

    fn arrow_reader(
        &self,
        found: &Table,
        parts: Vec<PartRead>,
        batch_size: Option<i64>,
        snapshot: Option<String>,
    ) -> PyResult<ArrowReader> {
        let batch_size = size("batch_size", batch_size, crate::config::MAX_BATCH_SIZE)?;
        let plain = Arc::new(self.source.arrow_table(found));
        let schema = crate::arrow_batch::schema(&plain);
        let sizes = Sizes {
            batch_size,
            ..Sizes::default()
        };
        let (receiver, log, monitor) = self.start(
            plain.clone(),
            parts,
            Span::Full,
            sizes,
            snapshot,
            Some(schema),
        )?;
        let stream =
            crate::arrow_batch::Stream::new(&plain, receiver, Box::new(super::arrow::interrupted));
        Ok(ArrowReader::new(stream, log, monitor))
    }

    /// Starts a read on the shared runtime with the table's planned limits (or the caller's sizes), and its
    /// resource monitor.
    fn start(
        &self,
        table: Arc<Table>,
        parts: Vec<PartRead>,
        span: Span,
        sizes: Sizes,
        snapshot: Option<String>,
        arrow: Option<arrow::datatypes::SchemaRef>,
    ) -> PyResult<(
        Receiver<crate::error::Result<Batch>>,
        Messages,
        Option<Monitor>,
    )> {
        if snapshot.is_some() && !self.source.shares_snapshots() {
            return Err(Error::config(
                "snapshot",
                format!(
                    "{} cannot share a snapshot across sessions; read without one",
                    self.source.name()
                ),
            )
            .into());
        }
        let plan = self.table_plan(&table);
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
        Ok((self.source.read(request), log, monitor))
    }
}

/// A caller's batch size, worker count or queue depth: None keeps the plan's; otherwise 1 to `max`.
fn size(key: &str, value: Option<i64>, max: u64) -> PyResult<Option<usize>> {
    match value {
        None => Ok(None),
        Some(n) if n >= 1 && n as u64 <= max => Ok(Some(n as usize)),
        Some(n) => Err(Error::config(
            key,
            format!("{n} is out of range; pass a whole number from 1 to {max}"),
        )
        .into()),
    }
}

/// Configuration values as strings: Fivetran sends strings; a library user may pass numbers or booleans.
fn as_strings(configuration: &Bound<'_, PyDict>) -> PyResult<BTreeMap<String, String>> {
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

/// `schema.table` among the discovered tables, or an error naming the keys that select tables.
/// Exact names first; else the one table whose names match without regard to case (discovery already matched
/// `tables` so for SQL Server, and the caller may spell the name as the configuration did).
fn find_table(tables: &[Arc<Table>], schema: &str, table: &str) -> PyResult<Arc<Table>> {
    let loose: Vec<&Arc<Table>> = tables
        .iter()
        .filter(|t| t.schema.eq_ignore_ascii_case(schema) && t.name.eq_ignore_ascii_case(table))
        .collect();
    let found = tables
        .iter()
        .find(|t| t.schema == schema && t.name == table)
        .or_else(|| (loose.len() == 1).then(|| loose[0]))
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
fn read_request(
    config: &Config,
    plan: &TablePlan,
    table: Arc<Table>,
    parts: Vec<PartRead>,
    span: Span,
    sizes: Sizes,
    snapshot: Option<String>,
    arrow: Option<arrow::datatypes::SchemaRef>,
) -> (ReadRequest, Messages, Option<Monitor>) {
    let limits = Limits {
        batch_size: sizes.batch_size.unwrap_or(plan.batch_size).max(1),
        queue_depth: sizes.queue_depth.unwrap_or(plan.queue_depth).max(1),
        workers: sizes
            .workers
            .unwrap_or(plan.workers)
            .clamp(1, parts.len().max(1)),
    };
    let shared = Shared::new(limits);
    let log = Messages::default();
    let monitor = config
        .resource_monitoring
        .then(|| Monitor::start(shared.clone(), table.qualified(), log.clone()));
    let request = ReadRequest {
        table,
        parts,
        span,
        limits: shared,
        flatten: config.flatten.clone(),
        retry: config.retry_policy(),
        log: log.clone(),
        snapshot,
        arrow,
        read_timeout: std::time::Duration::from_secs_f64(config.read_timeout_seconds),
    };
    (request, log, monitor)
}
