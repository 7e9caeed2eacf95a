//! The README and the docs link only files that exist in the repository, and never the
//! private reference material they were written from.

use std::path::Path;

/// The relative targets of the Markdown links `[text](target)` in `text`, anchors removed.
fn relative_links(text: &str) -> Vec<String> {
    text.match_indices("](")
        .filter_map(|(at, _)| {
            let rest = &text[at + 2..];
            let target = &rest[..rest.find(')')?];
            let target = target.split('#').next().unwrap_or_default();
            let external = target.contains("://") || target.starts_with("mailto:");
            (!target.is_empty() && !external).then(|| target.to_owned())
        })
        .collect()
}

#[test]
fn every_relative_link_in_the_readme_and_docs_points_at_a_file_that_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pages = [
        "README.md",
        "docs/api.md",
        "docs/control-api.md",
        "docs/decisions.md",
    ];
    for page in pages {
        let text = std::fs::read_to_string(root.join(page)).expect("the page exists");
        assert!(
            !text.contains("shared/") && !text.contains("voicecall-api"),
            "{page} refers to material outside the repository"
        );
        let dir = root.join(page).parent().expect("a folder").to_owned();
        for link in relative_links(&text) {
            assert!(
                dir.join(&link).exists(),
                "{page} links `{link}`, which does not exist"
            );
        }
    }
}

#[test]
fn links_are_read_as_written() {
    let text = "see [api](docs/api.md#x-aksk), [site](https://example.com) and [top](#top)";
    assert_eq!(relative_links(text), ["docs/api.md"]);
}
