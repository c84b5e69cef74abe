//! `update_method=logical` in the Partner SDK server, as the SDK connector's catch-up does it
//! (`connector_accel/logical.py`), with the same state: the slot and publication made ready and the slot moved to
//! the position the state handed over made durable (`Connector::open_replication`: the slot never lets go of a
//! change no checkpoint covered); tables the log cannot bring up to date forgotten (a gap in the slot, changed
//! partitions); then the changes up to the position taken at the start, in commit order, as records: upsert ->
//! UPSERT (DELETE where the soft-delete column says so), a partial update -> UPDATE with the columns it carries,
//! delete -> DELETE, truncate -> TRUNCATE. The position goes into the state at transaction boundaries only, and a
//! checkpoint flushes every batch before it, so it names only changes already sent. Tables loaded in full this
//! sync (new, after a gap or a schema change) are read after the catch-up, by the ordinary table sync, and take
//! their changes from the log from then on. What is decided, and every line said, comes from the core's
//! `catchup` module.

use super::auto::Opened;
use super::{Out, Step, TableSync};
use crate::logs;
use crate::proto::RecordType;
use crate::records::{self, RecordMaker};
use crate::state;
use crate::values::view;
use crate::wire::{map_key, put_entry};
use connector_accel_core::catchup;
use connector_accel_core::changes::{Change, Lsn, Op, SlotStatus};
use connector_accel_core::config::UpdateMethod;
use connector_accel_core::connector::Connector;
use connector_accel_core::error::Error;
use connector_accel_core::model::{Cell, FivetranType, Table};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

type Name = (String, String);

/// One sync's catch-up on the log, and what it decided about each table.
pub(super) struct Catchup {
    slot: String,
    /// The chosen tables the log carries.
    replicated: HashSet<Name>,
    status: SlotStatus,
}

fn name_of(table: &Table) -> Name {
    (table.schema.clone(), table.name.clone())
}

fn table_entry<'a>(state: &'a mut Map<String, Value>, name: &Name) -> &'a mut Map<String, Value> {
    state::entry(state, &state::table_key(&name.0, &name.1))
}

fn has_entry(state: &Map<String, Value>, name: &Name) -> bool {
    state
        .get("tables")
        .and_then(|t| t.get(state::table_key(&name.0, &name.1)))
        .is_some()
}

impl Catchup {
    /// Runs the catch-up of `chosen` (each with the columns the selection leaves out) up to the position taken now;
    /// `opened`: what `update_method=auto` got opening the replication to decide (no position: the same call).
    pub(super) async fn run(
        connector: &Connector,
        chosen: &[(Arc<Table>, HashSet<String>)],
        state: &mut Map<String, Value>,
        out: &mut Out,
        opened: Option<Opened>,
    ) -> Step<Catchup> {
        let slot = connector.config.replication.slot.clone();
        let saved = match state::replication_position(state, &slot) {
            None => None,
            Some(text) => Some(Lsn::parse(&text).ok_or_else(|| {
                Error::config(
                    "state",
                    format!("replication.lsn '{text}' is not a log position (reset the connector's state to start over)"),
                )
            })?),
        };
        let (status, carried) = match opened {
            Some(opened) => opened,
            None => connector.open_replication(saved).await?,
        };
        out.drain(&connector.log).await?;
        let carried: HashSet<Name> = carried.iter().map(|t| name_of(t)).collect();
        let wanted: HashSet<Name> = chosen.iter().map(|(t, _)| name_of(t)).collect();
        say(&status, &wanted, out).await?;
        let catchup = Catchup {
            replicated: carried.intersection(&wanted).cloned().collect(),
            slot,
            status,
        };
        catchup.leave_unchosen(&carried, &wanted, state);
        catchup.forget_unreadable(state, out).await?;
        let after = catchup::read_after(&catchup.status, saved);
        let tables: Vec<(Arc<Table>, HashSet<String>)> = chosen
            .iter()
            .filter(|(t, _)| catchup.replicated.contains(&name_of(t)))
            .cloned()
            .collect();
        let events = catchup.emit(connector, tables, after, state, out).await?;
        let upto = state::replication_position(state, &catchup.slot).and_then(|l| Lsn::parse(&l));
        logs::info(&catchup::applied_line(events, upto));
        catchup.retained(connector, out).await?;
        Ok(catchup)
    }

    /// A table Fivetran's selection leaves out gets no changes this sync: its entry stops reading from the log, so
    /// that it is loaded in full if it is selected again (else the changes of the syncs between would be missing).
    fn leave_unchosen(
        &self,
        carried: &HashSet<Name>,
        wanted: &HashSet<Name>,
        state: &mut Map<String, Value>,
    ) {
        for name in carried.difference(wanted) {
            if has_entry(state, name) && state::reads_from_log(table_entry(state, name), &self.slot)
            {
                logs::info(&format!(
                    "{}.{}: not selected, so its changes are not sent; it is loaded in full if it is selected again",
                    name.0, name.1
                ));
                state::leave_log(table_entry(state, name));
            }
        }
    }

