//! The generated clients in `clients/` (the TypeScript client and the
//! Postman/Insomnia collection) are exactly what the services' OpenAPI
//! documents generate, and the TypeScript client compiles against its
//! usage example. A document that changes without `make clients` fails
//! here, and so does a change that breaks the example's calls.
//!
//! Both run the pinned npm packages in `clients/node_modules`, which
//! `make deps` (deploy/local/install-deps.sh --clients) installs.

use std::path::PathBuf;
use std::process::Command;

fn clients_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("clients");
    assert!(
        dir.join("node_modules/.installed-from-package-lock.json")
            .is_file(),
        "the clients' npm packages are not installed (or not from clients/package-lock.json): \
         run `make deps` (deploy/local/install-deps.sh --clients)"
    );
    dir
}

/// Runs node with `args` in `clients/`, failing with its output.
fn node(args: &[&str]) -> String {
    let output = Command::new("node")
        .args(args)
        .current_dir(clients_dir())
        .output()
        .unwrap_or_else(|e| panic!("node cannot run ({e}): run `make deps`"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "node {args:?} failed:\n{text}");
    text
}

#[test]
fn the_committed_clients_are_what_the_openapi_documents_generate() {
    node(&["generate.mjs", "--check"]);
}

#[test]
fn the_typescript_client_compiles_with_its_usage_example() {
    node(&["node_modules/typescript/bin/tsc", "--noEmit", "-p", "."]);
}
