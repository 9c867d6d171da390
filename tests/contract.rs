//! Contract fuzzing: schemathesis against each service's OpenAPI document on a running stack.
//!
//! One stack (region `sa`, one reader) is seeded with an editor, published
//! reviews (the subjects and slugs the documents give as examples) and a
//! draft. Then schemathesis, pinned and installed by `make deps` into the
//! target directory, reads each service's `/openapi.json` from the
//! service's own port and fuzzes every operation it documents with every
//! check it has (`--checks all`): no 5xx, every answer's status code,
//! content type, headers and body as documented, schema-valid requests
//! accepted and schema-violating ones refused, 405 with `Allow` for
//! undocumented methods, 401 without credentials, created resources
//! readable and retracted ones gone.
//!
//! Services are driven on their own ports, not through the gateway: each
//! document describes one service, including `/healthz`, `/readyz`,
//! `/metrics` and `/openapi.json`, which SPEC §4 keeps off the public
//! gateway; the gateway only routes by prefix (tests/stack.rs drives it).
//!
//! Order matters, because the fuzzer writes: first the reader (anonymous,
//! read-only), then the writer with the editor's token (it may patch or
//! retract the seeded reviews), then auth with the admin's token, last
//! because it may disable or demote the editor or end its sessions. Auth's
//! own writes cannot take the admin's access away: an admin cannot disable
//! or demote itself (409), a password change needs the current password,
//! logout a refresh token and a password reset a token only its answer
//! shows, and ending the admin's sessions revokes refresh tokens, which
//! the fuzzer does not use (its access token runs until it expires); every
//! such attempt is still sent and checked against the document.
//!
//! Three checks meet answers that SPEC §4 makes right and no schema can
//! describe (opaque signed cursors and consistency tokens, If-Match
//! versions, rules between parameters, idempotent replays of a since
//! retracted review, a collection that still lists what is left after a
//! DELETE of its members): `tests/contract/hooks.py` drops exactly those,
//! by the problem+json `code` or field or the shape of the page, and says
//! why for each. No check is
//! excluded. The "schema validation mismatch" warning schemathesis prints
//! counts those refusals (mostly made-up cursors and consistency tokens);
//! it is not a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Gateway, StopOnDrop, start_stack, wait_until};
use serde_json::json;

/// Fixed, so that a failure can be replayed with the same cases.
const SEED: &str = "20240601";

/// The pinned schemathesis `make deps` installs (deploy/local/install-deps.sh).
fn schemathesis() -> PathBuf {
    let target = common::bin_dir()
        .parent()
        .expect("the target directory")
        .to_path_buf();
    let bin = target.join("tools/schemathesis/bin/schemathesis");
    assert!(
        bin.is_file(),
        "schemathesis is not installed at {}: run `make deps` \
         (deploy/local/install-deps.sh --contract)",
        bin.display()
    );
    bin
}

/// One service's run: its output and whether every check passed.
struct Run {
    service: &'static str,
    output: String,
    passed: bool,
}

/// Runs schemathesis against the service on `port` for at most about
/// `seconds` (fuzzing and stateful phases repeat until the budget is spent,
/// so more examples on a faster machine, never more time).
fn fuzz(service: &'static str, port: u16, token: Option<&str>, seconds: u32, cwd: &Path) -> Run {
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("contract");
    let python_path = match std::env::var_os("PYTHONPATH") {
        Some(old) => {
            std::env::join_paths(std::iter::once(hooks.clone()).chain(std::env::split_paths(&old)))
                .expect("PYTHONPATH")
        }
        None => hooks.clone().into_os_string(),
    };
    let mut cmd = Command::new(schemathesis());
    cmd.arg("run")
        .arg(format!("http://127.0.0.1:{port}/openapi.json"))
        .args(["--checks", "all"])
        .args(["--seed", SEED])
        .args(["--max-examples", "25"])
        .args(["--max-time", &seconds.to_string()])
        .args(["--generation-database", "none"])
        .arg("--no-color")
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", python_path)
        // No __pycache__ left in the checkout.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(cwd);
    if let Some(token) = token {
        cmd.args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    let out = cmd.output().expect("schemathesis runs");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Shown by the test harness when the test fails (or with --nocapture).
    eprintln!("===== schemathesis against {service} =====\n{output}");
    Run {
        service,
        output,
        passed: out.status.success(),
    }
}

#[test]
fn every_answer_of_every_service_matches_its_openapi_document() {
    let (stack, started) = start_stack("contract", &["sa"], 1);
    let guard = StopOnDrop(&stack);
    let layout = started.layout.clone();
    let gw = Gateway { layout: &layout };

    let admin = gw.login(&started.admin_email, &started.admin_password);
    let editor = gw.new_editor(&admin, "fuzz.editor@example.com", "Fuzz Editor");
    // The first is review 1 and the `sony-a7-iv-review` of the documents'
    // examples; `sony-a7-iv` and `nikon-z6-iii` are their subjects.
    let reviews = [
        json!({ "subject": { "kind": "camera", "brand": "Sony", "model": "A7 IV", "specs": { "megapixels": 33, "mount": "E" } },
                "title": "Sony A7 IV review", "summary": "Photo and video", "body": "Excellent for photo and video.",
                "rating": 9, "pros": ["autofocus"], "cons": ["menus"], "language": "en" }),
        json!({ "subject": { "kind": "camera", "brand": "Nikon", "model": "Z6 III" },
                "title": "Nikon Z6 III", "body": "Muy buena.", "rating": 8.5, "language": "es",
                "image_urls": ["https://example.com/z6.jpg"] }),
        json!({ "subject": { "kind": "lens", "brand": "Sigma", "model": "35mm F1.4 DG DN Art",
                             "specs": { "focal_min_mm": 35, "focal_max_mm": 35, "max_aperture": 1.4 } },
                "title": "Sigma 35 Art", "body": "Nítida.", "language": "pt" }),
        json!({ "subject": { "kind": "camera", "brand": "Sony", "model": "A7 IV" },
                "title": "Borrador", "body": "Todavía no.", "status": "draft" }),
    ];
    for review in &reviews {
        let answer = gw.call("sa", "POST", "/reviews", Some(&editor), &[], Some(review));
        assert_eq!(answer.status, 201, "{:?}", answer.body);
    }
    wait_until("the seeded reviews in the reader", || {
        let list = gw.call("sa", "GET", "/content", None, &[], None);
        list.status == 200 && list.body["data"].as_array().is_some_and(|d| d.len() == 3)
    });

    let cwd = stack.state_dir().to_path_buf();
    let runs = [
        fuzz("content-reader", layout.readers["sa"][0], None, 45, &cwd),
        fuzz("reviews-writer", layout.writer, Some(&editor), 45, &cwd),
        fuzz("auth", layout.auth, Some(&admin), 35, &cwd),
    ];
    let failed: Vec<_> = runs
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.service)
        .collect();
    assert!(
        failed.is_empty(),
        "schemathesis found defects in {failed:?}; its output for each is above:\n{}",
        runs.iter()
            .filter(|r| !r.passed)
            .map(|r| format!("--- {} ---\n{}", r.service, r.output))
            .collect::<String>()
    );
    drop(guard);
    stack.clean().expect("the stack's folder is removed");
}
