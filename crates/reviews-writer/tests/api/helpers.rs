//! Starting the writer (and a real auth service beside it, on the same
//! database) for a test, and talking to both over HTTP.

use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use awc::http::{Method, StatusCode};
use platform::consistency::{ConsistencyToken, TokenKey};
use platform::settings::Secret;
use serde_json::{Value, json};
use test_support::{TestCluster, TestDatabase};

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const EDITOR_PASSWORD: &str = "a long enough password";
pub const ISSUER: &str = "http://auth.test";
/// The HMAC secret of `X-Consistency-Token`, as readers would share it.
pub const CONSISTENCY_SECRET: &str = "consistency-secret-for-tests-0123456789";
pub const CURSOR_SECRET: &str = "cursor-secret-for-tests-abcdefghijklmnopq";

/// A running auth service.
pub struct AuthService {
    pub address: String,
    pub port: u16,
    pub handle: ServerHandle,
    pub settings: auth::Settings,
}

/// A running writer with its own database, an auth service issuing its
/// tokens, and a logged-in admin.
pub struct TestApp {
    pub address: String,
    pub auth: AuthService,
    pub db: TestDatabase,
    pub keys_dir: PathBuf,
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

/// An answer: status, headers and the parsed body (`Null` when empty).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: awc::http::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json answer with `status` and `code`.
    pub fn assert_problem(&self, status: u16, code: &str) {
        self.assert_problem_status(status);
        assert_eq!(self.body["code"], code, "{:?}", self.body);
    }

    /// Asserts a problem+json answer with `status`, whatever its code.
    pub fn assert_problem_status(&self, status: u16) {
        assert_eq!(self.status.as_u16(), status, "{:?}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{:?}",
            self.body
        );
        assert_eq!(self.body["status"], status, "{:?}", self.body);
        assert!(
            self.body["request_id"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{:?}",
            self.body
        );
    }

    /// Asserts a 422 `validation_failed` naming `field` in `errors[]`.
    pub fn assert_invalid_field(&self, field: &str) {
        self.assert_problem(422, "validation_failed");
        assert!(
            self.error_fields().iter().any(|f| f == field),
            "{field} not named in {:?}",
            self.body
        );
    }

    /// The `field`s of `errors[]`.
    pub fn error_fields(&self) -> Vec<String> {
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

    /// Asserts a 201 and returns the created review's id.
    pub fn created_id(&self) -> i64 {
        assert_eq!(self.status, StatusCode::CREATED, "{:?}", self.body);
        self.body["id"].as_i64().expect("review id")
    }

    /// The `ETag` as a version number (`"3"` → 3).
    pub fn etag_version(&self) -> i64 {
        let etag = self.header("etag").expect("ETag present");
        etag.trim_matches('"')
            .parse()
            .expect("ETag is a quoted version")
    }

    /// The verified `X-Consistency-Token`.
    pub fn consistency_token(&self) -> ConsistencyToken {
        let text = self
            .header("x-consistency-token")
            .expect("X-Consistency-Token present");
        TokenKey::new(CONSISTENCY_SECRET.as_bytes())
            .expect("key")
            .verify(text)
            .expect("the token verifies with the shared secret")
    }
}

/// A fresh unique email.
pub fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.com", uuid::Uuid::new_v4().simple())
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
    let keys_dir =
        std::env::temp_dir().join(format!("rcr-writer-keys-{}", uuid::Uuid::new_v4().simple()));
    let active = keys_dir.join("a.pem");
    auth::keys::generate_file(&active).expect("key written");

    let mut auth_settings = auth::Settings::default();
    auth_settings.http.port = 0;
    auth_settings.http.workers = 1;
    auth_settings.database.url = Secret::new(db.primary_url());
    auth_settings.redis.url = Secret::new(cluster.redis().url());
    auth_settings.tokens.active_key_file = active;
    auth_settings.tokens.issuer = ISSUER.into();
    auth_settings.throttle.per_ip = 1_000_000;
    auth_settings.throttle.per_email = 1_000_000;
    // The writer is under test, not password hashing: cheap hashes keep the
    // many logins of the suite fast on two cores.
    auth_settings.passwords.memory_kib = 1024;
    auth_settings.passwords.iterations = 1;
    insert_admin(&db, &auth_settings).await;
    let auth = start_auth(auth_settings).await;

    let mut settings = reviews_writer::Settings::default();
    settings.http.port = 0;
    settings.http.workers = 2;
    settings.database.url = Secret::new(db.primary_url());
    settings.jwt.issuer = ISSUER.into();
    settings.jwt.audience = "rcr-api".into();
    settings.jwt.jwks_url = format!("http://127.0.0.1:{}/.well-known/jwks.json", auth.port);
    settings.jwt.refetch_min_interval_ms = 0;
    settings.consistency.secret = Secret::new(CONSISTENCY_SECRET);
    settings.cursor.secret = Secret::new(CURSOR_SECRET);
    adjust(&mut settings);
    let app = reviews_writer::build(settings)
        .await
        .expect("the writer builds");
    let port = app.port();
    actix_web::rt::spawn(app.run_until_stopped());

    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let admin_token = login(&client, &auth.address, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let admin_id = db
        .primary_client()
        .await
        .query_one("SELECT id FROM editors WHERE email = $1", &[&ADMIN_EMAIL])
        .await
        .expect("admin id")
        .get(0);
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
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

/// The first admin, as `auth create-admin` would make it.
async fn insert_admin(db: &TestDatabase, settings: &auth::Settings) {
    let hasher = auth::password::Hasher::new(&settings.passwords).expect("hasher");
    let hash = hasher.hash(ADMIN_PASSWORD).await.expect("hash");
    db.primary_client()
        .await
        .execute(
            "INSERT INTO editors (email, name, password_hash, role) VALUES ($1, 'Admin', $2, 'admin')",
            &[&ADMIN_EMAIL, &hash],
        )
        .await
        .expect("admin inserted");
}

/// Builds and runs an auth service with `settings`.
pub async fn start_auth(settings: auth::Settings) -> AuthService {
    let app = auth::build(settings.clone()).await.expect("auth builds");
    let port = app.port();
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    AuthService {
        address: format!("http://127.0.0.1:{port}"),
        port,
        handle,
        settings,
    }
}

async fn login(client: &awc::Client, auth: &str, email: &str, password: &str) -> String {
    let answer = read(
        client
            .post(format!("{auth}/auth/login"))
            .send_json(&json!({ "email": email, "password": password }))
            .await
            .expect("login sent"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "login: {:?}", answer.body);
    answer.body["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

pub async fn read(
    mut res: awc::ClientResponse<
        impl futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>>
        + Unpin,
    >,
) -> Answer {
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.body().limit(4 * 1024 * 1024).await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Answer {
        status,
        headers,
        body,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A client bounded by `timeout` (fault tests: a hang is a failure).
    pub fn client_with_timeout(timeout: Duration) -> awc::Client {
        awc::Client::builder().timeout(timeout).finish()
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
        let mut req = self
            .client
            .post(self.url("/reviews"))
            .bearer_auth(token)
            .insert_header(("content-type", content_type));
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        read(req.send_body(body).await.expect("request sent")).await
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
        self.db
            .primary_client()
            .await
            .query("SELECT action FROM audit_log ORDER BY id", &[])
            .await
            .expect("audit query")
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    pub async fn content_version(&self) -> i64 {
        self.count("SELECT version FROM content_state", &[]).await
    }

    pub fn keys_dir(&self) -> &Path {
        &self.keys_dir
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.keys_dir);
    }
}
