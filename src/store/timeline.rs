//! A call's timeline in its own `calls` row (schema v6): `calls.timeline`, one JSON array whose
//! element `i` is the entry at position `i`, `[at_ms, time, event]` or `[at_ms, time, event,
//! detail]`:
//!
//! - `at_ms`: simulated ms after the call's `accepted_ms`;
//! - `time`: ms after the call's `accepted_at` (Unix ms), or a text kept as it was (a time v5
//!   could not read);
//! - `event`: its code (`timeline_event_names`);
//! - `detail`: the id of its text in `timeline_details`, or the text.
//!
//! A position no write reached (one whose write failed) is `null`, and no reader shows it.
//!
//! Why not a row per entry (v5): each of the nine entries of a call was an insert into a B-tree
//! of its own, and each commit wrote that B-tree's last page again. The writer now gathers a
//! transaction's entries by call and writes each call's with one update of its row
//! ([`Pending`]), the row its end is written to anyway. Entries still reach the database as they
//! happen (recovery reads an unfinished call's timeline), each in the transaction it came in.

use std::collections::HashMap;

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{params, Connection};
use serde_json::Value as Json;

use super::StoreError;

/// One entry to write, with absolute times (the update makes them relative to its call's).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    pub(super) idx: u32,
    pub(super) at_ms: u64,
    /// Unix ms.
    pub(super) time_ms: i64,
    pub(super) event: i64,
    /// An id in `timeline_details`, or the text.
    pub(super) detail: Option<Value>,
}

impl Entry {
    /// Appends `[idx, at_ms, time_ms, event(, detail)]`, as [`set_entries`] reads it.
    fn write_json(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = write!(
            out,
            "[{},{},{},{}",
            self.idx, self.at_ms, self.time_ms, self.event
        );
        match &self.detail {
            Some(Value::Integer(id)) => {
                let _ = write!(out, ",{id}");
            }
            Some(Value::Text(t)) => {
                out.push(',');
                out.push_str(&Json::from(t.as_str()).to_string());
            }
            _ => {}
        }
        out.push(']');
    }
}

/// Writes `entries` (in order) into the timeline of call `session_id` (by its `seq` when the
/// writer knows it: the primary key rather than the session id's index); `false` when there is
/// no such call.
pub(super) fn write(
    conn: &Connection,
    session_id: &str,
    seq: Option<i64>,
    entries: &[Entry],
) -> Result<bool, StoreError> {
    let mut new = String::with_capacity(24 * entries.len() + 2);
    new.push('[');
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            new.push(',');
        }
        e.write_json(&mut new);
    }
    new.push(']');
    let n = match seq {
        Some(seq) => conn
            .prepare_cached(
                "UPDATE calls SET timeline = dialtone_timeline_set(timeline, accepted_ms,
                     coalesce(unixepoch(accepted_at) * 1000, 0), ?2)
                 WHERE seq = ?1",
            )?
            .execute(params![seq, new])?,
        None => conn
            .prepare_cached(
                "UPDATE calls SET timeline = dialtone_timeline_set(timeline, accepted_ms,
                     coalesce(unixepoch(accepted_at) * 1000, 0), ?2)
                 WHERE session_id = ?1",
            )?
            .execute(params![session_id, new])?,
    };
    Ok(n == 1)
}

/// The entries the writer holds for its open transaction, by call, in the order they came.
#[derive(Debug, Default)]
pub(super) struct Pending {
    calls: Vec<(String, Vec<Entry>)>,
    index: HashMap<String, usize>,
}