    /// Tables whose destination the log cannot bring up to date are loaded again in full: after a gap in the slot,
    /// all of them; a table whose partitions changed.
    async fn forget_unreadable(&self, state: &mut Map<String, Value>, out: &mut Out) -> Step {
        let mut names: Vec<&Name> = self.replicated.iter().collect();
        names.sort();
        for name in names {
            if !has_entry(state, name) {
                continue;
            }
            let entry = table_entry(state, name);
            if !state::reads_from_log(entry, &self.slot) {
                continue;
            }
            let qualified = format!("{}.{}", name.0, name.1);
            let saved = state::partitions(entry).to_string();
            if let Some(why) = catchup::reload_reason(&self.status, &qualified, &saved) {
                state::forget(entry);
                out.warn(why).await?;
            }
        }
        Ok(())
    }

    /// The change events as records, the position recorded at each transaction boundary and checkpointed every
    /// `CHECKPOINT_EVENTS` events and at the end; the events sent.
    async fn emit(
        &self,
        connector: &Connector,
        tables: Vec<(Arc<Table>, HashSet<String>)>,
        after: Option<Lsn>,
        state: &mut Map<String, Value>,
        out: &mut Out,
    ) -> Step<u64> {
        // Events carry the very `Arc<Table>` they were asked for: a writer is found by its pointer.
        let mut writers: HashMap<usize, Writer> = tables
            .iter()
            .map(|(t, excluded)| (key_of(t), Writer::new(t, excluded.clone())))
            .collect();
        let read = tables.into_iter().map(|(t, _)| t).collect();
        let (mut batches, log) =
            connector.read_changes(read, after, self.status.upto, catchup::BATCH_EVENTS);
        let (mut events, mut since, mut record) = (0u64, 0u64, Vec::new());
        while let Some(batch) = batches.recv().await {
            let batch = batch?;
            for warning in batch.warnings {
                out.warn(warning).await?;
            }
            resync(batch.resync, state, out).await?;
            let n = batch.changes.len() as u64;
            for change in batch.changes {
                let writer = writers
                    .entry(key_of(&change.table))
                    .or_insert_with(|| Writer::new(&change.table, HashSet::new()));
                writer.write(change, &mut record);
                out.record(&record).await?;
            }
            out.drain(&log).await?;
            (events, since) = (events + n, since + n);
            if let Some(lsn) = batch.committed {
                state::record_replication(state, &self.slot, &lsn.to_string());
                if since >= catchup::CHECKPOINT_EVENTS {
                    out.checkpoint(state).await?;
                    since = 0;
                }
            }
        }
        out.drain(&log).await?;
        out.checkpoint(state).await?;
        Ok(events)
    }

    async fn retained(&self, connector: &Connector, out: &mut Out) -> Step {
        let limit = connector.config.replication.wal_retained_warn_mb;
        match catchup::retained_line(&self.status, limit) {
            Some((true, line)) => out.warn(line).await,
            Some((false, line)) => {
                logs::info(&line);
                Ok(())
            }
            None => Ok(()),
        }
    }

    pub(super) fn replicates(&self, table: &Table) -> bool {
        self.replicated.contains(&name_of(table))
    }

    /// Whether `table` takes its changes from the log this sync (no read of its own).
    pub(super) fn reads_from_log(&self, table: &Table, entry: &Map<String, Value>) -> bool {
        self.replicates(table) && state::reads_from_log(entry, &self.slot)
    }

    /// A replicated table's full load is done: its changes come from the log from now on.
    pub(super) fn finish_load(&self, table: &Table, entry: &mut Map<String, Value>) {
        if self.replicates(table) {
            let parts =
                catchup::partitions_of(&self.status, &table.qualified()).unwrap_or_default();
            state::finish_logical(entry, &self.slot, parts);
        }
    }
}

fn key_of(table: &Arc<Table>) -> usize {
    Arc::as_ptr(table) as usize
}

/// Tables the log cannot keep exact: said, and loaded again in full after the catch-up.
async fn resync(
    tables: Vec<(String, String, String)>,
    state: &mut Map<String, Value>,
    out: &mut Out,
) -> Step {
    for (schema, table, why) in tables {
        out.warn(catchup::resync_line(&schema, &table, &why))
            .await?;
        let name = (schema, table);
        if has_entry(state, &name) {
            state::forget(table_entry(state, &name));
        }
    }
    Ok(())
}

