//! Starting the writer (and a real auth service beside it, on the same
//! database) for a test, and talking to both over HTTP.

use std::path::Path;
use std::time::Duration;

use awc::http::{Method, StatusCode};
use platform::consistency::{ConsistencyToken, TokenKey};
use platform::surrogate::SurrogateKey;
use serde_json::{Value, json};
use test_support::http::{login, send_raw};
use test_support::services::{self, KeysDir};
use test_support::{TestCluster, TestDatabase};

pub use test_support::http::{Answer, client_with_timeout, post_login, read};
pub use test_support::services::{
    ADMIN_EMAIL, ADMIN_PASSWORD, AuthService, CONSISTENCY_SECRET, ISSUER, start_auth, unique_email,
};

pub const EDITOR_PASSWORD: &str = "a long enough password";

/// A running writer with its own database, an auth service issuing its
/// tokens, and a logged-in admin.
pub struct TestApp {
    pub address: String,
    pub auth: AuthService,
    pub db: TestDatabase,
    keys_dir: KeysDir,
    pub admin: Editor,
    client: awc::Client,
}

/// An editor account and its access token.
#[derive(Debug, Clone)]
pub struct Editor {
    pub id: i64,
    pub email: String,
    pub token: String,
}

/// What the writer's answers carry beyond every service's.
pub trait WriterAnswer {
    /// Asserts a 422 `validation_failed` naming `field` in `errors[]`.
    fn assert_invalid_field(&self, field: &str);
    /// The `field`s of `errors[]`.
    fn error_fields(&self) -> Vec<String>;
    /// Asserts a 201 and returns the created review's id.
    fn created_id(&self) -> i64;
    /// The `ETag` as a version number (`"3"` → 3).
    fn etag_version(&self) -> i64;
    /// The verified `X-Consistency-Token`.
    fn consistency_token(&self) -> ConsistencyToken;
}

impl WriterAnswer for Answer {
    fn assert_invalid_field(&self, field: &str) {
        self.assert_problem(422, "validation_failed");
        assert!(
            self.error_fields().iter().any(|f| f == field),
            "{field} not named in {:?}",
            self.body
        );
    }

    fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn created_id(&self) -> i64 {
        assert_eq!(self.status, StatusCode::CREATED, "{:?}", self.body);
        self.body["id"].as_i64().expect("review id")
    }

    fn etag_version(&self) -> i64 {
        let etag = self.header("etag").expect("ETag present");
        etag.trim_matches('"')
            .parse()
            .expect("ETag is a quoted version")
    }

    fn consistency_token(&self) -> ConsistencyToken {
        let text = self
            .header("x-consistency-token")
            .expect("X-Consistency-Token present");
        TokenKey::new(CONSISTENCY_SECRET.as_bytes())
            .expect("key")
            .verify(text)
            .expect("the token verifies with the shared secret")
    }
}

/// A valid review body, titled `title`.
pub fn review_body(title: &str) -> Value {
    json!({
        "subject": {
            "kind": "camera",
            "brand": "Fujifilm",
            "model": "X-T5",
            "specs": { "mount": "X", "sensor_format": "APS-C", "megapixels": 40.2, "release_year": 2022 }
        },
        "title": title,
        "summary": "A small camera with a big sensor.",
        "body": "## Handling\n\nDials everywhere.",
        "rating": 8.5,
        "pros": ["dials", "resolution"],
        "cons": ["battery"],
        "image_urls": ["https://img.example.com/xt5.jpg"],
        "language": "en"
    })
}

/// Asserts that `keys` (a feed row's, or a `Surrogate-Key` split at its
/// spaces) are those of a write that moved review `id` of `subjects` —
/// created, retracted, rated, moved to another subject — for a review
/// made from [`review_body`] (an English camera review): its page and its
/// subjects' pages, then its lists' filters and `list`, then a `term:` key
/// for each stem of its words, those of "dials" and "battery" among them.
pub fn assert_moved<K: AsRef<str>>(keys: &[K], id: i64, subjects: &[&str]) {
    let keys: Vec<&str> = keys.iter().map(AsRef::as_ref).collect();
    let mut first = vec![format!("review:{id}")];
    first.extend(subjects.iter().map(|slug| format!("subject:{slug}")));
    assert_eq!(keys[..first.len()], first, "{keys:?}");
    let rest = &keys[first.len()..];
    for key in ["kind:camera", "language:en", "list"] {
        assert!(rest.contains(&key), "{key} not named: {keys:?}");
    }
    let named = ["brand:", "kind:", "language:", "editor:", "list", "term:"];
    assert!(
        rest.iter().all(|k| named.iter().any(|n| k.starts_with(n))),
        "{keys:?}"
    );
    for stem in ["dial", "batteri"] {
        let key = SurrogateKey::word(stem).to_string();
        assert!(rest.contains(&key.as_str()), "{stem} not named: {keys:?}");
    }
}

/// A unique title, so that tests can find their rows by it.
pub fn unique_title(prefix: &str) -> String {
    format!("{prefix} {}", uuid::Uuid::new_v4().simple())
}

pub async fn spawn_app() -> TestApp {
    spawn_app_on(test_support::cluster(), |_| {}).await
}

