//! The platform's call request bodies: callVerify, callNotify, click2Call and callStop. A body
//! is either accepted or refused with a documented code; never a panic, never an internal error.
#![no_main]

use std::collections::BTreeMap;

use dialtone::api::{
    call_notify::CallNotifyIn, call_stop, call_verify::CallVerifyIn, click_to_call::ClickToCallIn,
};
use dialtone::error::ApiError;
use libfuzzer_sys::fuzz_target;

fn documented<T>(r: Result<T, ApiError>) {
    if let Err(e) = r {
        assert_ne!(
            e.resultcode(),
            "1010001",
            "internal error for a bad body: {e:?}"
        );
        assert!(!e.resultdesc().is_empty());
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks strict or lenient parsing; the rest is the body.
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let lenient = mode & 1 == 1;
    let languages = BTreeMap::from([("1".to_owned(), "zh_CN".to_owned())]);
    documented(CallVerifyIn::parse(body, "app", &languages, lenient));
    documented(CallNotifyIn::parse(body, "app", lenient));
    documented(ClickToCallIn::parse(body, "app", lenient));
    documented(call_stop::parse(body));
});
