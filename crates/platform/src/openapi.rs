//! What every service's OpenAPI document shares, so that each document is
//! generated from the code it describes (utoipa) and the conventions of
//! SPEC §4 are written once: the problem+json schema and the named error
//! answers, the headers every answer carries, the bearer scheme, and the
//! routes `platform::server::serve` mounts for every service (`/healthz`,
//! `/readyz`, `/metrics`, `/openapi.json`).
//!
//! A service derives `utoipa::OpenApi` on a type of its own listing its
//! paths, schemas and named responses, and hands the result to
//! [`finish`] with its [`Conventions`]. The document is served from memory;
//! the committed `crates/*/openapi.json` are the same text, kept for the
//! gateway's `/docs` page and the generated clients, and a test in each
//! service fails when they drift ([`assert_committed`]).

use std::collections::BTreeMap;
use std::path::Path;

use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    Content, ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder, Responses,
};

use crate::problem::PROBLEM_JSON;

// The `type`, `title`, `status`, `detail`, `code`, `request_id` and
// `errors` of every error answer (RFC 9457).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub struct ProblemSchema {
    #[serde(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    #[serde(default)]
    detail: String,
    /// machine-readable error code
    code: String,
    request_id: String,
    #[serde(default)]
    #[schema(inline)]
    errors: Vec<FieldErrorSchema>,
}

// One violation: the field path and what is wrong with it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct FieldErrorSchema {
    field: String,
    message: String,
}

/// A header of the document: `(name, header)`.
pub type NamedHeader = (&'static str, Header);

fn string_schema(description: Option<&str>, min_length: Option<usize>) -> Header {
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(min_length)
        .build();
    HeaderBuilder::new()
        .schema(schema)
        .description(description.map(str::to_owned))
        .build()
}

/// `X-Request-Id` and `X-Content-Type-Options`, on every answer of every
/// service.
pub fn common_headers() -> Vec<NamedHeader> {
    vec![
        (
            "X-Request-Id",
            string_schema(
                Some("The request's id: a valid incoming one echoed, else generated"),
                Some(1),
            ),
        ),
        (
            "X-Content-Type-Options",
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(["nosniff"]))
                        .build(),
                )
                .build(),
        ),
    ]
}

/// A header with a string schema and a description.
pub fn text_header(description: &str) -> Header {
    string_schema(Some(description), None)
}

/// `Retry-After` in seconds.
pub fn retry_after_header() -> Header {
    HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .build(),
        )
        .description(Some("Seconds to wait before trying again"))
        .build()
}

/// A problem+json answer with `description` and `headers` beyond the common
/// ones (which [`Conventions`] adds).
pub fn problem_response(description: &str, headers: Vec<NamedHeader>) -> Response {
    let mut builder = ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, problem_content());
    for (name, header) in headers {
        builder = builder.header(name, header);
    }
    builder.build()
}

fn problem_content() -> Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build()
}

/// Declares named problem answers (`#/components/responses/<Name>`) of a
/// service as unit types implementing `utoipa::ToResponse`, so that a path
/// can say `(status = 404, response = NotFound)`:
///
/// ```text
/// platform::problem_responses! {
///     NotFound => "No such resource";
///     TooManyRequests => "Too many failed logins", retry_after;
/// }
/// ```
#[macro_export]
macro_rules! problem_responses {
    ($($name:ident => $description:literal $(, $header:ident)*;)*) => {
        $(
            #[doc = $description]
            #[derive(Debug)]
            pub struct $name;

            impl<'r> utoipa::ToResponse<'r> for $name {
                fn response() -> (&'r str, utoipa::openapi::RefOr<utoipa::openapi::Response>) {
                    (
                        stringify!($name),
                        $crate::openapi::problem_response(
                            $description,
                            vec![$($crate::openapi::named_header(stringify!($header))),*],
                        )
                        .into(),
                    )
                }
            }
        )*
    };
}

/// The headers `problem_responses!` can name: `retry_after`, `allow`,
/// `www_authenticate`.
pub fn named_header(which: &str) -> NamedHeader {
    match which {
        "retry_after" => ("Retry-After", retry_after_header()),
        "allow" => ("Allow", text_header("The methods the resource allows")),
        "www_authenticate" => (
            "WWW-Authenticate",
            text_header("Bearer challenge (RFC 6750)"),
        ),
        other => (
            // A typo in a service's `problem_responses!` shows in the
            // document and fails its drift test.
            "X-Unknown",
            text_header(other),
        ),
    }
}

