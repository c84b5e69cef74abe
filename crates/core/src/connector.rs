//! A configured source with its catalog, as every front end drives it: the Python binding (which waits on these
//! futures off the interpreter) and the Partner SDK server (which awaits them). Nothing here knows a front end.

use crate::changes::{ChangeBatch, ChangeRequest, Lsn, SlotStatus};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::messages::Messages;
use crate::model::Table;
use crate::monitor::{Limits, Monitor, Shared};
use crate::plan::{Partition, TablePlan};
use crate::read::{Batch, PartRead, ReadRequest, Sizes, Span};
use crate::source::{Source, Watermark};
use futures_util::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::Receiver;

/// The selected tables, smallest first, shared with every read.
pub type Catalog = Arc<Vec<Arc<Table>>>;

/// The catalog and discovery's warnings.
pub type Discovered = (Catalog, Vec<String>);

/// A read started on the shared runtime: its batches, its log, and the resource monitor following it (dropped with
/// the read).
pub struct Started {
    pub batches: Receiver<Result<Batch>>,
    pub log: Messages,
    pub monitor: Option<Monitor>,
}

/// A parsed configuration, the source it names, and its catalog (discovered once).
pub struct Connector {
    pub config: Arc<Config>,
    pub source: Arc<dyn Source>,
    /// Warnings about the configuration (unknown keys, TLS leniency).
    pub warnings: Vec<String>,
    /// Messages from planning, watermarks and preprocessing, until a front end logs them.
    pub log: Messages,
    /// Shared with a discovery on its way, which fills it (so its future need not borrow the connector).
    catalog: Arc<Mutex<Option<Discovered>>>,
}

impl Connector {
    /// Parses `raw` (values as strings, as Fivetran passes them) and picks the source it names.
    pub fn new(raw: &BTreeMap<String, String>) -> Result<Connector> {
        let (config, warnings) = Config::parse(raw)?;
        Ok(Connector {
            source: crate::sources::open(&config.connection),
            config: Arc::new(config),
            warnings,
            log: Messages::default(),
            catalog: Arc::default(),
        })
    }

