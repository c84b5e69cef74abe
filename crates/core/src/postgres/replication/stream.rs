//! A catch-up read: the slot's changes up to the position taken at the sync's start, read with
//! `pg_logical_slot_peek_binary_changes` through a portal in bounded fetches (the server keeps the function's
//! result in a tuplestore that spills to disk; we hold one fetch and one batch), decoded, and handed over as
//! batches of events in commit order. Peeking never moves the slot: `slot::advance` does, later, to a position a
//! checkpoint has made durable.

use super::super::errors;
use super::super::sessions::Sessions;
use super::super::sql::quote_ident;
use super::convert::convert;
use super::pgoutput::{decode, Message, Value};
use super::resume::Handed;
use super::tables::{is_text_send, Now, Pending, Tables};
use crate::changes::{Change, ChangeBatch, ChangeRequest, Lsn, Op};
use crate::error::{Error, Result};
use crate::model::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::mpsc::Sender;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

const PEEK: &str =
    "SELECT data FROM pg_logical_slot_peek_binary_changes($1, $2::text::pg_lsn, NULL, \
     'proto_version', '1', 'publication_names', $3, 'binary', 'true')";

/// Messages fetched from the portal at a time.
const FETCH: i32 = 5000;

/// Reads the changes of `request` from `slot` filtered by `publication`, sending batches on `tx`, retrying a
/// transient failure in place (`resume.rs`). The last batch carries `committed` = the read's end: every commit
/// before `upto` was read.
pub async fn run(
    sessions: Arc<Sessions>,
    slot: String,
    publication: String,
    request: Arc<ChangeRequest>,
    tx: Sender<Result<ChangeBatch>>,
) -> Result<()> {
    if request.tables.is_empty() {
        let end = ChangeBatch {
            committed: Some(request.upto),
            ..ChangeBatch::default()
        };
        let _ = tx.send(Ok(end)).await;
        return Ok(());
    }
    let read = Read {
        sessions: &sessions,
        slot: &slot,
        publication: &publication,
        request: &request,
        tx: &tx,
    };
    let attempt = |handed| peek(&read, handed);
    super::resume::retrying(&slot, request.retry, &request.log, attempt).await
}

/// What one attempt at the read needs.
struct Read<'a> {
    sessions: &'a Arc<Sessions>,
    slot: &'a str,
    publication: &'a str,
    request: &'a ChangeRequest,
    tx: &'a Sender<Result<ChangeBatch>>,
}

/// One peek of the slot, from its confirmed position: what earlier attempts handed over (`handed`) is skipped;
/// returns what is handed over once it ends, and how it ended.
async fn peek(read: &Read<'_>, mut handed: Handed) -> (Handed, Result<()>) {
    let result = attempt(read, &mut handed).await;
    (handed, result)
}

/// `peek`'s work: `handed` follows each batch it hands over.
async fn attempt(read: &Read<'_>, handed: &mut Handed) -> Result<()> {
    let (request, slot) = (read.request, read.slot);
    let mut session = read.sessions.take().await?;
    session.ready().await?;
    let (now, roots) = catalog(&session.client, request).await?;
    let mut tables = Tables::new(&request.tables, &now, roots, &request.flatten);
    let txn = session
        .client
        .transaction()
        .await
        .map_err(|e| errors::query("reading the replication slot", e))?;
    let what = |e| errors::query("reading the replication slot", e);
    let statement = txn
        .prepare_typed(PEEK, &[Type::TEXT, Type::TEXT, Type::TEXT])
        .await
        .map_err(what)?;
    let names = quote_ident(read.publication);
    let portal = txn
        .bind(&statement, &[&slot, &request.upto.to_string(), &names])
        .await
        .map_err(what)?;
    let mut stream = Stream::new(request.after, *handed);
    loop {
        let rows = txn.query_portal(&portal, FETCH).await.map_err(what)?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let data: &[u8] = row.get(0);
            let message = decode(data).map_err(|m| protocol(slot, &m))?;
            stream.message(message, &mut tables)?;
            if stream.batch.changes.len() >= request.batch_size {
                if !stream.flush(txn.client(), &mut tables, read.tx).await? {
                    return Ok(());
                }
                *handed = stream.handed();
            }
        }
    }
    stream.last_commit = Some(
        stream
            .last_commit
            .map_or(request.upto, |c| c.max(request.upto)),
    );
    stream.flush(txn.client(), &mut tables, read.tx).await?;
    *handed = stream.handed();
    // everything is handed over: a failure to end the transaction only costs the session
    if txn.rollback().await.is_ok() {
        read.sessions.give(session);
    }
    Ok(())
}