/// Starts auth and the writer on a fresh database of `cluster`; `adjust`
/// changes the writer's settings before it is built.
pub async fn spawn_app_on(
    cluster: &TestCluster,
    adjust: impl FnOnce(&mut reviews_writer::Settings),
) -> TestApp {
    let db = cluster.fresh_database().await;
    let keys_dir = KeysDir::generate("writer");
    let auth_settings = services::supporting_auth_settings(cluster, &db, &keys_dir);
    let admin_id = services::insert_admin(&db, &auth_settings).await;
    let auth = start_auth(auth_settings).await;

    let mut settings = services::writer_settings(&db, &auth);
    adjust(&mut settings);
    let writer = services::start_writer(settings).await;

    let client = client_with_timeout(Duration::from_secs(30));
    let admin_token = login(&client, &auth.address, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    TestApp {
        address: writer.address,
        auth,
        db,
        keys_dir,
        admin: Editor {
            id: admin_id,
            email: ADMIN_EMAIL.into(),
            token: admin_token,
        },
        client,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Logs in through auth and returns the access token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        login(&self.client, &self.auth.address, email, password).await
    }

    /// Creates an editor through auth as the admin, and logs them in once.
    pub async fn new_editor(&self, role: &str) -> Editor {
        let email = unique_email(role);
        let answer = self
            .auth_request(
                Method::POST,
                "/auth/editors",
                &json!({ "email": email, "name": "Editor Name", "password": EDITOR_PASSWORD, "role": role }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        let id = answer.body["id"].as_i64().expect("editor id");
        let token = self.login(&email, EDITOR_PASSWORD).await;
        Editor { id, email, token }
    }

    /// Disables an editor through auth as the admin.
    pub async fn disable_editor(&self, id: i64) {
        let answer = self
            .auth_request(
                Method::PATCH,
                &format!("/auth/editors/{id}"),
                &json!({ "disabled": true }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        assert_eq!(answer.body["disabled"], true);
    }

    async fn auth_request(&self, method: Method, path: &str, body: &Value) -> Answer {
        read(
            self.client
                .request(method, format!("{}{path}", self.auth.address))
                .bearer_auth(&self.admin.token)
                .send_json(body)
                .await
                .expect("auth request sent"),
        )
        .await
    }

    /// Any request to the writer with an optional token, JSON body and
    /// extra headers.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        let res = match body {
            Some(body) => req.send_json(body).await,
            None => req.send().await,
        };
        read(res.expect("request sent")).await
    }

    /// Sends raw bytes as a `POST /reviews` body.
    pub async fn post_raw_review(
        &self,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let req = self.client.post(self.url("/reviews")).bearer_auth(token);
        send_raw(req, content_type, body, headers).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.request(Method::GET, path, token, None, &[]).await
    }

    pub async fn post_review(
        &self,
        token: &str,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> Answer {
        let headers: Vec<(&str, &str)> = idempotency_key
            .map(|key| ("idempotency-key", key))
            .into_iter()
            .collect();
        self.request(Method::POST, "/reviews", Some(token), Some(body), &headers)
            .await
    }

    /// Creates a review titled `title` and returns the answer, asserting 201.
    pub async fn create_review(&self, token: &str, title: &str) -> Answer {
        let answer = self.post_review(token, &review_body(title), None).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer
    }

    pub async fn patch_review(
        &self,
        token: &str,
        id: i64,
        body: &Value,
        if_match: Option<&str>,
    ) -> Answer {
        let headers: Vec<(&str, &str)> = if_match.map(|v| ("if-match", v)).into_iter().collect();
        self.request(
            Method::PATCH,
            &format!("/reviews/{id}"),
            Some(token),
            Some(body),
            &headers,
        )
        .await
    }

    pub async fn delete_review(&self, token: &str, id: i64) -> Answer {
        self.request(
            Method::DELETE,
            &format!("/reviews/{id}"),
            Some(token),
            None,
            &[],
        )
        .await
    }

    pub async fn get_review(&self, token: &str, id: i64) -> Answer {
        self.get(&format!("/reviews/{id}"), Some(token)).await
    }

    /// `GET /reviews?{query}` (`query` without the `?`, may be empty).
    pub async fn list_reviews(&self, token: &str, query: &str) -> Answer {
        let path = if query.is_empty() {
            "/reviews".to_owned()
        } else {
            format!("/reviews?{query}")
        };
        self.get(&path, Some(token)).await
    }

    /// A row count from the primary (`sql` returns one bigint).
    pub async fn count(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> i64 {
        self.db
            .primary_client()
            .await
            .query_one(sql, params)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get(0)
    }

    pub async fn review_count(&self) -> i64 {
        self.count("SELECT count(*) FROM reviews", &[]).await
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        services::audit_actions(&self.db).await
    }

    pub async fn content_version(&self) -> i64 {
        self.count("SELECT version FROM content_state", &[]).await
    }

    /// `GET /reviews/{id}/propagation`.
    pub async fn propagation(&self, token: &str, id: i64) -> Answer {
        self.get(&format!("/reviews/{id}/propagation"), Some(token))
            .await
    }

    /// The change feed on the primary, oldest first: each row's version
    /// and keys.
    pub async fn feed(&self) -> Vec<(i64, Vec<String>)> {
        self.db
            .primary_client()
            .await
            .query(
                "SELECT version, surrogate_keys FROM content_changes ORDER BY version",
                &[],
            )
            .await
            .expect("content_changes")
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    }

    pub fn keys_dir(&self) -> &Path {
        self.keys_dir.path()
    }
}
