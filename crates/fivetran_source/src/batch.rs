//! Records grouped as Fivetran takes them: `Records` batches of at most 100 records and about 100 KiB of encoded
//! records; a record bigger than that alone, as `record`. Flushed before every checkpoint, warning or task.

use crate::proto::update_response::Operation;
use crate::proto::{Record, Records, UpdateResponse};
use prost::Message;

/// The Partner SDK's limit on records per batch (enforced by Fivetran's side).
pub const MAX_RECORDS: usize = 100;
/// Encoded bytes of a batch's records, as Fivetran's example measures them (`Records(...).ByteSize()`).
pub const MAX_BYTES: usize = 100 * 1024;

#[derive(Default)]
pub struct Batcher {
    records: Vec<Record>,
    /// The encoded size of `Records { records }` so far.
    bytes: usize,
}

impl Batcher {
    /// Adds `record`; returns what must be sent first: the batch it would overflow, and the record itself when it
    /// is too big for any batch.
    pub fn push(&mut self, record: Record) -> Vec<UpdateResponse> {
        let size = record.encoded_len();
        // A repeated message field costs its tag (1 byte) and a varint length besides the record.
        let framed = 1 + prost::length_delimiter_len(size) + size;
        let mut out = Vec::new();
        if framed > MAX_BYTES {
            out.extend(self.flush());
            out.push(UpdateResponse {
                operation: Some(Operation::Record(record)),
            });
            return out;
        }
        if self.records.len() == MAX_RECORDS || self.bytes + framed > MAX_BYTES {
            out.extend(self.flush());
        }
        self.bytes += framed;
        self.records.push(record);
        if self.records.len() == MAX_RECORDS {
            out.extend(self.flush());
        }
        out
    }

    /// The batch so far, if any.
    pub fn flush(&mut self) -> Option<UpdateResponse> {
        if self.records.is_empty() {
            return None;
        }
        self.bytes = 0;
        Some(UpdateResponse {
            operation: Some(Operation::Records(Records {
                records: std::mem::take(&mut self.records),
            })),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::value_type::Inner;
    use crate::proto::ValueType;

    fn record(text_bytes: usize) -> Record {
        let value = ValueType {
            inner: Some(Inner::String("x".repeat(text_bytes))),
        };
        Record {
            table_name: "t".into(),
            data: [("c".to_string(), value)].into_iter().collect(),
            ..Record::default()
        }
    }

    fn sizes(out: &[UpdateResponse]) -> Vec<(usize, usize)> {
        out.iter()
            .map(|r| match &r.operation {
                Some(Operation::Records(b)) => (b.records.len(), r.encoded_len()),
                Some(Operation::Record(_)) => (1, usize::MAX),
                _ => (0, 0),
            })
            .collect()
    }

    #[test]
    fn batches_hold_at_most_100_records_and_100_kib() {
        let mut b = Batcher::default();
        let mut sent: Vec<UpdateResponse> = (0..250).flat_map(|_| b.push(record(10))).collect();
        sent.extend(b.flush());
        assert_eq!(
            sizes(&sent).iter().map(|s| s.0).collect::<Vec<_>>(),
            [100, 100, 50]
        );
        let mut b = Batcher::default();
        let mut sent: Vec<UpdateResponse> = (0..10).flat_map(|_| b.push(record(30_000))).collect();
        sent.extend(b.flush());
        let batches = sizes(&sent);
        assert_eq!(batches.iter().map(|s| s.0).sum::<usize>(), 10);
        for (_, bytes) in &batches {
            // The batch's records stay within the limit; the response adds its own few bytes of framing.
            assert!(*bytes <= MAX_BYTES + 8, "{batches:?}");
        }
        assert_eq!(
            batches[0].0, 3,
            "three 30 KB records fit in 100 KiB, a fourth does not"
        );
    }

    #[test]
    fn a_record_too_big_for_a_batch_goes_alone_after_the_batch_before_it() {
        let mut b = Batcher::default();
        assert!(b.push(record(10)).is_empty());
        let out = b.push(record(200_000));
        assert_eq!(sizes(&out), [(1, sizes(&out)[0].1), (1, usize::MAX)]);
        assert!(matches!(out[0].operation, Some(Operation::Records(_))));
        assert!(matches!(out[1].operation, Some(Operation::Record(_))));
        assert!(b.flush().is_none());
    }
}
