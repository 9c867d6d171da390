//! `GET /content/changes?since=<version>&limit=`: the change feed (SPEC
//! §10.4) as this region's replica holds it, for CDN purgers and page
//! rebuilds — a purge driven by it never runs before the region can serve
//! what changed.
//!
//! The contract (also in the OpenAPI document and the README):
//! - `data`: the changes after `since` that the node read holds, oldest
//!   first, one per content version, at most `limit`.
//! - `version`: that node's content version. `next_cursor` is null when
//!   `data` reaches it: the consumer has every change up to `version` and
//!   polls later with `since=version`. Otherwise it is the last version
//!   listed, as text: call again at once with `since=next_cursor`.
//! - `reset: true` (200, `data` empty) when the changes right after
//!   `since` can no longer be listed — purged after the 7-day retention, or
//!   versions that never had a row (before the feed existed): the consumer
//!   must treat everything as changed (purge all, rebuild), then go on with
//!   `since=version`. Not an error: it is the feed's normal answer to a
//!   consumer that was away too long.
//! - A scheduled review's release is not a row: its row is written when
//!   it is scheduled, and at `publish_at` nothing is written (no job runs;
//!   replicas are read-only). Every answer such a release changes carries
//!   a `Cache-Control` that ends at `publish_at`, so an HTTP cache honouring
//!   it needs no purge; `next_release_at` says when the next release lapses
//!   for consumers that keep copies without expiry (static pages): rebuild
//!   the lists then.
//!
//! Not cached by the reader (every answer is the node's position of the
//! moment); `Cache-Control: public, max-age=1`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use platform::changes::{ContentChange, FeedError};
use platform::content::NEXT_EMBARGO;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::encoding::AcceptEncoding;
use crate::error::{ReadError, X_SERVED_FROM};
use crate::openapi::{FeedResponses, ReadHeaders};
use crate::params;
use crate::router::{NoNode, Node};
use crate::serve::{on_node, snapshot};
use crate::startup::State;

pub(crate) const PATH: &str = "/content/changes";

/// How long a client or CDN may keep a feed answer.
pub(crate) const CACHE_CONTROL: &str = "public, max-age=1";

/// A page of the change feed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChangePage {
    /// Changes after `since`, oldest first
    data: Vec<ContentChange>,
    /// Null when `data` reaches `version`; else the last version listed: call again with `since` set to it
    #[schema(required = true)]
    next_cursor: Option<String>,
    /// The content version of the node read (this region's replica): with `next_cursor` null, poll later with `since` set to it
    version: i64,
    /// True when the changes right after `since` are no longer kept (7-day retention) or never had a row: treat everything as changed, then go on with `since` = `version`
    reset: bool,
    /// When the next scheduled review becomes public in this region's data (a release is not a row of the feed); null when none is scheduled
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    next_release_at: Option<OffsetDateTime>,
}

/// `/content/changes`' query as the document describes it.
/// `params::feed` parses it; a test holds the names to
/// `params::FEED_PARAMS`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "describes the query for the document; params.rs parses it"
)]
struct FeedQuery {
    /// The last content version the consumer has processed (0 at first)
    #[param(minimum = 0, example = 0)]
    since: i64,
    /// Changes per answer, 1 to 1000 (default 100)
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// `GET /content/changes`.
#[utoipa::path(
    get,
    path = PATH,
    operation_id = "listChanges",
    summary = "The change feed as this region's replica holds it",
    params(FeedQuery, ReadHeaders),
    responses(
        (status = 200, description = "A page of the feed", body = ChangePage),
        FeedResponses
    )
)]
pub(crate) async fn changes(
    req: HttpRequest,
    state: web::Data<State>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ReadError> {
    let params = params::collect(query.into_inner(), params::FEED_PARAMS)?;
    let (since, limit) = params::feed(&params)?;
    let node = state
        .router
        .choose()
        .map_err(|_: NoNode| ReadError::NoNode)?;
    let permit = state.admission.enter().await?;
    let page = read_page(&node, since, limit).await;
    drop(permit);
    let page = page.map_err(|err| on_node(&node, err))?;
    answer(&req, &node, &page)
}

/// One page, read in one snapshot of `node`.
async fn read_page(node: &Node, since: i64, limit: i64) -> Result<ChangePage, ReadError> {
    let mut client = node.pool.get().await?;
    let tx = snapshot(&mut client).await?;
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT version, ({NEXT_EMBARGO}) FROM content_state"
        ))
        .await?;
    let row = tx.query_one(&stmt, &[]).await?;
    let rows = platform::changes::since(&tx, since, limit + 1)
        .await
        .map_err(|err| match err {
            FeedError::Database(e) => ReadError::from(e),
            FeedError::Key(e) => ReadError::internal(e),
        })?;
    tx.commit().await?;
    let version: i64 = row.try_get(0)?;
    let (data, next_cursor, reset) = cut(since, version, rows, limit);
    Ok(ChangePage {
        data,
        next_cursor,
        version,
        reset,
        next_release_at: row.try_get(1)?,
    })
}

