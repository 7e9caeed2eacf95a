//! X-AKSK (spec §3.1) as pure functions: digest computation, header parsing into typed values and the
//! `Created` window. No state and no clock: the caller passes the time, [`super::Auth`] owns the
//! nonce cache and the lockout.
//!
//! Parsing follows the spec's Dialtone decisions: the scheme words (`AKSK`, `UsernameToken`) and
//! attribute names match case-insensitively, values must be double-quoted (an unquoted value counts
//! as absent), attributes are separated by commas with or without spaces, in any order, and unknown
//! attributes are ignored. Of a repeated attribute the first occurrence counts.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::HeaderFault;

type HmacSha256 = Hmac<Sha256>;

/// `Base64(HMAC-SHA256(key = app_secret, message = nonce + created))`, standard alphabet, padded
/// (spec §3.1 `PasswordDigest`).
pub fn request_digest(app_secret: &str, nonce: &str, created: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(app_secret.as_bytes())
        .expect("HMAC-SHA256 accepts keys of any length");
    mac.update(nonce.as_bytes());
    mac.update(created.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The two header values a client sends: `(Authorization, X-AKSK)`. Used by Dialtone's own client
/// commands and by tests.
pub fn client_headers(app_key: &str, digest: &str, nonce: &str, created: &str) -> (String, String) {
    (
        r#"AKSK realm="SDP",profile="UsernameToken",type="Appkey""#.to_owned(),
        format!(
            r#"UsernameToken Username="{app_key}",PasswordDigest="{digest}",Nonce="{nonce}",Created="{created}""#
        ),
    )
}

/// Signs a request made at `now` for `app_key`: the `(Authorization, X-AKSK)` pair of
/// [`client_headers`], with `Created` = `now` and the digest of `nonce` under `app_secret`.
pub fn sign(app_key: &str, app_secret: &str, nonce: &str, now: DateTime<Utc>) -> (String, String) {
    let created = format_created(now);
    let digest = request_digest(app_secret, nonce, &created);
    client_headers(app_key, &digest, nonce, &created)
}

/// `yyyy-MM-ddTHH:mm:ssZ`, the `Created` format of spec §3.1.
pub fn format_created(t: DateTime<Utc>) -> String {
    crate::clock::created_time(t)
}

/// The attributes of the `X-AKSK` header after checks 6–7.
#[derive(Clone, PartialEq, Eq)]
pub struct UsernameToken {
    /// The claimed app_key.
    pub username: String,
    /// 1–128 ASCII letters and digits.
    pub nonce: String,
    /// As sent; parse it with [`Created::parse`] (check 10).
    pub created: String,
    pub password_digest: String,
}

impl UsernameToken {
    /// Check 11, first half: whether the digest is the one `app_secret` gives, compared in constant time.
    pub fn digest_matches(&self, app_secret: &str) -> bool {
        let expected = request_digest(app_secret, &self.nonce, &self.created);
        expected
            .as_bytes()
            .ct_eq(self.password_digest.as_bytes())
            .into()
    }
}

// The digest is a credential: keep it out of logs and panic messages.
impl fmt::Debug for UsernameToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsernameToken")
            .field("username", &self.username)
            .field("nonce", &self.nonce)
            .field("created", &self.created)
            .field("password_digest", &"<redacted>")
            .finish()
    }
}

/// Checks 1–5 of spec §3.1 on the `Authorization` header (`None` when the header is absent).
pub fn check_authorization(value: Option<&str>) -> Result<(), HeaderFault> {
    let value = value.ok_or(HeaderFault::AuthorizationMissing)?;
    let attrs = after_scheme(value, "AKSK").ok_or(HeaderFault::SchemeMissing)?;
    let attrs = Attributes::parse(attrs);
    let expect = |name: &str, wanted: &str, missing, wrong| match attrs.get(name) {
        None => Err(missing),
        Some(v) if v == wanted => Ok(()),
        Some(_) => Err(wrong),
    };
    use HeaderFault::*;
    expect("realm", "SDP", RealmMissing, RealmNotSdp)?;
    expect(
        "profile",
        "UsernameToken",
        ProfileMissing,
        ProfileNotUsernameToken,
    )?;
    expect("type", "Appkey", TypeMissing, TypeNotAppKey)
}

