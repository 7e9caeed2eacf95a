//! The body parsers read through [`Json`] (borrowed) answer exactly as they did through
//! `serde_json::Value`: a table of tricky bodies run through both, and the parsers' timing (an
//! ignored test, run by hand in release mode).

use std::hint::black_box;

use serde_json::Value;

use super::call_notify::CallNotifyIn;
use super::call_verify::CallVerifyIn;
use super::click_to_call::ClickToCallIn;
use super::fields::Json;
use crate::config::Config;

/// The body of the load test that profiled `CallVerifyIn::parse` (legacy-token callVerify).
const VERIFY: &[u8] = br#"{"displayNbr":"+862087654321","calleeNbr":"+86100000001","languageType":2,"preTone":"welcome.wav","verifyCode":"4815","times":2}"#;
const NOTIFY: &[u8] = br#"{"displayNbr":"+862087654321","calleeNbr":"+8613900001234","playInfoList":[{"templateId":"tpl_bill","templateParas":["Zhang","128.50"],"collectInd":1}],"userData":"bill-2291"}"#;
const CLICK: &[u8] = br#"{"displayNbr":"+862087654321","callerNbr":"+8613900001234","displayCalleeNbr":"+862087654322","calleeNbr":"+8613700005678","recordFlag":"true","partyTypeRequiredInDisconnect":"true","userData":"ticket-4410"}"#;

