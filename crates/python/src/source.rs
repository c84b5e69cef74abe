//! `Source`: a parsed configuration, the database source it names (picked here, the one place that knows both),
//! its discovered catalog, and readers over its tables.

use crate::arrow::{ArrowReader, SnapshotHolder};
use crate::exceptions::{to_py, ToPy};
use crate::plans;
use crate::reader::BatchReader;
use crate::tables::describe;
use crate::wait::wait;
use connector_accel_core::connector::{find_table, Connector, Read};
use connector_accel_core::error::Error;
use connector_accel_core::model::Table;
use connector_accel_core::read::{PartRead, Sizes, Span};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A PostgreSQL or SQL Server source (SQL Server when the configuration has `mssql_server`), made from a
/// configuration dict (values as strings, as Fivetran passes them).
#[pyclass(frozen, module = "connector_accel._core")]
pub struct Source {
    inner: Connector,
}

#[pymethods]
impl Source {
    #[new]
    fn new(configuration: &Bound<'_, PyDict>) -> PyResult<Self> {
        let inner = Connector::new(&as_strings(configuration)?).py()?;
        Ok(Source { inner })
    }

    /// `"postgres"`, `"sqlserver"` or `"snowflake"`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.config.connection.kind()
    }

    /// Warnings about the configuration (unknown keys, TLS leniency).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.inner.warnings.clone()
    }

    /// Whether the SYNC_VALIDATION table is written.
    #[getter]
    fn sync_validation(&self) -> bool {
        self.inner.config.sync_validation
    }

    /// Whether the SOURCE_TABLES / SOURCE_COLUMNS tables are written.
    #[getter]
    fn source_metadata(&self) -> bool {
        self.inner.config.source_metadata
    }

    /// How rows reach the SDK: `"auto"` (the fast path where verified) or `"sdk"` (its public operations).
    #[getter]
    fn emit(&self) -> &'static str {
        match self.inner.config.emit {
            connector_accel_core::config::Emit::Auto => "auto",
            connector_accel_core::config::Emit::Sdk => "sdk",
        }
    }

    /// `delete_reconciliation_hours`: how often a table read by cursor reconciles its deletes (None: never).
    #[getter]
    fn delete_reconciliation_hours(&self) -> Option<f64> {
        self.inner.config.delete_reconciliation_hours
    }

    /// Whether `debug` was set.
    #[getter]
    fn debug(&self) -> bool {
        self.inner.config.debug
    }

    /// Closes the sessions kept idle for reuse; the source stays usable (a later call opens new ones).
    fn close(&self) {
        self.inner.source.close_idle();
    }

    /// Messages from planning and preprocessing (level, text) since the last call.
    fn take_log(&self) -> Vec<(String, String)> {
        self.inner.log.take_named()
    }

    /// The selected tables, smallest first, as dicts (schema, table, primary_key, row_estimate, resumable,
    /// columns with Fivetran types, source_types), and the warnings discovery raised. Discovered once per source.
    fn discover<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyList>, Vec<String>)> {
        let (tables, warnings) = wait(py, self.inner.catalog())?;
        let list = PyList::empty(py);
        for t in tables.iter() {
            list.append(describe(
                py,
                t,
                &self.inner.table_plan(t),
                self.inner.source.resumable(t),
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
        let (plan, parts) = wait(py, self.inner.partitions(found))?;
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
        let mark = wait(py, self.inner.watermark(found))?;
        mark.map(|m| plans::watermark_dict(py, &m)).transpose()
    }

    /// `update_method`: `"cursor"`, `"logical"` or `"auto"` (the front end decides, once per connection).
    #[getter]
    fn update_method(&self) -> &'static str {
        match self.inner.config.replication.method {
            connector_accel_core::config::UpdateMethod::Cursor => "cursor",
            connector_accel_core::config::UpdateMethod::Logical => "logical",
            connector_accel_core::config::UpdateMethod::Auto => "auto",
        }
    }

    /// Raises ConfigurationError (why, and the fix) unless the server can decode its log for
    /// `update_method=logical`; creates nothing.
    fn check_logical(&self, py: Python<'_>) -> PyResult<()> {
        wait(py, self.inner.source.check_logical())
    }

    /// The replication slot this configuration reads (`replication_slot`, or the name derived from it).
    #[getter]
    fn replication_slot(&self) -> String {
        self.inner.config.replication.slot.clone()
    }

    /// The publication the slot's changes are filtered by.
    #[getter]
    fn publication(&self) -> String {
        self.inner.config.replication.publication.clone()
    }

    /// `wal_retained_warn_mb`: retained WAL above which each sync warns.
    #[getter]
    fn wal_retained_warn_mb(&self) -> u64 {
        self.inner.config.replication.wal_retained_warn_mb
    }

    /// Makes the replication slot and publication ready (created when missing, before any load reads), moves the
    /// slot to `after` (a position the state handed back at this sync's start made durable), and returns where a
    /// catch-up read stands: slot, publication, created, gap (why changes were lost, or None), confirmed, upto,
    /// retained_bytes, excluded tables `(schema, table, why)`, partitions (`"schema.table"` -> partition OIDs) and
    /// the tables the log carries.
    #[pyo3(signature = (after=None))]
    fn open_replication<'py>(
        &self,
        py: Python<'py>,
        after: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let after = after.as_deref().map(lsn).transpose()?;
        let (status, tables) = wait(py, self.inner.open_replication(after))?;
        let names: Vec<(String, String)> = tables
            .iter()
            .map(|t| (t.schema.clone(), t.name.clone()))
            .collect();
        crate::changes::status_dict(py, &status, &names)
    }

    /// A reader of the log's change events for `tables` (`(schema, table)` pairs, from `open_replication`) after
    /// `after` up to `upto` (positions as pg_lsn text), at most `batch_size` events a batch.
    #[pyo3(signature = (tables, upto, after=None, batch_size=10000))]
    fn read_changes(
        &self,
        py: Python<'_>,
        tables: Vec<(String, String)>,
        upto: &str,
        after: Option<String>,
        batch_size: i64,
    ) -> PyResult<crate::changes::ChangeReader> {
        let found = tables
            .iter()
            .map(|(s, t)| self.table(py, s, t))
            .collect::<PyResult<Vec<_>>>()?;
        let after = after.as_deref().map(lsn).transpose()?;
        let batch = size(
            "batch_size",
            Some(batch_size),
            connector_accel_core::config::MAX_BATCH_SIZE,
        )?
        .unwrap_or(10_000);
        let (receiver, log) = self.inner.read_changes(found, after, lsn(upto)?, batch);
        crate::changes::ChangeReader::new(py, receiver, log)
    }

    /// Exports a snapshot from a session that stays open while the returned holder lives: readers given its `id`
    /// (in this process or any other on the same database) all see the same committed data. PostgreSQL only.
    fn export_snapshot(&self, py: Python<'_>) -> PyResult<SnapshotHolder> {
        let snapshot = wait(py, self.inner.source.export_snapshot())?;
        Ok(SnapshotHolder::new(snapshot))
    }

    /// Runs the preprocessing statements (when enabled) with `state`'s values bound; returns rows changed.
    fn preprocess(&self, py: Python<'_>, state: BTreeMap<String, String>) -> PyResult<Option<u64>> {
        let preprocessing = self.inner.config.preprocessing.clone();
        if preprocessing.statements.is_empty() {
            return Ok(None);
        }
        let changed = wait(
            py,
            self.inner
                .source
                .preprocess(preprocessing, state, self.inner.log.clone()),
        )?;
        Ok(Some(changed))
    }

    /// A reader of ready dict batches over `schema.table`. `partitions` (from `plan()`, each optionally with the
    /// `after` key already emitted) are read concurrently (on one snapshot, in PostgreSQL); without it the table is
    /// one range, resumed after `after`. `incremental` (`{"high", "guard"}` from `watermark()`) reads only rows
    /// changed since. `keys_only` reads the key columns (and the soft-delete column) alone, for delete
    /// reconciliation: `Table::keys_only`.
    #[pyo3(signature = (schema, table, after=None, partitions=None, incremental=None, batch_size=None, workers=None, queue_depth=None, snapshot=None, keys_only=false))]
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
        keys_only: bool,
    ) -> PyResult<BatchReader> {
        let mut found = self.table(py, schema, table)?;
        if keys_only {
            found = Arc::new(found.keys_only());
        }
        let parts = plans::parts_or_whole(partitions, after)?;
        let span = match incremental {
            None => Span::Full,
            Some(mark) => plans::span_from(
                &found,
                &mark,
                self.inner.config.incremental.lookback_seconds,
            )?,
        };
        let columns: Vec<String> = found.columns.iter().map(|c| c.name.clone()).collect();
        let sizes = Sizes {
            batch_size: size(
                "batch_size",
                batch_size,
                connector_accel_core::config::MAX_BATCH_SIZE,
            )?,
            workers: size(
                "workers",
                workers,
                connector_accel_core::config::MAX_WORKERS,
            )?,
            queue_depth: size(
                "queue_depth",
                queue_depth,
                connector_accel_core::config::MAX_QUEUE_ROWS,
            )?,
        };
        let read = Read {
            span,
            sizes,
            snapshot,
            ..Read::full(found, parts)
        };
        let started = self.inner.start(read).py()?;
        BatchReader::new(py, started.batches, &columns, started.log, started.monitor)
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

    /// An Arrow stream over the rows of `query` (one stream: a query has no key to partition by). PostgreSQL and Snowflake.
    #[pyo3(signature = (query, batch_size=None))]
    fn read_arrow_query(
        &self,
        py: Python<'_>,
        query: String,
        batch_size: Option<i64>,
    ) -> PyResult<ArrowReader> {
        let (table, warnings) = wait(py, self.inner.source.describe_query(query))?;
        warnings.into_iter().for_each(|w| self.inner.log.warning(w));
        self.arrow_reader(&table, vec![PartRead::default()], batch_size, None)
    }
}

