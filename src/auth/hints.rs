//! Dialtone's explanations of X-AKSK refusals (the `X-Dialtone-Hint` header and the log line):
//! what the client should have sent, in plain words. Pure functions of the request and the
//! clock; never a secret, never a digest Dialtone computed (that would be a signing oracle).

use chrono::{DateTime, Utc};

use super::aksk::{Created, UsernameToken};

/// 1023xxx: what the two headers look like (the resultdesc names the part that is wrong).
pub(super) const HEADERS: &str = "expected two headers: Authorization: AKSK realm=\"SDP\",\
    profile=\"UsernameToken\",type=\"Appkey\" and X-AKSK: UsernameToken Username=\"<app_key>\",\
    PasswordDigest=\"<Base64(HMAC-SHA256(app_secret, Nonce + Created))>\",Nonce=\"<1-128 letters \
    and digits, fresh each time>\",Created=\"<yyyy-MM-ddTHH:mm:ssZ>\"";

/// 1010010, digest mismatch: the exact string that should have been signed.
pub(super) fn digest_mismatch(token: &UsernameToken) -> String {
    format!(
        "PasswordDigest does not match: it must be Base64(HMAC-SHA256(app_secret, Nonce + Created)), \
         here HMAC over the string `{}{}` (Nonce then Created, nothing between) keyed with the \
         app_secret of app {}; check the secret and that the headers carry the same Nonce and Created",
        token.nonce, token.created, token.username
    )
}

/// 1010013, `Created` outside the window: how far off it is under both readings, from real time
/// (what it is checked against on every clock mode: the signer's clock is real).
pub(super) fn created_off(
    sent: &str,
    created: Created,
    now: DateTime<Utc>,
    window_s: u64,
) -> String {
    let [as_utc, as_beijing] = created.readings().map(|r| off(r, now));
    format!(
        "Created `{sent}` is {as_utc} real time read as UTC, and {as_beijing} read as \
         Beijing time (UTC+8); one reading must be within {window_s} s (auth.created_window_s). \
         Created is checked against real time, the simulated clock's mode aside: sign with \
         your server's own clock. Real time now: {}",
        now.format("%Y-%m-%dT%H:%M:%SZ")
    )
}

/// `"95 s ahead of"` / `"8 h 10 min behind"`.
fn off(reading: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (reading - now).num_seconds();
    let side = if secs >= 0 { "ahead of" } else { "behind" };
    let secs = secs.unsigned_abs();
    let parts = [
        (secs / 3600, "h"),
        (secs / 60 % 60, "min"),
        (secs % 60, "s"),
    ];
    let size: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}"))
        .collect();
    let size = if size.is_empty() {
        "0 s".to_owned()
    } else {
        size.join(" ")
    };
    format!("{size} {side}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_created_is_measured_under_both_readings() {
        let created = Created::parse("2026-03-14T10:05:31Z").expect("a valid Created");
        let now = "2026-03-14T10:15:31Z".parse().expect("a valid time");
        assert_eq!(
            created_off("2026-03-14T10:05:31Z", created, now, 300),
            "Created `2026-03-14T10:05:31Z` is 10 min behind real time read as UTC, and \
             8 h 10 min behind read as Beijing time (UTC+8); one reading must be within 300 s \
             (auth.created_window_s). Created is checked against real time, the simulated \
             clock's mode aside: sign with your server's own clock. Real time now: \
             2026-03-14T10:15:31Z"
        );
    }

    #[test]
    fn a_digest_hint_names_the_string_to_sign_and_never_the_secret() {
        let token = UsernameToken {
            username: "k3VdT9wQx2LpR7mN4sB8cY1fHj6Z".into(),
            nonce: "N1".into(),
            created: "2026-03-14T10:15:30Z".into(),
            password_digest: "forged".into(),
        };
        let hint = digest_mismatch(&token);
        assert!(hint.contains("`N12026-03-14T10:15:30Z`"), "{hint}");
        assert!(!hint.contains("dT4xQ9pLm2vR8wYz"), "{hint}");
    }
}
