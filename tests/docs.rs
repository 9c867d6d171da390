//! The documents that describe the code name only what exists: every
//! repository path, type and `crate::module::item` written in backticks in
//! `ARCHITECTURE.md` and `docs/DESIGN.md` is checked against the tree, so a
//! rename that forgets them fails here instead of misleading a reader.

use std::path::{Path, PathBuf};

const DOCUMENTS: &[&str] = &["ARCHITECTURE.md", "docs/DESIGN.md"];

/// Top-level folders of the repository: a backticked token starting with
/// one of them is a path.
const TOP_LEVEL: &[&str] = &[
    "crates/",
    "deploy/",
    "tests/",
    "docs/",
    "migrations/",
    "clients/",
    "fuzz/",
];

/// Crate names as Rust code writes them, and their folders.
const CRATES: &[(&str, &str)] = &[
    ("domain", "crates/domain"),
    ("platform", "crates/platform"),
    ("auth", "crates/auth"),
    ("reviews_writer", "crates/reviews-writer"),
    ("content_reader", "crates/content-reader"),
    ("local_stack", "crates/local-stack"),
    ("test_support", "crates/test-support"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The texts between backticks.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found
}

/// Whether `name` is declared (as a type, function, module, constant or
/// variant-bearing enum) in one of `files`.
fn declared(name: &str, files: &[PathBuf]) -> bool {
    let kinds = [
        "struct",
        "enum",
        "trait",
        "type",
        "fn",
        "mod",
        "const",
        "macro_rules!",
    ];
    files.iter().any(|file| {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        kinds.iter().any(|kind| {
            text.contains(&format!("{kind} {name}")) || text.contains(&format!("{kind} {name}<"))
        }) || text.contains(&format!("    {name} = \""))
            // Declared by a macro call (`string_newtype!(`/`word_enum!(`).
            || text.contains(&format!("\n    {name}, "))
            || text.contains(&format!("\n    {name},\n"))
    })
}

/// Names a document may write in backticks that are not ours to declare:
/// HTTP headers and std traits.
const NOT_OURS: &[&str] = &["Debug", "Location", "ETag"];

/// The source files a `crate::module::…` path can be in.
fn module_files(root: &Path, segments: &[&str]) -> Option<Vec<PathBuf>> {
    let (_, dir) = CRATES.iter().find(|(name, _)| *name == segments[0])?;
    let mut base = root.join(dir).join("src");
    for module in &segments[1..segments.len() - 1] {
        let file = base.join(format!("{module}.rs"));
        base = base.join(module);
        if file.is_file() {
            let mut files = vec![file];
            files.extend(sources(&base));
            if module == &segments[segments.len() - 2] {
                return Some(files);
            }
        }
    }
    Some(sources(&base))
}

#[test]
fn the_design_documents_name_only_paths_types_and_items_that_exist() {
    let root = root();
    let all_sources: Vec<PathBuf> = CRATES
        .iter()
        .flat_map(|(_, dir)| sources(&root.join(dir).join("src")))
        .collect();
    let mut missing = Vec::new();
    for document in DOCUMENTS {
        let text = std::fs::read_to_string(root.join(document)).expect(document);
        for token in backticked(&text) {
            let token = token.trim();
            if TOP_LEVEL.iter().any(|top| token.starts_with(top)) {
                let path = token.split([' ', '(']).next().unwrap_or(token);
                if !root.join(path.trim_end_matches('/')).exists() {
                    missing.push(format!("{document}: path `{token}`"));
                }
            } else if token.contains("::")
                && token
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == ':')
            {
                let segments: Vec<&str> = token.split("::").collect();
                let last = segments[segments.len() - 1];
                let files = module_files(&root, &segments).unwrap_or_else(|| all_sources.clone());
                if !declared(last, &files) {
                    missing.push(format!("{document}: item `{token}`"));
                }
            } else if token.len() > 1
                && !NOT_OURS.contains(&token)
                && !root.join(token).is_file()
                && token.starts_with(|c: char| c.is_ascii_uppercase())
                && token.chars().all(|c| c.is_ascii_alphanumeric())
                && token.chars().any(|c| c.is_ascii_lowercase())
                && !declared(token, &all_sources)
            {
                missing.push(format!("{document}: type `{token}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "named but not in the tree:\n{}",
        missing.join("\n")
    );
}
