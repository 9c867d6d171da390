//! Real servers for integration tests: a PostgreSQL primary, a streaming
//! replica of it, and a Redis, in a temporary folder on free ports, set up
//! by `local_stack::servers` just as the local stack sets up its own.
//!
//! Most tests share one cluster per test binary ([`cluster`]) and isolate
//! themselves with a database of their own ([`TestCluster::fresh_database`]),
//! copied from a template that was migrated once. Fault tests, which stop,
//! crash or pause servers, take a [`dedicated_cluster`] so they cannot break
//! their neighbours.
//!
//! As in the local stack, the servers take TCP connections only over TLS,
//! with a certificate from a CA made for the cluster, and the replica
//! streams over TLS: the URLs handed to services say `sslmode=verify-full`
//! with that CA, so every suite runs the deployed connection path. The
//! harness's own connections (creating databases, `primary_client`) use
//! the servers' unix sockets.
//!
//! Servers never outlive the test binary even though the shared cluster is a
//! static that is never dropped: see the `spawn` module. Folders of earlier,
//! finished runs are removed the next time a cluster starts.
//!
//! On top of the cluster, the service suites share how they start services
//! on it ([`services`]) and how they talk to them ([`http`]).
//!
//! ```no_run
//! # async fn example() {
//! let db = test_support::cluster().fresh_database().await;
//! let client = db.primary_client().await;
//! client.batch_execute("SELECT 1").await.unwrap();
//! # }
//! ```

pub mod http;
mod offthread;
mod postgres;
mod redis;
pub mod services;
mod spawn;
mod workdir;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use local_stack::servers::LocalCa;
pub use local_stack::servers::StopMode;

use crate::postgres::Address;
pub use crate::postgres::PgServer;
pub use crate::redis::RedisServer;

/// The migrated database every test database is copied from.
const TEMPLATE: &str = "rcr_template";

/// How long a new database may take to show up on the replica.
const REPLICATION_DEADLINE: Duration = Duration::from_secs(30);

/// Numbers the test databases of this process, for unique names.
static NEXT_DATABASE: AtomicUsize = AtomicUsize::new(0);

/// The cluster shared by the tests of one binary: started on first use, lives
/// until the process exits.
///
/// Safe to call from inside `#[tokio::test]` or `#[actix_web::test]`: the
/// async part of the start-up runs on a private thread and runtime.
pub fn cluster() -> &'static TestCluster {
    // A failed start is remembered, so every later test fails at once with
    // the first cause instead of waiting for its own start-up timeout.
    static SHARED: OnceLock<Result<TestCluster, String>> = OnceLock::new();
    let started = SHARED.get_or_init(|| {
        std::panic::catch_unwind(TestCluster::start).map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "the test cluster failed to start".to_owned())
        })
    });
    match started {
        Ok(cluster) => cluster,
        Err(why) => panic!("the shared test cluster did not start: {why}"),
    }
}

/// A private cluster for tests that stop, kill or pause servers. Its servers
/// are killed and its folder removed when it is dropped.
pub fn dedicated_cluster() -> TestCluster {
    TestCluster::start()
}

/// A primary, its streaming replica and a Redis.
#[derive(Debug)]
pub struct TestCluster {
    /// The temporary folder holding data directories, sockets and logs.
    dir: PathBuf,
    primary: PgServer,
    replica: PgServer,
    redis: RedisServer,
    /// Serialises `CREATE DATABASE .. TEMPLATE`: PostgreSQL refuses to copy a
    /// template while another copy of it is in progress ("source database is
    /// being accessed by other users"). Async so waiting does not block a
    /// runtime thread.
    copying_template: tokio::sync::Mutex<()>,
}

impl TestCluster {
    /// The primary, which takes writes.
    pub fn primary(&self) -> &PgServer {
        &self.primary
    }

    /// The hot-standby replica streaming from the primary.
    pub fn replica(&self) -> &PgServer {
        &self.replica
    }

    /// The Redis.
    pub fn redis(&self) -> &RedisServer {
        &self.redis
    }

    /// The cluster's CA certificate, which signed the servers' (the
    /// `sslrootcert` of the URLs handed to services).
    pub fn ca_cert(&self) -> &Path {
        self.primary.ca_cert()
    }

