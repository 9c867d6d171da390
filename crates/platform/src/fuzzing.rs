//! The properties of the parsers that read what clients send (JSON bodies,
//! pagination cursors, consistency tokens), as functions that both the fuzz
//! targets (`fuzz/`) and the property tests call, so a long fuzz run and
//! `cargo test` check exactly the same thing.
//!
//! Each `check_*` accepts any input and panics when a property fails: no
//! parser panics; every refusal is a 4xx problem; whatever is accepted
//! survives being written out and read again; and a cursor or token that was
//! changed in any way, cut short, or signed with another key is refused.
//!
//! Not part of the crate's API: hidden from the docs, and free to change
//! whenever the properties do.

use std::fmt::Debug;

use actix_web::ResponseError as _;
use domain::fuzzing::NOW;
use domain::{
    EditorPatch, ErrorCode, NewEditor, NewReview, NewSubject, RawEditorPatch, RawNewEditor,
    RawNewReview, RawReviewPatch, ReviewPatch, format_publish_at,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::Problem;
use crate::consistency::{ConsistencyToken, Lsn, MAX_TOKEN_LEN, TokenError, TokenKey};
use crate::cursor::{CursorError, CursorKey, MAX_CURSOR_LEN};
use crate::http::parse_json;

/// The secrets the checks sign with; any two different ones would do.
const SECRET: &[u8] = b"fuzzing secret, 32 bytes or more";
const OTHER_SECRET: &[u8] = b"another fuzzing secret, as long..";

fn assert_client_error(problem: &Problem) {
    let status = problem.status_code();
    assert!(status.is_client_error(), "{problem} answers {status}");
}

/// What the services answer for a body their domain parser refuses
/// (writer and auth alike map `ValidationErrors` to this code).
fn assert_refusal_is_a_client_error() {
    assert_client_error(&Problem::new(ErrorCode::ValidationFailed));
}

/// A body as `JsonBody` / `JsonWithDigest` read it: a 4xx problem, or a
/// value whose document also has the canonical form the idempotency digest
/// needs.
fn check_json<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    match parse_json::<T>(body) {
        Err(problem) => {
            assert_client_error(&problem);
            None
        }
        Ok(value) => {
            assert!(
                serde_json::from_slice::<Value>(body).is_ok(),
                "parsed, but has no canonical form"
            );
            Some(value)
        }
    }
}

/// Writes `value` as a client would send it and reads it back the way the
/// services do.
fn reparse<R: DeserializeOwned>(value: &Value) -> R {
    let bytes = serde_json::to_vec(value).expect("plain JSON");
    parse_json::<R>(&bytes).unwrap_or_else(|p| panic!("{value} does not parse: {p}"))
}

/// `POST /reviews` and `PATCH /reviews/{id}` on one body.
pub fn check_review_body(body: &[u8]) {
    if let Some(raw) = check_json::<RawNewReview>(body) {
        match domain::fuzzing::check_new_review(raw) {
            None => assert_refusal_is_a_client_error(),
            Some(review) => {
                let again = NewReview::parse(reparse(&new_review_json(&review)), NOW);
                assert_eq!(again.as_ref(), Ok(&review));
            }
        }
    }
    if let Some(raw) = check_json::<RawReviewPatch>(body) {
        match domain::fuzzing::check_review_patch(raw) {
            None => assert_refusal_is_a_client_error(),
            Some(patch) => {
                let again = ReviewPatch::parse(reparse(&review_patch_json(&patch)), NOW);
                assert_eq!(again.as_ref(), Ok(&patch));
            }
        }
    }
}

/// `POST /auth/editors` and `PATCH /auth/editors/{id}` on one body.
pub fn check_editor_body(body: &[u8]) {
    if let Some(raw) = check_json::<RawNewEditor>(body) {
        match domain::fuzzing::check_new_editor(raw) {
            None => assert_refusal_is_a_client_error(),
            Some(editor) => {
                let again = NewEditor::parse(reparse(&new_editor_json(&editor)))
                    .unwrap_or_else(|e| panic!("{editor:?} does not re-parse: {e}"));
                assert_eq!(again.email(), editor.email());
                assert_eq!(again.name(), editor.name());
                assert_eq!(again.password().expose(), editor.password().expose());
                assert_eq!(again.role(), editor.role());
            }
        }
    }
    if let Some(raw) = check_json::<RawEditorPatch>(body) {
        match domain::fuzzing::check_editor_patch(raw) {
            None => assert_refusal_is_a_client_error(),
            Some(patch) => {
                let again = EditorPatch::parse(reparse(&editor_patch_json(&patch)));
                assert_eq!(again.as_ref(), Ok(&patch));
            }
        }
    }
}