/// Checks 6–7 of spec §3.1 on the `X-AKSK` header (`None` when the header is absent).
pub fn parse_x_aksk(value: Option<&str>) -> Result<UsernameToken, HeaderFault> {
    let attrs = value
        .and_then(|v| after_scheme(v, "UsernameToken"))
        .ok_or(HeaderFault::XAkskMissing)?;
    let attrs = Attributes::parse(attrs);
    let present = |name: &str, fault| {
        attrs
            .get(name)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or(fault)
    };
    let username = present("username", HeaderFault::UsernameMissing)?;
    // Dialtone decision (check 7): a Nonce that is not 1–128 letters and digits counts as absent.
    let nonce = present("nonce", HeaderFault::NonceMissing)?;
    if nonce.len() > 128 || !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(HeaderFault::NonceMissing);
    }
    let created = present("created", HeaderFault::CreatedMissing)?;
    let password_digest = present("passworddigest", HeaderFault::PasswordDigestMissing)?;
    Ok(UsernameToken {
        username,
        nonce,
        created,
        password_digest,
    })
}

/// The app_key a request claims (its X-AKSK `Username`), whatever else is wrong with its headers:
/// lockout counts failures against it (spec §3.3).
pub fn claimed_app_key(x_aksk: Option<&str>) -> Option<String> {
    let attrs = Attributes::parse(after_scheme(x_aksk?, "UsernameToken")?);
    attrs
        .get("username")
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// What follows the scheme word if `value` starts with `scheme` (case-insensitively).
fn after_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let value = value.trim_start();
    let end = value
        .find(|c: char| c == ',' || c.is_whitespace())
        .unwrap_or(value.len());
    value[..end]
        .eq_ignore_ascii_case(scheme)
        .then(|| &value[end..])
}

/// `name="value"` pairs; names lower-cased, `None` for a value that is not double-quoted.
struct Attributes(Vec<(String, Option<String>)>);

impl Attributes {
    fn parse(mut rest: &str) -> Attributes {
        let mut out = Vec::new();
        loop {
            rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
            if rest.is_empty() {
                return Attributes(out);
            }
            let end = rest
                .find(|c: char| c == '=' || c == ',' || c.is_whitespace())
                .unwrap_or(rest.len());
            let name = rest[..end].to_ascii_lowercase();
            rest = rest[end..].trim_start();
            let mut value = None;
            if let Some(after_eq) = rest.strip_prefix('=') {
                let after_eq = after_eq.trim_start();
                if let Some(quoted) = after_eq.strip_prefix('"') {
                    match quoted.find('"') {
                        Some(close) => {
                            value = Some(quoted[..close].to_owned());
                            rest = &quoted[close + 1..];
                        }
                        // An unterminated quote is not a quoted value.
                        None => rest = "",
                    }
                } else {
                    rest = &after_eq[after_eq.find(',').unwrap_or(after_eq.len())..];
                }
            }
            out.push((name, value));
        }
    }

    /// The first occurrence of `name` (lower case), if its value was quoted.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// A parsed `Created`: the date and time as written, before any time zone is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created(NaiveDateTime);

impl Created {
    /// `yyyy-MM-ddTHH:mm:ss[.f{1,9}]Z` exactly; `None` is check 10's "cannot be parsed" (1010013).
    /// Dialtone decision (spec §3.1): fractional seconds before the `Z` are accepted.
    pub fn parse(s: &str) -> Option<Created> {
        let b = s.as_bytes();
        let body = b.strip_suffix(b"Z")?;
        if body.len() < 19 {
            return None;
        }
        let (main, fraction) = body.split_at(19);
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let digits = &main[r];
            digits.iter().all(u8::is_ascii_digit).then(|| {
                digits
                    .iter()
                    .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
            })
        };
        let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
        if seps.iter().any(|&(i, c)| main[i] != c) {
            return None;
        }
        let nanos = match fraction {
            [] => 0,
            [b'.', digits @ ..]
                if (1..=9).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) =>
            {
                let value = digits
                    .iter()
                    .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'));
                value * 10u32.pow(9 - digits.len() as u32)
            }
            _ => return None,
        };
        let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
        let time = NaiveTime::from_hms_nano_opt(num(11..13)?, num(14..16)?, num(17..19)?, nanos)?;
        Some(Created(date.and_time(time)))
    }

    /// The two readings of spec §3.1: as UTC (what the `Z` says) and as UTC+8 (what the platform's
    /// documentation says clients send).
    pub fn readings(self) -> [DateTime<Utc>; 2] {
        let as_utc = self.0.and_utc();
        [as_utc, as_utc - TimeDelta::hours(8)]
    }

    /// Check 10: whether either reading lies within `window_s` of `now` (inclusive).
    pub fn within_window(self, now: DateTime<Utc>, window_s: u64) -> bool {
        let window = window(window_s);
        self.readings().iter().any(|r| (*r - now).abs() <= window)
    }

    /// The last instant at which this `Created` is accepted under either reading: until then its
    /// nonce must be remembered (spec §3.1, "Nonce replay"). The UTC reading is the later one.
    pub fn accepted_until(self, window_s: u64) -> DateTime<Utc> {
        self.0.and_utc() + window(window_s)
    }
}

