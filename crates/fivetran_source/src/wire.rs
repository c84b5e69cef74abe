//! The protocol's bytes written by hand where prost would spend the most: a record's values straight from the
//! row's cells (no `Record`, no map of fresh `String` keys, no second pass to measure it), and `Encoded`, the
//! server's `UpdateResponse` (build.rs), which carries a response already encoded. Every byte is the one prost
//! writes for the same message: tested by decoding ours with prost and by comparing with prost's own encoding.

use crate::proto::UpdateResponse;
use crate::values::View;
use prost::bytes::{Buf, BufMut, Bytes};
use prost::encoding::{self, encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use prost::{DecodeError, Message};

/// An `UpdateResponse` as bytes on the wire.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Encoded(pub Bytes);

impl Encoded {
    /// A checkpoint, warning or task: prost encodes it.
    pub fn of(response: &UpdateResponse) -> Encoded {
        Encoded(response.encode_to_vec().into())
    }

    /// `UpdateResponse { records = 6: Records { records = 1: ... } }` around records already framed as Records'
    /// field 1 (`frame`).
    pub fn records(framed: &[u8]) -> Encoded {
        Encoded(length_delimited(6, framed).into())
    }

    /// `UpdateResponse { record = 1: Record }` around one record's bytes.
    pub fn record(record: &[u8]) -> Encoded {
        Encoded(length_delimited(1, record).into())
    }
}

fn length_delimited(tag: u32, body: &[u8]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(key_len(tag) + encoded_len_varint(body.len() as u64) + body.len());
    put_bytes(tag, body, &mut out);
    out
}

impl Message for Encoded {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }

    /// The server never decodes a response; for the trait's contract, a field read is merged as prost merges it.
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: encoding::DecodeContext,
    ) -> Result<(), DecodeError> {
        let mut message = UpdateResponse::decode(self.0.as_ref())?;
        message.merge_field(tag, wire_type, buf, ctx)?;
        *self = Encoded::of(&message);
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// A length-delimited field (string, bytes or message) of `body`.
pub fn put_bytes(tag: u32, body: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

fn bytes_len(tag: u32, body: &[u8]) -> usize {
    key_len(tag) + encoded_len_varint(body.len() as u64) + body.len()
}

/// Map entry field 1, the column's name, as prost writes a map key (nothing for the empty name, its default).
pub fn map_key(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    if !name.is_empty() {
        put_bytes(1, name.as_bytes(), &mut out);
    }
    out
}

/// One entry of `Record.data` (field 4): the key already encoded (`map_key`), then the value as field 2.
pub fn put_entry(key: &[u8], value: &View, out: &mut Vec<u8>) {
    let body = value_len(value);
    let field = key_len(2) + encoded_len_varint(body as u64) + body;
    encode_key(4, WireType::LengthDelimited, out);
    encode_varint((key.len() + field) as u64, out);
    out.extend_from_slice(key);
    encode_key(2, WireType::LengthDelimited, out);
    encode_varint(body as u64, out);
    put_value(value, out);
}

/// The bytes of a `ValueType` (its one `inner` field; a oneof field is written even when it holds its default).
fn value_len(value: &View) -> usize {
    match value {
        View::Null => encoding::bool::encoded_len(1, &true),
        View::Bool(b) => encoding::bool::encoded_len(2, b),
        View::Short(i) => encoding::int32::encoded_len(3, i),
        View::Int(i) => encoding::int32::encoded_len(4, i),
        View::Long(i) => encoding::int64::encoded_len(5, i),
        View::Float(f) => encoding::float::encoded_len(6, f),
        View::Double(d) => encoding::double::encoded_len(7, d),
        View::NaiveDate(t) => encoding::message::encoded_len(8, t),
        View::NaiveDatetime(t) => encoding::message::encoded_len(9, t),
        View::UtcDatetime(t) => encoding::message::encoded_len(10, t),
        View::Decimal(s) => bytes_len(11, s.as_bytes()),
        View::Binary(b) => bytes_len(12, b),
        View::String(s) => bytes_len(13, s.as_bytes()),
        View::Json(s) => bytes_len(14, s.as_bytes()),
        View::Xml(s) => bytes_len(15, s.as_bytes()),
    }
}

fn put_value(value: &View, out: &mut Vec<u8>) {
    match value {
        View::Null => encoding::bool::encode(1, &true, out),
        View::Bool(b) => encoding::bool::encode(2, b, out),
        View::Short(i) => encoding::int32::encode(3, i, out),
        View::Int(i) => encoding::int32::encode(4, i, out),
        View::Long(i) => encoding::int64::encode(5, i, out),
        View::Float(f) => encoding::float::encode(6, f, out),
        View::Double(d) => encoding::double::encode(7, d, out),
        View::NaiveDate(t) => encoding::message::encode(8, t, out),
        View::NaiveDatetime(t) => encoding::message::encode(9, t, out),
        View::UtcDatetime(t) => encoding::message::encode(10, t, out),
        View::Decimal(s) => put_bytes(11, s.as_bytes(), out),
        View::Binary(b) => put_bytes(12, b, out),
        View::String(s) => put_bytes(13, s.as_bytes(), out),
        View::Json(s) => put_bytes(14, s.as_bytes(), out),
        View::Xml(s) => put_bytes(15, s.as_bytes(), out),
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