impl Source {
    fn table(&self, py: Python<'_>, schema: &str, table: &str) -> PyResult<Arc<Table>> {
        let (tables, _) = wait(py, self.inner.catalog())?;
        find_table(&tables, schema, table).py()
    }

    fn arrow_reader(
        &self,
        found: &Table,
        parts: Vec<PartRead>,
        batch_size: Option<i64>,
        snapshot: Option<String>,
    ) -> PyResult<ArrowReader> {
        let batch_size = size(
            "batch_size",
            batch_size,
            connector_accel_core::config::MAX_BATCH_SIZE,
        )?;
        let plain = Arc::new(self.inner.source.arrow_table(found));
        let schema = connector_accel_core::arrow_batch::schema(&plain);
        let sizes = Sizes {
            batch_size,
            ..Sizes::default()
        };
        let read = Read {
            sizes,
            snapshot,
            arrow: Some(schema),
            ..Read::full(plain.clone(), parts)
        };
        let started = self.inner.start(read).py()?;
        let stream = connector_accel_core::arrow_batch::Stream::new(
            &plain,
            started.batches,
            Box::new(crate::arrow::interrupted),
        );
        Ok(ArrowReader::new(stream, started.log, started.monitor))
    }
}

/// A log position as pg_lsn text (`16/B374D848`).
fn lsn(text: &str) -> PyResult<connector_accel_core::changes::Lsn> {
    connector_accel_core::changes::Lsn::parse(text).ok_or_else(|| {
        to_py(Error::config(
            "lsn",
            format!("'{text}' is not a log position; positions are written as PostgreSQL writes pg_lsn, e.g. 16/B374D848"),
        ))
    })
}

/// A caller's batch size, worker count or queue depth: None keeps the plan's; otherwise 1 to `max`.
fn size(key: &str, value: Option<i64>, max: u64) -> PyResult<Option<usize>> {
    match value {
        None => Ok(None),
        Some(n) if n >= 1 && n as u64 <= max => Ok(Some(n as usize)),
        Some(n) => Err(to_py(Error::config(
            key,
            format!("{n} is out of range; pass a whole number from 1 to {max}"),
        ))),
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