fn window(window_s: u64) -> TimeDelta {
    TimeDelta::try_seconds(i64::try_from(window_s).unwrap_or(i64::MAX)).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod props {
    //! Property tests: no header value makes the parsers panic, and every header a client
    //! builds parses back to what went in.

    use proptest::prelude::*;

    use super::*;

    fn from(alphabet: &'static str, len: std::ops::RangeInclusive<usize>) -> BoxedStrategy<String> {
        let chars: Vec<char> = alphabet.chars().collect();
        prop::collection::vec(prop::sample::select(chars), len)
            .prop_map(String::from_iter)
            .boxed()
    }

    const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    /// Strings made of the characters the header grammar cares about, so that the interesting
    /// paths (quotes, commas, `=`, schemes) are hit far more often than by arbitrary text.
    fn header_like() -> BoxedStrategy<String> {
        prop_oneof![
            any::<String>(),
            from(
                "\"=, \tUsernameTokenAKSKrealmnoncecreatedpassworddigestSDP\u{e9}\u{1F600}",
                0..=80
            ),
        ]
        .boxed()
    }

    proptest! {
        // proptest's default of 256 cases each; PROPTEST_CASES raises it.

        #[test]
        fn no_header_value_makes_the_parsers_panic(value in header_like()) {
            let _ = check_authorization(Some(&value));
            let _ = parse_x_aksk(Some(&value));
            let _ = claimed_app_key(Some(&value));
            let _ = Created::parse(&value);
            let with_scheme = format!("UsernameToken {value}");
            let _ = parse_x_aksk(Some(&with_scheme));
            let _ = claimed_app_key(Some(&with_scheme));
        }

        #[test]
        fn every_client_header_parses_back_to_what_went_in(
            app_key in from(ALNUM, 1..=40),
            nonce in from(ALNUM, 1..=128),
            digest in from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", 1..=64),
            secs in 0i64..253_402_300_799,
        ) {
            let created = format_created(DateTime::from_timestamp(secs, 0).expect("in range"));
            let (authorization, x_aksk) = client_headers(&app_key, &digest, &nonce, &created);
            prop_assert_eq!(check_authorization(Some(&authorization)), Ok(()));
            let token = parse_x_aksk(Some(&x_aksk)).expect("a client's header parses");
            prop_assert_eq!(&token.username, &app_key);
            prop_assert_eq!(&token.nonce, &nonce);
            prop_assert_eq!(&token.created, &created);
            prop_assert_eq!(&token.password_digest, &digest);
            prop_assert!(Created::parse(&created).is_some(), "{}", created);
            prop_assert_eq!(claimed_app_key(Some(&x_aksk)), Some(app_key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HeaderFault::*;

    const AUTHZ: &str = r#"AKSK realm="SDP",profile="UsernameToken",type="Appkey""#;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn request_digests_match_the_spec_vectors() {
        // spec §13
        assert_eq!(
            request_digest(
                "secret",
                "66C92B11FF8A425FB8D4CCFE0ED9ED1F",
                "2018-02-12T15:30:20Z"
            ),
            "nLcsIwh4/dE7K56zsLQ/A4SG1mrtpkJFfOpnmMpyaCs="
        );
        let nonce = "9F2C4A7E1B3D4F6A8C0E2B4D6F8A1C3E";
        assert_eq!(
            request_digest("dT4xQ9pLm2vR8wYz", nonce, "2026-03-14T10:15:30Z"),
            "j07xD3Yp3Ox91zNkEUX6HCtY5jdi6FpdMt+BFVpZMBE="
        );
        assert_eq!(
            request_digest("dT4xQ9pLm2vR8wYz", nonce, "2026-03-14T18:15:30Z"),
            "wOir8pqwEmc+U/7s6u6HmkmSmOy2bZysL0GdJZf50do="
        );
    }

    #[test]
    fn client_headers_parse_back_into_the_same_token() {
        let created = format_created(utc("2026-03-14T10:15:30.750Z"));
        assert_eq!(created, "2026-03-14T10:15:30Z");
        let digest = request_digest("s3cret", "abc123", &created);
        let (authz, x_aksk) = client_headers("key1", &digest, "abc123", &created);
        assert_eq!(authz, AUTHZ);
        check_authorization(Some(&authz)).unwrap();
        let token = parse_x_aksk(Some(&x_aksk)).unwrap();
        assert_eq!(token.username, "key1");
        assert_eq!(token.created, created);
        assert!(token.digest_matches("s3cret"));
        assert!(!token.digest_matches("other"));
        assert!(!format!("{token:?}").contains(&digest));
    }

    #[test]
    fn authorization_faults_come_in_check_order() {
        let cases = [
            (None, AuthorizationMissing),
            (Some(""), SchemeMissing),
            (
                Some(r#"realm="SDP",profile="UsernameToken",type="Appkey""#),
                SchemeMissing,
            ),
            (
                Some(r#"WSSE realm="SDP",profile="UsernameToken",type="Appkey""#),
                SchemeMissing,
            ),
            (
                Some(r#"AKSK profile="UsernameToken",type="Appkey""#),
                RealmMissing,
            ),
            (
                Some(r#"AKSK realm="sdp",profile="UsernameToken",type="Appkey""#),
                RealmNotSdp,
            ),
            (Some(r#"AKSK realm="SDP",type="Appkey""#), ProfileMissing),
            (
                Some(r#"AKSK realm="SDP",profile="Token",type="Appkey""#),
                ProfileNotUsernameToken,
            ),
            (
                Some(r#"AKSK realm="SDP",profile="UsernameToken""#),
                TypeMissing,
            ),
            (
                Some(r#"AKSK realm="SDP",profile="UsernameToken",type="app_key""#),
                TypeNotAppKey,
            ),
        ];
        for (header, fault) in cases {
            assert_eq!(check_authorization(header), Err(fault), "{header:?}");
        }
    }

    #[test]
    fn authorization_is_lenient_about_case_spacing_order_and_extras() {
        for header in [
            r#"aksk REALM="SDP", Profile="UsernameToken", TYPE="Appkey""#,
            r#"AKSK type="Appkey",realm="SDP",extra="1",profile="UsernameToken""#,
            r#"  AKSK   realm = "SDP" ,profile="UsernameToken",,type="Appkey"  "#,
        ] {
            assert_eq!(check_authorization(Some(header)), Ok(()), "{header}");
        }
    }

    #[test]
    fn unquoted_values_count_as_absent() {
        assert_eq!(
            check_authorization(Some(
                r#"AKSK realm=SDP,profile="UsernameToken",type="Appkey""#
            )),
            Err(RealmMissing)
        );
        assert_eq!(
            check_authorization(Some(
                r#"AKSK profile="UsernameToken",type="Appkey",realm="SDP"#
            )),
            Err(RealmMissing),
            "an unterminated quote is no value"
        );
        assert_eq!(
            parse_x_aksk(Some(
                r#"UsernameToken Username=k,Nonce="n",Created="c",PasswordDigest="d""#
            )),
            Err(UsernameMissing)
        );
    }

    #[test]
    fn x_aksk_faults_come_in_check_order() {
        let full = |u: &str, n: &str, c: &str, d: &str| {
            format!(
                r#"UsernameToken Username="{u}",Nonce="{n}",Created="{c}",PasswordDigest="{d}""#
            )
        };
        let cases = [
            (None, XAkskMissing),
            (Some(String::new()), XAkskMissing),
            (
                Some(r#"Username="k",Nonce="n",Created="c",PasswordDigest="d""#.into()),
                XAkskMissing,
            ),
            (Some("UsernameToken".into()), UsernameMissing),
            (Some(full("", "n", "c", "d")), UsernameMissing),
            (Some(full("k", "", "c", "d")), NonceMissing),
            (Some(full("k", "n", "", "d")), CreatedMissing),
            (Some(full("k", "n", "c", "")), PasswordDigestMissing),
            (
                Some(r#"UsernameToken Username="k",Nonce="n",Created="c""#.into()),
                PasswordDigestMissing,
            ),
        ];
        for (header, fault) in cases {
            assert_eq!(parse_x_aksk(header.as_deref()), Err(fault), "{header:?}");
        }
    }

    #[test]
    fn a_nonce_that_is_not_1_to_128_letters_and_digits_counts_as_absent() {
        let with_nonce = |n: &str| {
            format!(r#"UsernameToken Username="k",Nonce="{n}",Created="c",PasswordDigest="d""#)
        };
        for bad in ["9f2c-4a7e", "abc def", "ünïcode", &"a".repeat(129)] {
            assert_eq!(
                parse_x_aksk(Some(&with_nonce(bad))),
                Err(NonceMissing),
                "{bad}"
            );
        }
        for good in ["a", "9F2C4a7e", &"Z9".repeat(64)] {
            assert_eq!(parse_x_aksk(Some(&with_nonce(good))).unwrap().nonce, good);
        }
    }

    #[test]
    fn x_aksk_accepts_any_case_spacing_order_and_ignores_unknown_attributes() {
        let header = r#"usernametoken created="2026-03-14T10:15:30Z", PASSWORDDIGEST="d=", foo="bar", nonce="N1", USERNAME="k""#;
        let token = parse_x_aksk(Some(header)).unwrap();
        assert_eq!(
            (
                token.username.as_str(),
                token.nonce.as_str(),
                token.password_digest.as_str()
            ),
            ("k", "N1", "d=")
        );
        assert_eq!(claimed_app_key(Some(header)).as_deref(), Some("k"));
        assert_eq!(claimed_app_key(Some(r#"UsernameToken Nonce="x""#)), None);
        assert_eq!(claimed_app_key(Some(r#"Other Username="k""#)), None);
    }

    #[test]
    fn created_is_read_as_utc_and_as_utc_plus_8() {
        let c = Created::parse("2026-03-14T18:15:30Z").unwrap();
        assert_eq!(
            c.readings(),
            [utc("2026-03-14T18:15:30Z"), utc("2026-03-14T10:15:30Z")]
        );
        // UTC reading: 1 s old. UTC+8 reading: 1 s old as well, for a client in Beijing time.
        assert!(Created::parse("2026-03-14T10:15:30Z")
            .unwrap()
            .within_window(utc("2026-03-14T10:15:31Z"), 300));
        assert!(c.within_window(utc("2026-03-14T10:15:31Z"), 300));
        assert_eq!(c.accepted_until(300), utc("2026-03-14T18:20:30Z"));
    }

    #[test]
    fn created_accepts_fractional_seconds() {
        let c = Created::parse("2026-03-14T10:15:30.123Z").unwrap();
        assert_eq!(c.readings()[0], utc("2026-03-14T10:15:30.123Z"));
        assert!(Created::parse("2026-03-14T10:15:30.123456789Z").is_some());
    }

    #[test]
    fn created_outside_the_window_under_both_readings_is_refused() {
        let c = Created::parse("2026-03-14T10:15:30Z").unwrap();
        assert!(
            c.within_window(utc("2026-03-14T10:20:30Z"), 300),
            "edge is inclusive"
        );
        assert!(!c.within_window(utc("2026-03-14T10:20:31Z"), 300));
        assert!(!c.within_window(utc("2026-03-14T10:10:29Z"), 300));
        assert!(
            c.within_window(utc("2026-03-14T02:15:30Z"), 300),
            "UTC+8 reading"
        );
        assert!(
            !c.within_window(utc("2026-03-14T06:15:30Z"), 300),
            "between the readings"
        );
    }

    #[test]
    fn unparseable_created_values_are_rejected() {
        for bad in [
            "2026-03-14 10:15:30Z",
            "2026-03-14T10:15:30",
            "2026-03-14T10:15:30+08:00",
            "2026-3-14T10:15:30Z",
            "2026-02-30T10:15:30Z",
            "2026-03-14T24:00:00Z",
            "2026-03-14T10:15:30.Z",
            "2026-03-14T10:15:30.1234567890Z",
            "2026-03-14t10:15:30z",
            "+2026-03-14T10:15:30Z",
            "１０２６-03-14T10:15:30Z",
            "",
        ] {
            assert_eq!(Created::parse(bad), None, "{bad}");
        }
    }
}