impl Pending {
    pub(super) fn push(&mut self, session_id: &str, entry: Entry) {
        let i = match self.index.get(session_id) {
            Some(i) => *i,
            None => {
                self.calls.push((session_id.to_owned(), Vec::new()));
                self.index
                    .insert(session_id.to_owned(), self.calls.len() - 1);
                self.calls.len() - 1
            }
        };
        self.calls[i].1.push(entry);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Every call's entries, emptying the set.
    pub(super) fn take(&mut self) -> Vec<(String, Vec<Entry>)> {
        self.index.clear();
        std::mem::take(&mut self.calls)
    }
}

/// SQL expressions of an entry, for a query that names the call `c` and `json_each(c.timeline)`
/// `j` (and keeps `j.type = 'array'`: not a position no write reached).
pub(super) const AT_MS_SQL: &str = "c.accepted_ms + (j.value ->> 0)";
/// Unix ms (or the text kept as it was).
pub(super) const TIME_SQL: &str = "CASE WHEN typeof(j.value ->> 1) = 'integer'
     THEN coalesce(unixepoch(c.accepted_at) * 1000, 0) + (j.value ->> 1) ELSE j.value ->> 1 END";
pub(super) const EVENT_SQL: &str = "(j.value ->> 2)";
pub(super) const DETAIL_SQL: &str = "(j.value ->> 3)";

/// `dialtone_timeline_set(timeline, accepted_ms, accepted_unix_ms, entries)`: the timeline with
/// each of `entries` (`[[idx, at_ms, time_ms, event(, detail)], …]`, absolute) set at its
/// position, made relative to the call; positions skipped on the way are `null`.
pub(super) fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "dialtone_timeline_set",
        4,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| set_entries(ctx).map_err(|e| rusqlite::Error::UserFunctionError(e.into())),
    )
}

fn set_entries(ctx: &Context<'_>) -> Result<String, String> {
    let accepted_ms: i64 = ctx.get(1).map_err(|e| e.to_string())?;
    let accepted_unix_ms: i64 = ctx.get(2).map_err(|e| e.to_string())?;
    let entries: Vec<EntryIn> = match ctx.get_raw(3) {
        ValueRef::Text(t) => serde_json::from_slice(t).map_err(|e| format!("entries: {e}"))?,
        _ => return Err("entries: not JSON text".into()),
    };
    let stored = entries
        .iter()
        .map(|e| e.stored(accepted_ms, accepted_unix_ms))
        .collect::<Result<Vec<_>, _>>()?;
    match ctx.get_raw(0) {
        ValueRef::Null => set(Vec::new(), &stored),
        ValueRef::Text(t) => match appended(t, &stored) {
            Some(text) => Ok(text),
            None => {
                let timeline = serde_json::from_slice(t).map_err(|e| format!("timeline: {e}"))?;
                set(timeline, &stored)
            }
        },
        other => Err(format!("timeline: {:?}, not JSON text", other.data_type())),
    }
}

/// An entry as `dialtone_timeline_set` is given it: `[idx, at_ms, time_ms, event(, detail)]`
/// (as [`Entry::write_json`] writes it), read without building a JSON value of each number.
struct EntryIn {
    idx: i64,
    at_ms: i64,
    time_ms: i64,
    event: i64,
    detail: Option<Json>,
}

impl<'de> serde::Deserialize<'de> for EntryIn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<EntryIn, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = EntryIn;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("[idx, at_ms, time_ms, event(, detail)]")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<EntryIn, A::Error> {
                let mut int = |i: usize| -> Result<i64, A::Error> {
                    seq.next_element::<i64>()?
                        .ok_or_else(|| serde::de::Error::invalid_length(i, &self))
                };
                let (idx, at_ms, time_ms, event) = (int(0)?, int(1)?, int(2)?, int(3)?);
                let detail = seq.next_element::<Json>()?;
                // Anything after the detail is ignored, as it always was.
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(EntryIn {
                    idx,
                    at_ms,
                    time_ms,
                    event,
                    detail,
                })
            }
        }
        d.deserialize_seq(Visitor)
    }
}

