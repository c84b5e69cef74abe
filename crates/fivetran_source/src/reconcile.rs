//! What the sync does about rows the source no longer holds, as the SDK connector does (`sdk.py`): the key pass that
//! marks them deleted, its schedule for tables read by cursor, tables gone from the source; and the columns
//! Fivetran's selection leaves out.

use super::{Out, Phase, Step, TableSync};
use crate::identity;
use crate::logs;
use crate::records::{self, RecordMaker};
use connector_accel_core::connector::Read;
use connector_accel_core::model::Table;
use connector_accel_core::read::{PartRead, Sizes};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

/// The columns of `table` the selection leaves out, said once per sync.
pub(super) fn excluded_of(
    selection: Option<&crate::proto::Selection>,
    table: &Table,
) -> HashSet<String> {
    let names = table
        .columns
        .iter()
        .filter(|c| !c.flattened)
        .map(|c| c.name.as_str())
        .chain(table.flat_columns.iter().map(|f| f.name.as_str()));
    let excluded = crate::selection::excluded_columns(
        selection,
        &table.schema,
        &table.name,
        names,
        &table.primary_key,
    );
    if !excluded.is_empty() {
        let mut names: Vec<&str> = excluded.iter().map(String::as_str).collect();
        names.sort();
        logs::info(&format!(
            "{}: columns left out by the selection: {}",
            table.qualified(),
            names.join(", ")
        ));
    }
    excluded
}

/// A table the state synced that discovery no longer finds: said by name, and its rows marked deleted (the source
/// holds none of them now); its state goes, so that a table of that name found later is loaded afresh (as the SDK
/// connector's `_say_gone`). A table Fivetran's selection leaves out is still discovered: it keeps its rows.
pub(super) async fn say_gone(
    present: &HashSet<(String, String)>,
    state: &mut Map<String, Value>,
    out: &mut Out,
) -> Step {
    for (key, schema, table) in identity::vanished(state, present) {
        out.warn(format!(
            "{schema}.{table}: gone from the source (dropped or renamed) or no longer selected; its rows in the \
             destination are marked deleted (_fivetran_deleted). A renamed table is loaded in full under its new \
             name; select this one again to load it back"
        ))
        .await?;
        out.record(&records::head(
            Some(&schema),
            &table,
            crate::proto::RecordType::Truncate,
        ))
        .await?;
        if let Some(tables) = state.get_mut("tables").and_then(Value::as_object_mut) {
            tables.remove(&key);
        }
    }
    Ok(())
}

impl TableSync<'_> {
    /// Once per sync: a table read by cursor whose deletes this sync did not look for.
    pub(super) async fn say_deletes_missed(&mut self, hours: Option<f64>) -> Step {
        let cursor = self.table.cursor.as_ref().map_or("", |c| c.column.as_str());
        match hours {
            None => {
                let message = format!("{}: rows deleted in the source stay live in the destination (a read by cursor '{cursor}' cannot see deletes); set delete_reconciliation_hours (e.g. 24) to mark them deleted by a key-only scan", self.qualified);
                self.out.warn(message).await
            }
            Some(hours) => {
                let since = self
                    .entry()
                    .get("reconciled_at")
                    .cloned()
                    .unwrap_or(Value::Null);
                let since = since.as_str().unwrap_or("None").to_string();
                logs::info(&format!("{}: deletes since {since} are marked at the next delete reconciliation (every {hours} h, delete_reconciliation_hours)", self.qualified));
                Ok(())
            }
        }
    }

    /// A load that starts with a truncate (`state::starts_with_truncate`): the TRUNCATE record before the first row,
    /// so that the rows the destination held before and this load does not send end marked deleted, with no key pass.
    pub(super) async fn truncate_first(&mut self) -> Step {
        self.out.record(&records::truncate(&self.table)).await?;
        self.truncated_at = Some(chrono::Utc::now());
        logs::info(&format!("{}: first load of this table by this state: a truncate before its first row marks deleted whatever the destination held of it and this load does not send (no key pass after it)", self.qualified));
        Ok(())
    }

    /// Marks deleted the destination's rows whose key the source no longer holds, as the SDK connector's
    /// `TableSync._reconcile` does: a TRUNCATE record (Fivetran marks the rows synced before it deleted), then every
    /// key the source holds as a key-only UPDATE (the row it finds is live again), read by a key-only scan
    /// (`Table::keys_only`; a table without a key sends whole rows, its key being their hash). No checkpoint comes
    /// between them: until the table's closing checkpoint Fivetran holds them uncommitted, and a sync that dies
    /// before it leaves nothing of them behind (the next sync does it again), so a live row is never marked deleted.
    pub(super) async fn reconcile(&mut self) -> Step<u64> {
        let keys_table = Arc::new(self.table.keys_only());
        let (plan, ranges) = self.connector.partitions(self.table.clone()).await?;
        self.out.drain(&self.connector.log).await?;
        let started = Instant::now();
        self.out.record(&records::truncate(&self.table)).await?;
        let workers = plan.workers.min(ranges.len()).max(1);
        let parts = ranges
            .into_iter()
            .enumerate()
            .map(|(index, range)| PartRead {
                index,
                range,
                after: None,
            })
            .collect();
        let read = Read {
            sizes: Sizes {
                batch_size: Some(plan.batch_size),
                workers: Some(workers),
                queue_depth: Some(plan.queue_depth),
            },
            ..Read::full(keys_table.clone(), parts)
        };
        let keys = self
            .pump(
                read,
                RecordMaker::new(&keys_table, true),
                Phase::Keys,
                u64::MAX,
            )
            .await?;
        let elapsed = started.elapsed().as_secs_f64().max(1e-9);
        logs::info(&format!(
            "{}: delete reconciliation read {keys} keys in {elapsed:.1}s ({:.0} keys/s); rows whose key is not among them are marked deleted",
            self.qualified,
            keys as f64 / elapsed
        ));
        Ok(keys)
    }
}