fn subject_json(subject: &NewSubject) -> Value {
    json!({
        "kind": subject.kind(),
        "brand": subject.brand(),
        "model": subject.model(),
        "specs": subject.specs(),
    })
}

fn new_review_json(review: &NewReview) -> Value {
    json!({
        "subject": subject_json(review.subject()),
        "title": review.title(),
        "summary": review.summary(),
        "body": review.body(),
        "rating": review.rating(),
        "pros": review.pros(),
        "cons": review.cons(),
        "image_urls": review.image_urls(),
        "language": review.language(),
        "status": review.status(),
        "publish_at": review.publication().publish_at().map(format_publish_at),
    })
}

/// Only what the patch changes; a cleared rating is `null`.
fn review_patch_json(patch: &ReviewPatch) -> Value {
    let mut body = Map::new();
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            body.insert(name.to_owned(), value);
        }
    };
    put("subject", patch.subject().map(subject_json));
    put("title", patch.title().map(|v| json!(v)));
    put("summary", patch.summary().map(|v| json!(v)));
    put("body", patch.body().map(|v| json!(v)));
    put("rating", patch.rating().map(|v| json!(v)));
    put("pros", patch.pros().map(|v| json!(v)));
    put("cons", patch.cons().map(|v| json!(v)));
    put("image_urls", patch.image_urls().map(|v| json!(v)));
    put("language", patch.language().map(|v| json!(v)));
    put("status", patch.status().map(|v| json!(v)));
    let publish_at = patch.publication().and_then(|p| p.publish_at());
    put(
        "publish_at",
        publish_at.map(|at| json!(format_publish_at(at))),
    );
    Value::Object(body)
}

fn new_editor_json(editor: &NewEditor) -> Value {
    json!({
        "email": editor.email(),
        "name": editor.name(),
        "password": editor.password().expose(),
        "role": editor.role(),
    })
}

fn editor_patch_json(patch: &EditorPatch) -> Value {
    let mut body = Map::new();
    if let Some(name) = patch.name() {
        body.insert("name".into(), json!(name));
    }
    if let Some(role) = patch.role() {
        body.insert("role".into(), json!(role));
    }
    if let Some(disabled) = patch.disabled() {
        body.insert("disabled".into(), json!(disabled));
    }
    Value::Object(body)
}

fn cursor_keys() -> (CursorKey, CursorKey) {
    let key = |secret| CursorKey::new(secret).expect("long enough");
    (key(SECRET), key(OTHER_SECRET))
}

fn token_keys() -> (TokenKey, TokenKey) {
    let key = |secret| TokenKey::new(secret).expect("long enough");
    (key(SECRET), key(OTHER_SECRET))
}

/// A client's `cursor` text: never accepted without the key (as any of the
/// position types the services use), never a panic, and refused as the
/// services answer it, `invalid_cursor` (400).
pub fn check_cursor_text(scope: &str, text: &str) {
    let (key, _) = cursor_keys();
    let results = [
        key.decode::<(f64, i64)>(scope, text).err(),
        key.decode::<(String, String, i64)>(scope, text).err(),
        key.decode::<i64>(scope, text).err(),
        key.decode::<Value>(scope, text).err(),
    ];
    for result in results {
        let error = result.unwrap_or_else(|| panic!("{text:?} decoded without the key"));
        if text.len() > MAX_CURSOR_LEN {
            assert_eq!(error, CursorError::Malformed);
        }
    }
    assert_client_error(&Problem::new(ErrorCode::InvalidCursor));
}

/// One way of damaging a signed text, chosen by the fuzzer.
#[derive(Debug, Clone, Copy)]
pub struct Damage {
    /// Where to damage (taken modulo the length).
    pub at: usize,
    /// What to write there (as a Latin-1 character).
    pub byte: u8,
}

/// Every damaged variant of `text` that must be refused: one character
/// replaced by another, cut short at `at`, and one character appended.
fn damaged(text: &str, damage: Damage) -> Vec<String> {
    let mut out = Vec::new();
    let with = char::from(damage.byte);
    if text.is_empty() {
        out.push(with.to_string());
        return out;
    }
    let at = damage.at % text.len();
    // Signed texts are ASCII, so every index is a character boundary.
    if text.as_bytes()[at] != damage.byte {
        out.push(format!("{}{with}{}", &text[..at], &text[at + 1..]));
    }
    out.push(text[..at].to_owned());
    out.push(format!("{text}{with}"));
    out
}

