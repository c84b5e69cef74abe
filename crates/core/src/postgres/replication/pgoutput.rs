//! The pgoutput logical decoding format, protocol version 1 (PostgreSQL's "Logical Streaming Replication
//! Protocol", message formats): one message per row of `pg_logical_slot_peek_binary_changes`. Only what a
//! catch-up read uses is kept; values stay raw bytes until the stream converts them with the column's decoder.

use crate::changes::Lsn;

/// A tuple's column as pgoutput sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Null,
    /// A TOASTed value the change did not touch: not sent, and not NULL.
    Unchanged,
    Text(&'a [u8]),
    Binary(&'a [u8]),
}

/// A column of a Relation message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelColumn {
    pub name: String,
    pub type_oid: u32,
    /// Part of the replica identity (the key a delete or update names the row by).
    pub key: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub id: u32,
    pub namespace: String,
    pub name: String,
    /// `relreplident`: d default (primary key), n nothing, f full, i index.
    pub identity: u8,
    pub columns: Vec<RelColumn>,
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// `final_lsn` is where the transaction's commit record starts.
    Begin {
        final_lsn: Lsn,
        xid: u32,
    },
    /// `end_lsn` is where its commit record ends: the position a reader has consumed once it has the commit.
    Commit {
        end_lsn: Lsn,
    },
    Relation(Relation),
    Insert {
        rel: u32,
        new: Vec<Value<'a>>,
    },
    /// `old` is the replica identity's columns ('K') or the whole old row ('O', REPLICA IDENTITY FULL), sent when
    /// the key changed or the identity is full.
    Update {
        rel: u32,
        old: Option<Vec<Value<'a>>>,
        new: Vec<Value<'a>>,
    },
    Delete {
        rel: u32,
        old: Vec<Value<'a>>,
    },
    Truncate {
        rels: Vec<u32>,
    },
    /// Origin, Type and logical decoding Message: nothing for the destination.
    Other,
}

/// Reads big-endian fields off the front of a message.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.rest.len() < n {
            return Err(format!(
                "message truncated ({} bytes left, {n} needed)",
                self.rest.len()
            ));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_be_bytes(
            self.take(2)?.try_into().unwrap_or_default(),
        ))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().unwrap_or_default(),
        ))
    }
    fn string(&mut self) -> Result<String, String> {
        let end = self
            .rest
            .iter()
            .position(|b| *b == 0)
            .ok_or("unterminated string")?;
        let text = String::from_utf8_lossy(&self.rest[..end]).into_owned();
        self.rest = &self.rest[end + 1..];
        Ok(text)
    }

    fn tuple(&mut self) -> Result<Vec<Value<'a>>, String> {
        let n = self.u16()? as usize;
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            values.push(match self.u8()? {
                b'n' => Value::Null,
                b'u' => Value::Unchanged,
                kind @ (b't' | b'b') => {
                    let len = self.u32()? as usize;
                    let bytes = self.take(len)?;
                    if kind == b't' {
                        Value::Text(bytes)
                    } else {
                        Value::Binary(bytes)
                    }
                }
                other => return Err(format!("unknown tuple column kind {:?}", other as char)),
            });
        }
        Ok(values)
    }

    /// 'N' then a tuple.
    fn new_tuple(&mut self) -> Result<Vec<Value<'a>>, String> {
        match self.u8()? {
            b'N' => self.tuple(),
            other => Err(format!("expected a new tuple, got {:?}", other as char)),
        }
    }
}

/// Decodes one pgoutput message.
pub fn decode(data: &[u8]) -> Result<Message<'_>, String> {
    let mut r = Reader { rest: data };
    Ok(match r.u8()? {
        b'B' => {
            let final_lsn = Lsn(r.u64()?);
            let _commit_time = r.u64()?;
            Message::Begin {
                final_lsn,
                xid: r.u32()?,
            }
        }
        b'C' => {
            let (_flags, _commit_lsn) = (r.u8()?, r.u64()?);
            Message::Commit {
                end_lsn: Lsn(r.u64()?),
            }
        }
        b'R' => Message::Relation(relation(&mut r)?),
        b'I' => {
            let rel = r.u32()?;
            Message::Insert {
                rel,
                new: r.new_tuple()?,
            }
        }
        b'U' => {
            let rel = r.u32()?;
            let (old, new) = match r.u8()? {
                b'K' | b'O' => (Some(r.tuple()?), r.new_tuple()?),
                b'N' => (None, r.tuple()?),
                other => return Err(format!("unexpected update tuple {:?}", other as char)),
            };
            Message::Update { rel, old, new }
        }
        b'D' => {
            let rel = r.u32()?;
            match r.u8()? {
                b'K' | b'O' => Message::Delete {
                    rel,
                    old: r.tuple()?,
                },
                other => return Err(format!("unexpected delete tuple {:?}", other as char)),
            }
        }
        b'T' => {
            let n = r.u32()? as usize;
            let _options = r.u8()?;
            let rels = (0..n).map(|_| r.u32()).collect::<Result<_, _>>()?;
            Message::Truncate { rels }
        }
        b'O' | b'Y' | b'M' => Message::Other,
        other => return Err(format!("unknown pgoutput message {:?}", other as char)),
    })
}

