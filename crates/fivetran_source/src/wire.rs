//! The protocol's bytes written by hand where prost would spend the most: a record's values straight from the
//! row's cells (no `Record`, no map of fresh `String` keys, no second pass to measure it), and `Encoded`, the
//! server's `UpdateResponse` (build.rs), which carries a response already encoded. Every byte is the one prost
//! writes for the same message: tested by decoding ours with prost and by comparing with prost's own encoding.

use crate::proto::UpdateResponse;
use crate::values::View;
use prost::bytes::{Buf, BufMut, Bytes};
use prost::encoding::{self, encoded_len_varint, key_len, WireType};
use prost::{DecodeError, Message};

/// An `UpdateResponse` as bytes on the wire.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Encoded(pub Bytes);

impl Encoded {
    /// A checkpoint, warning or task: prost encodes it.
    pub fn of(response: &UpdateResponse) -> Encoded {
        Encoded(response.encode_to_vec().into())
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

/// A varint as prost writes it. Pushed byte by byte into the `Vec`: prost's own goes through `BufMut`, a
/// bounds-checked slice copy per byte, for every tag and length of every cell (a sixth of the server's time).
pub fn put_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A field's key (tag and wire type), as prost's `encode_key` writes it.
pub fn put_key(tag: u32, wire_type: WireType, out: &mut Vec<u8>) {
    put_varint(u64::from(tag << 3 | wire_type as u32), out);
}

/// A length-delimited field (string, bytes or message) of `body`.
pub fn put_bytes(tag: u32, body: &[u8], out: &mut Vec<u8>) {
    put_key(tag, WireType::LengthDelimited, out);
    put_varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

/// A varint field (bool, int32 sign-extended as prost does, int64).
fn put_int(tag: u32, value: u64, out: &mut Vec<u8>) {
    put_key(tag, WireType::Varint, out);
    put_varint(value, out);
}

/// A `google.protobuf.Timestamp` field: its length, then seconds and nanos where not zero (proto3 skips defaults).
fn put_timestamp(tag: u32, t: &prost_types::Timestamp, out: &mut Vec<u8>) {
    put_key(tag, WireType::LengthDelimited, out);
    put_varint(t.encoded_len() as u64, out);
    if t.seconds != 0 {
        put_int(1, t.seconds as u64, out);
    }
    if t.nanos != 0 {
        put_int(2, t.nanos as u64, out);
    }
}

fn bytes_len(tag: u32, body: &[u8]) -> usize {
    key_len(tag) + encoded_len_varint(body.len() as u64) + body.len()
}

/// Map entry field 1, the column's name, as prost writes a map key (nothing for the empty name, its default),
/// followed by the key of field 2 (the value, a message): the bytes every entry of the column starts with.
pub fn map_key(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    if !name.is_empty() {
        put_bytes(1, name.as_bytes(), &mut out);
    }
    put_key(2, WireType::LengthDelimited, &mut out);
    out
}

/// One entry of `Record.data` (field 4): the key and the value's field key already encoded (`map_key`), then the
/// value's length and bytes.
pub fn put_entry(key: &[u8], value: &View, out: &mut Vec<u8>) {
    let body = value_len(value);
    put_key(4, WireType::LengthDelimited, out);
    put_varint(
        (key.len() + encoded_len_varint(body as u64) + body) as u64,
        out,
    );
    out.extend_from_slice(key);
    put_varint(body as u64, out);
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
        View::Null => put_int(1, 1, out),
        View::Bool(b) => put_int(2, u64::from(*b), out),
        View::Short(i) => put_int(3, *i as u64, out),
        View::Int(i) => put_int(4, *i as u64, out),
        View::Long(i) => put_int(5, *i as u64, out),
        View::Float(f) => {
            put_key(6, WireType::ThirtyTwoBit, out);
            out.extend_from_slice(&f.to_le_bytes());
        }
        View::Double(d) => {
            put_key(7, WireType::SixtyFourBit, out);
            out.extend_from_slice(&d.to_le_bytes());
        }
        View::NaiveDate(t) => put_timestamp(8, t, out),
        View::NaiveDatetime(t) => put_timestamp(9, t, out),
        View::UtcDatetime(t) => put_timestamp(10, t, out),
        View::Decimal(s) => put_bytes(11, s.as_bytes(), out),
        View::Binary(b) => put_bytes(12, b, out),
        View::String(s) => put_bytes(13, s.as_bytes(), out),
        View::Json(s) => put_bytes(14, s.as_bytes(), out),
        View::Xml(s) => put_bytes(15, s.as_bytes(), out),
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
pub(crate) mod tests;