/// A cursor for `position` decodes to it under its scope and key, and to
/// nothing else: not damaged, not under another scope, not when signed by
/// another key.
pub fn check_cursor_round_trip<T>(scope: &str, position: &T, damage: Damage)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let (key, other_key) = cursor_keys();
    let text = key.encode(scope, position);
    assert!(text.is_ascii(), "{text}");
    assert_eq!(
        key.decode::<T>(scope, &text).as_ref(),
        Ok(position),
        "{text}"
    );
    for changed in damaged(&text, damage) {
        assert!(
            key.decode::<T>(scope, &changed).is_err(),
            "{changed:?} decoded"
        );
    }
    let other_scope = format!("{scope}\u{0}");
    assert_eq!(
        key.decode::<T>(&other_scope, &text).err(),
        Some(CursorError::BadSignature)
    );
    let forged = other_key.encode(scope, position);
    assert_eq!(
        key.decode::<T>(scope, &forged).err(),
        Some(CursorError::BadSignature)
    );
}

/// An `X-Consistency-Token` header: never accepted without the key, never a
/// panic, and refused as the reader answers it,
/// `invalid_consistency_token` (400). The same text as an LSN parses only
/// to a value that prints back to itself.
pub fn check_token_text(text: &str) {
    let (key, _) = token_keys();
    let error = key
        .verify(text)
        .err()
        .unwrap_or_else(|| panic!("{text:?} verified without the key"));
    if text.len() > MAX_TOKEN_LEN {
        assert_eq!(error, TokenError::Malformed);
    }
    assert_client_error(&Problem::new(ErrorCode::InvalidConsistencyToken));
    if let Ok(lsn) = text.parse::<Lsn>() {
        assert_eq!(lsn.to_string().parse::<Lsn>(), Ok(lsn));
    }
}

/// A signed token verifies to itself, and to nothing once damaged or when
/// signed by another key.
pub fn check_token_round_trip(token: ConsistencyToken, damage: Damage) {
    let (key, other_key) = token_keys();
    let text = key.sign(&token);
    assert!(text.len() <= MAX_TOKEN_LEN);
    assert_eq!(key.verify(&text), Ok(token));
    for changed in damaged(&text, damage) {
        assert!(key.verify(&changed).is_err(), "{changed:?} verified");
    }
    assert_eq!(
        key.verify(&other_key.sign(&token)),
        Err(TokenError::BadSignature)
    );
    assert_eq!(token.lsn.to_string().parse::<Lsn>(), Ok(token.lsn));
}

#[cfg(test)]
mod tests {
    //! The fuzz targets' body properties over generated documents, bounded
    //! so that `cargo test` stays quick (cursors and tokens: in their own
    //! modules' tests); `make fuzz` runs them for longer.

    use proptest::prelude::*;

