//! The X-AKSK and Authorization header parsers (spec §3.1, checks 1–7 and 10): any header
//! value, valid UTF-8 or not (hyper hands over bytes; Dialtone reads them as text when they are).
#![no_main]

use dialtone::auth::aksk;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let _ = aksk::check_authorization(Some(value));
    let _ = aksk::claimed_app_key(Some(value));
    let _ = aksk::Created::parse(value);
    if let Ok(token) = aksk::parse_x_aksk(Some(value)) {
        // A parsed token has a non-empty username and a nonce of 1–128 letters and digits.
        assert!(!token.username.is_empty());
        assert!((1..=128).contains(&token.nonce.len()));
        assert!(token.nonce.bytes().all(|b| b.is_ascii_alphanumeric()));
        let _ = token.digest_matches("secret");
        if let Some(created) = aksk::Created::parse(&token.created) {
            let _ = created.accepted_until(300);
            let now = chrono::DateTime::UNIX_EPOCH;
            let _ = created.within_window(now, 300);
        }
    }
});