fn protocol(slot: &str, message: &str) -> Error {
    Error::Query {
        message: format!(
            "reading replication slot {slot}: a pgoutput message cannot be decoded ({message})"
        ),
        sqlstate: None,
        number: None,
        transient: false,
    }
}

/// The selected tables' columns as the catalog has them now, and the partitions that roll up into them.
async fn catalog(
    client: &Client,
    request: &ChangeRequest,
) -> Result<(HashMap<(u32, String), Now>, HashMap<u32, u32>)> {
    let oids: Vec<u32> = request
        .tables
        .iter()
        .filter_map(|t| super::slot::oid(t))
        .collect();
    let what = |e| errors::query("reading the replicated tables' columns", e);
    let columns = client
        .query(
            "SELECT a.attrelid, a.attname::text, a.atttypid, t.typsend::regproc::text FROM pg_attribute a \
               JOIN pg_type t ON t.oid = a.atttypid \
              WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped",
            &[&oids],
        )
        .await
        .map_err(what)?;
    let now = columns
        .iter()
        .map(|r| {
            let send: String = r.get(3);
            (
                (r.get(0), r.get(1)),
                Now {
                    type_oid: r.get(2),
                    text_send: is_text_send(&send),
                },
            )
        })
        .collect();
    let roots = client
        .query(
            "SELECT c.oid, pg_partition_root(c.oid)::oid FROM pg_class c \
              WHERE c.relispartition AND pg_partition_root(c.oid) = ANY($1)",
            &[&oids],
        )
        .await
        .map_err(what)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    Ok((now, roots))
}

/// The read's position in the log and the batch being filled.
struct Stream {
    after: Option<Lsn>,
    /// What earlier attempts of this read handed over.
    resume: Handed,
    /// The open transaction's commit LSN (from its Begin), which its events carry.
    lsn: Lsn,
    /// Inside a transaction that a checkpoint already covers.
    skipping: bool,
    /// Inside a transaction; its data messages so far, and how many of them an earlier attempt handed over.
    open: bool,
    seen: u64,
    skip_first: u64,
    last_commit: Option<Lsn>,
    batch: ChangeBatch,
    pending: Vec<Pending>,
    resync_said: HashSet<u32>,
}

impl Stream {
    fn new(after: Option<Lsn>, resume: Handed) -> Self {
        Stream {
            after: after.max(resume.committed),
            resume,
            lsn: Lsn::default(),
            skipping: false,
            open: false,
            seen: 0,
            skip_first: 0,
            last_commit: None,
            batch: ChangeBatch::default(),
            pending: Vec::new(),
            resync_said: HashSet::new(),
        }
    }

