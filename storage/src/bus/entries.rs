//! Stream entries straight out of Redis's reply values.
//!
//! The redis crate's typed stream replies (`StreamReadReply` and friends)
//! clone every field value into a `HashMap` per entry, and [`Delivered`]
//! then copied each one again into a `String`: three copies of every
//! event's JSON, for every consumer group, including the groups that only
//! acknowledge the event. The consumers' hot read ([`super::read_group`])
//! decodes the reply here instead, moving each value's bytes out once.
//! The rare reads (claims after a member died, ranges for `kukka events`)
//! keep the typed replies, which also drop the nil entries `XAUTOCLAIM`
//! returns for entries deleted while pending.

use redis::{ErrorKind, RedisError, Value};

use super::Delivered;
use crate::{outbox::StreamEvent, StorageError};

/// The entries of an `XREADGROUP` (or `XREAD`) reply: `Nil` when nothing
/// came, else the streams with their entries (an array of `[name,
/// entries]` pairs in RESP2, a map in RESP3).
pub(super) fn from_read_reply(reply: Value) -> Result<Vec<Delivered>, StorageError> {
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Array(pair) => two(pair),
                other => Err(unexpected("a [stream, entries] pair", &other)),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Value::Map(pairs) => pairs,
        other => return Err(unexpected("the streams read", &other)),
    };
    let mut out = Vec::new();
    for (name, entries) in streams {
        let stream = text(name).map_err(|v| unexpected("a stream name", &v))?;
        let entries = match entries {
            Value::Array(entries) => entries,
            Value::Nil => continue,
            other => return Err(unexpected("a stream's entries", &other)),
        };
        out.reserve(entries.len());
        for entry in entries {
            out.push(from_entry(&stream, entry)?);
        }
    }
    Ok(out)
}

/// One `[id, [field, value, ...]]` entry. The fields are `Nil` for an
/// entry deleted while pending: it becomes a [`Delivered`] whose event is
/// an error (and goes to the dead letters), as a missing field would.
fn from_entry(stream: &str, entry: Value) -> Result<Delivered, StorageError> {
    let Value::Array(parts) = entry else {
        return Err(unexpected("a stream entry", &entry));
    };
    let (id, fields) = two(parts)?;
    let entry_id = text(id).map_err(|v| unexpected("an entry id", &v))?;
    let (mut event_id, mut kind, mut data) = (None, None, None);
    let mut keep = |k: Value, v: Value| match &k {
        Value::BulkString(b) if b == b"id" => event_id = Some(v),
        Value::BulkString(b) if b == b"type" => kind = Some(v),
        Value::BulkString(b) if b == b"data" => data = Some(v),
        _ => {}
    };
    match fields {
        Value::Array(flat) => {
            let mut it = flat.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                keep(k, v);
            }
        }
        Value::Map(pairs) => pairs.into_iter().for_each(|(k, v)| keep(k, v)),
        _ => {}
    }
    let field = |name: &str, v: Option<Value>| match v {
        None => Err(format!("field {name} missing")),
        Some(v) => text(v).map_err(|_| format!("field {name} is not UTF-8 text")),
    };
    let event = (|| {
        Ok(StreamEvent {
            event_id: field("id", event_id)?,
            kind: field("type", kind)?,
            data: field("data", data)?,
            partition_key: String::new(),
        })
    })();
    Ok(Delivered {
        stream: stream.to_string(),
        entry_id,
        event,
        delivery_count: None,
    })
}

fn two(mut parts: Vec<Value>) -> Result<(Value, Value), StorageError> {
    if parts.len() != 2 {
        return Err(unexpected("a pair", &Value::Array(parts)));
    }
    let second = parts.pop().unwrap_or(Value::Nil);
    let first = parts.pop().unwrap_or(Value::Nil);
    Ok((first, second))
}

/// The value's text, its bytes moved rather than copied; the value back
/// if it is not text.
fn text(v: Value) -> Result<String, Value> {
    match v {
        Value::BulkString(b) => String::from_utf8(b).map_err(|e| Value::BulkString(e.into_bytes())),
        Value::SimpleString(s) => Ok(s),
        other => Err(other),
    }
}

