//! The service's OpenAPI 3.1 document, generated from the routes'
//! annotations and the answers' types (utoipa), finished with what every
//! service shares (`platform::openapi`), and served at `/openapi.json` by
//! `platform::server::serve`. `crates/content-reader/openapi.json` is the
//! same text, committed for the gateway's `/docs` and the generated
//! clients; a test fails when the two differ (`make openapi` rewrites it).
//!
//! Three things utoipa cannot say are added here, in code, after the
//! derive:
//! - HEAD: every route answers HEAD as GET without the body (actix-web
//!   routes both to one handler). Each HEAD operation is derived from its
//!   GET one rather than annotated a second time, so the two cannot drift.
//! - The caching headers (`ETag`, `Cache-Control`, `Vary`,
//!   `Surrogate-Key`) on every 200 and 304, which `serve::answer` sets on
//!   every answer it makes, and `Content-Encoding` on a compressed 200.
//! - `required: true` on every answer header but `Content-Encoding`
//!   (absent on identity answers): utoipa's `Header` has no such field,
//!   and every other header this document names is always sent. It is set
//!   on the document as JSON, so the text is rendered from that value (as
//!   `platform::openapi::render` would: pretty, a final newline; keys in
//!   alphabetical order) rather than from utoipa's types.
//!
//! `Accept-Encoding` is described in the document's description and on
//! `Content-Encoding`, not as a header parameter: a fuzzer sending `br`
//! of its own accord would receive brotli that its HTTP client may not
//! decode, and fail the answer for it.

use std::collections::BTreeMap;

use platform::openapi::{Conventions, NamedHeader, text_header};
use serde_json::json;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat,
    Type,
};
use utoipa::openapi::{Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, OpenApi as _, PartialSchema, ToResponse, ToSchema};

use crate::params;
use crate::routes::{changes, compare, list, review, subjects};

platform::problem_responses! {
    BadRequest => "Unknown, repeated or invalid parameter (named in errors[]), bad cursor, or a forged/garbled X-Consistency-Token";
    NotFound => "No such resource";
    MethodNotAllowed => "Method not allowed", allow;
    ServiceUnavailable => "A dependency is down, or the reader is at its bound on uncached reads (routing.max_concurrent_reads); retry after Retry-After", retry_after;
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "RandomCameraReviews content-reader",
        version = "1.0.0",
        description = "Every public read, served per region from that region's replicas behind its Redis. Anonymous, GET and HEAD only. Errors are application/problem+json with X-Region and X-Served-From too. Answers of 1 KiB or more are sent br or gzip as the request's Accept-Encoding prefers (RFC 9110 §12.5.3: q-values, * and x-gzip honoured, ties to br, then gzip, then identity; identity when the field is missing or malformed, or refuses every coding), each coding with its own strong ETag, all with Vary: Accept-Encoding. Too many uncached reads at once are refused at once: 503 with Retry-After."
    ),
    servers((url = "/")),
    paths(
        list::list,
        review::review,
        subjects::list_subjects,
        subjects::subject,
        compare::compare,
        changes::changes
    ),
    components(
        schemas(Slug),
        responses(NotModified, BadRequest, NotFound, MethodNotAllowed, ServiceUnavailable)
    )
)]
struct ApiDoc;

/// The document's text.
pub fn document() -> String {
    let mut api = ApiDoc::openapi();
    // utoipa tags each operation with its module; this document has none.
    for (path, item) in &mut api.paths.paths {
        if let Some(get) = item.get.as_mut() {
            get.tags = None;
            if path == changes::PATH {
                add_feed_headers(get);
            } else {
                add_answer_headers(get);
            }
            item.head = Some(head_of(get));
        }
    }
    platform::openapi::document(
        api,
        &Conventions {
            extra_headers: vec![region_header(), served_from_header()],
            bearer: false,
            readyz_summary: "Ready: some node (replica, or primary fallback) can serve",
            optional_headers: &["Content-Encoding"],
        },
    )
}