    fn message(&mut self, m: Message<'_>, tables: &mut Tables) -> Result<()> {
        match m {
            Message::Begin { final_lsn, .. } => {
                self.skipping = self.after.is_some_and(|a| final_lsn < a);
                self.lsn = final_lsn;
                (self.open, self.seen) = (true, 0);
                self.skip_first = self.resume.skip_in(final_lsn);
            }
            Message::Commit { end_lsn } => {
                if !self.skipping {
                    self.last_commit = Some(end_lsn);
                }
                (self.skipping, self.open) = (false, false);
            }
            Message::Relation(r) => tables.relation(&r),
            Message::Other => {}
            _ if self.skipping => {}
            _ if self.already_handed() => {}
            Message::Insert { rel, new } => self.row(tables, rel, &new, Op::Upsert)?,
            Message::Update { rel, old, new } => self.update(tables, rel, old, &new)?,
            Message::Delete { rel, old } => self.delete(tables, rel, &old)?,
            Message::Truncate { rels } => {
                for rel in rels {
                    if let Some(target) = self.mapped(tables, rel) {
                        let table = tables.targets[&target].table.clone();
                        self.batch.changes.push(Change {
                            op: Op::Truncate,
                            table,
                            cells: Vec::new(),
                            lsn: self.lsn,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Counts a data message of the open transaction; true when an earlier attempt handed it over already.
    fn already_handed(&mut self) -> bool {
        self.seen += 1;
        self.seen <= self.skip_first
    }

    /// Where the read stands once the batch just sent is handed over.
    fn handed(&self) -> Handed {
        Handed {
            committed: self.last_commit.max(self.resume.committed),
            open: self.open.then_some((self.lsn, self.seen)),
        }
    }

    /// The target of relation `rel`, its resync reason said once.
    fn mapped(&mut self, tables: &Tables, rel: u32) -> Option<u32> {
        let m = tables.relations.get(&rel)?.as_ref()?;
        if let Some(why) = &m.resync {
            if self.resync_said.insert(m.target) {
                let t = &tables.targets[&m.target].table;
                self.batch
                    .resync
                    .push((t.schema.clone(), t.name.clone(), why.clone()));
            }
        }
        Some(m.target)
    }

    /// The cells of a tuple in table column order (None where the tuple carries no value).
    fn cells(
        &mut self,
        tables: &mut Tables,
        rel: u32,
        values: &[Value<'_>],
    ) -> Result<Option<(u32, Vec<Option<Cell>>)>> {
        let Some(target) = self.mapped(tables, rel) else {
            return Ok(None);
        };
        let columns = tables.relations[&rel]
            .as_ref()
            .map(|m| m.columns.clone())
            .unwrap_or_default();
        let t = tables
            .targets
            .get_mut(&target)
            .ok_or_else(|| Error::Internal("a mapped table is gone".into()))?;
        let mut cells = vec![None; t.conv.len()];
        let change = self.batch.changes.len();
        for (j, value) in values.iter().enumerate() {
            if let Some(Some(i)) = columns.get(j) {
                cells[*i] = t.cell(
                    *i,
                    value,
                    change,
                    &mut self.pending,
                    &mut self.batch.warnings,
                )?;
            }
        }
        Ok(Some((target, cells)))
    }

    fn row(&mut self, tables: &mut Tables, rel: u32, values: &[Value<'_>], op: Op) -> Result<()> {
        let Some((target, cells)) = self.cells(tables, rel, values)? else {
            return Ok(());
        };
        let partial = values.contains(&Value::Unchanged);
        let op = if op == Op::Upsert && partial {
            Op::Update
        } else {
            op
        };
        let table = tables.targets[&target].table.clone();
        self.batch.changes.push(Change {
            op,
            table,
            cells,
            lsn: self.lsn,
        });
        Ok(())
    }

    /// An update; when its key changed, the old key's row is deleted first (the destination keys rows by it).
    fn update(
        &mut self,
        tables: &mut Tables,
        rel: u32,
        old: Option<Vec<Value<'_>>>,
        new: &[Value<'_>],
    ) -> Result<()> {
        if let Some(old) = old {
            if self.key_changed(tables, rel, &old, new) {
                self.delete(tables, rel, &old)?;
                if new.contains(&Value::Unchanged) {
                    self.say_resync(
                        tables,
                        rel,
                        "a primary-key change left an unchanged TOASTed value out of the new row",
                    );
                }
            }
        }
        self.row(tables, rel, new, Op::Upsert)
    }

    fn key_changed(&self, tables: &Tables, rel: u32, old: &[Value<'_>], new: &[Value<'_>]) -> bool {
        let Some(Some(m)) = tables.relations.get(&rel) else {
            return false;
        };
        let key = &tables.targets[&m.target].key;
        m.columns
            .iter()
            .enumerate()
            .filter(|(_, i)| i.is_some_and(|i| key.contains(&i)))
            .any(|(j, _)| old.get(j) != new.get(j))
    }

    fn delete(&mut self, tables: &mut Tables, rel: u32, old: &[Value<'_>]) -> Result<()> {
        let Some((target, mut cells)) = self.cells(tables, rel, old)? else {
            return Ok(());
        };
        let key = tables.targets[&target].key.clone();
        for (i, cell) in cells.iter_mut().enumerate() {
            if !key.contains(&i) {
                *cell = None;
            }
        }
        if key
            .iter()
            .any(|&i| matches!(cells[i], None | Some(Cell::Null)))
        {
            self.say_resync(tables, rel, "a delete in the log does not carry the primary key (the table's replica identity is another index)");
            return Ok(());
        }
        let table = tables.targets[&target].table.clone();
        self.batch.changes.push(Change {
            op: Op::Delete,
            table,
            cells,
            lsn: self.lsn,
        });
        Ok(())
    }

    fn say_resync(&mut self, tables: &Tables, rel: u32, why: &str) {
        if let Some(Some(m)) = tables.relations.get(&rel) {
            let t = &tables.targets[&m.target].table;
            self.batch
                .resync
                .push((t.schema.clone(), t.name.clone(), why.to_string()));
        }
    }

    /// Converts the batch's pending values and sends it; false when the reader has gone.
    async fn flush(
        &mut self,
        client: &Client,
        tables: &mut Tables,
        tx: &Sender<Result<ChangeBatch>>,
    ) -> Result<bool> {
        let mut batch = std::mem::take(&mut self.batch);
        let pending = std::mem::take(&mut self.pending);
        convert(
            client,
            pending,
            tables,
            &mut batch.changes,
            &mut batch.warnings,
        )
        .await?;
        batch.committed = self.last_commit;
        Ok(tx.send(Ok(batch)).await.is_ok())
    }
}
