//! The README's Rust example, run as a test and tied to the README so neither can drift.

// Tie: include! (rustfmt keeps its README layout) plus a test that it equals the ```rust block.
include!("readme_example.rs");

/// The README's only ```rust block, without its fences.
fn readme_rust_block(readme: &str) -> &str {
    let mut blocks = readme.split("```rust\n").skip(1);
    let block = blocks.next().expect("the README has a ```rust block");
    assert!(
        blocks.next().is_none(),
        "one ```rust block, or this test must say which"
    );
    let end = block.find("\n```").expect("the ```rust block is closed");
    &block[..end]
}

/// One leading and one trailing newline off: the only difference allowed.
fn trim_newline(s: &str) -> &str {
    let s = s.strip_prefix('\n').unwrap_or(s);
    s.strip_suffix('\n').unwrap_or(s)
}

#[test]
fn the_readme_example_is_readme_example_rs_verbatim() {
    let readme = readme_rust_block(include_str!("../../README.md"));
    let example = include_str!("readme_example.rs");
    assert_eq!(
        trim_newline(readme),
        trim_newline(example),
        "README.md's ```rust block and tests/it/readme_example.rs differ: change both together"
    );
}
