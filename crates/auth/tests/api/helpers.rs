//! Starting the service for a test and talking to it.

use std::time::Duration;

use auth::Settings;
use awc::http::StatusCode;
use serde_json::{Value, json};
use test_support::TestDatabase;
use test_support::http::{Answer, client_with_timeout, post_login, read, send_raw};
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
        services::audit_actions(&self.db).await
    }
}