/// The headers `serve::answer` sets on every 200 and 304.
fn answer_headers() -> Vec<NamedHeader> {
    vec![
        (
            "ETag",
            text_header(
                "Strong validator of the body in the coding sent: \"<digest>\" for identity, \"<digest>-br\" and \"<digest>-gzip\" for the compressed variants; If-None-Match with any variant's tag is a 304 carrying the tag of the variant this request would get",
            ),
        ),
        (
            "Vary",
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(["Accept-Encoding"])),
                )
                .description(Some("The answer's coding depends on Accept-Encoding"))
                .build(),
        ),
        (
            "Cache-Control",
            text_header(
                "public, max-age, stale-while-revalidate, stale-if-error; private, no-store with X-Consistency-Token",
            ),
        ),
        (
            "Surrogate-Key",
            text_header(
                "what the answer shows, for purges: review:<id> subject:<slug> brand:<hash> kind:<kind> language:<code> editor:<id> list search phrase term:<hash> (README, Reader cache)",
            ),
        ),
    ]
}

/// The caching headers and the coding on a GET's 200 (its 304 is
/// [`NotModified`]).
fn add_answer_headers(get: &mut Operation) {
    if let Some(RefOr::T(ok)) = get.responses.responses.get_mut("200") {
        for (name, header) in answer_headers().into_iter().chain([content_encoding()]) {
            ok.headers.entry(name.to_owned()).or_insert(header);
        }
    }
}

/// The headers of a change feed page (`routes::changes`): no validator,
/// no surrogate keys, a cache lifetime of a second.
fn add_feed_headers(get: &mut Operation) {
    let cache_control = text_header(
        "public, max-age=1 (the feed moves with the replica); private, no-store with X-Consistency-Token",
    );
    let vary = answer_headers()
        .into_iter()
        .find(|(name, _)| *name == "Vary")
        .map(|(_, h)| h);
    if let Some(RefOr::T(ok)) = get.responses.responses.get_mut("200") {
        let headers = [("Cache-Control", cache_control)]
            .into_iter()
            .chain(vary.map(|v| ("Vary", v)))
            .chain([content_encoding()]);
        for (name, header) in headers {
            ok.headers.entry(name.to_owned()).or_insert(header);
        }
    }
}

/// `Content-Encoding` of a compressed 200: absent for identity.
fn content_encoding() -> NamedHeader {
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["br", "gzip"]));
    (
        "Content-Encoding",
        HeaderBuilder::new()
            .schema(schema)
            .description(Some(
                "br or gzip as Accept-Encoding prefers (q-values honoured; ties go to br, then gzip, then identity), for bodies of 1 KiB or more; absent (identity) otherwise, and when Accept-Encoding is missing or malformed or refuses every coding",
            ))
            .build(),
    )
}

/// The HEAD operation of a GET one: the same parameters and answers, the
/// 200 without its body.
fn head_of(get: &Operation) -> Operation {
    let mut head = get.clone();
    head.operation_id = get.operation_id.as_ref().map(|id| format!("{id}Head"));
    head.summary = get.summary.as_ref().map(|s| format!("{s} (headers only)"));
    if let Some(RefOr::T(ok)) = head.responses.responses.get_mut("200") {
        ok.description = "Headers of the GET answer".to_owned();
        ok.content.clear();
    }
    head
}

/// `X-Region`, on every answer.
fn region_header() -> NamedHeader {
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1));
    (
        "X-Region",
        HeaderBuilder::new()
            .schema(schema)
            .description(Some("The reader's region"))
            .build(),
    )
}

/// `X-Served-From`, on every answer: what was read, if anything.
fn served_from_header() -> NamedHeader {
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^(cache|primary|none|replica:.+)$"));
    (
        "X-Served-From",
        HeaderBuilder::new()
            .schema(schema)
            .description(Some(
                "cache, replica:<name>, primary, or none on answers that read nothing",
            ))
            .build(),
    )
}

/// The answer to a request whose `If-None-Match` names the current `ETag`.
#[derive(Debug)]
pub(crate) struct NotModified;

impl<'r> ToResponse<'r> for NotModified {
    fn response() -> (&'r str, RefOr<Response>) {
        let mut response =
            ResponseBuilder::new().description("Not modified (If-None-Match matched)");
        for (name, header) in answer_headers() {
            response = response.header(name, header);
        }
        ("NotModified", response.build().into())
    }
}

/// What every route may answer beyond its 200: 304 and the problems.
#[derive(Debug)]
pub(crate) struct ReadResponses;

impl IntoResponses for ReadResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        references([
            ("304", NotModified::response().0),
            ("400", BadRequest::response().0),
            ("404", NotFound::response().0),
            ("405", MethodNotAllowed::response().0),
            ("503", ServiceUnavailable::response().0),
        ])
    }
}