    /// The selected tables and discovery's warnings; discovered on the first call only.
    pub fn catalog(&self) -> BoxFuture<'static, Result<Discovered>> {
        if let Some(found) = self.cached() {
            return Box::pin(async move { Ok(found) });
        }
        let (discover, slot) = (
            self.source.discover(self.config.clone()),
            self.catalog.clone(),
        );
        Box::pin(async move {
            let (tables, warnings) = discover.await?;
            let found = (
                Arc::new(tables.into_iter().map(Arc::new).collect()),
                warnings,
            );
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(found.clone());
            Ok(found)
        })
    }

    fn cached(&self) -> Option<Discovered> {
        self.catalog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How `table` is planned on this machine under the configuration.
    pub fn table_plan(&self, table: &Table) -> TablePlan {
        self.config
            .plan_for(table.row_estimate, self.source.resumable(table))
    }

    /// Waits for `call` on the source, retried on transient errors under the configured policy.
    pub fn retried<T: Send + 'static>(
        &self,
        what: String,
        call: impl Fn(&dyn Source) -> BoxFuture<'static, Result<T>> + Send + Sync + 'static,
    ) -> BoxFuture<'static, Result<T>> {
        let (source, retry, log) = (
            self.source.clone(),
            self.config.retry_policy(),
            self.log.clone(),
        );
        Box::pin(
            async move { crate::retry::run(retry, &what, &log, || call(source.as_ref())).await },
        )
    }

    /// The table's plan and its partitions, cut at quantiles of a page sample of its keys (one whole range where
    /// the plan wants one partition or the table cannot resume after a key).
    pub fn partitions(
        &self,
        table: Arc<Table>,
    ) -> BoxFuture<'static, Result<(TablePlan, Vec<Partition>)>> {
        let plan = self.table_plan(&table);
        if let Some(asked) = plan.capped_from {
            self.log.warning(format!(
                "{}: partitions={asked} would cut ~{} rows into ranges of a few rows; reading {} partition(s) of at \
                 least {} rows each",
                table.qualified(),
                table.row_estimate.unwrap_or(0),
                plan.partitions,
                crate::plan::MIN_PARTITION_ROWS
            ));
        }
        if plan.partitions <= 1 || !self.source.resumable(&table) {
            return Box::pin(async move { Ok((plan, vec![Partition::default()])) });
        }
        let percent = crate::plan::sample_percent_for(table.row_estimate, plan.partitions);
        let (what, wanted) = (
            format!("{}: planning partitions", table.qualified()),
            plan.partitions,
        );
        let sample = self.retried(what, move |s| s.sample_keys(table.clone(), percent, wanted));
        Box::pin(async move {
            let sample = sample.await?;
            Ok((plan, crate::plan::partitions(&sample, wanted)))
        })
    }

    /// The incremental watermark of `table`, or None without a cursor. What it relies on is logged: a naive cursor
    /// compared in the server's zone, and the source's note (an integer cursor's mark held below a jump).
    pub fn watermark(&self, table: Arc<Table>) -> BoxFuture<'static, Result<Option<Watermark>>> {
        let what = format!("{}: reading the cursor", table.qualified());
        let (name, cursor, log) = (
            table.qualified(),
            table.cursor.as_ref().ok().map(|c| c.column.clone()),
            self.log.clone(),
        );
        let mark = self.retried(what, move |s| s.watermark(table.clone()));
        Box::pin(async move {
            let mark = mark.await?;
            if let (Some(zone), Some(column)) =
                (mark.as_ref().and_then(|m| m.zone.as_ref()), cursor)
            {
                log.info(format!(
                    "{name}: cursor {column} is a timestamp without time zone on a server whose time zone is {zone}: \
                     its values are taken as that zone's wall clock (the open-writer guard and the clock are converted \
                     to it), and each read also looks back over the hour the zone repeats when its clocks fall back; \
                     rows written by sessions in another zone are compared wrongly (a timestamptz cursor needs none of \
                     this)"
                ));
            }
            if let Some(note) = mark.as_ref().and_then(|m| m.note.clone()) {
                log.warning(note);
            }
            Ok(mark)
        })
    }

    /// Starts a read on the shared runtime with the table's planned limits (or the caller's sizes), and its
    /// resource monitor.
    pub fn start(&self, read: Read) -> Result<Started> {
        if read.snapshot.is_some() && !self.source.shares_snapshots() {
            return Err(Error::config(
                "snapshot",
                format!(
                    "{} cannot share a snapshot across sessions; read without one",
                    self.source.name()
                ),
            ));
        }
        let plan = self.table_plan(&read.table);
        let (request, log, monitor) = request(&self.config, &plan, read);
        let _guard = crate::runtime::get().enter();
        Ok(Started {
            batches: self.source.read(request),
            log,
            monitor,
        })
    }
}

impl Connector {
    /// The replication slot and publication made ready for this sync (see `Source::open_replication`), over the
    /// selected tables, retried on transient errors.
    pub fn open_replication(
        &self,
        after: Option<Lsn>,
    ) -> BoxFuture<'static, Result<(SlotStatus, Vec<Arc<Table>>)>> {
        let catalog = self.catalog();
        let (source, replication, retry, log) = (
            self.source.clone(),
            self.config.replication.clone(),
            self.config.retry_policy(),
            self.log.clone(),
        );
        Box::pin(async move {
            let (tables, _) = catalog.await?;
            let tables: Vec<Arc<Table>> = tables.to_vec();
            crate::retry::run(retry, "opening the replication slot", &log, || {
                source.open_replication(replication.clone(), tables.clone(), after)
            })
            .await
        })
    }

    /// Starts a catch-up read of the log for `tables` after `after` up to `upto`, in batches of at most
    /// `batch_size` events.
    pub fn read_changes(
        &self,
        tables: Vec<Arc<Table>>,
        after: Option<Lsn>,
        upto: Lsn,
        batch_size: usize,
    ) -> (Receiver<Result<ChangeBatch>>, Messages) {
        let log = Messages::default();
        let request = ChangeRequest {
            tables,
            after,
            upto,
            batch_size: batch_size.max(1),
            flatten: self.config.flatten.clone(),
            retry: self.config.retry_policy(),
            log: log.clone(),
        };
        let _guard = crate::runtime::get().enter();
        (
            self.source
                .read_changes(self.config.replication.clone(), request),
            log,
        )
    }
}