fn unexpected(what: &'static str, got: &Value) -> StorageError {
    StorageError::Redis(RedisError::from((
        ErrorKind::UnexpectedReturnType,
        what,
        format!("{got:?}"),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn entry(id: &str, fields: &[(&str, &str)]) -> Value {
        let flat = fields
            .iter()
            .flat_map(|(k, v)| [bulk(k), bulk(v)])
            .collect();
        Value::Array(vec![bulk(id), Value::Array(flat)])
    }

    #[test]
    fn a_resp2_reply_gives_every_entry_of_every_stream_in_order() {
        let reply = Value::Array(vec![
            Value::Array(vec![
                bulk("s0"),
                Value::Array(vec![
                    entry(
                        "1-0",
                        &[("id", "e1"), ("type", "OrderPlaced"), ("data", "{}")],
                    ),
                    // Field order does not matter; unknown fields are skipped.
                    entry(
                        "2-0",
                        &[
                            ("data", "{\"a\":1}"),
                            ("x", "y"),
                            ("type", "T"),
                            ("id", "e2"),
                        ],
                    ),
                ]),
            ]),
            Value::Array(vec![
                bulk("s1"),
                Value::Array(vec![entry(
                    "3-0",
                    &[("id", "e3"), ("type", "T"), ("data", "d")],
                )]),
            ]),
        ]);
        let got = from_read_reply(reply).expect("decoded");
        let seen: Vec<_> = got
            .iter()
            .map(|d| {
                let e = d.event.as_ref().expect("an event");
                (
                    d.stream.as_str(),
                    d.entry_id.as_str(),
                    e.event_id.as_str(),
                    e.kind.as_str(),
                    e.data.as_str(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("s0", "1-0", "e1", "OrderPlaced", "{}"),
                ("s0", "2-0", "e2", "T", "{\"a\":1}"),
                ("s1", "3-0", "e3", "T", "d"),
            ]
        );
    }

    #[test]
    fn a_resp3_map_reply_and_a_nil_reply_are_read_too() {
        let fields = Value::Map(vec![
            (bulk("id"), bulk("e1")),
            (bulk("type"), bulk("T")),
            (bulk("data"), bulk("d")),
        ]);
        let reply = Value::Map(vec![(
            bulk("s0"),
            Value::Array(vec![Value::Array(vec![bulk("1-0"), fields])]),
        )]);
        let got = from_read_reply(reply).expect("decoded");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].event.as_ref().map(|e| e.data.as_str()), Ok("d"));
        assert!(from_read_reply(Value::Nil).expect("nothing").is_empty());
    }

    #[test]
    fn a_deleted_or_incomplete_entry_is_an_event_error_and_a_bad_shape_a_redis_error() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("s0"),
            Value::Array(vec![
                Value::Array(vec![bulk("1-0"), Value::Nil]),
                entry("2-0", &[("id", "e2"), ("type", "T")]),
                Value::Array(vec![
                    bulk("3-0"),
                    Value::Array(vec![
                        bulk("id"),
                        bulk("e3"),
                        bulk("type"),
                        bulk("T"),
                        bulk("data"),
                        Value::BulkString(vec![0xff]),
                    ]),
                ]),
            ]),
        ])]);
        let got = from_read_reply(reply).expect("decoded");
        let errors: Vec<_> = got
            .iter()
            .map(|d| (d.entry_id.as_str(), d.event.clone().err()))
            .collect();
        assert_eq!(
            errors,
            [
                ("1-0", Some("field id missing".to_string())),
                ("2-0", Some("field data missing".to_string())),
                ("3-0", Some("field data is not UTF-8 text".to_string())),
            ]
        );
        assert!(matches!(
            from_read_reply(Value::Int(3)),
            Err(StorageError::Redis(_))
        ));
        assert!(matches!(
            from_read_reply(Value::Array(vec![Value::Array(vec![bulk("s0")])])),
            Err(StorageError::Redis(_))
        ));
    }
}
