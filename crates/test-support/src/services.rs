//! Starting the services for a test, the way `main` starts them, on port 0
//! of a [`TestCluster`]: auth (under test, or beside the service under
//! test, issuing its tokens) with the first admin, and the writer (under
//! test, or beside a reader, publishing what it reads).
//!
//! Settings are built here with what every suite needs; a suite changes
//! what its tests are about before starting the service.

use std::path::{Path, PathBuf};

use actix_web::dev::ServerHandle;
use platform::settings::Secret;

use crate::{TestCluster, TestDatabase};

/// The first admin's email, on every test database.
pub const ADMIN_EMAIL: &str = "admin@example.com";
/// The first admin's password.
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
/// The first admin's display name.
pub const ADMIN_NAME: &str = "Admin Editor";
/// The `iss` of every token a test auth service signs.
pub const ISSUER: &str = "http://auth.test";
/// The `aud` every test token is for (auth's default).
pub const AUDIENCE: &str = "rcr-api";
/// The HMAC secret of `X-Consistency-Token`, shared by the writer (which
/// signs) and the readers (which verify).
pub const CONSISTENCY_SECRET: &str = "consistency-secret-for-tests-0123456789";
/// The HMAC secret of pagination cursors.
pub const CURSOR_SECRET: &str = "cursor-secret-for-tests-abcdefghijklmnopq";

/// A fresh unique email.
pub fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// A folder of signing keys for one test, holding a freshly generated
/// active key. Removed with the value.
#[derive(Debug)]
pub struct KeysDir {
    path: PathBuf,
}

impl KeysDir {
    /// A new folder in the system's temporary folder, named after
    /// `service` (the suite) so that leftovers say where they came from.
    pub fn generate(service: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "rcr-{service}-keys-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let keys = Self { path };
        auth::keys::generate_file(&keys.active()).expect("key written");
        keys
    }

    /// The folder, for tests that add keys (rotation) or other files.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key that signs.
    pub fn active(&self) -> PathBuf {
        self.path.join("active.pem")
    }
}

impl Drop for KeysDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Settings of an auth service under test on `db` and the cluster's Redis,
/// signing with the active key of `keys`.
pub fn auth_settings(cluster: &TestCluster, db: &TestDatabase, keys: &KeysDir) -> auth::Settings {
    let mut settings = auth::Settings::default();
    settings.http.port = 0;
    settings.http.workers = 2;
    settings.database.url = Secret::new(db.primary_url());
    settings.redis.url = Secret::new(cluster.redis().url());
    settings.tokens.active_key_file = keys.active();
    settings.tokens.issuer = ISSUER.into();
    // Every test's throttle counters live in one shared Redis: keep the IP
    // limit out of the way unless a test is about it.
    settings.throttle.per_ip = 1_000_000;
    settings
}

/// Settings of an auth service beside the service under test: it only
/// issues tokens, so one worker, no throttling, and cheap password hashes
/// that keep the many logins of a suite fast on two cores.
pub fn supporting_auth_settings(
    cluster: &TestCluster,
    db: &TestDatabase,
    keys: &KeysDir,
) -> auth::Settings {
    let mut settings = auth_settings(cluster, db, keys);
    settings.http.workers = 1;
    settings.throttle.per_email = 1_000_000;
    settings.passwords.memory_kib = 1024;
    settings.passwords.iterations = 1;
    settings
}

/// Inserts the first admin into `db`, as `auth create-admin` would make it
/// (validated, its password hashed with `settings`), and returns its id.
pub async fn insert_admin(db: &TestDatabase, settings: &auth::Settings) -> i64 {
    let hasher = auth::password::Hasher::new(&settings.passwords).expect("hasher");
    let hash = hasher.hash(ADMIN_PASSWORD).await.expect("hash");
    let new = domain::NewEditor::parse(domain::RawNewEditor {
        email: Some(ADMIN_EMAIL.into()),
        name: Some(ADMIN_NAME.into()),
        password: Some(ADMIN_PASSWORD.into()),
        role: Some("admin".into()),
    })
    .expect("valid admin");
    db.primary_client()
        .await
        .query_one(
            "INSERT INTO editors (email, name, password_hash, role) VALUES ($1, $2, $3, 'admin') RETURNING id",
            &[&new.email().as_str(), &new.name().as_str(), &hash],
        )
        .await
        .expect("admin inserted")
        .get(0)
}

/// The `action`s of `db`'s audit log, oldest first.
pub async fn audit_actions(db: &TestDatabase) -> Vec<String> {
    db.primary_client()
        .await
        .query("SELECT action FROM audit_log ORDER BY id", &[])
        .await
        .expect("audit query")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A service serving on the current actix runtime.
#[derive(Debug, Clone)]
pub struct Serving {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    pub port: u16,
    /// Stops the service (tests restarting it).
    pub handle: ServerHandle,
}

/// Runs a built service on the current actix runtime (it stops with the
/// test's runtime, or through its handle).
pub fn spawn(app: platform::server::Running) -> Serving {
    let port = app.port();
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    Serving {
        address: format!("http://127.0.0.1:{port}"),
        port,
        handle,
    }
}

/// A running auth service and the settings it was built with.
#[derive(Debug)]
pub struct AuthService {
    pub address: String,
    pub port: u16,
    pub handle: ServerHandle,
    pub settings: auth::Settings,
}

/// Builds and runs an auth service with `settings`.
pub async fn start_auth(settings: auth::Settings) -> AuthService {
    let app = auth::build(settings.clone()).await.expect("auth builds");
    let Serving {
        address,
        port,
        handle,
    } = spawn(app);
    AuthService {
        address,
        port,
        handle,
        settings,
    }
}

/// Settings of a writer on `db` that trusts the tokens of `auth`.
pub fn writer_settings(db: &TestDatabase, auth: &AuthService) -> reviews_writer::Settings {
    let mut settings = reviews_writer::Settings::default();
    settings.http.port = 0;
    settings.http.workers = 2;
    settings.database.url = Secret::new(db.primary_url());
    settings.jwt.issuer = ISSUER.into();
    settings.jwt.audience = AUDIENCE.into();
    settings.jwt.jwks_url = format!("{}/.well-known/jwks.json", auth.address);
    // A token with an unknown `kid` (a rotated key) is looked up at once,
    // not after the refetch interval.
    settings.jwt.refetch_min_interval_ms = 0;
    settings.consistency.secret = Secret::new(CONSISTENCY_SECRET);
    settings.cursor.secret = Secret::new(CURSOR_SECRET);
    settings
}

/// Builds and runs a writer with `settings`.
pub async fn start_writer(settings: reviews_writer::Settings) -> Serving {
    spawn(
        reviews_writer::build(settings)
            .await
            .expect("the writer builds"),
    )
}