/// The opening lines: the slot, the chosen tables left out of the publication, the core's warnings.
async fn say(status: &SlotStatus, wanted: &HashSet<Name>, out: &mut Out) -> Step {
    logs::info(&catchup::opening_line(status));
    for (schema, table, why) in &status.excluded {
        if !wanted.contains(&(schema.clone(), table.clone())) {
            continue; // left out by Fivetran's selection: nothing of it is synced
        }
        out.warn(catchup::excluded_line(schema, table, why)).await?;
    }
    for warning in &status.warnings {
        out.warn(warning.clone()).await?;
    }
    Ok(())
}

/// With `update_method=logical` (or auto deciding or having decided it), the sync's catch-up, run before any
/// table is read.
pub(super) async fn start(
    connector: &Connector,
    chosen: &[(Arc<Table>, HashSet<String>)],
    state: &mut Map<String, Value>,
    out: &mut Out,
) -> Step<Option<Catchup>> {
    let opened = match connector.config.replication.method {
        UpdateMethod::Cursor => return Ok(None),
        UpdateMethod::Logical => None,
        UpdateMethod::Auto => match super::auto::method(connector, state, out).await? {
            (false, _) => return Ok(None),
            (true, opened) => opened,
        },
    };
    Ok(Some(
        Catchup::run(connector, chosen, state, out, opened).await?,
    ))
}

impl TableSync<'_> {
    /// A table whose changes the catch-up sent: nothing to read; its pass and identity recorded. True when so.
    pub(super) async fn taken_from_log(&mut self) -> Step<bool> {
        let table = self.table.clone();
        let Some(catchup) = self.catchup else {
            return Ok(false);
        };
        if !catchup.reads_from_log(&table, self.entry()) {
            return Ok(false);
        }
        let pass = state::pass(self.state);
        self.entry().insert("pass".into(), pass.into());
        crate::identity::remember_identity(self.entry(), &table);
        self.out.checkpoint(self.state).await?;
        logs::info(&catchup::from_log_line(&self.qualified));
        Ok(true)
    }

    /// A replicated table's full load is done: its changes come from the log from now on.
    pub(super) fn finish_logical(&mut self) {
        if let Some(catchup) = self.catchup {
            let table = self.table.clone();
            catchup.finish_load(&table, self.entry());
        }
    }
}

/// One table's change events -> the bytes of its records.
struct Writer {
    /// Upserts go the full load's way (soft deletes, flattening, selection).
    upsert: RecordMaker,
    update_head: Vec<u8>,
    delete_head: Vec<u8>,
    truncate: Vec<u8>,
    columns: Vec<(Vec<u8>, FivetranType, bool)>,
    flat: HashMap<String, FivetranType>,
    excluded: HashSet<String>,
}

impl Writer {
    fn new(table: &Table, excluded: HashSet<String>) -> Writer {
        let schema = Some(table.schema.as_str());
        Writer {
            upsert: RecordMaker::new(table, false).excluding(table, excluded.clone()),
            update_head: records::head(schema, &table.name, RecordType::Update),
            delete_head: records::head(schema, &table.name, RecordType::Delete),
            truncate: records::truncate(table),
            columns: table
                .columns
                .iter()
                .map(|c| {
                    (
                        map_key(&c.name),
                        c.fivetran_type,
                        excluded.contains(&c.name),
                    )
                })
                .collect(),
            flat: table
                .flat_columns
                .iter()
                .map(|f| (f.name.clone(), f.fivetran_type))
                .collect(),
            excluded,
        }
    }

    /// The record of `change` into `out` (cleared first).
    fn write(&mut self, change: Change, out: &mut Vec<u8>) {
        out.clear();
        match change.op {
            Op::Upsert => {
                let row: Vec<Cell> = change
                    .cells
                    .into_iter()
                    .map(|c| c.unwrap_or(Cell::Null))
                    .collect();
                self.upsert.write(&row, out);
            }
            // Only the columns the event carries: a partial update keeps the destination's unchanged TOASTed
            // values; a delete carries its key (every column under REPLICA IDENTITY FULL, as the SDK's op.delete).
            Op::Update => self.carried(&self.update_head, &change.cells, out),
            Op::Delete => self.carried(&self.delete_head, &change.cells, out),
            Op::Truncate => out.extend_from_slice(&self.truncate),
        }
    }

    fn carried(&self, head: &[u8], cells: &[Option<Cell>], out: &mut Vec<u8>) {
        out.extend_from_slice(head);
        for (cell, (key, declared, skip)) in cells.iter().zip(&self.columns) {
            match cell {
                None => {}
                Some(_) if *skip => {}
                Some(Cell::Flat(pairs)) => {
                    for (name, cell) in pairs.iter().filter(|(n, _)| !self.excluded.contains(&**n))
                    {
                        let t = self
                            .flat
                            .get(&**name)
                            .copied()
                            .unwrap_or(FivetranType::Json);
                        put_entry(&map_key(name), &view(cell, t), out);
                    }
                }
                Some(cell) => put_entry(key, &view(cell, *declared), out),
            }
        }
    }
}

#[cfg(test)]
#[path = "logical_tests.rs"]
mod tests;