/// Answers by status, each a reference to the named component.
fn references<'a>(
    named: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<String, RefOr<Response>> {
    named
        .into_iter()
        .map(|(status, name)| (status.to_owned(), RefOr::Ref(Ref::from_response_name(name))))
        .collect()
}

/// What the change feed may answer beyond its 200.
#[derive(Debug)]
pub(crate) struct FeedResponses;

impl IntoResponses for FeedResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        references([
            ("400", BadRequest::response().0),
            ("405", MethodNotAllowed::response().0),
            ("503", ServiceUnavailable::response().0),
        ])
    }
}

/// The request headers every route reads.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[expect(
    dead_code,
    reason = "describes the headers for the document; serve.rs reads them"
)]
pub(crate) struct ReadHeaders {
    /// From a write answer: the answer is at least as new as that write (read-your-writes), in any region
    #[param(rename = "X-Consistency-Token", nullable = false)]
    x_consistency_token: Option<String>,
    #[param(rename = "If-None-Match", nullable = false)]
    if_none_match: Option<String>,
}

/// A slug (SPEC §4 "Slugs"), as `domain::Slug` validates it.
#[derive(Debug)]
pub(crate) struct Slug;

impl PartialSchema for Slug {
    fn schema() -> RefOr<Schema> {
        let reserved = domain::RESERVED_SLUGS;
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(domain::SLUG_MAX_LEN))
            // Words of letters and digits joined by single hyphens, one of
            // them holding a letter (so never all digits).
            .pattern(Some("^([0-9]+-)*[a-z0-9]*[a-z][a-z0-9]*(-[a-z0-9]+)*$"))
            .description(Some(format!(
                "Lowercase ASCII words of letters and digits joined by single hyphens, with at least one letter; never {}",
                reserved.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(" or ")
            )))
            // utoipa's schema has no `not`: an extension is written as is.
            .extensions(Some(
                [("not", json!({ "enum": reserved }))].into_iter().collect(),
            ))
            .into()
    }
}

impl ToSchema for Slug {}

/// Declares types that stand for a parameter's schema in the document, so
/// that a query struct can say `#[param(inline)] q: Option<SearchText>`:
/// utoipa drops a parameter's description, style and example when its
/// schema comes from `schema_with`, but keeps them for an inline type.
macro_rules! parameter_schemas {
    ($($(#[$meta:meta])* $name:ident => $schema:expr;)*) => {$(
        $(#[$meta])*
        #[derive(Debug)]
        pub(crate) struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema.into()
            }
        }

        impl ToSchema for $name {}
    )*};
}

parameter_schemas! {
    /// `q`.
    SearchText => trimmed_text(params::SEARCH_MAX_CHARS);
    /// `brand`.
    BrandText => trimmed_text(params::BRAND_MAX_CHARS);
    /// What `params::date` accepts: RFC 3339 or a plain date.
    DateOrTime => AnyOfBuilder::new()
        .item(string_of(KnownFormat::Date))
        .item(string_of(KnownFormat::DateTime));
    /// `editor`: what `params::id` accepts.
    PositiveId => ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(i64::MAX));
    /// `rating_min`, `rating_max`: what `params::rating` accepts.
    RatingBound => ObjectBuilder::new()
        .schema_type(Type::Number)
        .minimum(Some(*params::RATINGS.start()))
        .maximum(Some(*params::RATINGS.end()));
    /// `/content`'s `limit`.
    ListLimit => page_size(params::LIST_LIMIT_DEFAULT);
    /// `/content/subjects`' `limit`.
    SubjectLimit => page_size(params::SUBJECT_LIMIT_DEFAULT);
    /// `/content/compare`'s `subjects`: what `params::compared_subjects`
    /// takes.
    ComparedSlugs => ArrayBuilder::new()
        .items(Ref::from_schema_name(Slug::name()))
        .min_items(Some(*params::COMPARED.start()))
        .max_items(Some(*params::COMPARED.end()))
        .unique_items(true);
}

/// What `params::text` accepts for a value of at most `max` characters:
/// non-blank once trimmed, no control character, no U+FFFD.
fn trimmed_text(max: usize) -> ObjectBuilder {
    // Ends of the trimmed value: neither white space nor refused.
    const EDGE: &str = r"[^\s\x00-\x1f\x7f-\x9f\ufffd]";
    // White space around it that is not refused.
    const SPACE: &str = r"[^\S\x00-\x1f\x7f-\x9f\ufffd]";
    const ANY: &str = r"[^\x00-\x1f\x7f-\x9f\ufffd]";
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^{SPACE}*{EDGE}({ANY}{{0,{}}}{EDGE})?{SPACE}*$", max - 2)))
        .description(Some(format!(
            "1 to {max} characters once surrounding whitespace is trimmed; no control characters nor U+FFFD (what invalid UTF-8 decodes to)"
        )))
}

