//! Embeds the Mandarin syllable clips of template TTS (`voices/zh/syllables/`, spec §11.2):
//! writes `$OUT_DIR/syllables.rs`, a table of `(pinyin, file, bytes)` sorted by pinyin, one
//! `include_bytes!` per clip, which `src/audio/syllables.rs` includes. So nothing lists 1549
//! files by hand, and adding or renaming a clip only means regenerating the voices.
//!
//! `syllables.toml` is written by `scripts/make-voices.sh` in a fixed shape, one entry per line
//! (`"zhang1" = { file = "zhang1.wav", tone = 1, espeak = "zhang1" }`), so it is read here with
//! string splitting rather than a TOML parser (a build dependency would be compiled once more,
//! for the build script). A line in the `[syllables]` table of any other shape stops the build,
//! and a unit test in `src/audio/syllables.rs` parses the same file with `toml` and compares.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&root).join("voices").join("zh").join("syllables");
    let manifest = dir.join("syllables.toml");
    println!("cargo:rerun-if-changed={}", manifest.display());
    let text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", manifest.display()));

    let mut entries = Vec::new();
    let mut in_table = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            in_table = line == "[syllables]";
            continue;
        }
        if in_table {
            let entry = parse_entry(line).unwrap_or_else(|| {
                panic!(
                    "{}:{}: not a `\"pinyin\" = {{ file = \"x.wav\", … }}` line: {line}",
                    manifest.display(),
                    n + 1
                )
            });
            entries.push(entry);
        }
    }
    assert!(
        !entries.is_empty(),
        "{}: no [syllables]",
        manifest.display()
    );
    entries.sort();
    if let Some(w) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
        panic!("{}: `{}` is listed twice", manifest.display(), w[0].0);
    }

    let mut out = String::from("&[\n");
    for (pinyin, file) in &entries {
        let path = dir.join(file);
        assert!(
            path.is_file(),
            "{} lists {file}, which is missing",
            manifest.display()
        );
        let path = path.to_str().expect("the checkout path is UTF-8");
        writeln!(out, "    ({pinyin:?}, {file:?}, include_bytes!({path:?})),")
            .expect("writing to a String");
    }
    out.push_str("]\n");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let target = Path::new(&out_dir).join("syllables.rs");
    std::fs::write(&target, out)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", target.display()));
}

/// `"lü4" = { file = "lv4.wav", … }` → (`lü4`, `lv4.wav`). Keys are pinyin (no quotes or
/// escapes); files are ASCII `[a-z0-9]+.wav`, safe in a path.
fn parse_entry(line: &str) -> Option<(String, String)> {
    let (key, rest) = line.strip_prefix('"')?.split_once('"')?;
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let fields = rest.strip_prefix('{')?.strip_suffix('}')?;
    let file = fields.split_once("file = \"")?.1.split_once('"')?.0;
    let stem = file.strip_suffix(".wav")?;
    let key_ok = !key.is_empty() && !key.contains(['\\', '"']);
    let stem_ok = !stem.is_empty()
        && stem
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (key_ok && stem_ok).then(|| (key.to_owned(), file.to_owned()))
}
