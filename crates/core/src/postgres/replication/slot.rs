//! The slot and the publication, over an ordinary session: checked, created when this login may, and otherwise
//! one line with the SQL a DBA must run. The slot only moves when `advance` is given a position a checkpoint made
//! durable (the state the connector was handed back at the start of a sync).

use super::super::errors;
use super::super::sql::{qualified, quote_ident};
use crate::changes::{Lsn, SlotStatus};
use crate::config::Replication;
use crate::error::{Error, Result};
use crate::model::Table;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio_postgres::Client;

/// The oldest server whose pgoutput sends values in their binary form (`binary 'true'`), the form the full load's
/// decoders read: every value is converted by the same code, whichever way it came.
const MIN_VERSION: i32 = 140_000;

fn query_err(what: &str) -> impl Fn(tokio_postgres::Error) -> Error + '_ {
    move |e| errors::query(what, e)
}

fn dba(key: &str, what: &str, sql: String, e: tokio_postgres::Error) -> Error {
    let cause = errors::query(what, e).to_string();
    Error::config(key, format!("{cause}; a DBA can run: {sql}"))
}

async fn text(client: &Client, sql: &str) -> Result<String> {
    let row = client.query_one(sql, &[]).await.map_err(query_err(sql))?;
    Ok(row.get(0))
}

/// The server can decode its log for us: version and `wal_level` (also `update_method=auto`'s check, each sync
/// that keeps a cursor chosen before, for whether logical has become possible).
pub async fn check_server(client: &Client) -> Result<()> {
    let version: i32 = text(client, "SHOW server_version_num")
        .await?
        .parse()
        .unwrap_or(0);
    if version < MIN_VERSION {
        return Err(Error::config(
            "update_method",
            format!(
                "logical needs PostgreSQL 14 or later (its pgoutput sends binary values); this server is {}.{}: \
                 use update_method=cursor",
                version / 10_000,
                version % 10_000 / 100
            ),
        ));
    }
    let level = text(client, "SHOW wal_level").await?;
    if level != "logical" {
        return Err(Error::config(
            "update_method",
            format!(
                "logical needs wal_level = logical; the server has {level}. A DBA can run: ALTER SYSTEM SET \
                 wal_level = logical; then restart PostgreSQL"
            ),
        ));
    }
    Ok(())
}

/// The selected tables a publication may carry. A table without a primary key is left out, named: with the
/// default replica identity PostgreSQL would refuse its updates and deletes on the source once it is published,
/// and even with REPLICA IDENTITY FULL the destination's rows are named by a hash of the whole row. It stays on
/// the cursor/full path.
async fn eligible(
    client: &Client,
    tables: &[Arc<Table>],
) -> Result<(Vec<Arc<Table>>, Vec<(String, String, String)>)> {
    let oids: Vec<u32> = tables.iter().filter_map(|t| oid(t)).collect();
    let rows = client
        .query(
            "SELECT c.oid, c.relreplident::text, c.relkind::text FROM pg_class c WHERE c.oid = ANY($1)",
            &[&oids],
        )
        .await
        .map_err(query_err("reading the tables' replica identity"))?;
    let mut ok = Vec::new();
    let mut excluded = Vec::new();
    for t in tables {
        let row = rows.iter().find(|r| Some(r.get::<_, u32>(0)) == oid(t));
        let (identity, kind): (String, String) =
            row.map_or(("n".into(), "?".into()), |r| (r.get(1), r.get(2)));
        let why = match (kind.as_str(), identity.as_str()) {
            ("v" | "m", _) => Some("a view has no changes in the log".to_string()),
            _ if t.primary_key.is_empty() => Some(
                "it has no primary key: the destination names its rows by a hash of the whole row, which a change \
                 from the log cannot name reliably, so it stays on the full read every sync (add a primary key to \
                 have it replicated)"
                    .to_string(),
            ),
            (_, "n") => Some(format!(
                "its replica identity is NOTHING; a DBA can run ALTER TABLE {} REPLICA IDENTITY FULL;",
                qualified(t)
            )),
            _ => None,
        };
        match why {
            Some(why) => excluded.push((t.schema.clone(), t.name.clone(), why)),
            None => ok.push(t.clone()),
        }
    }
    Ok((ok, excluded))
}

