//! `MssqlSource`: a SQL Server configuration, its discovered catalog, and readers over its tables. The same
//! interface as `PostgresSource`, so `connector_accel.sdk` drives either.

use super::arrow::ArrowReader;
use super::plans;
use super::reader::BatchReader;
use super::source::{as_strings, describe, find_table, read_request};
use super::wait::wait;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::messages::Messages;
use crate::model::Table;
use crate::monitor::Monitor;
use crate::mssql::settings::MssqlConnection;
use crate::mssql::{connect, discover, read};
use crate::plan::{self, TablePlan};
use crate::postgres::planning::{SAMPLE_MIN, SAMPLE_PER_PARTITION};
use crate::postgres::read::{Batch, PartRead, Span};
use crate::retry::Policy;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::Receiver;

type Catalog = Arc<Vec<Arc<Table>>>;

#[pyclass(frozen, module = "connector_accel._core")]
pub struct MssqlSource {
    config: Config,
    conn: MssqlConnection,
    warnings: Vec<String>,
    catalog: Mutex<Option<(Catalog, Vec<String>)>>,
    log: Messages,
}

#[pymethods]
impl MssqlSource {
    #[new]
    fn new(configuration: &Bound<'_, PyDict>) -> PyResult<Self> {
        let (config, mut warnings) = Config::parse(&as_strings(configuration)?)?;
        let conn = config.mssql.clone().ok_or_else(|| {
            Error::config(
                "mssql_server",
                "is missing; set it to the SQL Server host name or IP address",
            )
        })?;
        if conn.trust_server_certificate {
            warnings.push(format!(
                "trust_server_certificate is true: the certificate of {} is not verified (neither its chain nor its host name)",
                conn.target()
            ));
        }
        if !config.preprocessing.statements.is_empty() {
            return Err(Error::config(
                "enable_preprocessing",
                "is supported for PostgreSQL sources only; turn it off for SQL Server",
            )
            .into());
        }
        Ok(MssqlSource {
            config,
            conn,
            warnings,
            catalog: Mutex::new(None),
            log: Messages::default(),
        })
    }

    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    #[getter]
    fn sync_validation(&self) -> bool {
        self.config.sync_validation
    }

    #[getter]
    fn source_metadata(&self) -> bool {
        self.config.source_metadata
    }

    #[getter]
    fn debug(&self) -> bool {
        self.config.debug
    }

    fn take_log(&self) -> Vec<(String, String)> {
        self.log.take_named()
    }