/// The rows to list after `since` on a node at `version` — the run of
/// consecutive versions from `since + 1`, at most `limit` — where the
/// consumer goes on (the last one listed, unless the run reaches
/// `version`), and whether the feed must be reset: versions after `since`
/// held but the next one missing.
fn cut(
    since: i64,
    version: i64,
    rows: Vec<ContentChange>,
    limit: i64,
) -> (Vec<ContentChange>, Option<String>, bool) {
    if since >= version {
        return (Vec::new(), None, false);
    }
    let run = rows
        .iter()
        .zip(since + 1..)
        .take_while(|(row, expected)| row.version == *expected)
        .count()
        .min(usize::try_from(limit).unwrap_or(usize::MAX));
    if run == 0 {
        return (Vec::new(), None, true);
    }
    let mut data = rows;
    data.truncate(run);
    let last = data.last().map_or(since, |c| c.version);
    let next = (last < version).then(|| last.to_string());
    (data, next, false)
}

/// The page as JSON, in the coding the request prefers.
fn answer(req: &HttpRequest, node: &Node, page: &ChangePage) -> Result<HttpResponse, ReadError> {
    let body = serde_json::to_vec(page).map_err(ReadError::internal)?;
    let coding = AcceptEncoding::negotiate(req.headers(), |_| true);
    let encoded = coding.encode(&body);
    let mut res = HttpResponse::Ok();
    res.insert_header((
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    ))
    .insert_header((header::VARY, HeaderValue::from_static("Accept-Encoding")))
    .insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    ));
    if let Ok(label) = HeaderValue::from_str(&node.label) {
        res.insert_header((X_SERVED_FROM, label));
    }
    Ok(match (encoded, coding.content_encoding()) {
        (Some(bytes), Some(encoding)) => res
            .insert_header((header::CONTENT_ENCODING, encoding))
            .body(bytes),
        _ => res.body(body),
    })
}

#[cfg(test)]
mod tests {
    use platform::surrogate::SurrogateKeys;

    use super::*;

    fn rows(versions: &[i64]) -> Vec<ContentChange> {
        versions
            .iter()
            .map(|&version| ContentChange {
                version,
                at: OffsetDateTime::UNIX_EPOCH,
                surrogate_keys: SurrogateKeys::lists(),
            })
            .collect()
    }

    fn versions(page: &(Vec<ContentChange>, Option<String>, bool)) -> Vec<i64> {
        page.0.iter().map(|c| c.version).collect()
    }

    #[test]
    fn a_caught_up_page_has_no_cursor_and_a_full_one_names_its_last_version() {
        let page = cut(4, 6, rows(&[5, 6]), 10);
        assert_eq!((versions(&page), page.1, page.2), (vec![5, 6], None, false));
        let page = cut(4, 9, rows(&[5, 6, 7]), 2);
        assert_eq!(
            (versions(&page), page.1, page.2),
            (vec![5, 6], Some("6".to_owned()), false)
        );
    }

    #[test]
    fn missing_rows_right_after_since_are_a_reset_and_a_later_hole_ends_the_page() {
        // Purged: the oldest row kept is 8.
        let page = cut(4, 9, rows(&[8, 9]), 10);
        assert_eq!((versions(&page), page.1, page.2), (vec![], None, true));
        // Nothing held after since although the version moved on.
        let page = cut(4, 9, rows(&[]), 10);
        assert!(page.2);
        // A hole after 5: the page stops there; the next call resets.
        let page = cut(4, 9, rows(&[5, 7]), 10);
        assert_eq!(
            (versions(&page), page.1, page.2),
            (vec![5], Some("5".to_owned()), false)
        );
    }

    #[test]
    fn a_consumer_at_or_past_the_replica_gets_an_empty_page() {
        let page = cut(9, 9, rows(&[]), 10);
        assert_eq!((versions(&page), page.1, page.2), (vec![], None, false));
        let page = cut(12, 9, rows(&[]), 10);
        assert_eq!((versions(&page), page.1, page.2), (vec![], None, false));
    }
}