fn relation(r: &mut Reader<'_>) -> Result<Relation, String> {
    let id = r.u32()?;
    let (namespace, name) = (r.string()?, r.string()?);
    let identity = r.u8()?;
    let n = r.u16()? as usize;
    let mut columns = Vec::with_capacity(n);
    for _ in 0..n {
        let flags = r.u8()?;
        let name = r.string()?;
        let type_oid = r.u32()?;
        let _typmod = r.u32()?;
        columns.push(RelColumn {
            name,
            type_oid,
            key: flags & 1 == 1,
        });
    }
    Ok(Relation {
        id,
        namespace,
        name,
        identity,
        columns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn begin_and_commit_carry_their_positions() {
        let begin = be(&[
            b"B",
            &0x10u64.to_be_bytes(),
            &0u64.to_be_bytes(),
            &7u32.to_be_bytes(),
        ]);
        assert_eq!(
            decode(&begin).unwrap(),
            Message::Begin {
                final_lsn: Lsn(0x10),
                xid: 7
            }
        );
        let commit = be(&[
            b"C",
            &[0],
            &0x10u64.to_be_bytes(),
            &0x28u64.to_be_bytes(),
            &0u64.to_be_bytes(),
        ]);
        assert_eq!(
            decode(&commit).unwrap(),
            Message::Commit { end_lsn: Lsn(0x28) }
        );
    }

    #[test]
    fn relations_and_tuples_of_every_kind() {
        let rel = be(&[
            b"R",
            &42u32.to_be_bytes(),
            b"public\0",
            b"t\0",
            b"d",
            &2u16.to_be_bytes(),
            &[1],
            b"id\0",
            &23u32.to_be_bytes(),
            &(-1i32).to_be_bytes(),
            &[0],
            b"body\0",
            &25u32.to_be_bytes(),
            &(-1i32).to_be_bytes(),
        ]);
        let Message::Relation(r) = decode(&rel).unwrap() else {
            panic!("not a relation")
        };
        assert_eq!(
            (r.id, r.namespace.as_str(), r.name.as_str(), r.identity),
            (42, "public", "t", b'd')
        );
        assert_eq!(
            r.columns[0],
            RelColumn {
                name: "id".into(),
                type_oid: 23,
                key: true
            }
        );
        assert!(!r.columns[1].key);
        // An update whose key changed: the old key, then the new row with an unchanged TOASTed value.
        let update = be(&[
            b"U",
            &42u32.to_be_bytes(),
            b"K",
            &2u16.to_be_bytes(),
            b"b",
            &4u32.to_be_bytes(),
            &1i32.to_be_bytes(),
            b"n",
            b"N",
            &2u16.to_be_bytes(),
            b"b",
            &4u32.to_be_bytes(),
            &2i32.to_be_bytes(),
            b"u",
        ]);
        let Message::Update { rel, old, new } = decode(&update).unwrap() else {
            panic!("not an update")
        };
        assert_eq!(rel, 42);
        assert_eq!(
            old.unwrap(),
            vec![Value::Binary(&[0, 0, 0, 1]), Value::Null]
        );
        assert_eq!(new, vec![Value::Binary(&[0, 0, 0, 2]), Value::Unchanged]);
        let truncate = be(&[
            b"T",
            &2u32.to_be_bytes(),
            &[0],
            &42u32.to_be_bytes(),
            &43u32.to_be_bytes(),
        ]);
        assert_eq!(
            decode(&truncate).unwrap(),
            Message::Truncate { rels: vec![42, 43] }
        );
    }

    #[test]
    fn damaged_messages_are_errors_not_panics() {
        assert!(decode(b"").is_err());
        assert!(decode(b"I\0\0\0\x2aN\0\x01t\0\0\0\x09ab")
            .unwrap_err()
            .contains("truncated"));
        assert!(decode(b"Z").unwrap_err().contains("unknown"));
        assert!(decode(b"R\0\0\0\x01public")
            .unwrap_err()
            .contains("unterminated"));
    }
}