    /// The temporary folder of this cluster (data, sockets, server logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new, migrated database of its own for one test, present on the
    /// primary and already visible on the replica. Dropped with the value.
    pub async fn fresh_database(&self) -> TestDatabase {
        let name = format!(
            "test_{}_{}",
            NEXT_DATABASE.fetch_add(1, Ordering::Relaxed),
            std::process::id()
        );
        {
            let _one_copy_at_a_time = self.copying_template.lock().await;
            let admin = self
                .primary
                .address()
                .connect("postgres")
                .await
                .unwrap_or_else(|e| panic!("cannot connect to the primary: {e}"));
            admin
                .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
                .await
                .unwrap_or_else(|e| panic!("CREATE DATABASE {name} failed: {e}"));
        }
        // Tests read through the replica from their first request on.
        let deadline = Instant::now() + REPLICATION_DEADLINE;
        let (primary, replica) = (self.primary.address(), self.replica.address());
        while replica.connect(&name).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "database {name} did not reach the replica within {REPLICATION_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        TestDatabase {
            name,
            primary,
            replica,
        }
    }

    /// Starts all three servers and prepares the migrated template.
    fn start() -> Self {
        // Find every program before starting anything, so a missing one
        // costs no time and leaves nothing half-started. The cluster folder
        // holds the servers' sockets: PostgreSQL creates it for its user.
        let redis_server =
            local_stack::servers::RedisServer::locate().unwrap_or_else(|e| panic!("{e}"));
        let dir = workdir::fresh();
        let pg = Arc::new(
            local_stack::servers::Postgres::locate(&dir).unwrap_or_else(|e| panic!("{e}")),
        );
        // One CA and one certificate per cluster, for the primary and (in
        // the base backup's copy) the replica.
        let ca = LocalCa::ensure(&dir.join("tls"), "RandomCameraReviews test cluster CA")
            .unwrap_or_else(|e| panic!("{e}"));
        let tls = ca.server_cert("postgres").unwrap_or_else(|e| panic!("{e}"));
        // Redis needs nothing from PostgreSQL: start it alongside.
        let (primary, replica, redis) = std::thread::scope(|scope| {
            let redis = scope.spawn(|| RedisServer::start_in(&dir, &redis_server));
            let primary = PgServer::start_primary(&dir, &pg, &tls, &ca.cert());
            let replica = PgServer::start_replica(&dir, &primary);
            let redis = redis
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (primary, replica, redis)
        });
        create_template(&primary.address());
        Self {
            dir,
            primary,
            replica,
            redis,
            copying_template: tokio::sync::Mutex::new(()),
        }
    }
}

impl Drop for TestCluster {
    /// Only dedicated clusters get here; the shared one is a static.
    fn drop(&mut self) {
        // Each kill waits for its server to exit: overlap the waits.
        std::thread::scope(|scope| {
            scope.spawn(|| self.redis.stop());
            scope.spawn(|| self.replica.kill());
            self.primary.kill();
        });
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Creates and migrates the template, then closes it to connections so that
/// nothing can hold it open while it is being copied.
fn create_template(primary: &Address) {
    offthread::block_on(|| async move {
        let admin = primary
            .connect("postgres")
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the primary: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {TEMPLATE}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {TEMPLATE} failed: {e}"));
        let mut template = primary
            .connect(TEMPLATE)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {TEMPLATE}: {e}"));
        platform::db::migrate(&mut template)
            .await
            .unwrap_or_else(|e| panic!("migrating {TEMPLATE}: {e}"));
        drop(template);
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {TEMPLATE} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
            ))
            .await
            .unwrap_or_else(|e| panic!("closing {TEMPLATE} to connections failed: {e}"));
    });
}

/// One test's database, on the primary and (replicated) on the replica.
/// Dropping it drops the database.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    primary: Address,
    replica: Address,
}

impl TestDatabase {
    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `postgres://postgres@127.0.0.1:PORT/NAME?sslmode=verify-full&sslrootcert=CA`
    /// on the primary: what a service under test is given, so that it
    /// connects over TLS as deployed.
    pub fn primary_url(&self) -> String {
        self.primary.url(&self.name)
    }

    /// Like [`Self::primary_url`], on the replica.
    pub fn replica_url(&self) -> String {
        self.replica.url(&self.name)
    }

    /// Like [`Self::primary_url`] with the host named `host` instead of
    /// `127.0.0.1` (the certificate also names `localhost` and `::1`).
    pub fn primary_url_for_host(&self, host: &str) -> String {
        self.primary.url_for_host(host, &self.name)
    }

    /// A connection to the primary, driven by a task on the current
    /// runtime. On the server's unix socket: the tests' own look at the
    /// data, not a service's connection.
    pub async fn primary_client(&self) -> tokio_postgres::Client {
        self.primary
            .connect(&self.name)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {} on the primary: {e}", self.name))
    }

    /// Like [`Self::primary_client`], for fault tests that expect failure.
    pub async fn try_primary_client(
        &self,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        self.primary.connect(&self.name).await
    }

    /// Like [`Self::replica_client`], for fault tests that expect failure.
    pub async fn try_replica_client(
        &self,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        self.replica.connect(&self.name).await
    }

    /// A connection to the replica, driven by a task on the current runtime
    /// (on its unix socket, as [`Self::primary_client`]).
    pub async fn replica_client(&self) -> tokio_postgres::Client {
        self.replica
            .connect(&self.name)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {} on the replica: {e}", self.name))
    }
}

impl Drop for TestDatabase {
    /// Best effort: the primary may be down in a fault test, and leftovers
    /// vanish with the cluster folder anyway.
    fn drop(&mut self) {
        let (primary, name) = (&self.primary, self.name.as_str());
        offthread::block_on(|| async move {
            if let Ok(admin) = primary.connect("postgres").await {
                let _ = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        });
    }
}
