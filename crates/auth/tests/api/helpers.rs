//! Starting the service for a test and talking to it, and the log lines
//! it writes.

use std::io::Write;
use std::sync::{Mutex, Once, PoisonError};
use std::time::Duration;

use auth::Settings;
use awc::http::{Method, StatusCode};
use serde_json::{Value, json};
use test_support::TestDatabase;
use test_support::http::{Answer, client_with_timeout, post_login, read, send, send_raw};
use test_support::services::{self, KeysDir};

pub use test_support::services::{ADMIN_EMAIL, ADMIN_PASSWORD, unique_email};

/// A running auth service with its own database and an admin account.
pub struct TestApp {
    pub address: String,
    pub db: TestDatabase,
    pub keys_dir: KeysDir,
    pub settings: Settings,
    client: awc::Client,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    capture_logs();
    let cluster = test_support::cluster();
    let db = cluster.fresh_database().await;
    let keys_dir = KeysDir::generate("auth");
    let mut settings = services::auth_settings(cluster, &db, &keys_dir);
    adjust(&mut settings);
    services::insert_admin(&db, &settings).await;
    let auth = services::start_auth(settings).await;
    TestApp {
        address: auth.address,
        db,
        keys_dir,
        settings: auth.settings,
        client: client_with_timeout(Duration::from_secs(30)),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::GET, path, token, &[], None).await
    }

    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Answer {
        self.call(method, path, token, &[], Some(body)).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Answer {
        self.send_json(Method::POST, path, token, body).await
    }

    /// Sends raw bytes with a content type (for malformed-body tests).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Answer {
        send_raw(
            self.client.post(self.url(path)),
            content_type,
            body,
            headers,
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Answer {
        post_login(&self.client, &self.address, email, password).await
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
                Method::PATCH,
                &format!("/auth/editors/{id}"),
                Some(&admin),
                &json!({ "disabled": true }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        assert_eq!(answer.body["disabled"], true);
    }

    /// Any request: extra headers, and a JSON body when given.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Answer {
        let req = self.client.request(method, self.url(path));
        send(req, token, headers, body).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::DELETE, path, token, &[], None).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Answer {
        self.post(
            "/auth/refresh",
            None,
            &json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    /// Issues a password reset token for editor `id` as the admin.
    pub async fn issue_reset(&self, id: i64) -> String {
        let admin = self.admin_token().await;
        let path = format!("/auth/editors/{id}/password-reset");
        let answer = self
            .call(Method::POST, &path, Some(&admin), &[], None)
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.body["reset_token"]
            .as_str()
            .expect("reset token")
            .to_owned()
    }

    pub async fn reset_password(&self, token: &str, new_password: &str) -> Answer {
        self.post(
            "/auth/password-reset",
            None,
            &json!({ "token": token, "new_password": new_password }),
        )
        .await
    }

    /// The ids of a page of sessions (`/auth/me/sessions` or an editor's).
    pub async fn session_ids(&self, path: &str, token: &str) -> Vec<i64> {
        let answer = self.get(path, Some(token)).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        ids(&answer.body["data"])
    }

    /// A connection to the test's database on the primary.
    pub async fn db(&self) -> tokio_postgres::Client {
        self.db.primary_client().await
    }

    pub async fn assert_audited(&self, action: &str) {
        let actions = self.audit_actions().await;
        assert!(
            actions.iter().any(|a| a == action),
            "{action} not in {actions:?}"
        );
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        services::audit_actions(&self.db).await
    }
}

/// The `id`s of a JSON array of objects.
pub fn ids(data: &Value) -> Vec<i64> {
    data.as_array()
        .expect("an array")
        .iter()
        .map(|item| item["id"].as_i64().expect("id"))
        .collect()
}

/// What the services of this test binary have logged so far.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// A `Write` into [`LOGS`].
struct Captured;

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends every log line of this process, debug included, to [`LOGS`] in
/// production's JSON form. Tests share the capture: each looks for its own
/// secrets, which no other test knows.
fn capture_logs() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(|| Captured)
            .fmt_fields(platform::telemetry::JsonFieldsFormat)
            .event_format(platform::telemetry::JsonLine)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    });
}

/// Every line logged so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
}

/// The names of a JSON object's members, sorted.
pub fn keys(object: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = object
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}
