//! Compressed answers (SPEC §10.1): the variants every route stores, each
//! made when a request first asks for its coding, the coding
//! `Accept-Encoding` picks, one strong `ETag` per variant and 304s across
//! them, HEAD, and read-your-writes answers.

use std::io::Read as _;

use awc::http::Method;
use serde_json::{Value, json};

use crate::helpers::{Answer, Raw, Reader, ReaderAnswer as _, TestApp, spawn_app, unique_word};

/// A body well over 1 KiB once listed: summaries and bodies of some length.
fn long_review(brand: &str, model: &str, title: &str) -> Value {
    let prose = "Sharp corners, quick autofocus and a grip that stays comfortable all day. ";
    json!({
        "subject": { "kind": "camera", "brand": brand, "model": model,
                     "specs": { "mount": "Z", "sensor_format": "full frame", "megapixels": 24.5 } },
        "title": title,
        "summary": prose.repeat(4),
        "body": prose.repeat(40),
        "rating": 8.0,
        "pros": ["autofocus", "grip", "weather sealing"],
        "cons": ["battery life", "menus"],
        "language": "en"
    })
}

/// Two reviews of two subjects sharing a word, and a catalog of several
/// subjects: every route's answer is then 1 KiB or more. The paths of
/// every route.
async fn published_routes(app: &TestApp) -> Vec<String> {
    let word = unique_word("zip");
    let first = app
        .publish(&long_review("Nikon", "Z6 III", &format!("{word} first")))
        .await;
    let second = app
        .publish(&long_review("Nikon", "Zf", &format!("{word} second")))
        .await;
    for prefix in ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot"] {
        app.insert_reviews(prefix, 2).await;
    }
    let text = |value: &Value| value.as_str().expect("a slug").to_owned();
    let subject = |answer: &Answer| text(&answer.body["subject"]["slug"]);
    let id = second.body["id"].as_i64().expect("id");
    app.wait_listed(id).await;
    vec![
        "/content".to_owned(),
        format!("/content?q={word}"),
        format!("/content/{}", text(&first.body["slug"])),
        format!("/content/{id}"),
        "/content/subjects".to_owned(),
        format!("/content/subjects/{}", subject(&first)),
        format!(
            "/content/compare?subjects={},{}",
            subject(&first),
            subject(&second)
        ),
    ]
}

fn decoded(raw: &Raw) -> Vec<u8> {
    let mut out = Vec::new();
    match raw.header("content-encoding") {
        Some("br") => brotli::Decompressor::new(&raw.body[..], 4096)
            .read_to_end(&mut out)
            .expect("brotli"),
        Some("gzip") => flate2::read::GzDecoder::new(&raw.body[..])
            .read_to_end(&mut out)
            .expect("gzip"),
        None => return raw.body.to_vec(),
        Some(other) => panic!("Content-Encoding: {other}"),
    };
    out
}

fn assert_varies(raw: &Raw, what: &str) {
    assert!(
        raw.header("vary").is_some_and(|v| v
            .split(',')
            .any(|v| v.trim().eq_ignore_ascii_case("accept-encoding"))),
        "{what}: {:?}",
        raw.headers
    );
}

#[actix_web::test]
async fn every_route_sends_br_and_gzip_that_decode_to_the_identity_body_byte_for_byte() {
    let app = spawn_app().await;
    for path in published_routes(&app).await {
        let identity = app.raw(&path, &[]).await;
        assert_eq!(identity.status.as_u16(), 200, "{path}");
        assert!(
            identity.body.len() >= 1024,
            "{path}: {} bytes",
            identity.body.len()
        );
        assert_eq!(identity.header("content-encoding"), None, "{path}");
        assert_varies(&identity, &path);
        let mut etags = vec![identity.header("etag").expect("ETag").to_owned()];
        for coding in ["br", "gzip"] {
            let encoded = app.raw(&path, &[("accept-encoding", coding)]).await;
            assert_eq!(encoded.status.as_u16(), 200, "{path} {coding}");
            assert_eq!(encoded.header("content-encoding"), Some(coding), "{path}");
            assert_eq!(encoded.header("content-type"), Some("application/json"));
            assert_varies(&encoded, &path);
            assert!(encoded.body.len() < identity.body.len(), "{path} {coding}");
            assert_eq!(decoded(&encoded), identity.body, "{path} {coding}");
            let etag = encoded.header("etag").expect("ETag").to_owned();
            assert!(
                etag.starts_with('"') && etag.ends_with(&format!("-{coding}\"")),
                "{path}: {etag}"
            );
            etags.push(etag);
        }
        etags.sort();
        etags.dedup();
        assert_eq!(etags.len(), 3, "{path}: one tag per variant {etags:?}");
    }
    // Errors are small problem documents: never compressed.
    for path in ["/content/no-such-review", "/content?limit=0"] {
        let error = app.raw(path, &[("accept-encoding", "br, gzip")]).await;
        assert!(error.status.is_client_error(), "{path}");
        assert_eq!(error.header("content-encoding"), None, "{path}");
    }
}