    use super::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            16 => "[A-Za-z0-9áα][A-Za-z0-9 áα.-]{0,20}",
            2 => "\\PC{0,30}",
            1 => "[ \t\n\u{0}\u{7f}\u{2028}a\"\\\\]{0,5}",
            1 => "[a-z]{1,8}@[a-z]{1,8}\\.[a-z]{2,3}",
            1 => "(https|HTTPS|http)://[a-z]{1,8}\\.com(:[0-9]{1,6})?/[a-z]{0,5}",
        ]
    }

    /// Any JSON value, small.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            text().prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A plausible value for a body field, sometimes of the wrong type.
    fn field(name: &'static str) -> BoxedStrategy<Value> {
        let words =
            |w: &'static [&'static str]| proptest::sample::select(w).prop_map(Value::from).boxed();
        let number = |range: std::ops::Range<f64>| range.prop_map(Value::from).boxed();
        let strings = proptest::collection::vec(text(), 0..4)
            .prop_map(Value::from)
            .boxed();
        let valid = match name {
            "kind" => words(&["camera", "lens"]),
            "language" => words(&["es", "pt", "en"]),
            "status" => words(&["draft", "scheduled", "published"]),
            // Around the checks' now: past, ahead, too far ahead.
            "publish_at" => words(&[
                "2029-12-31T23:59:59Z",
                "2030-01-01T12:00:00.000001Z",
                "2030-06-01T09:00:00-03:00",
                "2031-06-01T00:00:00Z",
            ]),
            "role" => words(&["editor", "admin"]),
            "disabled" => any::<bool>().prop_map(Value::from).boxed(),
            "rating" => (0u8..=20)
                .prop_map(|h| Value::from(f64::from(h) / 2.0))
                .boxed(),
            "megapixels" => number(1.0..1000.0),
            "focal_min_mm" => number(8.0..70.0),
            "focal_max_mm" => number(70.0..800.0),
            "max_aperture" => number(0.95..32.0),
            "release_year" => (1800i32..=2200).prop_map(Value::from).boxed(),
            "pros" | "cons" => strings,
            "image_urls" => proptest::collection::vec(
                prop_oneof![
                    6 => "(https|HTTPS)://[a-z]{1,8}\\.com(:[0-9]{1,5})?/[a-z]{0,5}",
                    1 => text(),
                ],
                0..3,
            )
            .prop_map(Value::from)
            .boxed(),
            "email" => prop_oneof![
                6 => "[A-Za-z0-9.]{1,8}@[a-zA-Z]{1,8}\\.[a-z]{2,3}",
                1 => text(),
            ]
            .prop_map(Value::from)
            .boxed(),
            "password" => "[ -~]{12,20}".prop_map(Value::from).boxed(),
            "subject" => prop_oneof![
                2 => subject("camera", &["mount", "sensor_format", "megapixels", "release_year"]),
                2 => subject("lens", &["mount", "focal_min_mm", "focal_max_mm", "max_aperture"]),
                1 => object(&["kind", "brand", "model", "specs"]),
            ]
            .boxed(),
            "specs" => object(&["mount", "megapixels", "focal_min_mm", "release_year"]),
            _ => text().prop_map(Value::from).boxed(),
        };
        prop_oneof![24 => valid, 1 => Just(Value::Null), 1 => any_json()].boxed()
    }

    /// A subject of `kind` with specs that usually fit it.
    fn subject(kind: &'static str, specs: &'static [&'static str]) -> BoxedStrategy<Value> {
        (
            field("brand"),
            field("model"),
            proptest::option::of(object(specs)),
        )
            .prop_map(move |(brand, model, specs)| {
                let mut subject = json!({"kind": kind, "brand": brand, "model": model});
                if let Some(specs) = specs {
                    subject["specs"] = specs;
                }
                subject
            })
            .boxed()
    }

    /// An object with some of `names`, now and then an unknown one.
    fn object(names: &'static [&'static str]) -> BoxedStrategy<Value> {
        let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = names
            .iter()
            .map(|&name| {
                prop_oneof![
                    1 => Just(None),
                    8 => field(name).prop_map(move |v| Some((name.to_owned(), v))),
                ]
                .boxed()
            })
            .collect();
        let unknown = prop_oneof![
            12 => Just(None),
            1 => ("(id|editor_id|x)", any_json()).prop_map(Some),
        ];
        (fields, unknown)
            .prop_map(|(fields, unknown)| {
                Value::Object(fields.into_iter().chain([unknown]).flatten().collect())
            })
            .boxed()
    }

    /// A document's bytes, or the bytes broken, or not JSON at all.
    fn body(names: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
        let document = object(names).prop_map(|v| serde_json::to_vec(&v).expect("plain JSON"));
        prop_oneof![
            8 => document.clone(),
            1 => (document, any::<prop::sample::Index>(), "[\\]\\[{}\",: x0]{0,2}").prop_map(
                |(mut bytes, at, junk)| {
                    bytes.truncate(at.index(bytes.len() + 1));
                    bytes.extend_from_slice(junk.as_bytes());
                    bytes
                }
            ),
            1 => any_json().prop_map(|v| serde_json::to_vec(&v).expect("plain JSON")),
            1 => proptest::collection::vec(any::<u8>(), 0..40),
        ]
    }

    const NEW_EDITOR: &[&str] = &["email", "name", "password", "role"];
    const EDITOR_PATCH: &[&str] = &["name", "role", "disabled"];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_review_body_is_refused_with_a_4xx_or_round_trips(bytes in body(domain::fuzzing::REVIEW_FIELDS)) {
            check_review_body(&bytes);
        }

        #[test]
        fn any_editor_body_is_refused_with_a_4xx_or_round_trips(
            bytes in prop_oneof![body(NEW_EDITOR), body(EDITOR_PATCH)]
        ) {
            check_editor_body(&bytes);
        }
    }
}
