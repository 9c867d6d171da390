//! The content-reader endpoints of SPEC §4, and the one request path they
//! share: cache lookup (memory, then Redis), single-flight miss, a snapshot
//! read on the node the router picks, conditional GET and the caching
//! headers.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, guard, web};
use deadpool_postgres::Transaction;
use platform::consistency::TokenError;
use platform::surrogate::{SurrogateKey, SurrogateKeys};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio_postgres::IsolationLevel;

use crate::cache::Entry;
use crate::error::ReadError;
use crate::params::{self, ListFilters, ParamError, Sort};
use crate::queries::{self, Position, SubjectPosition};
use crate::router::{NoNode, Node};
use crate::startup::State;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let get_or_head = || web::route().guard(guard::Any(guard::Get()).or(guard::Head()));
    let na = || web::to(|| async { platform::http::method_not_allowed("GET, HEAD") });
    cfg.service(
        web::resource("/content")
            .route(get_or_head().to(list))
            .default_service(na()),
    )
    .service(
        web::resource("/content/subjects")
            .route(get_or_head().to(subjects))
            .default_service(na()),
    )
    .service(
        web::resource("/content/subjects/{slug}")
            .route(get_or_head().to(subject))
            .default_service(na()),
    )
    .service(
        web::resource("/content/compare")
            .route(get_or_head().to(compare))
            .default_service(na()),
    )
    .service(
        web::resource("/content/{slug_or_id}")
            .route(get_or_head().to(review))
            .default_service(na()),
    );
}

/// What a route reads; executed inside a snapshot on the chosen node.
#[derive(Debug, Clone)]
enum Query {
    List {
        filters: ListFilters,
        sort: Sort,
        limit: i64,
        after: Option<Position>,
        scope: String,
    },
    Review(String),
    Subjects {
        kind: Option<String>,
        brand: Option<String>,
        q: Option<String>,
        limit: i64,
        after: Option<SubjectPosition>,
        scope: String,
    },
    Subject(String),
    Compare(Vec<String>),
}

fn query_pairs(
    query: web::Query<Vec<(String, String)>>,
    allowed: &[&str],
) -> Result<BTreeMap<String, String>, ReadError> {
    Ok(params::collect(query.into_inner(), allowed)?)
}

/// A short stable digest of an answer body: its strong `ETag`.
fn digest(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(32);
    for b in &hash[..16] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xF)]));
    }
    out
}

/// The cache key, cursor scope and decoded `cursor` of a paged `list`.
/// The normalised parameters are bounded by their validation, so they serve
/// as key and scope as they are (no hashing on the path of a cache hit); the
/// scope leaves out `cursor` and `limit`, so a page size can change mid-list.
fn paging<P: serde::de::DeserializeOwned>(
    state: &State,
    list: &str,
    params: &BTreeMap<String, String>,
) -> Result<(String, String, Option<P>), ReadError> {
    let scope = format!(
        "content:{list}:v1:{}",
        params::normalised(params, &["cursor", "limit"])
    );
    let after = params
        .get("cursor")
        .map(|c| state.cursors.decode::<P>(&scope, c))
        .transpose()
        .map_err(|_| ReadError::InvalidCursor)?;
    let key = format!("{list}:{}", params::normalised(params, &[]));
    Ok((key, scope, after))
}