pub fn oid(t: &Table) -> Option<u32> {
    t.identity.as_deref().and_then(|i| i.parse().ok())
}

fn table_list(tables: &[Arc<Table>]) -> String {
    tables
        .iter()
        .map(|t| qualified(t))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Makes the publication carry `tables`: created when missing; when the name is ours (derived), set to exactly
/// these tables; a publication the user named is used as it is, and selected tables it lacks are named.
async fn publication(
    client: &Client,
    r: &Replication,
    tables: &[Arc<Table>],
    excluded: &mut Vec<(String, String, String)>,
) -> Result<(Vec<Arc<Table>>, bool)> {
    let name = quote_ident(&r.publication);
    let create = format!(
        "CREATE PUBLICATION {name} FOR TABLE {} WITH (publish_via_partition_root = true);",
        table_list(tables)
    );
    let found = client
        .query(
            "SELECT p.oid, p.puballtables, p.pubviaroot FROM pg_publication p WHERE p.pubname = $1",
            &[&r.publication],
        )
        .await
        .map_err(query_err("reading the publication"))?;
    let Some(row) = found.first() else {
        if tables.is_empty() {
            return Ok((Vec::new(), false));
        }
        client
            .batch_execute(&create)
            .await
            .map_err(|e| dba("publication", "creating the publication", create.clone(), e))?;
        return Ok((tables.to_vec(), true));
    };
    let (pub_oid, all): (u32, bool) = (row.get(0), row.get(1));
    let published: BTreeSet<u32> = client
        .query(
            "SELECT prrelid FROM pg_publication_rel WHERE prpubid = $1",
            &[&pub_oid],
        )
        .await
        .map_err(query_err("reading the publication's tables"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if all {
        return Ok((tables.to_vec(), false));
    }
    let wanted: BTreeSet<u32> = tables.iter().filter_map(|t| oid(t)).collect();
    if !r.publication_given {
        if wanted != published && !tables.is_empty() {
            let set = format!("ALTER PUBLICATION {name} SET TABLE {};", table_list(tables));
            client.batch_execute(&set).await.map_err(|e| {
                dba(
                    "publication",
                    "changing the publication's tables",
                    set.clone(),
                    e,
                )
            })?;
        }
        return Ok((tables.to_vec(), false));
    }
    let (inside, outside): (Vec<_>, Vec<_>) = tables
        .iter()
        .cloned()
        .partition(|t| oid(t).is_some_and(|o| published.contains(&o)));
    for t in outside {
        excluded.push((
            t.schema.clone(),
            t.name.clone(),
            format!(
                "it is not in publication {}; a DBA can run ALTER PUBLICATION {name} ADD TABLE {};",
                r.publication,
                qualified(&t)
            ),
        ));
    }
    Ok((inside, false))
}

/// The slot as the server has it.
struct Found {
    plugin: String,
    database: String,
    confirmed: Option<Lsn>,
    lost: bool,
}

async fn find_slot(client: &Client, slot: &str) -> Result<Option<Found>> {
    let rows = client
        .query(
            "SELECT plugin::text, database::text, confirmed_flush_lsn::text, coalesce(wal_status, '') \
               FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await
        .map_err(query_err("reading the replication slot"))?;
    Ok(rows.first().map(|r| Found {
        plugin: r.get::<_, Option<String>>(0).unwrap_or_default(),
        database: r.get::<_, Option<String>>(1).unwrap_or_default(),
        confirmed: r
            .get::<_, Option<String>>(2)
            .as_deref()
            .and_then(Lsn::parse),
        lost: r.get::<_, String>(3) == "lost",
    }))
}

async fn create_slot(client: &Client, r: &Replication, user: &str) -> Result<Lsn> {
    let sql = "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')";
    let row = client.query_one(sql, &[&r.slot]).await.map_err(|e| {
        dba(
            "replication_slot",
            "creating the replication slot",
            format!("ALTER ROLE {} REPLICATION;", quote_ident(user)),
            e,
        )
    })?;
    Ok(Lsn::parse(row.get(0)).unwrap_or_default())
}

/// Moves the slot's confirmed position to `to` (never back: the server ignores an earlier one).
pub async fn advance(client: &Client, slot: &str, to: Lsn) -> Result<()> {
    client
        .query_one(
            "SELECT pg_replication_slot_advance($1, $2::text::pg_lsn)::text",
            &[&slot, &to.to_string()],
        )
        .await
        .map_err(query_err("advancing the replication slot"))?;
    Ok(())
}

/// Makes sure the publication and the slot exist, moves the slot to `after` (the position the state the
/// connector was handed back has made durable), and says where a catch-up read stands.
pub async fn open(
    client: &Client,
    r: &Replication,
    tables: &[Arc<Table>],
    after: Option<Lsn>,
) -> Result<(SlotStatus, Vec<Arc<Table>>)> {
    check_server(client).await?;
    let (ok, mut excluded) = eligible(client, tables).await?;
    let (published, made) = publication(client, r, &ok, &mut excluded).await?;
    let (database, user) = (
        text(client, "SELECT current_database()::text").await?,
        text(client, "SELECT current_user::text").await?,
    );
    let mut status = SlotStatus {
        slot: r.slot.clone(),
        publication: r.publication.clone(),
        excluded,
        ..SlotStatus::default()
    };
    let found = find_slot(client, &r.slot).await?;
    if let Some(f) = &found {
        if f.plugin != "pgoutput" || f.database != database {
            return Err(Error::config(
                "replication_slot",
                format!(
                    "slot {} exists for plugin {} on database {}, not pgoutput on {database}: it is another \
                     reader's; set replication_slot to a name of this connection's own",
                    r.slot, f.plugin, f.database
                ),
            ));
        }
    }
    status.gap = gap(&r.slot, found.as_ref(), after);
    // a slot the server invalidated cannot be read even without a checkpoint (a re-sync from an empty state)
    let recreate = found
        .as_ref()
        .is_some_and(|f| f.lost || status.gap.is_some());
    if recreate {
        client
            .query_one("SELECT pg_drop_replication_slot($1)::text", &[&r.slot])
            .await
            .map_err(query_err("dropping the invalidated replication slot"))?;
    }
    if found.is_none() || recreate {
        let created = create_slot(client, r, &user).await;
        if created.is_err() && made {
            // nothing of this connection's is left behind by a sync that could not start (update_method=auto then
            // syncs by cursor): the publication this call made goes with the slot it could not make
            let drop = format!("DROP PUBLICATION IF EXISTS {}", quote_ident(&r.publication));
            let _ = client.batch_execute(&drop).await;
        }
        status.confirmed = Some(created?);
        status.created = true;
    } else if let (Some(at), Some(f)) = (after, &found) {
        if f.confirmed.is_some_and(|c| c < at) {
            advance(client, &r.slot, at).await?;
        }
        status.confirmed = Some(f.confirmed.map_or(at, |c| c.max(at)));
    } else {
        status.confirmed = found.as_ref().and_then(|f| f.confirmed);
    }
    mark_restart_point(client).await?;
    status.upto = flushed_upto(client).await?;
    let row = client
        .query_one(
            "SELECT pg_wal_lsn_diff($2::text::pg_lsn, restart_lsn)::int8 FROM pg_replication_slots \
              WHERE slot_name = $1",
            &[&r.slot, &status.upto.to_string()],
        )
        .await
        .map_err(query_err("reading the slot's retained WAL"))?;
    status.retained_bytes = row.get(0);
    status.partitions = partitions(client, &published).await?;
    Ok((status, published))
}

/// The changes after the checkpoint `after` the slot no longer holds, said: dropped, invalidated by the server, or
/// moved past `after` by another reader. None without a checkpoint (every table is loaded in full then anyway).
fn gap(slot: &str, found: Option<&Found>, after: Option<Lsn>) -> Option<String> {
    let at = after?;
    let Some(f) = found else {
        return Some(format!(
            "slot {slot} no longer exists (dropped?); the changes after {at} are lost"
        ));
    };
    if f.lost {
        return Some(format!(
            "slot {slot} was invalidated by the server (wal_status lost: it retained more than \
             max_slot_wal_keep_size); the changes after {at} are lost"
        ));
    }
    let moved = f.confirmed.filter(|c| *c > at)?;
    Some(format!(
        "slot {slot} has moved to {moved} past this connection's checkpoint {at} (another reader of the slot?); \
         the changes between are lost to it"
    ))
}

/// Logs a record of the running transactions where the server has `pg_log_standby_snapshot` (16 and later) and
/// this login may run it. A slot's restart position (the oldest WAL it holds) only moves up to such a record, so
/// without one the next sync's advance moves the confirmed position but keeps the WAL of the last writes until the
/// background writer logs one (every 15 s while the server writes). Taken before `upto`, so the next sync's
/// advance to this sync's end passes it; where it is not allowed the retained WAL is still reported.
async fn mark_restart_point(client: &Client) -> Result<()> {
    let allowed: bool = client
        .query_one(
            "SELECT coalesce(has_function_privilege(p, 'EXECUTE'), false) \
               FROM to_regprocedure('pg_log_standby_snapshot()') p",
            &[],
        )
        .await
        .map_err(query_err("checking for pg_log_standby_snapshot"))?
        .get(0);
    if allowed {
        text(client, "SELECT pg_log_standby_snapshot()::text").await?;
    }
    Ok(())
}

/// How long a sync waits for the server to flush what was already written when it started.
const FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The log position a catch-up read goes up to: what the server had inserted into its log when the sync started, once it is
/// flushed (logical decoding reads flushed WAL only; with synchronous_commit = off a commit is visible before its
/// record is flushed, for up to three wal_writer_delay). Past `FLUSH_WAIT`, what is flushed by then.
async fn flushed_upto(client: &Client) -> Result<Lsn> {
    let written = Lsn::parse(&text(client, "SELECT pg_current_wal_insert_lsn()::text").await?)
        .unwrap_or_default();
    let started = std::time::Instant::now();
    loop {
        let flushed = Lsn::parse(&text(client, "SELECT pg_current_wal_flush_lsn()::text").await?)
            .unwrap_or_default();
        if flushed >= written || started.elapsed() > FLUSH_WAIT {
            return Ok(flushed.min(written));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Each partitioned table's partitions (every level), as sorted OIDs in text: the set changes with ATTACH and
/// DETACH PARTITION, which move rows without any change in the log.
async fn partitions(
    client: &Client,
    tables: &[Arc<Table>],
) -> Result<Vec<(String, String, String)>> {
    let oids: Vec<u32> = tables.iter().filter_map(|t| oid(t)).collect();
    let rows = client
        .query(
            "SELECT t.oid, (SELECT string_agg(p.relid::oid::text, ',' ORDER BY p.relid::oid) \
                              FROM pg_partition_tree(t.oid) p WHERE p.relid::oid <> t.oid) \
               FROM unnest($1::oid[]) t(oid) JOIN pg_class c ON c.oid = t.oid WHERE c.relkind = 'p'",
            &[&oids],
        )
        .await
        .map_err(query_err("reading the partitions"))?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let t = tables.iter().find(|t| oid(t) == Some(r.get::<_, u32>(0)))?;
            Some((
                t.schema.clone(),
                t.name.clone(),
                r.get::<_, Option<String>>(1).unwrap_or_default(),
            ))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(confirmed: &str, lost: bool) -> Found {
        Found {
            plugin: "pgoutput".into(),
            database: "db".into(),
            confirmed: Lsn::parse(confirmed),
            lost,
        }
    }

    #[test]
    fn a_gap_is_said_only_after_a_checkpoint_the_slot_no_longer_holds() {
        let at = Lsn::parse("0/2000");
        assert_eq!(
            gap("s", Some(&found("0/1000", false)), at),
            None,
            "behind: advanced"
        );
        assert_eq!(gap("s", Some(&found("0/2000", false)), at), None);
        assert_eq!(
            gap("s", None, None),
            None,
            "no checkpoint: everything is loaded"
        );
        assert_eq!(gap("s", Some(&found("0/1000", true)), None), None);
        let dropped = gap("s", None, at).unwrap_or_default();
        assert!(
            dropped.starts_with("slot s no longer exists") && dropped.contains("after 0/2000"),
            "{dropped}"
        );
        let lost = gap("s", Some(&found("0/1000", true)), at).unwrap_or_default();
        assert!(
            lost.contains("wal_status lost") && lost.contains("max_slot_wal_keep_size"),
            "{lost}"
        );
        let moved = gap("s", Some(&found("0/3000", false)), at).unwrap_or_default();
        assert!(
            moved.contains("moved to 0/3000 past this connection's checkpoint 0/2000"),
            "{moved}"
        );
    }
}