/// How a service finishes its document: the headers every one of its
/// answers carries beyond [`common_headers`], whether it has a bearer
/// scheme, what its `/readyz` checks, and which answer headers it may leave
/// out (every other documented header is `required`).
pub struct Conventions {
    pub extra_headers: Vec<NamedHeader>,
    pub bearer: bool,
    pub readyz_summary: &'static str,
    pub optional_headers: &'static [&'static str],
}

impl std::fmt::Debug for Conventions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.extra_headers.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Conventions")
            .field("extra_headers", &names)
            .field("bearer", &self.bearer)
            .finish_non_exhaustive()
    }
}

/// Adds what every document shares to a service's own: the `Problem`
/// schema, the service port's routes, the `bearer` scheme, and the common
/// headers on every answer (named responses included) that lacks them.
pub fn finish(mut api: OpenApi, conventions: &Conventions) -> OpenApi {
    let components = api.components.get_or_insert_with(Default::default);
    let (name, schema) = problem_schema();
    components.schemas.insert(name, schema);
    if conventions.bearer {
        components.security_schemes.insert(
            "bearer".to_owned(),
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT (EdDSA, kid)")
                    .build(),
            ),
        );
    }
    for (path, item) in service_port_paths(conventions.readyz_summary) {
        api.paths.paths.insert(path, item);
    }
    let mut headers = common_headers();
    headers.extend(conventions.extra_headers.iter().cloned());
    let add = |response: &mut Response| {
        for (name, header) in &headers {
            response
                .headers
                .entry((*name).to_owned())
                .or_insert_with(|| header.clone());
        }
    };
    for item in api.paths.paths.values_mut() {
        for operation in operations(item) {
            for response in operation.responses.responses.values_mut() {
                if let RefOr::T(response) = response {
                    add(response);
                }
            }
        }
    }
    if let Some(components) = api.components.as_mut() {
        for response in components.responses.values_mut() {
            if let RefOr::T(response) = response {
                add(response);
            }
        }
    }
    api
}

fn problem_schema() -> (String, RefOr<Schema>) {
    use utoipa::{PartialSchema, ToSchema};
    (ProblemSchema::name().into_owned(), ProblemSchema::schema())
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// A documented answer: its description and, when it has a body, the body's
/// media type and schema.
fn plain_response(description: &str, content: Option<(&str, Schema)>) -> RefOr<Response> {
    let mut builder = ResponseBuilder::new().description(description);
    if let Some((media_type, schema)) = content {
        builder = builder.content(
            media_type,
            ContentBuilder::new().schema(Some(schema)).build(),
        );
    }
    builder.build().into()
}

/// A `GET` path with its operation id, summary and answers by status.
fn get_path(id: &str, summary: &str, responses: Vec<(&str, RefOr<Response>)>) -> PathItem {
    let mut all = Responses::new();
    for (status, response) in responses {
        all.responses.insert(status.to_owned(), response);
    }
    PathItem::new(
        HttpMethod::Get,
        OperationBuilder::new()
            .operation_id(Some(id))
            .summary(Some(summary))
            .responses(all)
            .build(),
    )
}

/// `/healthz`, `/readyz`, `/metrics` and `/openapi.json`, which
/// `platform::server::serve` mounts on every service's own port.
fn service_port_paths(readyz_summary: &str) -> BTreeMap<String, PathItem> {
    let unavailable = RefOr::Ref(Ref::from_response_name("ServiceUnavailable"));
    let body = |media_type, schema_type| {
        Some((
            media_type,
            ObjectBuilder::new().schema_type(schema_type).into(),
        ))
    };
    BTreeMap::from([
        (
            "/healthz".to_owned(),
            get_path(
                "healthz",
                "Alive (service port only)",
                vec![("200", plain_response("Alive", None))],
            ),
        ),
        (
            "/readyz".to_owned(),
            get_path(
                "readyz",
                readyz_summary,
                vec![("200", plain_response("Ready", None)), ("503", unavailable)],
            ),
        ),
        (
            "/metrics".to_owned(),
            get_path(
                "metrics",
                "Prometheus metrics (service port only)",
                vec![(
                    "200",
                    plain_response("Text exposition format", body("text/plain", Type::String)),
                )],
            ),
        ),
        (
            "/openapi.json".to_owned(),
            get_path(
                "openapi",
                "This document",
                vec![(
                    "200",
                    plain_response("OpenAPI 3.1", body("application/json", Type::Object)),
                )],
            ),
        ),
    ])
}

/// A service's whole document, as served and committed: its own paths,
/// schemas and answers ([`finish`]ed with what every service shares),
/// without the empty licence utoipa takes from the crate's manifest, every
/// documented answer header `required` but the service's optional ones,
/// rendered as pretty JSON with a final newline.
pub fn document(mut api: OpenApi, conventions: &Conventions) -> String {
    api.info.license = None;
    let api = finish(api, conventions);
    let mut doc = serde_json::to_value(&api)
        .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }));
    for item in members(&mut doc["paths"]) {
        for operation in members(item) {
            if let Some(responses) = operation.get_mut("responses") {
                require_headers(responses, conventions.optional_headers);
            }
        }
    }
    if let Some(responses) = doc.pointer_mut("/components/responses") {
        require_headers(responses, conventions.optional_headers);
    }
    let mut text = serde_json::to_string_pretty(&TopLevel::from(doc))
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// Marks the headers of every answer in `responses` (status → answer)
/// `required` but the `optional` ones. utoipa's header object has no
/// `required` member, so it is set on the JSON; clients (and the contract
/// fuzzer) may then rely on every header a document names.
fn require_headers(responses: &mut serde_json::Value, optional: &[&str]) {
    for answer in members(responses) {
        let headers = answer
            .get_mut("headers")
            .and_then(serde_json::Value::as_object_mut);
        for (name, header) in headers.into_iter().flatten() {
            if !optional.contains(&name.as_str()) {
                header["required"] = serde_json::Value::Bool(true);
            }
        }
    }
}

