//! Starting the service for a test and talking to it.

use std::path::PathBuf;
use std::time::Duration;

use auth::Settings;
use awc::http::StatusCode;
use platform::settings::Secret;
use serde_json::{Value, json};
use test_support::TestDatabase;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A running auth service with its own database and an admin account.
pub struct TestApp {
    pub address: String,
    pub db: TestDatabase,
    pub keys_dir: PathBuf,
    pub settings: Settings,
    client: awc::Client,
}

/// An answer: status, headers and the parsed body (`Null` when empty).
#[derive(Debug)]
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
        assert_eq!(self.status.as_u16(), status, "{:?}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{:?}",
            self.body
        );
        assert_eq!(self.body["code"], code, "{:?}", self.body);
        assert_eq!(self.body["status"], status);
        assert!(
            self.body["request_id"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
    }
}

/// A fresh unique email.
pub fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.com", uuid::Uuid::new_v4().simple())
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let cluster = test_support::cluster();
    let db = cluster.fresh_database().await;
    let keys_dir =
        std::env::temp_dir().join(format!("rcr-auth-keys-{}", uuid::Uuid::new_v4().simple()));
    auth::keys::generate_file(&keys_dir.join("active.pem")).expect("key written");

    let mut settings = Settings::default();
    settings.http.port = 0;
    settings.http.workers = 2;
    settings.database.url = Secret::new(db.primary_url());
    settings.redis.url = Secret::new(cluster.redis().url());
    settings.tokens.active_key_file = keys_dir.join("active.pem");
    settings.tokens.issuer = "http://auth.test".into();
    // Every test's throttle counters live in one shared Redis: keep the IP
    // limit out of the way unless a test is about it.
    settings.throttle.per_ip = 1_000_000;
    adjust(&mut settings);

    // The first admin, as `auth create-admin` would make it.
    let hasher = auth::password::Hasher::new(&settings.passwords).expect("hasher");
    let hash = hasher.hash(ADMIN_PASSWORD).await.expect("hash");
    let new = domain::NewEditor::parse(domain::RawNewEditor {
        email: Some(ADMIN_EMAIL.into()),
        name: Some("Admin".into()),
        password: Some(ADMIN_PASSWORD.into()),
        role: Some("admin".into()),
    })
    .expect("valid admin");
    let client = db.primary_client().await;
    let pool_client = client;
    let stmt =
        "INSERT INTO editors (email, name, password_hash, role) VALUES ($1, $2, $3, 'admin')";
    pool_client
        .execute(stmt, &[&new.email().as_str(), &new.name().as_str(), &hash])
        .await
        .expect("admin inserted");

    let app = auth::build(settings.clone()).await.expect("app builds");
    let port = app.port();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        db,
        keys_dir,
        settings,
        client: awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .finish(),
    }
}

async fn read(
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

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut req = self.client.get(self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        read(req.send().await.expect("request sent")).await
    }

    pub async fn send_json(
        &self,
        method: awc::http::Method,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Answer {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        read(req.send_json(body).await.expect("request sent")).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Answer {
        self.send_json(awc::http::Method::POST, path, token, body)
            .await
    }

    /// Sends raw bytes with a content type (for malformed-body tests).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self
            .client
            .post(self.url(path))
            .insert_header(("content-type", content_type));
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        read(req.send_body(body).await.expect("request sent")).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Answer {
        self.post(
            "/auth/login",
            None,
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    pub async fn login_from(&self, email: &str, password: &str, ip: &str) -> Answer {
        let req = self
            .client
            .post(self.url("/auth/login"))
            .insert_header(("x-forwarded-for", ip));
        read(
            req.send_json(&json!({ "email": email, "password": password }))
                .await
                .expect("request sent"),
        )
        .await
    }

    /// Logs in and returns (access token, refresh token).
    pub async fn tokens(&self, email: &str, password: &str) -> (String, String) {
        let answer = self.login(email, password).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        (
            answer.body["access_token"]
                .as_str()
                .expect("access token")
                .to_owned(),
            answer.body["refresh_token"]
                .as_str()
                .expect("refresh token")
                .to_owned(),
        )
    }

    pub async fn admin_token(&self) -> String {
        self.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await.0
    }

    /// Creates an editor through the API and returns (id, email, password).
    pub async fn create_editor(&self, role: &str) -> (i64, String, String) {
        let admin = self.admin_token().await;
        let email = unique_email(role);
        let password = "a long enough password".to_owned();
        let answer = self
            .post(
                "/auth/editors",
                Some(&admin),
                &json!({ "email": email, "name": "Editor Name", "password": password, "role": role }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        (answer.body["id"].as_i64().expect("id"), email, password)
    }

    /// Disables an editor as an admin, asserting it worked.
    pub async fn disable_editor(&self, id: i64) {
        let admin = self.admin_token().await;
        let answer = self
            .send_json(
                awc::http::Method::PATCH,
                &format!("/auth/editors/{id}"),
                Some(&admin),
                &json!({ "disabled": true }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        assert_eq!(answer.body["disabled"], true);
    }

    pub async fn assert_audited(&self, action: &str) {
        let actions = self.audit_actions().await;
        assert!(
            actions.iter().any(|a| a == action),
            "{action} not in {actions:?}"
        );
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        let client = self.db.primary_client().await;
        client
            .query("SELECT action FROM audit_log ORDER BY id", &[])
            .await
            .expect("audit query")
            .iter()
            .map(|r| r.get(0))
            .collect()
    }
}