    /// The selected tables, smallest first, as dicts (as `PostgresSource.discover`), and discovery's warnings.
    fn discover<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyList>, Vec<String>)> {
        let (tables, warnings) = self.catalog(py)?;
        let list = PyList::empty(py);
        for t in tables.iter() {
            list.append(describe(py, t, &self.table_plan(t), read::resumable(t))?)?;
        }
        Ok((list, warnings))
    }

    /// How `schema.table` is read, with partitions cut at quantiles of a page sample of its key.
    fn plan<'py>(
        &self,
        py: Python<'py>,
        schema: &str,
        table: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let found = self.table(py, schema, table)?;
        let plan = self.table_plan(&found);
        let (conn, retry, log) = (self.conn.clone(), self.retry(), self.log.clone());
        let parts = wait(py, async move {
            if plan.partitions <= 1 || !read::resumable(&found) {
                return Ok(vec![plan::Partition::default()]);
            }
            let wanted = (plan.partitions as u64 * SAMPLE_PER_PARTITION).max(SAMPLE_MIN);
            let percent = plan::sample_percent(found.row_estimate.unwrap_or(0), wanted);
            let what = format!("{}: planning partitions", found.qualified());
            let sample = crate::retry::run(retry, &what, &log, || async {
                let mut client = connect::connect(&conn).await?;
                discover::sample_keys(&mut client, &found, percent).await
            })
            .await?;
            Ok::<_, Error>(plan::partitions(&sample, plan.partitions, false))
        })?;
        plans::plan_dict(py, &plan, &parts)
    }

    /// The incremental watermark of `schema.table` (`{"high", "guard", "sees_all"}`), or None without a cursor.
    /// SQL Server has no guard: late commits are covered by `incremental_lookback_seconds`.
    fn watermark<'py>(
        &self,
        py: Python<'py>,
        schema: &str,
        table: &str,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let found = self.table(py, schema, table)?;
        if found.cursor.is_err() {
            return Ok(None);
        }
        let (conn, retry, log) = (self.conn.clone(), self.retry(), self.log.clone());
        let high = wait(py, async move {
            let what = format!("{}: reading the cursor", found.qualified());
            crate::retry::run(retry, &what, &log, || async {
                let mut client = connect::connect(&conn).await?;
                discover::watermark(&mut client, &found).await
            })
            .await
        })?;
        let d = PyDict::new(py);
        d.set_item("high", high)?;
        d.set_item("guard", py.None())?;
        d.set_item("sees_all", true)?;
        Ok(Some(d))
    }

    /// Preprocessing is PostgreSQL-only (refused at construction), so there is never anything to run.
    fn preprocess(&self, _state: BTreeMap<String, String>) -> Option<u64> {
        None
    }

    /// A reader of ready dict batches over `schema.table` (see `PostgresSource.read`); `snapshot` is not supported.
    #[pyo3(signature = (schema, table, after=None, partitions=None, incremental=None, batch_size=None, workers=None, queue_depth=None))]
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
    ) -> PyResult<BatchReader> {
        let found = self.table(py, schema, table)?;
        let parts = match partitions {
            Some(list) => plans::parts_from(&list)?,
            None => vec![PartRead {
                index: 0,
                range: Default::default(),
                after,
            }],
        };
        let span = match incremental {
            None => Span::Full,
            Some(mark) => {
                plans::span_from(&found, &mark, self.config.incremental.lookback_seconds)?
            }
        };
        let columns: Vec<String> = found.columns.iter().map(|c| c.name.clone()).collect();
        let (receiver, log, monitor) =
            self.start(found, parts, span, (batch_size, workers, queue_depth), None);
        BatchReader::new(py, receiver, &columns, log, monitor)
    }

    /// An Arrow stream over `schema.table` (`__arrow_c_stream__`), its partitions read concurrently.
    #[pyo3(signature = (schema, table, partitions=None, batch_size=None))]
    fn read_arrow(
        &self,
        py: Python<'_>,
        schema: &str,
        table: &str,
        partitions: Option<Bound<'_, PyList>>,
        batch_size: Option<usize>,
    ) -> PyResult<ArrowReader> {
        let found = self.table(py, schema, table)?;
        let parts = match partitions {
            Some(list) => plans::parts_from(&list)?,
            None => vec![PartRead::default()],
        };
        let schema = crate::arrow_batch::schema(&found);
        let (receiver, log, monitor) = self.start(
            found.clone(),
            parts,
            Span::Full,
            (batch_size, None, None),
            Some(schema),
        );
        Ok(ArrowReader::new(
            crate::arrow_batch::Stream::new(&found, receiver, Box::new(super::arrow::interrupted)),
            log,
            monitor,
        ))
    }
}

impl MssqlSource {
    fn catalog(&self, py: Python<'_>) -> PyResult<(Catalog, Vec<String>)> {
        if let Some(found) = self
            .catalog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            return Ok(found.clone());
        }
        let (config, conn) = (self.config.clone(), self.conn.clone());
        let (tables, warnings) = wait(py, async move {
            let mut client = connect::connect(&conn).await?;
            discover::discover(&mut client, &config).await
        })?;
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
        self.config.plan_for(t.row_estimate, read::resumable(t))
    }

    fn retry(&self) -> Policy {
        self.config.retry_policy()
    }

    fn start(
        &self,
        table: Arc<Table>,
        parts: Vec<PartRead>,
        span: Span,
        sizes: (Option<usize>, Option<usize>, Option<usize>),
        arrow: Option<arrow::datatypes::SchemaRef>,
    ) -> (Receiver<Result<Batch>>, Messages, Option<Monitor>) {
        let plan = self.table_plan(&table);
        let (request, log, monitor) =
            read_request(&self.config, &plan, table, parts, span, sizes, None, arrow);
        let _guard = crate::runtime::get().enter();
        (read::spawn(self.conn.clone(), request), log, monitor)
    }
}
