//! Packed values (schema v4): the store's large JSON texts (status push bodies, a stored CDR
//! batch, a call's request, CDR and view) compressed against a dictionary built into the binary,
//! so a value of a few hundred bytes takes a few dozen.
//!
//! A packed value is a BLOB whose first byte says how the rest reads:
//!
//! | byte | rest |
//! |---|---|
//! | 0 | the bytes as they are (a body that a v3 database stored as a BLOB) |
//! | 1 | the length (LEB128), then an LZ4 block compressed against [`DICT_V1`] followed by the row's context |
//!
//! A TEXT value is the text itself (rows written before v4 stay so). A new dictionary gets a new
//! byte and the old ones stay here, so rows written with them still read back.
//!
//! The context is what the row already says that the value repeats, so that each value does not
//! spell it out again: for a call's values and the status pushes of a call (`outbox.call_seq`),
//! the call's app key, display and callee numbers, acceptance time and session id
//! ([`call_context`]); for other pushes, the first session id they concern.
//!
//! LZ4 rather than deflate: deflate (zlib-rs) made values a third smaller again, but resetting
//! and priming its state cost about 20 µs a value on the writer thread, which made durable
//! delivery measurably slower (docs/performance.md); an LZ4 block with a dictionary costs 1-2 µs.
//!
//! The same two functions serve SQL as `dialtone_pack(text, context)` and
//! `dialtone_unpack(value, context)` on the store's connection ([`register`]): the CDR batch
//! body and the `cdrs` view are made in SQL. Plain `sqlite3` does not have them.

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::Connection;

use super::StoreError;

/// Byte 0: stored as is.
const RAW: u8 = 0;
/// Byte 1: LZ4 against [`DICT_V1`] and the context.
const LZ4_V1: u8 = 1;

/// Typical bodies of every kind, shapes rather than values (src/store/pack/v1.txt): what each
/// value is likely to repeat. Never change it: write `v2.txt` with a new byte instead.
const DICT_V1: &[u8] = include_bytes!("pack/v1.txt");

/// A value never unpacks to more than this (a corrupt row must not exhaust memory): far more
/// than the largest body (a batch of 50 CDRs is about 32 KB).
const MAX_UNPACKED: usize = 16 << 20;

/// The context of a call's values: what its `calls` row says in plain columns.
pub(super) fn call_context(
    app_key: &str,
    display: &str,
    callee: &str,
    accepted_at: &str,
    session_id: &str,
) -> String {
    [app_key, display, callee, accepted_at, session_id].concat()
}

/// [`call_context`] in SQL, of the `calls` row named `c`.
pub(super) const CALL_CONTEXT_SQL: &str =
    "c.app_key || c.display || c.callee || c.accepted_at || c.session_id";

fn dictionary(context: &str) -> Vec<u8> {
    let mut dict = Vec::with_capacity(DICT_V1.len() + context.len());
    dict.extend_from_slice(DICT_V1);
    dict.extend_from_slice(context.as_bytes());
    dict
}

/// `bytes` packed, with `context` (see the module doc).
pub(super) fn pack(bytes: &[u8], context: &str) -> Vec<u8> {
    let block = lz4_flex::block::compress_with_dict(bytes, &dictionary(context));
    let mut out = Vec::with_capacity(block.len() + 6);
    out.push(LZ4_V1);
    let mut len = bytes.len();
    loop {
        let low = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(low);
            break;
        }
        out.push(low | 0x80);
    }
    out.extend_from_slice(&block);
    out
}

/// What [`pack`] was given, from what it made.
pub(super) fn unpack(packed: &[u8], context: &str) -> Result<Vec<u8>, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        column: "packed value",
        reason,
    };
    match packed.split_first() {
        Some((&RAW, rest)) => Ok(rest.to_vec()),
        Some((&LZ4_V1, rest)) => {
            let mut len: usize = 0;
            let mut used = 0;
            for (i, b) in rest.iter().enumerate().take(4) {
                len |= usize::from(b & 0x7f) << (7 * i);
                if b & 0x80 == 0 {
                    used = i + 1;
                    break;
                }
            }
            if used == 0 || len > MAX_UNPACKED {
                return Err(corrupt("bad length".into()));
            }
            let out =
                lz4_flex::block::decompress_with_dict(&rest[used..], len, &dictionary(context))
                    .map_err(|e| corrupt(e.to_string()))?;
            if out.len() != len {
                return Err(corrupt(format!(
                    "{} bytes where {len} were stored",
                    out.len()
                )));
            }
            Ok(out)
        }
        Some((other, _)) => Err(corrupt(format!("unknown packing {other}"))),
        None => Err(corrupt("empty".into())),
    }
}

