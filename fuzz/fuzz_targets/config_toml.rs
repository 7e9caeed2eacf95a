//! The config file: any text is either a valid config or refused with a key and a message.
#![no_main]

use dialtone::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Config::parse(text, "fuzz.toml") {
        assert!(!e.to_string().is_empty());
    }
});