impl EntryIn {
    /// Its position, and its text as the call's row keeps it: times relative to the call's.
    fn stored(&self, accepted_ms: i64, accepted_unix_ms: i64) -> Result<(usize, String), String> {
        let idx = usize::try_from(self.idx).map_err(|_| format!("entry {}: position", self.idx))?;
        let relative = |t: i64, from: i64| {
            t.checked_sub(from)
                .ok_or_else(|| format!("entry {}: time out of range", self.idx))
        };
        let mut text = format!(
            "[{},{},{}",
            relative(self.at_ms, accepted_ms)?,
            relative(self.time_ms, accepted_unix_ms)?,
            self.event
        );
        if let Some(detail) = &self.detail {
            text.push(',');
            text.push_str(&detail.to_string());
        }
        text.push(']');
        Ok((idx, text))
    }
}

/// `timeline` with each of `entries` (their stored text) set at its position; positions skipped
/// are `null`.
fn set(mut timeline: Vec<Json>, entries: &[(usize, String)]) -> Result<String, String> {
    for (idx, entry) in entries {
        let entry: Json = serde_json::from_str(entry).map_err(|e| format!("entry: {e}"))?;
        if timeline.len() <= *idx {
            timeline.resize(idx + 1, Json::Null);
        }
        timeline[*idx] = entry;
    }
    Ok(Json::Array(timeline).to_string())
}

/// [`set`] of the stored text `timeline` when every entry goes past its end, in order (what a
/// call's entries do as they happen), without parsing and writing the stored entries again:
/// the new ones are appended to the text. `None` for any other case, or a text that is not a
/// JSON array as Dialtone writes it (then [`set`] reads it in full).
fn appended(timeline: &[u8], entries: &[(usize, String)]) -> Option<String> {
    let mut len = array_len(timeline)?;
    let mut text = String::from_utf8(timeline.to_vec()).ok()?;
    text.pop(); // the closing ']'
    for (idx, entry) in entries {
        if *idx < len {
            return None;
        }
        for position in len..=*idx {
            if position > 0 {
                text.push(',');
            }
            if position < *idx {
                text.push_str("null");
            }
        }
        text.push_str(entry);
        len = idx + 1;
    }
    text.push(']');
    Some(text)
}

