//! The answer of a write: its status, its headers by name and its body, as
//! sent and as the `idempotency` module stores it for replay.
//!
//! Headers are a struct, not a list, so that a handler names what it sets
//! (and a retraction, which leaves nothing to version, has no `ETag`). The
//! stored form is the JSON object `{"etag", "surrogate-key", "location"}`
//! of header values that answers stored before the struct existed have too,
//! so that every stored answer replays with the very values first sent.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, HttpResponseBuilder};
use platform::content::ReviewView;
use platform::surrogate::SurrogateKeys;
use serde::{Deserialize, Serialize};

use crate::error::WriteError;

/// `X-Consistency-Token`: where a reader must have replayed to before it
/// may answer this client (read-your-writes).
pub const CONSISTENCY_TOKEN: &str = "x-consistency-token";
/// `Surrogate-Key`: what a CDN must purge after this write.
pub const SURROGATE_KEY: &str = "surrogate-key";
/// `Idempotent-Replayed: true` on an answer replayed for a repeated key.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// The headers of a write's answer beyond the ones every answer carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "StoredHeaders", try_from = "StoredHeaders")]
pub struct WriteHeaders {
    /// The review's version, when one is left to change.
    pub etag: Option<i32>,
    /// What the write changed.
    pub surrogate_keys: SurrogateKeys,
    /// Where readers find a new review (`/content/{slug}`).
    pub location: Option<String>,
}

impl WriteHeaders {
    /// A new review: its version, what it changed and where it is read.
    pub fn created(view: &ReviewView, surrogate_keys: SurrogateKeys) -> Self {
        Self {
            etag: Some(view.version),
            surrogate_keys,
            location: Some(format!("/content/{}", view.slug)),
        }
    }

    /// A changed review: its version and the keys the change touched.
    pub fn changed(view: &ReviewView, surrogate_keys: SurrogateKeys) -> Self {
        Self {
            etag: Some(view.version),
            surrogate_keys,
            location: None,
        }
    }

    /// A retracted review: only what readers must forget.
    pub fn retracted(surrogate_keys: SurrogateKeys) -> Self {
        Self {
            etag: None,
            surrogate_keys,
            location: None,
        }
    }
}

/// `"<version>"`, the strong validator `If-Match` compares with.
pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

/// The stored form of [`WriteHeaders`]: header values by lowercase name.
#[derive(Serialize, Deserialize)]
struct StoredHeaders {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(rename = "surrogate-key")]
    surrogate_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    location: Option<String>,
}

impl From<WriteHeaders> for StoredHeaders {
    fn from(headers: WriteHeaders) -> Self {
        Self {
            etag: headers.etag.map(etag),
            surrogate_key: headers.surrogate_keys.header_value(),
            location: headers.location,
        }
    }
}

impl TryFrom<StoredHeaders> for WriteHeaders {
    type Error = String;

    fn try_from(stored: StoredHeaders) -> Result<Self, Self::Error> {
        let etag = match stored.etag {
            None => None,
            Some(text) => Some(
                text.strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("stored ETag {text} is not a quoted version"))?,
            ),
        };
        Ok(Self {
            etag,
            surrogate_keys: SurrogateKeys::parse(&stored.surrogate_key)
                .map_err(|e| e.to_string())?,
            location: stored.location,
        })
    }
}

/// A write's whole answer, as first sent and as replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteAnswer {
    pub status: StatusCode,
    pub headers: WriteHeaders,
    /// The JSON body, kept as bytes so that a replay is byte-identical;
    /// empty for a 204.
    pub body: Vec<u8>,
}

impl WriteAnswer {
    /// An answer with the review as its body.
    pub fn with_view(
        status: StatusCode,
        headers: WriteHeaders,
        view: &ReviewView,
    ) -> Result<Self, WriteError> {
        let body = serde_json::to_vec(view).map_err(WriteError::internal)?;
        Ok(Self {
            status,
            headers,
            body,
        })
    }

    /// An answer without a body.
    pub fn empty(status: StatusCode, headers: WriteHeaders) -> Self {
        Self {
            status,
            headers,
            body: Vec::new(),
        }
    }