fn string_of(format: KnownFormat) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(format)))
}

fn page_size(default: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(*params::LIMITS.start()))
        .maximum(Some(*params::LIMITS.end()))
        .default(Some(default.into()))
}

/// `latest_review`: the review, or null when the subject has none. (The
/// derive would put `null` first.)
pub(crate) fn review_or_null() -> OneOfBuilder {
    OneOfBuilder::new()
        .item(Ref::from_schema_name("ReviewListItem"))
        .item(ObjectBuilder::new().schema_type(Type::Null))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn doc() -> serde_json::Value {
        serde_json::from_str(&document()).expect("the document is JSON")
    }

    #[test]
    fn the_committed_openapi_document_is_the_generated_one() {
        platform::openapi::assert_committed(
            &document(),
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json"),
        );
    }

    #[test]
    fn openapi_describes_every_mounted_route_with_get_and_head_and_nothing_else() {
        let doc = doc();
        let mounted: Vec<&str> = crate::routes::resources().iter().map(|(p, _)| *p).collect();
        for path in &mounted {
            for method in ["get", "head"] {
                assert!(doc["paths"][path][method].is_object(), "{method} {path}");
            }
        }
        let documented: Vec<&String> = doc["paths"]
            .as_object()
            .expect("paths")
            .keys()
            .filter(|p| p.starts_with("/content"))
            .collect();
        assert_eq!(documented.len(), mounted.len(), "{documented:?}");
    }

    #[test]
    fn openapi_names_exactly_the_query_parameters_each_route_accepts() {
        let doc = doc();
        for (path, accepted) in [
            (list::PATH, params::LIST_PARAMS),
            (subjects::LIST_PATH, params::SUBJECT_PARAMS),
            (subjects::PATH, params::DETAIL_PARAMS),
            (compare::PATH, params::COMPARE_PARAMS),
            (review::PATH, params::DETAIL_PARAMS),
            (changes::PATH, params::FEED_PARAMS),
        ] {
            for method in ["get", "head"] {
                let documented: Vec<&str> = doc["paths"][path][method]["parameters"]
                    .as_array()
                    .expect("parameters")
                    .iter()
                    .filter(|p| p["in"] == "query")
                    .map(|p| p["name"].as_str().expect("name"))
                    .collect();
                assert_eq!(documented, accepted, "{method} {path}");
            }
        }
    }

    #[test]
    fn openapi_enumerates_the_words_the_parameters_take() {
        let doc = doc();
        let words = |name: &str| -> Vec<String> {
            let parameter = doc["paths"][list::PATH]["get"]["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .find(|p| p["name"] == name)
                .expect(name)
                .clone();
            serde_json::from_value(parameter["schema"]["enum"].clone()).expect(name)
        };
        let sorts = words("sort");
        assert_eq!(sorts.len(), 4);
        for word in sorts {
            assert!(params::Sort::parse(&word).is_ok(), "{word}");
        }
        for word in words("kind") {
            assert!(params::kind(&word).is_ok(), "{word}");
        }
        for word in words("language") {
            assert!(params::language(&word).is_ok(), "{word}");
        }
    }

    #[test]
    fn openapi_marks_answer_headers_required() {
        let doc = doc();
        let etag = &doc["paths"][list::PATH]["head"]["responses"]["200"]["headers"]["ETag"];
        assert_eq!(etag["required"], true, "{etag}");
        let retry = &doc["components"]["responses"]["ServiceUnavailable"]["headers"]["Retry-After"];
        assert_eq!(retry["required"], true, "{retry}");
        let ok = &doc["paths"][list::PATH]["get"]["responses"]["200"]["headers"];
        assert_eq!(ok["Vary"]["required"], true, "{ok}");
        assert!(ok["Content-Encoding"].get("required").is_none(), "{ok}");
        let not_modified = &doc["components"]["responses"]["NotModified"]["headers"];
        assert_eq!(not_modified["Vary"]["required"], true, "{not_modified}");
        assert!(not_modified.get("Content-Encoding").is_none());
    }
}