/// `GET /content`.
async fn list(
    req: HttpRequest,
    state: web::Data<State>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ReadError> {
    let params = query_pairs(query, params::LIST_PARAMS)?;
    let (filters, sort, limit) = params::list(&params)?;
    let (key, scope, after) = paging(&state, "list", &params)?;
    serve(
        &req,
        &state,
        key,
        Query::List {
            filters,
            sort,
            limit,
            after,
            scope,
        },
    )
    .await
}

/// `GET /content/{slug or id}`.
async fn review(
    req: HttpRequest,
    state: web::Data<State>,
    path: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ReadError> {
    query_pairs(query, &[])?;
    let raw = path.into_inner();
    let valid = match raw.parse::<i64>() {
        Ok(id) => id > 0,
        Err(_) => domain::Slug::parse(&raw).is_ok(),
    };
    if !valid {
        return Err(ReadError::NotFound("review"));
    }
    serve(&req, &state, format!("review:{raw}"), Query::Review(raw)).await
}

/// `GET /content/subjects`.
async fn subjects(
    req: HttpRequest,
    state: web::Data<State>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ReadError> {
    let params = query_pairs(query, params::SUBJECT_PARAMS)?;
    let kind = params.get("kind").map(|v| params::kind(v)).transpose()?;
    let brand = params.get("brand").map(|v| params::brand(v)).transpose()?;
    let q = params.get("q").map(|v| params::search(v)).transpose()?;
    let limit = params::limit(params.get("limit"), 50)?;
    let (key, scope, after) = paging(&state, "subjects", &params)?;
    let query = Query::Subjects {
        kind: kind.map(|k| k.as_str().to_owned()),
        brand,
        q,
        limit,
        after,
        scope,
    };
    serve(&req, &state, key, query).await
}

/// `GET /content/subjects/{slug}`.
async fn subject(
    req: HttpRequest,
    state: web::Data<State>,
    path: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ReadError> {
    query_pairs(query, &[])?;
    let slug = path.into_inner();
    if domain::Slug::parse(&slug).is_err() {
        return Err(ReadError::NotFound("subject"));
    }
    serve(
        &req,
        &state,
        format!("subject:{slug}"),
        Query::Subject(slug),
    )
    .await
}

/// `GET /content/compare?subjects=a,b[,c,d]`.
async fn compare(
    req: HttpRequest,
    state: web::Data<State>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ReadError> {
    let params = query_pairs(query, &["subjects"])?;
    let invalid = |message: &str| {
        ReadError::InvalidParameter(ParamError {
            name: "subjects".into(),
            message: message.into(),
        })
    };
    let raw = params
        .get("subjects")
        .ok_or_else(|| invalid("is required: 2 to 4 subject slugs separated by commas"))?;
    let slugs: Vec<String> = raw.split(',').map(|s| s.trim().to_owned()).collect();
    if !(2..=4).contains(&slugs.len()) {
        return Err(invalid("must name 2 to 4 subjects"));
    }
    for slug in &slugs {
        params::slug("subjects", slug)?;
    }
    let mut distinct = slugs.clone();
    distinct.sort();
    distinct.dedup();
    if distinct.len() != slugs.len() {
        return Err(invalid("must not name a subject twice"));
    }
    serve(
        &req,
        &state,
        format!("compare:{}", slugs.join(",")),
        Query::Compare(slugs),
    )
    .await
}

/// The shared request path.
async fn serve(
    req: &HttpRequest,
    state: &State,
    key: String,
    query: Query,
) -> Result<HttpResponse, ReadError> {
    let token = match req.headers().get("x-consistency-token") {
        None => None,
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| ReadError::InvalidToken(TokenError::Malformed))?;
            Some(state.tokens.verify(text).map_err(ReadError::InvalidToken)?)
        }
    };
    let min_lsn = token.map(|t| t.lsn.0);
    let version = state.router.version();
    if let Some(entry) = state.cache.get(&key, version).await
        && min_lsn.is_none_or(|lsn| entry.lsn >= lsn)
    {
        let from_cache = HeaderValue::from_static("cache");
        return Ok(answer(req, state, &entry, &from_cache, min_lsn.is_some()));
    }
    let entry = match min_lsn {
        // Read-your-writes: never shared, never from an older entry.
        Some(lsn) => fetch(state, &key, &query, Some(lsn)).await?,
        None => {
            let flight_key = format!("{version}:{key}");
            state
                .flights
                .run(&flight_key, || fetch(state, &key, &query, None))
                .await?
        }
    };
    Ok(answer(req, state, &entry, &entry.source, min_lsn.is_some()))
}

/// Reads on a node the router picks, retrying once elsewhere when a
/// replica cancels the query (a conflict with replay, SQLSTATE 40001).
async fn fetch(
    state: &State,
    key: &str,
    query: &Query,
    min_lsn: Option<u64>,
) -> Result<Arc<Entry>, ReadError> {
    let unavailable = |_: NoNode| ReadError::NoNode;
    let node = match min_lsn {
        Some(lsn) => state
            .router
            .choose_at_least(lsn)
            .await
            .map_err(unavailable)?,
        None => state.router.choose().map_err(unavailable)?,
    };
    let entry = match read_on(state, &node, query).await {
        // A replica cancelled the query (conflict with replay, 40001) or
        // could not be reached: once more, on another node. Read-your-writes
        // requests retry on the primary, the one node sure to be new enough.
        Err(err) if err.is_retryable() => {
            if err.is_unreachable() {
                node.mark_down();
            }
            tracing::warn!(node = %node.label, error = %err, "read failed; retrying on another node");
            let other = match min_lsn {
                Some(_) => state
                    .router
                    .primary()
                    .filter(|p| p.label != node.label)
                    .ok_or(NoNode),
                None => state.router.choose_excluding(Some(&node.label)),
            }
            .map_err(|_| err)?;
            read_on(state, &other, query).await
        }
        other => other,
    };
    let entry = Arc::new(entry?);
    state.cache.put(key, entry.clone()).await;
    Ok(entry)
}

/// One snapshot read. The WAL position is read before the snapshot is
/// taken, so the entry is at least as new as the position it records.
async fn read_on(state: &State, node: &Node, query: &Query) -> Result<Entry, ReadError> {
    state.db_queries.with_label_values(&[&node.label]).inc();
    let mut client = node.pool.get().await?;
    let row = client
        .query_one(
            "SELECT CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_replay_lsn(), '0/0')
                         ELSE pg_current_wal_lsn() END::text",
            &[],
        )
        .await?;
    let lsn: String = row.get(0);
    let lsn = lsn
        .parse::<platform::consistency::Lsn>()
        .map(|l| l.0)
        .unwrap_or(0);
    node.observe_lsn(lsn);
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let version: i64 = tx
        .query_one("SELECT version FROM content_state", &[])
        .await?
        .get(0);
    let (body, surrogate_keys) = execute(state, &tx, query).await?;
    tx.commit().await?;
    let header = |text: String| HeaderValue::try_from(text).map_err(ReadError::internal);
    Ok(Entry {
        version,
        lsn,
        etag: header(format!("\"{}\"", digest(&body)))?,
        surrogate_keys: header(surrogate_keys.header_value())?,
        source: header(node.label.clone())?,
        body: Bytes::from(body),
    })
}

fn json_bytes(value: &impl serde::Serialize) -> Result<Vec<u8>, ReadError> {
    serde_json::to_vec(value).map_err(ReadError::internal)
}

/// Runs the query; the answer body and its surrogate keys.
async fn execute(
    state: &State,
    tx: &Transaction<'_>,
    query: &Query,
) -> Result<(Vec<u8>, SurrogateKeys), ReadError> {
    let url_base = &state.settings.content.public_base_url;
    match query {
        Query::List {
            filters,
            sort,
            limit,
            after,
            scope,
        } => {
            let page = queries::list_reviews(tx, filters, *sort, *limit, *after, url_base).await?;
            let next_cursor = page.next.map(|p| state.cursors.encode(scope, &p));
            Ok((
                json_bytes(&json!({ "data": page.items, "next_cursor": next_cursor }))?,
                SurrogateKeys::lists(),
            ))
        }
        Query::Review(slug_or_id) => {
            let review = queries::review(tx, slug_or_id, url_base)
                .await?
                .ok_or(ReadError::NotFound("review"))?;
            Ok((json_bytes(&review)?, review.page_keys()))
        }
        Query::Subjects {
            kind,
            brand,
            q,
            limit,
            after,
            scope,
        } => {
            let (items, next) = queries::list_subjects(
                tx,
                kind.as_deref(),
                brand.as_deref(),
                q.as_deref(),
                *limit,
                after.clone(),
            )
            .await?;
            let next_cursor = next.map(|p| state.cursors.encode(scope, &p));
            Ok((
                json_bytes(&json!({ "data": items, "next_cursor": next_cursor }))?,
                SurrogateKeys::lists(),
            ))
        }
        Query::Subject(slug) => {
            let subject = queries::subject(tx, slug)
                .await?
                .ok_or(ReadError::NotFound("subject"))?;
            let reviews = queries::subject_reviews(tx, subject.id, 100, url_base).await?;
            let mut body = serde_json::to_value(&subject).map_err(ReadError::internal)?;
            body["reviews"] = serde_json::to_value(&reviews).map_err(ReadError::internal)?;
            let keys = SurrogateKeys::from_iter([SurrogateKey::Subject(slug.clone())]);
            Ok((json_bytes(&body)?, keys))
        }
        Query::Compare(slugs) => compare_body(tx, slugs, url_base).await,
    }
}

/// The spec rows of a comparison: name, unit, and how to read it.
const SPEC_ROWS: &[(&str, Option<&str>)] = &[
    ("mount", None),
    ("sensor_format", None),
    ("megapixels", Some("MP")),
    ("focal_min_mm", Some("mm")),
    ("focal_max_mm", Some("mm")),
    ("max_aperture", Some("f-number")),
    ("release_year", None),
];

async fn compare_body(
    tx: &Transaction<'_>,
    slugs: &[String],
    url_base: &str,
) -> Result<(Vec<u8>, SurrogateKeys), ReadError> {
    let mut found = Vec::with_capacity(slugs.len());
    let mut missing = Vec::new();
    for slug in slugs {
        match queries::subject(tx, slug).await? {
            Some(subject) => found.push(subject),
            None => missing.push(slug.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(ReadError::SubjectsNotFound(missing));
    }
    let mut subjects = Vec::with_capacity(found.len());
    let mut spec_values: Vec<serde_json::Value> = Vec::with_capacity(found.len());
    for subject in &found {
        let latest = queries::subject_reviews(tx, subject.id, 1, url_base)
            .await?
            .into_iter()
            .next();
        let specs = serde_json::to_value(&subject.specs).map_err(ReadError::internal)?;
        spec_values.push(specs.clone());
        subjects.push(json!({
            "subject": {
                "id": subject.id, "kind": subject.kind, "brand": subject.brand,
                "model": subject.model, "slug": subject.slug, "specs": specs,
            },
            "review_count": subject.review_count,
            "average_rating": subject.average_rating,
            "latest_review": latest,
        }));
    }
    let specs: Vec<serde_json::Value> = SPEC_ROWS
        .iter()
        .filter_map(|(name, unit)| {
            let values: Vec<serde_json::Value> = spec_values
                .iter()
                .map(|s| s.get(*name).cloned().unwrap_or(serde_json::Value::Null))
                .collect();
            if values.iter().all(serde_json::Value::is_null) {
                return None;
            }
            let mut row = json!({ "name": name, "values": values });
            if let Some(unit) = unit {
                row["unit"] = json!(unit);
            }
            Some(row)
        })
        .collect();
    let keys = found
        .iter()
        .map(|s| SurrogateKey::Subject(s.slug.clone()))
        .collect();
    Ok((
        json_bytes(&json!({ "subjects": subjects, "specs": specs }))?,
        keys,
    ))
}

/// The answer for an entry: 304 when the client has it, else 200.
fn answer(
    req: &HttpRequest,
    state: &State,
    entry: &Entry,
    served_from: &HeaderValue,
    private: bool,
) -> HttpResponse {
    let cache_control = if private {
        // Tied to one client's write: a CDN must never hand it to another.
        HeaderValue::from_static("private, no-store")
    } else {
        state.public_cache_control.clone()
    };
    let etag = entry.etag.as_bytes();
    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            // Weak comparison (RFC 9110 §13.1.2): a `W/` prefix, as a
            // compressing proxy adds, still matches.
            v.split(',').any(|t| {
                let t = t.trim();
                t == "*" || t.strip_prefix("W/").unwrap_or(t).as_bytes() == etag
            })
        });
    let mut res = if not_modified {
        HttpResponse::build(StatusCode::NOT_MODIFIED)
    } else {
        HttpResponse::build(StatusCode::OK)
    };
    res.insert_header((header::ETAG, entry.etag.clone()))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((SURROGATE_KEY, entry.surrogate_keys.clone()))
        .insert_header((X_SERVED_FROM, served_from.clone()));
    if not_modified {
        res.finish()
    } else {
        res.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .body(entry.body.clone())
    }
}

const SURROGATE_KEY: header::HeaderName = header::HeaderName::from_static("surrogate-key");
const X_SERVED_FROM: header::HeaderName = header::HeaderName::from_static("x-served-from");
