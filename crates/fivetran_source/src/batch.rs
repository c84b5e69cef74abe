//! Records grouped as Fivetran takes them: `Records` batches of at most 100 records and about 100 KiB of encoded
//! records; a record bigger than that alone, as `record`. Flushed before every checkpoint, warning or task. The
//! records come encoded (`crate::records`), so a batch is their bytes, framed as `Records` frames them.

use crate::wire::{put_key, put_varint, Encoded};
use prost::bytes::Bytes;
use prost::encoding::{encoded_len_varint, WireType};

/// The Partner SDK's limit on records per batch (enforced by Fivetran's side).
pub const MAX_RECORDS: usize = 100;
/// Encoded bytes of a batch's records, as Fivetran's example measures them (`Records(...).ByteSize()`).
pub const MAX_BYTES: usize = 100 * 1024;

/// Room left before a batch's records for the `UpdateResponse` around them: field 6's key (1 byte) and its length
/// (at most 3 bytes: a batch's records stay under 100 KiB, each one under it), written there when the batch is
/// sent, so a batch is never copied to be framed.
const HEAD: usize = 4;

#[derive(Default)]
pub struct Batcher {
    /// `HEAD` bytes of room, then the records so far, each as field 1 of `Records`: exactly `Records { records }`
    /// encoded.
    framed: Vec<u8>,
    count: usize,
    /// The last batch's length: the next one's buffer is made that size.
    last: usize,
}

impl Batcher {
    /// Adds one record's bytes; returns what must be sent first: the batch it would overflow, and the record
    /// itself when it is too big for any batch.
    pub fn push(&mut self, record: &[u8]) -> Vec<Encoded> {
        // A repeated message field costs its tag (1 byte) and a varint length besides the record.
        let framed = 1 + encoded_len_varint(record.len() as u64) + record.len();
        let mut out = Vec::new();
        if framed > MAX_BYTES {
            out.extend(self.flush());
            out.push(Encoded::record(record));
            return out;
        }
        if self.count == MAX_RECORDS || self.bytes() + framed > MAX_BYTES {
            out.extend(self.flush());
        }
        if self.framed.is_empty() {
            self.framed.reserve(self.last.max(HEAD + framed));
            self.framed.resize(HEAD, 0);
        }
        put_key(1, WireType::LengthDelimited, &mut self.framed);
        put_varint(record.len() as u64, &mut self.framed);
        self.framed.extend_from_slice(record);
        self.count += 1;
        if self.count == MAX_RECORDS {
            out.extend(self.flush());
        }
        out
    }

    /// The encoded bytes of the records so far.
    fn bytes(&self) -> usize {
        self.framed.len().saturating_sub(HEAD)
    }

    /// The batch so far, if any: `UpdateResponse { records = 6: ... }` written into the room before it.
    pub fn flush(&mut self) -> Option<Encoded> {
        if self.count == 0 {
            return None;
        }
        let mut head = Vec::with_capacity(HEAD);
        put_key(6, WireType::LengthDelimited, &mut head);
        put_varint(self.bytes() as u64, &mut head);
        let start = HEAD - head.len();
        self.framed[start..HEAD].copy_from_slice(&head);
        self.last = self.framed.len();
        self.count = 0;
        let batch = Bytes::from(std::mem::take(&mut self.framed)).slice(start..);
        Some(Encoded(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::update_response::Operation;
    use crate::proto::value_type::Inner;
    use crate::proto::{Record, UpdateResponse, ValueType};
    use prost::Message;

    fn record(text_bytes: usize) -> Vec<u8> {
        let value = ValueType {
            inner: Some(Inner::String("x".repeat(text_bytes))),
        };
        Record {
            table_name: "t".into(),
            data: [("c".to_string(), value)].into_iter().collect(),
            ..Record::default()
        }
        .encode_to_vec()
    }

    /// (records, encoded bytes) of each response, decoded as a client decodes it.
    fn sizes(out: &[Encoded]) -> Vec<(usize, usize)> {
        out.iter()
            .map(|e| {
                let r = UpdateResponse::decode(e.0.as_ref()).expect("a response prost decodes");
                assert_eq!(
                    r.encode_to_vec(),
                    e.0.as_ref(),
                    "prost writes the same bytes"
                );
                match &r.operation {
                    Some(Operation::Records(b)) => (b.records.len(), r.encoded_len()),
                    Some(Operation::Record(_)) => (1, usize::MAX),
                    _ => (0, 0),
                }
            })
            .collect()
    }

    #[test]
    fn batches_hold_at_most_100_records_and_100_kib() {
        let mut b = Batcher::default();
        let mut sent: Vec<Encoded> = (0..250).flat_map(|_| b.push(&record(10))).collect();
        sent.extend(b.flush());
        assert_eq!(
            sizes(&sent).iter().map(|s| s.0).collect::<Vec<_>>(),
            [100, 100, 50]
        );
        let mut b = Batcher::default();
        let mut sent: Vec<Encoded> = (0..10).flat_map(|_| b.push(&record(30_000))).collect();
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
        assert!(b.push(&record(10)).is_empty());
        let out = b.push(&record(200_000));
        assert_eq!(sizes(&out), [(1, sizes(&out)[0].1), (1, usize::MAX)]);
        let kinds: Vec<_> = out
            .iter()
            .map(|e| UpdateResponse::decode(e.0.as_ref()).map(|r| r.operation))
            .collect();
        assert!(matches!(kinds[0], Ok(Some(Operation::Records(_)))));
        assert!(matches!(kinds[1], Ok(Some(Operation::Record(_)))));
        assert!(b.flush().is_none());
    }
}