/// The members of a JSON object (none for anything else).
fn members(value: &mut serde_json::Value) -> impl Iterator<Item = &mut serde_json::Value> {
    value
        .as_object_mut()
        .into_iter()
        .flat_map(|o| o.values_mut())
}

/// The document's sections in the order a reader expects them (a JSON
/// value keeps its keys sorted; the rest of the document is sorted).
#[derive(serde::Serialize)]
struct TopLevel {
    openapi: serde_json::Value,
    info: serde_json::Value,
    servers: serde_json::Value,
    paths: serde_json::Value,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl From<serde_json::Value> for TopLevel {
    fn from(doc: serde_json::Value) -> Self {
        let mut rest = match doc {
            serde_json::Value::Object(sections) => sections,
            _ => serde_json::Map::new(),
        };
        let mut take = |name: &str| rest.remove(name).unwrap_or(serde_json::Value::Null);
        Self {
            openapi: take("openapi"),
            info: take("info"),
            servers: take("servers"),
            paths: take("paths"),
            rest,
        }
    }
}

/// Fails when the committed document at `path` is not `generated`; with
/// `RCR_UPDATE_OPENAPI=1` in the environment it writes it instead (what
/// `make openapi` does). For the drift test each service runs.
pub fn assert_committed(generated: &str, path: &Path) {
    if std::env::var_os("RCR_UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(path, generated).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} differs from the document the code generates; run `make openapi` and commit it",
        path.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::problem_responses! {
        Gone => "Gone for good", retry_after;
    }

    #[derive(utoipa::OpenApi)]
    #[openapi(components(responses(Gone)))]
    struct Api;

    #[test]
    fn a_finished_document_has_the_problem_schema_the_service_routes_and_common_headers() {
        use utoipa::OpenApi as _;
        let text = document(
            Api::openapi(),
            &Conventions {
                extra_headers: vec![("X-Region", text_header("The region"))],
                bearer: true,
                readyz_summary: "Ready",
                optional_headers: &["X-Region"],
            },
        );
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let gone = &doc["components"]["responses"]["Gone"];
        assert_eq!(gone["description"], "Gone for good");
        assert_eq!(gone["headers"]["Retry-After"]["required"], true);
        assert!(gone["headers"]["X-Region"].get("required").is_none());
        assert!(doc["info"].get("license").is_none());
        for header in [
            "X-Request-Id",
            "X-Content-Type-Options",
            "X-Region",
            "Retry-After",
        ] {
            assert!(gone["headers"].get(header).is_some(), "{header}: {gone}");
        }
        let problem = &doc["components"]["schemas"]["Problem"];
        assert!(problem["properties"].get("type").is_some(), "{problem}");
        assert!(
            doc["paths"]["/readyz"]["get"]["responses"]["200"]["headers"]["X-Region"].is_object()
        );
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }
}