/// The number of elements of `text` when it is a JSON array whose strings (the only place a
/// bracket, a comma or a quote can hide) are well formed; `None` otherwise. It checks the
/// structure only: the elements themselves are what this module wrote.
fn array_len(text: &[u8]) -> Option<usize> {
    let (b'[', rest) = text.split_first()? else {
        return None;
    };
    let (b']', inner) = rest.split_last()? else {
        return None;
    };
    if inner.is_empty() {
        return Some(0);
    }
    let (mut depth, mut in_string, mut escaped, mut commas) = (0usize, false, false, 0usize);
    // An element must stand between two commas: `[,1]` or `[1,,2]` are no arrays.
    let mut after_comma = true;
    for &c in inner {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.checked_sub(1)?,
            b',' if depth == 0 => {
                if after_comma {
                    return None;
                }
                commas += 1;
                after_comma = true;
                continue;
            }
            b' ' | b'\t' | b'\n' | b'\r' => return None,
            _ => {}
        }
        after_comma = false;
    }
    (depth == 0 && !in_string && !after_comma).then_some(commas + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(idx: usize, n: i64, detail: Option<&str>) -> (usize, String) {
        let mut e = vec![Json::from(n), Json::from(n + 1), Json::from(2)];
        e.extend(detail.map(Json::from));
        (idx, Json::Array(e).to_string())
    }

    /// The text appended to is what reading and writing the whole timeline makes.
    #[test]
    fn appending_to_the_stored_text_makes_what_rewriting_it_makes() {
        let stored = [
            "[]",
            "[[0,0,1]]",
            "[[0,0,1],null,[5,6,2,7]]",
            r#"[[0,0,1,"a ] , \" [ {"],[1,1,8,"\\"]]"#,
            r#"[[0,"2026-03-14 10:15:31.000",1]]"#,
        ];
        let news = [
            vec![entry(0, 3, None)],
            vec![entry(1, 3, None)],
            vec![entry(3, 3, Some("x]\"y")), entry(4, 4, None)],
            vec![entry(6, 3, None), entry(9, 4, None)],
            vec![entry(2, 3, None), entry(2, 4, None)],
            vec![entry(5, 3, None), entry(1, 4, None)],
        ];
        let mut fast = 0;
        for text in stored {
            let parsed: Vec<Json> = serde_json::from_str(text).expect("stored JSON");
            for new in &news {
                let slow = set(parsed.clone(), new).expect("set");
                match appended(text.as_bytes(), new) {
                    Some(got) => {
                        fast += 1;
                        assert_eq!(got, slow, "{text} + {new:?}");
                    }
                    None => assert!(
                        new.iter().any(|(idx, _)| *idx < parsed.len())
                            || new.windows(2).any(|w| w[1].0 <= w[0].0),
                        "{text} + {new:?} not appended"
                    ),
                }
            }
        }
        assert!(fast >= 12, "{fast} appended");
    }

    #[test]
    fn entries_are_read_as_written_and_made_relative_to_the_call() {
        let mut given = String::from("[");
        for (i, e) in [
            Entry {
                idx: 3,
                at_ms: 1005,
                time_ms: 1_700_000_000_500,
                event: 2,
                detail: None,
            },
            Entry {
                idx: 4,
                at_ms: 1010,
                time_ms: 1_700_000_001_000,
                event: 8,
                detail: Some(Value::Text("a \"b\" ]".into())),
            },
            Entry {
                idx: 5,
                at_ms: 1010,
                time_ms: 1_700_000_001_000,
                event: 0,
                detail: Some(Value::Integer(7)),
            },
        ]
        .iter()
        .enumerate()
        {
            if i > 0 {
                given.push(',');
            }
            e.write_json(&mut given);
        }
        given.push(']');
        let read: Vec<EntryIn> = serde_json::from_str(&given).expect("entries");
        let stored: Vec<(usize, String)> = read
            .iter()
            .map(|e| e.stored(1000, 1_700_000_000_000).expect("stored"))
            .collect();
        assert_eq!(
            stored,
            [
                (3, "[5,500,2]".to_owned()),
                (4, r#"[10,1000,8,"a \"b\" ]"]"#.to_owned()),
                (5, "[10,1000,0,7]".to_owned()),
            ]
        );
        // Extra elements are ignored; a missing number or a negative position is an error.
        let extra: Vec<EntryIn> = serde_json::from_str("[[0,1,2,3,4,5]]").expect("entries");
        assert_eq!(extra[0].stored(0, 0).expect("stored").1, "[1,2,3,4]");
        assert!(serde_json::from_str::<Vec<EntryIn>>("[[0,1,2]]").is_err());
        assert!(serde_json::from_str::<Vec<EntryIn>>(r#"[[0,1,"2",3]]"#).is_err());
        let negative: Vec<EntryIn> = serde_json::from_str("[[-1,1,2,3]]").expect("entries");
        assert!(negative[0].stored(0, 0).is_err());
        assert!(read[0].stored(i64::MIN, 0).is_err());
    }

    #[test]
    fn only_a_well_formed_array_is_counted() {
        assert_eq!(array_len(b"[]"), Some(0));
        assert_eq!(array_len(b"[null]"), Some(1));
        assert_eq!(array_len(br#"[[1,2],"a,]",3]"#), Some(3));
        for odd in [
            &b""[..],
            b"[",
            b"]",
            b"{}",
            b"[1,]",
            b"[,1]",
            b"[1,,2]",
            b"[[1]",
            b"[1]]",
            b"[\"]",
            b"[1, 2]",
            b"[\"a\\\"]",
        ] {
            assert_eq!(array_len(odd), None, "{}", String::from_utf8_lossy(odd));
        }
    }
}