/// How many bodies `reader` compressed into br and into gzip.
async fn compressions(app: &TestApp, reader: &Reader) -> (f64, f64) {
    let metric = "rcr_cache_compressions_total";
    (
        app.metric(reader, metric, &["coding=\"br\""]).await,
        app.metric(reader, metric, &["coding=\"gzip\""]).await,
    )
}

#[actix_web::test]
async fn a_coding_is_compressed_once_when_a_request_first_asks_for_it() {
    let app = spawn_app().await;
    let routes = published_routes(&app).await;
    // Else the second reader below could take this reader's entries for
    // older than its first poll, and read them again.
    app.wait_replicated().await;
    let (search, review) = (&routes[1], &routes[2]);
    let (br, gzip) = compressions(&app, &app.reader).await;
    // A miss for a client without compressed codings compresses nothing.
    let identity = app.raw(search, &[]).await;
    assert_eq!(identity.status.as_u16(), 200);
    assert_eq!(compressions(&app, &app.reader).await, (br, gzip));
    // Each coding once, when first asked for; then it is stored.
    for (coding, counts) in [("br", (br + 1.0, gzip)), ("gzip", (br + 1.0, gzip + 1.0))] {
        for _ in 0..2 {
            let answer = app.raw(search, &[("accept-encoding", coding)]).await;
            assert_eq!(answer.header("content-encoding"), Some(coding));
            assert_eq!(decoded(&answer), identity.body, "{coding}");
        }
        assert_eq!(compressions(&app, &app.reader).await, counts, "{coding}");
    }
    // A miss for a browser compresses into br alone.
    let answer = app.raw(review, &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(answer.header("content-encoding"), Some("br"));
    assert_eq!(
        compressions(&app, &app.reader).await,
        (br + 2.0, gzip + 1.0)
    );
    // Another reader of the region finds what the first made in Redis.
    let other = app.another_reader().await;
    for coding in ["br", "gzip"] {
        let theirs = app
            .raw_on(&other, Method::GET, search, &[("accept-encoding", coding)])
            .await;
        assert_eq!(theirs.header("content-encoding"), Some(coding));
    }
    assert_eq!(compressions(&app, &other).await, (0.0, 0.0));
}

#[actix_web::test]
async fn a_second_reader_serves_the_variants_it_finds_in_redis_as_they_were_made() {
    let app = spawn_app().await;
    let path = published_routes(&app).await.remove(0);
    let first = app.raw(&path, &[("accept-encoding", "br")]).await;
    assert_eq!(first.header("content-encoding"), Some("br"));
    let other = app.another_reader().await;
    for coding in ["br", "gzip", "identity"] {
        let mine = app.raw(&path, &[("accept-encoding", coding)]).await;
        let theirs = app
            .raw_on(&other, Method::GET, &path, &[("accept-encoding", coding)])
            .await;
        assert_eq!(theirs.status.as_u16(), 200, "{coding}");
        assert_eq!(theirs.body, mine.body, "{coding}");
        assert_eq!(theirs.header("etag"), mine.header("etag"), "{coding}");
    }
}

#[actix_web::test]
async fn accept_encoding_weights_choose_the_coding_and_a_broken_field_gets_identity() {
    let app = spawn_app().await;
    let path = published_routes(&app).await.remove(0);
    for (accept, coding) in [
        ("gzip, deflate, br, zstd", Some("br")),
        ("gzip;q=0.9, br;q=0.1", Some("gzip")),
        ("br;q=0, *", Some("gzip")),
        ("x-gzip", Some("gzip")),
        ("*", Some("br")),
        ("identity;q=0.8, br;q=0.5", None),
        ("zstd, deflate", None),
        ("", None),
        // Every coding refused, identity included: identity all the same.
        ("br;q=0, gzip;q=0, identity;q=0", None),
        ("*;q=0", None),
        // Malformed fields.
        ("br;q=2", None),
        ("br;level=11", None),
        ("gzip, ;q=1", None),
    ] {
        let answer = app.raw(&path, &[("accept-encoding", accept)]).await;
        assert_eq!(answer.status.as_u16(), 200, "{accept}");
        assert_eq!(answer.header("content-encoding"), coding, "{accept:?}");
        assert_varies(&answer, accept);
    }
}

#[actix_web::test]
async fn if_none_match_with_any_variants_tag_is_a_304_with_the_tag_of_the_variant_asked_for() {
    let app = spawn_app().await;
    let path = published_routes(&app).await.remove(0);
    let tag = |raw: &Raw| raw.header("etag").expect("ETag").to_owned();
    let identity = tag(&app.raw(&path, &[]).await);
    let br = tag(&app.raw(&path, &[("accept-encoding", "br")]).await);
    let gzip = tag(&app.raw(&path, &[("accept-encoding", "gzip")]).await);
    for (held, accept, expected) in [
        (&identity, "br", &br),
        (&br, "br", &br),
        (&gzip, "", &identity),
        (&br, "gzip", &gzip),
        (&format!("W/{br}"), "br", &br),
        (&format!("\"other\", {gzip}"), "identity", &identity),
    ] {
        let answer = app
            .raw(
                &path,
                &[("if-none-match", held), ("accept-encoding", accept)],
            )
            .await;
        assert_eq!(answer.status.as_u16(), 304, "{held} {accept}");
        assert_eq!(
            answer.header("etag"),
            Some(expected.as_str()),
            "{held} {accept}"
        );
        assert_varies(&answer, held);
        assert!(answer.body.is_empty());
        assert_eq!(
            answer.header("content-encoding"),
            None,
            "no coding on a 304"
        );
    }
    let other = app
        .raw(
            &path,
            &[("if-none-match", "\"other-br\""), ("accept-encoding", "br")],
        )
        .await;
    assert_eq!(other.status.as_u16(), 200);
    // A reader whose entry no request has yet asked in br for: the br
    // tag a client kept is still a 304 when it now asks for gzip.
    let fresh = app.reader_of_region("na").await;
    let answer = app
        .raw_on(
            &fresh,
            Method::GET,
            &path,
            &[("if-none-match", &br), ("accept-encoding", "gzip")],
        )
        .await;
    assert_eq!(answer.status.as_u16(), 304);
    assert_eq!(answer.header("etag"), Some(gzip.as_str()));
}

#[actix_web::test]
async fn head_answers_the_headers_of_the_compressed_get_without_a_body() {
    let app = spawn_app().await;
    let path = published_routes(&app).await.remove(2);
    let get = app.raw(&path, &[("accept-encoding", "br")]).await;
    let head = app
        .raw_on(
            &app.reader,
            Method::HEAD,
            &path,
            &[("accept-encoding", "br")],
        )
        .await;
    assert_eq!(head.status.as_u16(), 200);
    assert!(head.body.is_empty());
    for name in [
        "content-encoding",
        "etag",
        "vary",
        "cache-control",
        "content-type",
    ] {
        assert_eq!(head.header(name), get.header(name), "{name}");
    }
    if let Some(length) = head.header("content-length") {
        assert_eq!(length, get.body.len().to_string());
    }
}

#[actix_web::test]
async fn a_read_your_writes_answer_is_compressed_too_but_private() {
    let app = spawn_app().await;
    // Two reviews: the list is then over 1 KiB.
    app.publish(&long_review("Nikon", "Z5", "Published earlier"))
        .await;
    let written = app
        .publish(&long_review("Nikon", "Z5 II", "Read back at once"))
        .await;
    let token = written.consistency_token();
    let slug = written.body["slug"].as_str().expect("slug").to_owned();
    for path in [format!("/content/{slug}"), "/content".to_owned()] {
        let headers = [("x-consistency-token", token.as_str())];
        let identity = app.raw(&path, &headers).await;
        assert_eq!(identity.status.as_u16(), 200, "{path}");
        let with_br = [headers[0], ("accept-encoding", "br")];
        let br = app.raw(&path, &with_br).await;
        assert_eq!(br.status.as_u16(), 200, "{path}");
        assert_eq!(br.header("content-encoding"), Some("br"), "{path}");
        assert_eq!(br.header("cache-control"), Some("private, no-store"));
        assert_eq!(decoded(&br), identity.body, "{path}");
        let read: Value = serde_json::from_slice(&decoded(&br)).expect("json");
        assert!(read.to_string().contains("Read back at once"), "{path}");
    }
}
