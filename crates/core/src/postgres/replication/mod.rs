//! Change data capture from PostgreSQL's logical replication (pgoutput), over the source's ordinary sessions:
//! `slot.rs` (the slot and the publication: checked, created, advanced), `stream.rs` (a catch-up read through
//! `pg_logical_slot_peek_binary_changes`), `resume.rs` (its transient failures retried in place, from what
//! was handed over), `pgoutput.rs` (the message format), `tables.rs` (relations of the log
//! -> selected tables and column conversions), `convert.rs` (values the server converts with the full load's
//! expressions).
//!
//! Why the SQL functions and not the streaming replication protocol: one kind of session (TLS, sslmode, auth,
//! error mapping and retries apply unchanged), acknowledgement is an explicit `pg_replication_slot_advance`, and
//! no second wire client. The cost: each peek decodes again from the slot's restart position.

mod convert;
pub mod pgoutput;
mod resume;
pub mod slot;
mod stream;
mod tables;

pub use stream::run;
