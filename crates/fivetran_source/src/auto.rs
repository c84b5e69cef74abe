//! `update_method=auto` in the Partner SDK server: the core's `catchup::auto_*` (which the SDK connector's
//! `connector_accel/auto.py` calls through the binding), decided once per connection and kept in the state.
//! The first sync whose state holds no decision opens the replication exactly as `update_method=logical` does at
//! its start; success makes the connection logical (and the catch-up goes on from that status, so the slot is
//! opened once), a failed check makes it cursor with one warning giving the reason and the fix. Later syncs keep
//! the decision: a logical one fails loudly where logical is no longer possible, a cursor one warns when the server
//! now decodes its log (the switch reloads every table: the user's call).

use super::{Out, Step};
use crate::logs;
use crate::state;
use connector_accel_core::catchup::{self, AutoStart, AUTO_KEY};
use connector_accel_core::changes::SlotStatus;
use connector_accel_core::connector::Connector;
use connector_accel_core::error::Error;
use connector_accel_core::model::Table;
use serde_json::{Map, Value};
use std::sync::Arc;

/// What opening the replication returned: the slot's status and the tables the publication carries.
pub(super) type Opened = (SlotStatus, Vec<Arc<Table>>);

/// Whether this sync reads the log, and, when the decision was made now by opening the slot, what that returned.
pub(super) async fn method(
    connector: &Connector,
    state: &mut Map<String, Value>,
    out: &mut Out,
) -> Step<(bool, Option<Opened>)> {
    let slot = &connector.config.replication.slot;
    let has_position = state::replication_position(state, slot).is_some();
    let kind = connector.config.connection.kind();
    match catchup::auto_start(state.get(AUTO_KEY), has_position, slot, kind) {
        AutoStart::Kept { logical, recheck } => {
            let now_possible = recheck && logical_possible(connector).await?;
            say(catchup::kept_line(&state[AUTO_KEY], now_possible), out).await?;
            Ok((logical, None))
        }
        AutoStart::Decided { logical, why } => {
            decide(state, logical, &why, out).await?;
            Ok((logical, None))
        }
        AutoStart::Open => {
            let outcome = connector.open_replication(None).await;
            out.drain(&connector.log).await?;
            let (opened, why) = catchup::auto_opened(outcome)?;
            let logical = opened.is_some();
            decide(state, logical, &why, out).await?;
            Ok((logical, opened))
        }
    }
}

/// A kept cursor's check: whether the server now decodes its log (a refusal is the ordinary answer, not a failure).
async fn logical_possible(connector: &Connector) -> Step<bool> {
    match connector.source.check_logical().await {
        Ok(()) => Ok(true),
        Err(Error::Config { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The decision made now, into the state (the next checkpoint makes it durable) and said.
async fn decide(state: &mut Map<String, Value>, logical: bool, why: &str, out: &mut Out) -> Step {
    let record = catchup::auto_record(logical, why, chrono::Utc::now());
    state.insert(AUTO_KEY.into(), record);
    say(catchup::decided_line(logical, why), out).await
}

async fn say((warn, line): (bool, String), out: &mut Out) -> Step {
    if warn {
        return out.warn(line).await;
    }
    logs::info(&line);
    Ok(())
}
