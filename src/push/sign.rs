//! Push signing (spec §8): a pure function, checked against the spec's known answers.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Which time zone the `Created` value of push signatures is written in (spec §8; the config's
/// `push.created_tz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum CreatedTz {
    #[serde(rename = "utc+8")]
    BeijingWithZ,
    #[serde(rename = "utc")]
    Utc,
}

/// `Base64(HMAC-SHA256(app_secret, url + "\n" + nonce + "\n" + created))`.
pub fn push_digest(app_secret: &str, url: &str, nonce: &str, created: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(url.as_bytes());
    mac.update(b"\n");
    mac.update(nonce.as_bytes());
    mac.update(b"\n");
    mac.update(created.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The `Created` value of a push: Beijing time with a literal `Z` by default, or true UTC (spec §8).
pub fn push_created(now: DateTime<Utc>, tz: CreatedTz) -> String {
    let shown = match tz {
        CreatedTz::BeijingWithZ => now + chrono::Duration::hours(8),
        CreatedTz::Utc => now,
    };
    crate::clock::created_time(shown)
}

/// A push's `Authorization` header, the same on every push (spec §8).
pub const PUSH_AUTHORIZATION: &str = r#"AKSK realm="SDP",profile="UsernameToken",type="Appkey""#;

/// A push's `X-AKSK` header; its `Authorization` is always [`PUSH_AUTHORIZATION`].
pub fn push_x_aksk(app_key: &str, digest: &str, nonce: &str, created: &str) -> String {
    // Put together piece by piece: one allocation, no formatting machinery, once per attempt.
    let parts = [
        r#"UsernameToken Username=""#,
        app_key,
        r#"",PasswordDigest=""#,
        digest,
        r#"",Nonce=""#,
        nonce,
        r#"",Created=""#,
        created,
        "\"",
    ];
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_digest_known_answers_from_the_spec() {
        assert_eq!(
            push_digest(
                "secret",
                "https://www.huawei.com:9330/fee",
                "66C92B11FF8A425FB8D4CCFE0ED9ED1F",
                "2018-02-12T15:30:20Z"
            ),
            "aPJGG2A6iBDT9ZWU6gBLzIM19eoe9/EdSiwzE0658F8="
        );
        assert_eq!(
            push_digest(
                "dT4xQ9pLm2vR8wYz",
                "http://127.0.0.1:9000/voice/status",
                "5E0B7C2A9D4F41B8A3C6E1F07B2D9A64",
                "2026-03-14T18:15:31Z"
            ),
            "zItAyarTuuM71HjKiIg83mp/M83GBbOjYz1tDLeJTKE="
        );
    }

    #[test]
    fn the_x_aksk_of_a_push_names_the_app_digest_nonce_and_created() {
        assert_eq!(
            push_x_aksk("key1", "ZGlnZXN0", "66C92B11", "2026-03-14T18:15:31Z"),
            r#"UsernameToken Username="key1",PasswordDigest="ZGlnZXN0",Nonce="66C92B11",Created="2026-03-14T18:15:31Z""#
        );
    }

    #[test]
    fn created_is_beijing_time_with_z_unless_configured_utc() {
        let t: DateTime<Utc> = "2026-03-14T10:15:31Z".parse().unwrap();
        assert_eq!(
            push_created(t, CreatedTz::BeijingWithZ),
            "2026-03-14T18:15:31Z"
        );
        assert_eq!(push_created(t, CreatedTz::Utc), "2026-03-14T10:15:31Z");
    }
}
