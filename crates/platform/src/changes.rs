//! The change feed (SPEC §10.4): one `content_changes` row per content
//! version, naming the surrogate keys of what that version changed.
//!
//! The writer adds the row in the transaction of the change, with the
//! version bump itself ([`record`]), so the feed and the version a reader
//! polls can never disagree: a replica at content version N holds every
//! feed row up to N. Readers list the feed from their own replica
//! ([`since`]); a CDN purge or a page rebuild driven by it therefore runs
//! only once that region holds the data.
//!
//! Versions bumped before the feed existed (migrations V3 and V4) have no
//! rows, and the writer deletes rows older than its retention (7 days by
//! default): a consumer whose `since` lies before the oldest row left has
//! missed changes and must treat everything as changed.

use deadpool_postgres::GenericClient;
use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use tokio_postgres::Row;
use utoipa::ToSchema;

use crate::surrogate::{NotAKey, SurrogateKeys};

/// The columns [`ContentChange::from_row`] reads.
pub const CHANGE_COLUMNS: &str = "version, at, surrogate_keys";

/// One entry of the feed: `{version, at, surrogate_keys}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ContentChange {
    /// The content version this change made (`content_state.version`).
    pub version: i64,
    /// When the change committed, near enough: taken under the version
    /// counter's lock, so it follows the version order.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What changed: `review:<id>`, `subject:<slug>`, `brand:<hash>`,
    /// `kind:<kind>`, `language:<code>`, `editor:<id>`, `list`, `search`,
    /// `phrase`, `term:<hash>` (README, "Reader cache").
    #[serde(serialize_with = "key_list")]
    #[schema(value_type = Vec<String>, example = json!(["review:42", "subject:sony-a7-iv", "phrase", "term:5f1e3a9c0b21"]))]
    pub surrogate_keys: SurrogateKeys,
}

/// A feed row that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error(transparent)]
    Database(#[from] tokio_postgres::Error),
    /// A stored key no longer parses: written by a newer writer, or by hand.
    #[error("content_changes: {0}")]
    Key(#[from] NotAKey),
}

impl ContentChange {
    /// Maps a row selected with [`CHANGE_COLUMNS`].
    pub fn from_row(row: &Row) -> Result<Self, FeedError> {
        let texts: Vec<String> = row.try_get("surrogate_keys")?;
        Ok(Self {
            version: row.try_get("version")?,
            at: row.try_get("at")?,
            surrogate_keys: texts
                .iter()
                .map(|text| text.parse())
                .collect::<Result<_, _>>()?,
        })
    }
}

/// The keys as the `text[]` column stores them, in their stable order.
pub fn key_texts(keys: &SurrogateKeys) -> Vec<String> {
    keys.iter().map(ToString::to_string).collect()
}

fn key_list<S: Serializer>(keys: &SurrogateKeys, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(keys.iter().map(ToString::to_string))
}

/// Bumps `content_state.version` and adds the feed row of the new version
/// naming `keys`, in one statement of the caller's transaction; returns the
/// new version. The counter is one row that serialises every write: call
/// this last before COMMIT, so its lock is held briefly.
pub async fn record(
    client: &impl GenericClient,
    keys: &SurrogateKeys,
) -> Result<i64, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "WITH bumped AS (UPDATE content_state SET version = version + 1 RETURNING version)
             INSERT INTO content_changes (version, at, surrogate_keys)
             SELECT version, clock_timestamp(), $1 FROM bumped
             RETURNING version",
        )
        .await?;
    let row = client.query_one(&stmt, &[&key_texts(keys)]).await?;
    Ok(row.get(0))
}

/// Up to `limit` changes after version `after`, oldest first: one range of
/// the primary key.
pub async fn since(
    client: &impl GenericClient,
    after: i64,
    limit: i64,
) -> Result<Vec<ContentChange>, FeedError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {CHANGE_COLUMNS} FROM content_changes
              WHERE version > $1 ORDER BY version LIMIT $2"
        ))
        .await?;
    let rows = client.query(&stmt, &[&after, &limit]).await?;
    rows.iter().map(ContentChange::from_row).collect()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::surrogate::SurrogateKey;

    #[test]
    fn a_change_is_its_version_time_and_keys_as_a_list_of_texts() {
        let mut keys = SurrogateKeys::review_page(42, "sony-a7-iv");
        keys.insert(SurrogateKey::Subject("nikon-z6-iii".into()));
        keys.insert(SurrogateKey::List);
        let change = ContentChange {
            version: 7,
            at: datetime!(2030-01-01 12:00:00.25 UTC),
            surrogate_keys: keys.clone(),
        };
        assert_eq!(
            serde_json::to_value(&change).unwrap(),
            serde_json::json!({
                "version": 7,
                "at": "2030-01-01T12:00:00.25Z",
                "surrogate_keys": ["review:42", "subject:nikon-z6-iii", "subject:sony-a7-iv", "list"],
            })
        );
        // Stored in the same order and spelling, and read back as the set.
        let texts = key_texts(&keys);
        assert_eq!(
            texts,
            [
                "review:42",
                "subject:nikon-z6-iii",
                "subject:sony-a7-iv",
                "list"
            ]
        );
        let read: SurrogateKeys = texts.iter().map(|t| t.parse().unwrap()).collect();
        assert_eq!(read, keys);
    }

    #[test]
    fn the_schema_lists_keys_as_strings() {
        let schema = serde_json::to_value(<ContentChange as utoipa::PartialSchema>::schema())
            .expect("a schema");
        assert_eq!(schema["properties"]["surrogate_keys"]["type"], "array");
        assert_eq!(
            schema["properties"]["surrogate_keys"]["items"]["type"],
            "string"
        );
        let mut required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        required.sort_unstable();
        assert_eq!(required, ["at", "surrogate_keys", "version"]);
    }
}