/// A stored value as its text's bytes: TEXT as it is (before v4), a BLOB unpacked.
pub(super) fn unpack_value(v: ValueRef<'_>, context: &str) -> Result<Vec<u8>, StoreError> {
    match v {
        ValueRef::Text(t) => Ok(t.to_vec()),
        ValueRef::Blob(b) => unpack(b, context),
        other => Err(StoreError::Corrupt {
            column: "packed value",
            reason: format!("expected text or blob, found {:?}", other.data_type()),
        }),
    }
}

/// [`unpack_value`] of a value that must be text (JSON).
pub(super) fn unpack_text(v: ValueRef<'_>, context: &str) -> Result<String, StoreError> {
    String::from_utf8(unpack_value(v, context)?).map_err(|e| StoreError::Corrupt {
        column: "packed value",
        reason: e.to_string(),
    })
}

/// As SQL sees unpacked bytes: TEXT when UTF-8 (so `json_extract` reads it), else a BLOB.
fn sql_value(bytes: Vec<u8>) -> Value {
    match String::from_utf8(bytes) {
        Ok(text) => Value::Text(text),
        Err(e) => Value::Blob(e.into_bytes()),
    }
}

fn context_arg(ctx: &Context<'_>) -> rusqlite::Result<String> {
    Ok(match ctx.get_raw(1) {
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        _ => String::new(),
    })
}

/// Adds `dialtone_pack(text, context)` and `dialtone_unpack(value, context)` to `conn`. NULL in,
/// NULL out; `dialtone_unpack` of TEXT is the text.
pub(super) fn register(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("dialtone_pack", 2, flags, |ctx| {
        let context = context_arg(ctx)?;
        Ok(match ctx.get_raw(0) {
            ValueRef::Null => Value::Null,
            ValueRef::Text(t) | ValueRef::Blob(t) => Value::Blob(pack(t, &context)),
            ValueRef::Integer(i) => Value::Blob(pack(i.to_string().as_bytes(), &context)),
            ValueRef::Real(r) => Value::Blob(pack(r.to_string().as_bytes(), &context)),
        })
    })?;
    conn.create_scalar_function("dialtone_unpack", 2, flags, |ctx| {
        let context = context_arg(ctx)?;
        match ctx.get_raw(0) {
            ValueRef::Null => Ok(Value::Null),
            v => unpack_value(v, &context)
                .map(sql_value)
                .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e))),
        }
    })
}

/// A value to store packed, as a parameter.
pub(super) fn packed_sql(bytes: &[u8], context: &str) -> ToSqlOutput<'static> {
    ToSqlOutput::Owned(Value::Blob(pack(bytes, context)))
}