/// What a front end asks to read.
pub struct Read {
    pub table: Arc<Table>,
    pub parts: Vec<PartRead>,
    pub span: Span,
    pub sizes: Sizes,
    /// A snapshot exported elsewhere that every partition imports.
    pub snapshot: Option<String>,
    /// Build Arrow record batches of this schema in the fetchers.
    pub arrow: Option<arrow::datatypes::SchemaRef>,
    /// Write the rows in the fetchers (`crate::read::RowWriter`).
    pub writer: Option<Arc<dyn crate::read::RowWriter>>,
}

impl Read {
    /// Every row of `table`, in the given partitions, at the plan's sizes.
    pub fn full(table: Arc<Table>, parts: Vec<PartRead>) -> Read {
        Read {
            table,
            parts,
            span: Span::Full,
            sizes: Sizes::default(),
            snapshot: None,
            arrow: None,
            writer: None,
        }
    }
}

/// `schema.table` among the discovered tables, or an error naming the keys that select tables.
/// Exact names first; else the one table whose names match without regard to case (discovery already matched
/// `tables` so for SQL Server, and the caller may spell the name as the configuration did).
pub fn find_table(tables: &[Arc<Table>], schema: &str, table: &str) -> Result<Arc<Table>> {
    let loose: Vec<&Arc<Table>> = tables
        .iter()
        .filter(|t| t.schema.eq_ignore_ascii_case(schema) && t.name.eq_ignore_ascii_case(table))
        .collect();
    let found = tables
        .iter()
        .find(|t| t.schema == schema && t.name == table)
        .or_else(|| (loose.len() == 1).then(|| loose[0]))
        .cloned();
    found.ok_or_else(|| {
        Error::config(
            "tables",
            format!("table '{schema}.{table}' is not among the selected tables; check 'tables' and 'schemas'"),
        )
    })
}

/// A read as planned (batch size, workers and queue depth overridable by the caller), with its live limits, its
/// log and, when enabled, the resource monitor that adjusts those limits.
fn request(
    config: &Config,
    plan: &TablePlan,
    read: Read,
) -> (ReadRequest, Messages, Option<Monitor>) {
    let sizes = read.sizes;
    let limits = Limits {
        batch_size: sizes.batch_size.unwrap_or(plan.batch_size).max(1),
        queue_depth: sizes.queue_depth.unwrap_or(plan.queue_depth).max(1),
        workers: sizes
            .workers
            .unwrap_or(plan.workers)
            .clamp(1, read.parts.len().max(1)),
    };
    let shared = Shared::new(limits);
    let log = Messages::default();
    let monitor = config
        .resource_monitoring
        .then(|| Monitor::start(shared.clone(), read.table.qualified(), log.clone()));
    let request = ReadRequest {
        table: read.table,
        parts: read.parts,
        span: read.span,
        limits: shared,
        flatten: config.flatten.clone(),
        retry: config.retry_policy(),
        log: log.clone(),
        snapshot: read.snapshot,
        arrow: read.arrow,
        writer: read.writer,
        read_timeout: std::time::Duration::from_secs_f64(config.read_timeout_seconds),
        unrepresentable: crate::read::Unrepresentable::new(config.on_unrepresentable_value),
    };
    (request, log, monitor)
}