/// Bodies where a borrowed reading could differ from `Value`'s: types, numbers, duplicates,
/// escapes, nulls, shapes, encodings, nesting. Each is run through all four parsers (the three
/// call parsers strict and lenient, callStop's), so a body made for one parser also probes the
/// others' "missing field" paths.
fn tricky_bodies() -> Vec<Vec<u8>> {
    let verify = String::from_utf8_lossy(VERIFY).into_owned();
    let notify = String::from_utf8_lossy(NOTIFY).into_owned();
    let click = String::from_utf8_lossy(CLICK).into_owned();
    let v = |from: &str, to: &str| verify.replacen(from, to, 1);
    let n = |from: &str, to: &str| notify.replacen(from, to, 1);
    let c = |from: &str, to: &str| click.replacen(from, to, 1);
    let times = |to: &str| v(r#""times":2"#, to);
    let language = |to: &str| v(r#""languageType":2"#, to);
    let display = |to: &str| v(r#""+862087654321""#, to);
    let tone = |to: &str| v(r#""welcome.wav""#, to);
    let deep = |depth: usize| {
        times(&format!(
            r#""x":{}1{},"times":2"#,
            "[".repeat(depth),
            "]".repeat(depth)
        ))
    };
    let as_string = |body: &str| Value::String(body.to_owned()).to_string();
    let mut bodies: Vec<String> = vec![
        verify.clone(),
        notify.clone(),
        click.clone(),
        // Wrong types, lenient numbers, ranges.
        display("862087654321"),
        language(r#""languageType":"2""#),
        language(r#""languageType":"""#),
        language(r#""languageType":"02""#),
        language(r#""languageType":"+2""#),
        language(r#""languageType":2.0"#),
        language(r#""languageType":-1"#),
        language(r#""languageType":7"#),
        language(r#""languageType":1e0"#),
        language(r#""languageType":true"#),
        language(r#""languageType":[2]"#),
        language(r#""languageType":9223372036854775807"#),
        times(r#""times":"3""#),
        times(r#""times":10"#),
        times(r#""times":-0"#),
        times(r#""times":0"#),
        times(r#""times":true"#),
        v(r#""4815""#, "4815"),
        v(r#""4815""#, r#""0048""#),
        // Huge and out-of-range numbers.
        times(r#""times":18446744073709551615"#),
        times(r#""times":18446744073709551616"#),
        times(r#""times":-9223372036854775809"#),
        times(r#""times":123456789012345678901234567890"#),
        times(r#""times":1e400"#),
        times(r#""times":"99999999999999999999""#),
        // Duplicate keys: the last one counts.
        v("{", r#"{"displayNbr":"nope","#),
        times(r#""times":2,"displayNbr":"nope""#),
        times(r#""times":2,"times":null"#),
        times(r#""times":null,"times":5"#),
        // Escaped keys and values.
        v(r#""displayNbr""#, r#""display\u004eBr""#),
        v(r#""displayNbr""#, r#""display\u004ebr""#),
        v(
            r#""displayNbr""#,
            r#""display\u004ebr","displayNbr":1,"displayNbr""#,
        ),
        display(r#""+86208765432\u0031""#),
        tone(r#""welcome\/.wav""#),
        tone(r#""w\u00e9lcome.wav""#),
        tone(r#""\ud83d\ude00.wav""#),
        tone(r#""\ud800.wav""#),
        tone(r#""\udc00\ud800.wav""#),
        tone(r#""\x41.wav""#),
        // Unknown fields, obsolete bindNbr, nested values, long values in hints.
        v(
            "{",
            r#"{"bindNbr":"+862087654321","extra":{"b":[1,2.5,{"c":null}],"a":true},"#,
        ),
        v("{", r#"{"bindNbr":17,"#),
        display(r#"{"b":1,"a":2,"a":3}"#),
        display(&format!("\"{}\"", "9".repeat(200))),
        display(&format!("[{}]", ["\"\u{1F600}\""; 40].join(","))),
        deep(100),
        deep(126),
        deep(127),
        deep(200),
        // Nulls.
        display("null"),
        tone("null"),
        times(r#""times":2,"posTone":null,"statusUrl":null"#),
        // Push URLs, flags, userData.
        times(r#""times":2,"statusUrl":"aHR0cDovLzEyNy4wLjAuMTo5MDAwL3ZvaWNlL3N0YXR1cw==""#),
        times(r#""times":2,"statusUrl":"aHR0cDovLzEyNy4wLjAuMTo5MDAwL3ZvaWNlL3N0YXR1cw""#),
        times(r#""times":2,"feeUrl":"Zm9vOmJhcg==""#),
        times(r#""times":2,"returnIdlePort":true"#),
        times(r#""times":2,"returnIdlePort":"yes""#),
        times(&format!(
            r#""times":2,"userData":"{}""#,
            "\u{e9}".repeat(256)
        )),
        times(&format!(
            r#""times":2,"userData":"{}""#,
            "\u{e9}".repeat(257)
        )),
        // Not an object, not JSON, not complete.
        String::new(),
        " ".into(),
        "{}".into(),
        "{} ".into(),
        "{} x".into(),
        "{},".into(),
        "[]".into(),
        "[{}]".into(),
        "null".into(),
        r#""{}""#.into(),
        "1".into(),
        "{".into(),
        r#"{"displayNbr":}"#.into(),
        r#"{"displayNbr":"+862087654321",}"#.into(),
        "{'displayNbr':1}".into(),
        "\u{feff}{}".into(),
        verify.replace('}', ",}"),
        // serde_json::Value's RawValue token as the first key parses its string as the body.
        format!(
            r#"{{"$serde_json::private::RawValue":{}}}"#,
            as_string(&verify)
        ),
        format!(
            r#"{{"$serde_json::private::RawValue":{},"times":1}}"#,
            as_string(&verify)
        ),
        r#"{"$serde_json::private::RawValue":7}"#.into(),
        r#"{"$serde_json::private::RawValue":"[1]"}"#.into(),
        v("{", r#"{"a":1,"$serde_json::private::RawValue":"[1]","#),
        // callnotify: the list and its segments.
        n("[{", "[null,{"),
        n("[{", r#"[{"notifyVoice":"welcome.wav"},{"#),
        n(r#""collectInd":1"#, r#""collectInd":"1""#),
        n(r#""collectInd":1"#, r#""collectInd":33"#),
        n(
            r#""collectInd":1"#,
            r#""collectInd":1,"replayAfterCollection":true,"collectContentTriggerReplaying":1"#,
        ),
        n(
            r#""collectInd":1"#,
            r#""collectInd":1,"replayAfterCollection":"true","collectContentTriggerReplaying":-1"#,
        ),
        n(
            r#""collectInd":1"#,
            r#""collectInd":1,"replayAfterCollection":"true","collectContentTriggerReplaying":1.0"#,
        ),
        n(
            r#""collectInd":1"#,
            r#""collectInd":1,"replayAfterCollection":"true","collectContentTriggerReplaying":"1*""#,
        ),
        n(
            r#""collectInd":1"#,
            r#""collectInd":0,"replayAfterCollection":"maybe""#,
        ),
        n(r#"["Zhang","128.50"]"#, r#""[\"Zhang\",128.5]""#),
        n(r#"["Zhang","128.50"]"#, r#""[\"Zhang\",1e400]""#),
        n(
            r#"["Zhang","128.50"]"#,
            r#""{\"$serde_json::private::RawValue\":\"[\\\"a\\\"]\"}""#,
        ),
        n(
            r#"["Zhang","128.50"]"#,
            r#"["Zhang",128.50,-3,18446744073709551616]"#,
        ),
        n(
            r#"["Zhang","128.50"]"#,
            &format!(r#"["{}"]"#, "x".repeat(33)),
        ),
        n(r#"["Zhang","128.50"]"#, r#"["Zhang",null]"#),
        n(r#""tpl_bill""#, r#""tpl bill""#),
        n(
            r#""templateId":"tpl_bill","#,
            r#""notifyVoice":"welcome.wav","templateParas":7,"#,
        ),
        n(
            r#""templateId":"tpl_bill","#,
            r#""templateId":null,"templateId":"tpl_bill","#,
        ),
        n("[{", r#"[{"templateId":7,"#),
        n(
            "[{",
            &format!("[{}{{", r#"{"notifyVoice":"a.wav"},"#.repeat(5)),
        ),
        n(r#""playInfoList":["#, r#""playInfoList":{},"x":["#),
        n(
            r#""playInfoList":["#,
            r#""ttsContent":"hi","playInfoList":["#,
        ),
        // click2Call.
        c(r#""+8613900001234""#, r#""13900001234""#),
        c(r#""+8613900001234""#, "null"),
        c(r#""+8613700005678""#, r#""+8613900001234""#),
        c(r#""recordFlag""#, r#""maxDuration":1441,"recordFlag""#),
        c(
            r#""recordFlag""#,
            r#""maxDuration":"30","lastMinVoice":"bye.wav","recordFlag""#,
        ),
        c(
            r#""recordFlag""#,
            r#""maxDuration":0,"lastMinVoice":7,"recordFlag""#,
        ),
        c(
            r#""recordFlag""#,
            r#""lastMinToUE":"toa","calleeMedia":"none","recordFlag""#,
        ),
        c(r#""recordFlag""#, r#""lastMinToUE":"TOA","recordFlag""#),
        c(r#""recordFlag""#, r#""calleeMedia":"some","recordFlag""#),
        c(
            r#""recordFlag""#,
            r#""playPreVoice":true,"preVoice":"welcome.wav","waitVoice":"bye","recordFlag""#,
        ),
        c(
            r#""recordFlag""#,
            r#""playPreVoice":false,"preVoice":1,"recordFlag""#,
        ),
        c(
            r#""recordFlag":"true""#,
            r#""recordFlag":"true","recordHintTone":[]"#,
        ),
        c(r#""userData":"ticket-4410""#, r#""userData":"""#),
    ];
    let mut raw: Vec<Vec<u8>> = bodies.drain(..).map(String::into_bytes).collect();
    // Invalid UTF-8 in a value, in a key, outside any string.
    for bad in [&b"\"\xff\xfe\""[..], b"\"\xc3\"", b"\"\xed\xa0\x80\""] {
        let rest = &VERIFY[VERIFY.iter().position(|&b| b == b',').unwrap_or(0)..];
        raw.push([&b"{\"displayNbr\":"[..], bad, rest].concat());
        raw.push([&b"{"[..], bad, b":1,", &VERIFY[1..]].concat());
    }
    raw.push(b"{\xff}".to_vec());
    // callStop's two fields: the session id's length counted in characters, not bytes.
    let long = |n: usize, c: char| c.to_string().repeat(n);
    for stop in [
        r#"{"sessionid":"s1","signal":"call_stop"}"#.to_owned(),
        r#"{"sessionId":"s1","signal":"call_stop"}"#.to_owned(),
        r#"{"sessionid":"","signal":"call_stop"}"#.to_owned(),
        r#"{"sessionid":null,"signal":"call_stop"}"#.to_owned(),
        r#"{"sessionid":7,"signal":"call_stop"}"#.to_owned(),
        r#"{"sessionid":["s1"],"signal":"call_stop"}"#.to_owned(),
        r#"{"sessionid":"s1","signal":"Call_Stop"}"#.to_owned(),
        r#"{"sessionid":"s1","signal":null}"#.to_owned(),
        r#"{"sessionid":"s1"}"#.to_owned(),
        r#"{"signal":"call_stop"}"#.to_owned(),
        r#"{"sessionid":"s1","sessionid":"s2","signal":"call_stop"}"#.to_owned(),
        r#"{"sessionid":"s\u0031","signal":"call_st\u006fp"}"#.to_owned(),
        format!(
            r#"{{"sessionid":"{}","signal":"call_stop"}}"#,
            long(256, 'a')
        ),
        format!(
            r#"{{"sessionid":"{}","signal":"call_stop"}}"#,
            long(257, 'a')
        ),
        format!(
            r#"{{"sessionid":"{}","signal":"call_stop"}}"#,
            long(256, '话')
        ),
        format!(
            r#"{{"sessionid":"{}","signal":"call_stop"}}"#,
            long(257, '话')
        ),
    ] {
        raw.push(stop.into_bytes());
    }
    raw
}

#[test]
fn every_tricky_body_reads_as_it_did_through_value() {
    let languages = &Config::embedded().languages;
    let (mut accepted, mut hinted) = (0, 0);
    for body in tricky_bodies() {
        let shown = String::from_utf8_lossy(&body);
        // The borrowed form holds the same value `Value` did, and fails where it failed.
        let json = serde_json::from_slice::<Json>(&body).map(|j| j.to_value());
        let value = serde_json::from_slice::<Value>(&body);
        assert_eq!(json.ok(), value.ok(), "{shown}");
        for lenient in [false, true] {
            // Debug output compares results whole: values, codes, parameters and hints.
            let results = [
                (
                    format!(
                        "{:?}",
                        CallVerifyIn::parse(&body, "k3Vd", languages, lenient)
                    ),
                    format!(
                        "{:?}",
                        reference::call_verify(&body, "k3Vd", languages, lenient)
                    ),
                ),
                (
                    format!("{:?}", CallNotifyIn::parse(&body, "k3Vd", lenient)),
                    format!("{:?}", reference::call_notify(&body, "k3Vd", lenient)),
                ),
                (
                    format!("{:?}", ClickToCallIn::parse(&body, "k3Vd", lenient)),
                    format!("{:?}", reference::click_to_call(&body, "k3Vd", lenient)),
                ),
            ];
            let stop = (
                format!("{:?}", super::call_stop::parse(&body)),
                format!("{:?}", reference::call_stop(&body)),
            );
            for (new, old) in results.into_iter().chain([stop]) {
                assert_eq!(new, old, "{shown} (lenient: {lenient})");
                accepted += usize::from(new.starts_with("Ok("));
                hinted += usize::from(new.starts_with("Err(Hinted("));
            }
        }
    }
    // The table reaches both sides: bodies accepted and fields refused with a hint.
    assert!(
        accepted >= 20 && hinted >= 100,
        "{accepted} accepted, {hinted} hinted"
    );
}

/// Nanoseconds per call of `parse`, over `n` calls after a warm-up.
fn per_call(n: u32, parse: impl Fn() -> bool) -> f64 {
    for _ in 0..n / 10 {
        assert!(parse());
    }
    #[allow(clippy::disallowed_methods)] // a benchmark measures real time.
    let start = std::time::Instant::now();
    for _ in 0..n {
        assert!(parse());
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

#[test]
#[ignore = "a timing, not a check: cargo test --release --lib parse_timing -- --ignored --nocapture"]
fn parse_timing() {
    let languages = &Config::embedded().languages;
    let n = 200_000;
    let verify = per_call(n, || {
        CallVerifyIn::parse(black_box(VERIFY), "k3Vd", languages, false).is_ok()
    });
    let notify = per_call(n, || {
        CallNotifyIn::parse(black_box(NOTIFY), "k3Vd", false).is_ok()
    });
    let click = per_call(n, || {
        ClickToCallIn::parse(black_box(CLICK), "k3Vd", false).is_ok()
    });
    println!(
        "per parse: callVerify {verify:.0} ns, callnotify {notify:.0} ns, click2Call {click:.0} ns"
    );
}

/// The parsers as they were before `Json`: a frozen copy of the
/// `serde_json::Value`-based code (fields.rs, and the three `parse`s with their helpers), kept
/// only to be compared with.
mod reference {
    use base64::Engine as _;
    use serde_json::{Map, Value};

    use crate::api::call_notify::CallNotifyIn;
    use crate::api::call_verify::CallVerifyIn;
    use crate::api::click_to_call::ClickToCallIn;
    use crate::api::fields::{expected, Tail};
    use crate::call::request::{
        CallKind, CallRequest, CallbackCall, NotifyCall, PhoneNumber, PlayInfo, PushUrl, ToneName,
        VerifyCall,
    };
    use crate::error::ApiError;
    use std::collections::BTreeMap;

    const MAX_SEGMENTS: usize = 5;

    /// A body's fields.
    struct Fields<'a>(&'a Map<String, Value>);

    /// A request body as a JSON object: anything else (not JSON, an array, a string) is the
    /// platform's `1010002` for the body.
    fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
        match serde_json::from_slice(bytes) {
            Ok(Value::Object(body)) => Ok(body),
            _ => Err(ApiError::invalid_body()),
        }
    }

    impl Fields<'_> {
        fn optional<T>(
            &self,
            name: &str,
            parse: impl Fn(&Value) -> Option<T>,
        ) -> Result<Option<T>, ApiError> {
            match self.0.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => parse(v).map(Some).ok_or_else(|| {
                    ApiError::invalid(name).hint(format!(
                        "{name} is {}: expected {}",
                        shown(v),
                        expected(name)
                    ))
                }),
            }
        }

        /// `statusUrl`, `feeUrl`, `returnIdlePort`, `userData` (String(0-256)), in that order.
        fn tail(&self) -> Result<Tail, ApiError> {
            Ok(Tail {
                status_url: self.optional("statusUrl", push_url)?,
                fee_url: self.optional("feeUrl", push_url)?,
                return_idle_port: self.optional("returnIdlePort", flag)?.unwrap_or(false),
                user_data: self.optional("userData", |v| {
                    v.as_str()
                        .filter(|s| s.chars().count() <= 256)
                        .map(str::to_owned)
                })?,
            })
        }

        fn required<T>(
            &self,
            name: &str,
            parse: impl Fn(&Value) -> Option<T>,
        ) -> Result<T, ApiError> {
            self.optional(name, parse)?.ok_or_else(|| {
                ApiError::invalid(name)
                    .hint(format!("{name} is missing: expected {}", expected(name)))
            })
        }
    }

    /// callStop's parser as it was (`src/api/call_stop.rs` before the borrowed form).
    pub fn call_stop(bytes: &[u8]) -> Result<String, ApiError> {
        let body = json_object(bytes)?;
        let f = Fields(&body);
        let session_id = f.required("sessionid", |v| {
            v.as_str()
                .filter(|s| (1..=256).contains(&s.chars().count()))
                .map(str::to_owned)
        })?;
        f.required("signal", |v| {
            (v.as_str() == Some("call_stop")).then_some(())
        })?;
        Ok(session_id)
    }

    /// A value as the hint quotes it: JSON, cut short.
    fn shown(v: &Value) -> String {
        let json = v.to_string();
        match json.char_indices().nth(80) {
            Some((cut, _)) => format!("{}…", &json[..cut]),
            None => json,
        }
    }

    /// A string field that parses into its domain type: a phone number, a tone name, or a
    /// verification code (a JSON string: a number would lose leading zeros, spec §4.1).
    fn domain<T: std::str::FromStr>(v: &Value) -> Option<T> {
        v.as_str()?.parse().ok()
    }

    /// A JSON integer; with `api.lenient_types`, also a string of digits.
    fn integer(v: &Value, lenient: bool) -> Option<i64> {
        match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s)
                if lenient && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) =>
            {
                s.parse().ok()
            }
            _ => None,
        }
    }

    /// 1-128 characters of standard Base64 (padding optional) of an absolute http(s) URL.
    fn push_url(v: &Value) -> Option<PushUrl> {
        let s = v
            .as_str()
            .filter(|s| (1..=128).contains(&s.chars().count()))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
            .ok()?;
        // The decoded string is kept byte for byte: pushes go to, and sign, exactly this (spec §8).
        String::from_utf8(bytes).ok()?.parse().ok()
    }

    /// `"true"`/`"false"`, or (Dialtone decision) a JSON boolean.
    fn flag(v: &Value) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s == "true" => Some(true),
            Value::String(s) if s == "false" => Some(false),
            _ => None,
        }
    }

    pub fn call_verify(
        bytes: &[u8],
        app_key: &str,
        languages: &BTreeMap<String, String>,
        lenient: bool,
    ) -> Result<CallVerifyIn, ApiError> {
        let body = json_object(bytes)?;
        let f = Fields(&body);
        let display_nbr = f.required("displayNbr", domain)?;
        let callee_nbr = f.required("calleeNbr", domain)?;
        let language_type = f.required("languageType", |v| integer(v, lenient))?;
        if !languages.contains_key(&language_type.to_string()) {
            let known: Vec<String> = languages
                .iter()
                .map(|(k, v)| format!("{k} ({v})"))
                .collect();
            return Err(ApiError::invalid("languageType").hint(format!(
            "languageType {language_type} is not in the configuration's `languages`: expected one of {}",
            known.join(", ")
        )));
        }
        let pre_tone = f.required("preTone", domain)?;
        let verify_code = f.required("verifyCode", domain)?;
        let pos_tone = f.optional("posTone", domain)?;
        let times = f
            .optional("times", |v| {
                integer(v, lenient).filter(|t| (0..=9).contains(t))
            })?
            .unwrap_or(3) as u8;
        let Tail {
            status_url,
            fee_url,
            return_idle_port,
            user_data,
        } = f.tail()?;
        // bindNbr is obsolete: accepted and ignored (spec §4.1).
        Ok(CallVerifyIn {
            call: CallRequest {
                app_key: app_key.into(),
                display_nbr,
                callee_nbr,
                status_url,
                fee_url,
                user_data,
                kind: CallKind::Verify(VerifyCall {
                    language_type,
                    pre_tone,
                    verify_code,
                    pos_tone,
                    times,
                }),
            },
            return_idle_port,
        })
    }

    pub fn call_notify(
        bytes: &[u8],
        app_key: &str,
        lenient: bool,
    ) -> Result<CallNotifyIn, ApiError> {
        let body = json_object(bytes)?;
        let f = Fields(&body);
        // bindNbr is obsolete: accepted and ignored (spec §11.1).
        let display_nbr = f.required("displayNbr", domain)?;
        let callee_nbr = f.required("calleeNbr", domain)?;
        let list = f.required("playInfoList", |v| {
            v.as_array()
                .filter(|a| (1..=MAX_SEGMENTS).contains(&a.len()))
                .cloned()
        })?;
        let play_info_list = list
            .iter()
            .map(|entry| play_info(entry, lenient))
            .collect::<Result<Vec<_>, _>>()?;
        let Tail {
            status_url,
            fee_url,
            return_idle_port,
            user_data,
        } = f.tail()?;
        Ok(CallNotifyIn {
            call: CallRequest {
                app_key: app_key.into(),
                display_nbr,
                callee_nbr,
                status_url,
                fee_url,
                user_data,
                kind: CallKind::Notify(NotifyCall { play_info_list }),
            },
            return_idle_port,
        })
    }

    /// One `playInfoList` entry (spec §11.1, PlayContentInfo), fields in table order.
    fn play_info(entry: &Value, lenient: bool) -> Result<PlayInfo, ApiError> {
        let Value::Object(map) = entry else {
            return Err(ApiError::invalid("playInfoList"));
        };
        let f = Fields(map);
        let notify_voice: Option<ToneName> = f.optional("notifyVoice", domain)?;
        let template_id = f.optional("templateId", |v| {
            v.as_str().filter(|s| is_template_id(s)).map(str::to_owned)
        })?;
        if notify_voice.is_none() && template_id.is_none() {
            return Err(ApiError::invalid("playInfoList"));
        }
        // With only a voice file, templateParas is ignored (spec §11.1 decision).
        let template_paras = match template_id {
            Some(_) => f.required("templateParas", |v| template_paras(v, lenient))?,
            None => Vec::new(),
        };
        let collect_ind = f
            .optional("collectInd", |v| {
                integer(v, lenient).filter(|n| (0..=32).contains(n))
            })?
            .unwrap_or(0) as u8;
        // The replay fields count only when their precondition holds (spec §11.1).
        let replay = match collect_ind {
            0 => false,
            _ => f.optional("replayAfterCollection", flag)?.unwrap_or(false),
        };
        let replay_on = match replay {
            false => None,
            true => f.optional("collectContentTriggerReplaying", trigger)?,
        };
        Ok(PlayInfo {
            notify_voice,
            template_id,
            template_paras,
            collect_ind,
            replay_on,
        })
    }

    /// A template id: 1-32 characters `[A-Za-z0-9_-]` (spec §11.2 decision).
    fn is_template_id(s: &str) -> bool {
        (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }

    /// An array of strings, each at most 32 bytes. With `api.lenient_types`, numbers count as their
    /// decimal text and the array may come as a JSON string holding it (legacy PHP clients).
    fn template_paras(v: &Value, lenient: bool) -> Option<Vec<String>> {
        let parsed;
        let array = match v {
            Value::Array(a) => a,
            Value::String(s) if lenient => {
                parsed = serde_json::from_str::<Value>(s).ok()?;
                parsed.as_array()?
            }
            _ => return None,
        };
        array
            .iter()
            .map(|p| match p {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) if lenient => Some(n.to_string()),
                _ => None,
            })
            .map(|p| p.filter(|s| s.len() <= 32))
            .collect()
    }

    /// The replay trigger: 1-32 characters of `0`-`9` and `*`; a JSON integer reads as its decimal
    /// text (spec §11.1).
    fn trigger(v: &Value) -> Option<String> {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) if n.is_u64() => n.to_string(),
            _ => return None,
        };
        ((1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit() || b == b'*'))
            .then_some(s)
    }

    pub fn click_to_call(
        bytes: &[u8],
        app_key: &str,
        lenient: bool,
    ) -> Result<ClickToCallIn, ApiError> {
        let body = json_object(bytes)?;
        let f = Fields(&body);
        // bindNbr is obsolete: accepted and ignored (spec §12.1).
        let display_nbr: PhoneNumber = f.required("displayNbr", domain)?;
        let a_nbr: PhoneNumber = f
            .required("callerNbr", domain)
            .map_err(|_| ApiError::InvalidCallerNumber)?;
        let display_callee_nbr: PhoneNumber = f.required("displayCalleeNbr", domain)?;
        let b_nbr: PhoneNumber = f.required("calleeNbr", domain)?;
        // Dialtone decision: the pushes could not tell the legs apart (spec §12.1).
        if b_nbr == a_nbr {
            return Err(ApiError::invalid("calleeNbr"));
        }
        let max_duration = f
            .optional("maxDuration", |v| {
                integer(v, lenient).filter(|m| (0..=1440).contains(m))
            })?
            .unwrap_or(0) as u32;
        let last_min_voice = match max_duration {
            0 => None,
            _ => f.optional("lastMinVoice", domain)?,
        };
        let last_min_to_ue = f
            .optional("lastMinToUE", |v| one_of(v, &["toa", "tob", "both"]))?
            .unwrap_or_else(|| "both".into());
        let play_pre_voice = f.optional("playPreVoice", flag)?.unwrap_or(false);
        let pre_voice = match play_pre_voice {
            true => f.optional("preVoice", domain)?,
            false => None,
        };
        let wait_voice = f.optional("waitVoice", domain)?;
        let callee_media = f
            .optional("calleeMedia", |v| one_of(v, &["all", "none", "fail"]))?
            .unwrap_or_else(|| "all".into());
        let status_url = f.optional("statusUrl", push_url)?;
        let fee_url = f.optional("feeUrl", push_url)?;
        let record = f.optional("recordFlag", flag)?.unwrap_or(false);
        let record_hint_tone = match record {
            true => f.optional("recordHintTone", domain)?,
            false => None,
        };
        let party_type_in_disconnect = f
            .optional("partyTypeRequiredInDisconnect", flag)?
            .unwrap_or(false);
        let return_idle_port = f.optional("returnIdlePort", flag)?.unwrap_or(false);
        let user_data = f.optional("userData", |v| {
            v.as_str()
                .filter(|s| (1..=256).contains(&s.chars().count()))
                .map(str::to_owned)
        })?;
        Ok(ClickToCallIn {
            call: CallRequest {
                app_key: app_key.into(),
                display_nbr,
                callee_nbr: a_nbr,
                status_url,
                fee_url,
                user_data,
                kind: CallKind::Callback(Box::new(CallbackCall {
                    display_callee_nbr,
                    b_nbr,
                    max_duration,
                    last_min_voice,
                    last_min_to_ue,
                    pre_voice,
                    play_pre_voice,
                    wait_voice,
                    callee_media,
                    record,
                    record_hint_tone,
                    party_type_in_disconnect,
                })),
            },
            return_idle_port,
        })
    }

    /// A string out of a fixed set.
    fn one_of(v: &Value, allowed: &[&str]) -> Option<String> {
        v.as_str()
            .filter(|s| allowed.contains(s))
            .map(str::to_owned)
    }
}