    /// The HTTP answer, with the consistency token when there is one. Never
    /// cached: it is one client's view of its own write.
    pub fn send(self, token: Option<&str>) -> HttpResponse {
        let mut res = HttpResponseBuilder::new(self.status);
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(version) = self.headers.etag {
            res.insert_header((header::ETAG, etag(version)));
        }
        res.insert_header((SURROGATE_KEY, self.headers.surrogate_keys.header_value()));
        if let Some(location) = &self.headers.location {
            res.insert_header((header::LOCATION, location.as_str()));
        }
        if let Some(token) = token {
            res.insert_header((CONSISTENCY_TOKEN, token));
        }
        if self.body.is_empty() {
            res.finish()
        } else {
            res.content_type("application/json").body(self.body)
        }
    }

    /// The stored answer sent again for a repeated `Idempotency-Key`.
    pub fn replay(self, token: &str) -> HttpResponse {
        let mut res = self.send(Some(token));
        res.headers_mut().insert(
            HeaderName::from_static(IDEMPOTENT_REPLAYED),
            HeaderValue::from_static("true"),
        );
        res
    }
}

#[cfg(test)]
mod tests {
    use platform::surrogate::SurrogateKey;

    use super::*;

    fn stored_then_read(headers: &WriteHeaders) -> WriteHeaders {
        let json = serde_json::to_value(headers).unwrap();
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn headers_stored_before_they_were_typed_read_back_as_the_same_values() {
        // What `POST /reviews` stored as `response_headers` until the
        // headers became a struct.
        let old = serde_json::json!({
            "etag": "\"1\"",
            "surrogate-key": "review:42 subject:sony-a7-iv list",
            "location": "/content/sony-a7-iv-review",
        });
        let headers: WriteHeaders = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(headers.etag, Some(1));
        assert_eq!(
            headers.surrogate_keys.header_value(),
            "review:42 subject:sony-a7-iv list"
        );
        assert_eq!(
            headers.location.as_deref(),
            Some("/content/sony-a7-iv-review")
        );
        assert_eq!(serde_json::to_value(&headers).unwrap(), old);
    }

    #[test]
    fn every_kind_of_write_headers_reads_back_unchanged() {
        let mut keys = SurrogateKeys::review_page(7, "a");
        keys.extend([SurrogateKey::List, SurrogateKey::word("lente")]);
        let mut moved = keys.clone();
        moved.insert(SurrogateKey::Subject("b".to_owned()));
        for headers in [
            WriteHeaders {
                etag: Some(3),
                surrogate_keys: moved,
                location: None,
            },
            WriteHeaders::retracted(keys),
        ] {
            assert_eq!(stored_then_read(&headers), headers);
        }
    }

    #[test]
    fn a_stored_answer_that_is_not_ours_is_refused() {
        for bad in [
            serde_json::json!({"etag": "3", "surrogate-key": "list"}),
            serde_json::json!({"surrogate-key": "page:1"}),
            serde_json::json!({"etag": "\"3\""}),
        ] {
            assert!(
                serde_json::from_value::<WriteHeaders>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_sent_answer_names_each_header_and_a_replay_says_so() {
        let headers = WriteHeaders {
            etag: Some(2),
            surrogate_keys: SurrogateKeys::review_page(9, "x"),
            location: Some("/content/x".to_owned()),
        };
        let answer = WriteAnswer {
            status: StatusCode::CREATED,
            headers,
            body: b"{}".to_vec(),
        };
        let sent = answer.clone().send(None);
        let replayed = answer.replay("token");
        for res in [&sent, &replayed] {
            let h = res.headers();
            assert_eq!(h.get(header::ETAG).unwrap(), "\"2\"");
            assert_eq!(h.get(SURROGATE_KEY).unwrap(), "review:9 subject:x");
            assert_eq!(h.get(header::LOCATION).unwrap(), "/content/x");
            assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), "no-store");
        }
        assert!(sent.headers().get(CONSISTENCY_TOKEN).is_none());
        assert!(sent.headers().get(IDEMPOTENT_REPLAYED).is_none());
        assert_eq!(replayed.headers().get(CONSISTENCY_TOKEN).unwrap(), "token");
        assert_eq!(replayed.headers().get(IDEMPOTENT_REPLAYED).unwrap(), "true");
    }
}