/// The signature part of an X-AKSK as the journal keeps it (what follows `PasswordDigest="`),
/// in binary (schema v4): 1, the digest's 32 bytes, the nonce's 16, `Created` as 8 bytes of
/// Unix seconds. `None` when it is not exactly canonical Base64, upper-case hex and
/// `yyyy-MM-ddTHH:mm:ssZ` (an injected fault, another time zone): it is then kept as text.
///
/// Only what reads back exactly is packed: each part is parsed strictly, so that it has one
/// spelling and [`unpack_aksk`] writes that spelling again (the padded Base64 of 32 bytes, whose
/// decoder refuses stray trailing bits; 32 upper-case hex digits; a valid calendar time in
/// fixed-width digits). That replaced unpacking every packed value to compare it, which was
/// a tenth of the writer's time for an attempt.
pub(super) fn pack_aksk(short: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let rest = short.strip_suffix('"')?;
    let (digest, rest) = rest.split_once("\",Nonce=\"")?;
    let (nonce, created) = rest.split_once("\",Created=\"")?;
    let mut out = Vec::with_capacity(PACKED_AKSK);
    out.push(1);
    // 44 characters, padded, the last digit's unused bits zero: the one text of 32 bytes.
    if digest.len() != 44 {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode_vec(digest, &mut out)
        .ok()
        .filter(|_| out.len() == 33)?;
    out.extend_from_slice(&hex16(nonce)?);
    out.extend_from_slice(&created_secs(created)?.to_be_bytes());
    Some(out)
}

/// A packed X-AKSK's length: 1 + 32 + 16 + 8.
const PACKED_AKSK: usize = 57;

/// What [`pack_aksk`] was given.
pub(super) fn unpack_aksk(packed: &[u8]) -> Result<String, StoreError> {
    use base64::Engine;
    let corrupt = |reason: &str| StoreError::Corrupt {
        column: "attempts.aksk",
        reason: reason.into(),
    };
    let [1, rest @ ..] = packed else {
        return Err(corrupt("unknown packing"));
    };
    let (Some(digest), Some(nonce), Some(secs)) = (
        rest.get(..32),
        rest.get(32..48),
        rest.get(48..56).and_then(|s| <[u8; 8]>::try_from(s).ok()),
    ) else {
        return Err(corrupt("too short"));
    };
    let created =
        created_text(i64::from_be_bytes(secs)).ok_or_else(|| corrupt("Created out of range"))?;
    let mut out = String::with_capacity(44 + 9 + 32 + 11 + 20 + 1);
    base64::engine::general_purpose::STANDARD.encode_string(digest, &mut out);
    out.push_str("\",Nonce=\"");
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in nonce {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out.push_str("\",Created=\"");
    out.push_str(std::str::from_utf8(&created).map_err(|_| corrupt("Created"))?);
    out.push('"');
    Ok(out)
}

/// `yyyy-MM-ddTHH:mm:ssZ` as Unix seconds; `None` unless it is exactly that, a real time,
/// with a year of four digits (so [`created_text`] writes the same text again).
fn created_secs(text: &str) -> Option<i64> {
    let t = text.as_bytes();
    let shape = b"dddd-dd-ddTdd:dd:ddZ";
    if t.len() != shape.len()
        || !t.iter().zip(shape).all(|(c, s)| {
            if *s == b'd' {
                c.is_ascii_digit()
            } else {
                c == s
            }
        })
    {
        return None;
    }
    let n = |at: usize, len: usize| {
        t[at..at + len]
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
    };
    let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(n(0, 4)).ok()?, n(5, 2), n(8, 2))?;
    // A second of 60 is refused: chrono would read it as a leap second, written back as :59.
    let time = chrono::NaiveTime::from_hms_opt(n(11, 2), n(14, 2), n(17, 2))?;
    Some(date.and_time(time).and_utc().timestamp())
}

/// Unix seconds as `yyyy-MM-ddTHH:mm:ssZ`; `None` outside years 0-9999.
fn created_text(secs: i64) -> Option<[u8; 20]> {
    use chrono::{Datelike, Timelike};
    let t = chrono::DateTime::from_timestamp(secs, 0)?;
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let mut text = *b"0000-00-00T00:00:00Z";
    for (at, n) in [
        (0, year / 100),
        (2, year % 100),
        (5, t.month()),
        (8, t.day()),
        (11, t.hour()),
        (14, t.minute()),
        (17, t.second()),
    ] {
        text[at] = b'0' + (n / 10) as u8;
        text[at + 1] = b'0' + (n % 10) as u8;
    }
    Some(text)
}

/// 32 upper-case hex digits as 16 bytes.
fn hex16(s: &str) -> Option<[u8; 16]> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let bytes = s.as_bytes();
    if bytes.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: &str = "1200_7_3543144545_20260314101531@callenabler.home1.com";

    #[test]
    fn a_status_body_packs_small_and_reads_back_byte_for_byte() {
        let body = format!(
            r#"{{"eventType":"answer","statusInfo":{{"sessionId":"{SESSION}","timestamp":"2026-03-14 10:15:37","caller":"+862087654321","called":"+8613910000001","userData":"order-7781"}}}}"#
        );
        let packed = pack(body.as_bytes(), SESSION);
        assert!(
            packed.len() * 2 < body.len(),
            "{} bytes packed from {}",
            packed.len(),
            body.len()
        );
        assert_eq!(unpack(&packed, SESSION).expect("unpacks"), body.as_bytes());
    }

    #[test]
    fn any_bytes_round_trip_even_with_the_wrong_context_refused_or_differing() {
        let odd: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        assert_eq!(unpack(&pack(&odd, ""), "").expect("unpacks"), odd);
        assert_eq!(unpack(&pack(b"", "x"), "x").expect("unpacks"), b"");
        let packed = pack(SESSION.as_bytes(), SESSION);
        assert_ne!(
            unpack(&packed, "another context").ok().as_deref(),
            Some(SESSION.as_bytes())
        );
    }

    #[test]
    fn raw_and_unknown_and_truncated_values_are_told_apart() {
        assert_eq!(unpack(&[0, 0xff, 0xfe], "").expect("raw"), [0xff, 0xfe]);
        assert!(unpack(&[9, 1, 2], "").is_err());
        assert!(unpack(&[], "").is_err());
        let text: Vec<u8> = (0..2000u32)
            .flat_map(|i| i.to_string().into_bytes())
            .collect();
        let packed = pack(&text, "");
        assert!(unpack(&packed[..packed.len() / 2], "").is_err());
        assert!(
            unpack(&[1, 0xff, 0xff, 0xff, 0xff, 0x7f], "").is_err(),
            "too long"
        );
    }

    #[test]
    fn sql_reads_what_rust_packed_and_text_as_it_is() {
        let conn = Connection::open_in_memory().expect("db");
        register(&conn).expect("functions");
        let cdr = r#"{"sessionId":"x","ttsPlayTimes":3}"#;
        let got: i64 = conn
            .query_row(
                "SELECT json_extract(dialtone_unpack(?1, 'x'), '$.ttsPlayTimes')",
                [Value::Blob(pack(cdr.as_bytes(), "x"))],
                |r| r.get(0),
            )
            .expect("query");
        assert_eq!(got, 3);
        let round: String = conn
            .query_row(
                "SELECT dialtone_unpack(dialtone_pack(?1, 'c'), 'c') || dialtone_unpack('t', '')",
                [cdr],
                |r| r.get(0),
            )
            .expect("query");
        assert_eq!(round, format!("{cdr}t"));
    }

    #[test]
    fn a_usual_signature_packs_to_57_bytes_and_anything_else_stays_text() {
        let short = r#"9n1ZQ/ysGj7RB5X4jq+h0+BKzPV6nZfY7WJNDUS9wPI=",Nonce="FBEF901D5645DA1D86256362F00679B9",Created="2026-03-14T18:15:31Z""#;
        let packed = pack_aksk(short).expect("packs");
        assert_eq!(packed.len(), 57);
        assert_eq!(unpack_aksk(&packed).expect("unpacks"), short);
        for odd in [
            r#"9n1ZQ/ysGj7RB5X4jq+h0+BKzPV6nZfY7WJNDUS9wPI=",Nonce="fbef901d5645da1d86256362f00679b9",Created="2026-03-14T18:15:31Z""#,
            r#"9n1ZQ/ysGj7RB5X4jq+h0+BKzPV6nZfY7WJNDUS9wPI=",Nonce="FBEF901D5645DA1D86256362F00679B9",Created="2026-03-14T18:15:31+08:00""#,
            r#"bad",Nonce="FBEF901D5645DA1D86256362F00679B9",Created="2026-03-14T18:15:31Z""#,
            "UsernameToken Username=\"k\",Nonce=\"n\"",
        ] {
            assert_eq!(pack_aksk(odd), None, "{odd}");
        }
        assert!(unpack_aksk(&[2; 57]).is_err());
        assert!(unpack_aksk(&[1; 20]).is_err());
    }

    /// Packing trusts its strict parsing rather than unpacking to compare: every text it packs,
    /// however near a usual one, must read back exactly; the others stay text.
    #[test]
    fn only_what_reads_back_exactly_is_packed() {
        let usual = r#"9n1ZQ/ysGj7RB5X4jq+h0+BKzPV6nZfY7WJNDUS9wPI=",Nonce="FBEF901D5645DA1D86256362F00679B9",Created="2026-03-14T18:15:31Z""#;
        let mut texts = vec![usual.to_owned()];
        // Every character replaced by each of a few others, removed, or doubled.
        for (i, _) in usual.char_indices() {
            for c in [
                '0', '9', 'A', 'F', 'a', 'f', 'Z', '=', '/', '+', '-', ':', 'T', ' ', '"',
            ] {
                texts.push(format!("{}{c}{}", &usual[..i], &usual[i + 1..]));
            }
            texts.push(format!("{}{}", &usual[..i], &usual[i + 1..]));
            texts.push(format!("{}{}", &usual[..=i], &usual[i..]));
        }
        // Times at the edges of the calendar, real and not.
        for created in [
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2024-02-29T12:00:00Z",
            "2026-02-29T12:00:00Z",
            "2026-04-31T12:00:00Z",
            "2026-00-10T12:00:00Z",
            "2026-13-10T12:00:00Z",
            "2026-03-14T24:00:00Z",
            "2026-03-14T23:60:00Z",
            "2026-03-14T23:59:60Z",
            "+2026-03-14T23:59:59Z",
            "2026-3-14T23:59:59Z",
        ] {
            texts.push(usual.replace("2026-03-14T18:15:31Z", created));
        }
        let mut packed = 0;
        for text in &texts {
            if let Some(p) = pack_aksk(text) {
                packed += 1;
                assert_eq!(p.len(), PACKED_AKSK, "{text}");
                assert_eq!(unpack_aksk(&p).expect("unpacks").as_str(), text, "{text}");
            }
        }
        assert!(packed > 100, "only {packed} of {} packed", texts.len());
        assert!(
            packed < texts.len() / 2,
            "{packed} of {} packed",
            texts.len()
        );
        for created in [
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2024-02-29T12:00:00Z",
        ] {
            let text = usual.replace("2026-03-14T18:15:31Z", created);
            assert!(pack_aksk(&text).is_some(), "{text}");
        }
    }
}
