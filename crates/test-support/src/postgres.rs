//! PostgreSQL servers of a test cluster: a primary and a streaming replica,
//! set up by `local_stack::servers` as the local stack sets up its own.
//!
//! Servers are run as `postgres -D ..` children of the spawner thread (not
//! via `pg_ctl start`, which would daemonize them out of our reach), so that
//! they receive SIGQUIT (immediate shutdown) when the test binary exits.
//! Stopping goes through `pg_ctl stop`, which knows PostgreSQL's shutdown modes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use local_stack::servers::{
    Durability, Postgres, SUPERUSER, ServerCert, StopMode, replication_conninfo, url_encode_path,
};

use crate::offthread;
use crate::spawn::spawn_tied_to_process;
use crate::workdir;

/// How long a server gets to start accepting connections.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// How many fresh ports to try when another process grabs ours first.
const PORT_ATTEMPTS: usize = 5;

/// Name of the physical replication slot that keeps WAL for the replica
/// while it is stopped or paused in fault tests.
const REPLICA_SLOT: &str = "rcr_replica";

/// Whether a server accepts writes; only replicas can pause replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Primary,
    Replica,
}

/// One PostgreSQL server of a test cluster.
#[derive(Debug)]
pub struct PgServer {
    role: Role,
    /// Fixed for the server's life so URLs handed out stay valid across restarts.
    port: u16,
    data_dir: PathBuf,
    /// stdout and stderr of every run of this server, appended.
    log: PathBuf,
    /// The installation, the user it runs as, and its sockets' folder (the
    /// cluster folder, not /var/run).
    pg: Arc<Postgres>,
    /// The cluster's CA certificate, which signed this server's.
    ca: PathBuf,
    /// The running postmaster; `None` while stopped. A mutex so that
    /// `stop`/`start` work through the `&'static` shared cluster.
    child: Mutex<Option<Child>>,
}

impl PgServer {
    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The file the server logs to, for diagnosing a failing test.
    pub fn log_file(&self) -> &Path {
        &self.log
    }

    /// A `postgres://` URL for `database` on this server, over TLS that
    /// the cluster's CA verifies (`sslmode=verify-full`), as a service
    /// connects.
    pub fn url(&self, database: &str) -> String {
        self.address().url(database)
    }

    /// The CA certificate that signed this server's (the cluster's).
    pub fn ca_cert(&self) -> &Path {
        &self.ca
    }

    /// Where this server answers.
    pub(crate) fn address(&self) -> Address {
        Address {
            port: self.port,
            socket_dir: self.pg.socket_dir().to_path_buf(),
            ca: self.ca.clone(),
        }
    }

    /// Stops the server and waits until it is down.
    pub fn stop(&self, mode: StopMode) {
        let mut child = self.lock_child();
        let stopped = self.pg.stop(&self.data_dir, mode);
        // pg_ctl fails when the server already died (say, killed by a
        // test); that still counts as stopped. Only a server that pg_ctl
        // gave up on while it still runs is a failure, and must not be
        // waited for.
        let exited = match child.as_mut() {
            Some(c) if stopped.is_ok() => c.wait().is_ok(),
            Some(c) => matches!(c.try_wait(), Ok(Some(_))),
            None => false,
        };
        if let Err(e) = stopped
            && !exited
        {
            panic!(
                "{e} ({})\n{}",
                self.data_dir.display(),
                workdir::log_tail(&self.log)
            );
        }
        *child = None;
    }

    /// Starts the server again on the same port and waits until it accepts
    /// connections (after crash recovery, if it was stopped `Immediate`).
    pub fn start(&self) {
        if let Err(problem) = self.launch() {
            panic!("{problem}");
        }
    }

    /// Pauses WAL replay on a replica: commits on the primary stop becoming
    /// visible here until `resume_replay`. Panics on a primary.
    pub async fn pause_replay(&self) {
        let client = self.replica_control().await;
        client
            .batch_execute("SELECT pg_wal_replay_pause()")
            .await
            .expect("pg_wal_replay_pause() succeeds");
        // Replay stops before the next record once requested; waiting for the
        // confirmed state makes "paused" mean paused for whoever looks next.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let row = client
                .query_one("SELECT pg_get_wal_replay_pause_state()", &[])
                .await
                .expect("pg_get_wal_replay_pause_state() succeeds");
            if row.get::<_, String>(0) == "paused" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Resumes WAL replay on a replica. Panics on a primary.
    pub async fn resume_replay(&self) {
        self.replica_control()
            .await
            .batch_execute("SELECT pg_wal_replay_resume()")
            .await
            .expect("pg_wal_replay_resume() succeeds");
    }

    /// A connection to `database` on the server's unix socket (trust auth),
    /// driven on the current runtime: the tests' own look at a server
    /// (replay control, settings), not a service's connection.
    pub async fn connect(
        &self,
        database: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        self.address().connect(database).await
    }

    /// A connection to the `postgres` database, for replay control.
    async fn replica_control(&self) -> tokio_postgres::Client {
        assert!(
            self.role == Role::Replica,
            "replay can only be paused or resumed on the replica"
        );
        self.address()
            .connect("postgres")
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the replica on port {}: {e}", self.port))
    }

    /// Initialises a primary in `dir/primary` serving TLS with `tls`
    /// (signed by `ca`) and starts it.
    pub(crate) fn start_primary(
        dir: &Path,
        pg: &Arc<Postgres>,
        tls: &ServerCert,
        ca: &Path,
    ) -> Self {
        let data_dir = dir.join("primary");
        pg.init_primary(&data_dir, SETTINGS, tls, Durability::Unsynced)
            .unwrap_or_else(|e| panic!("{e}"));
        let server = Unstarted {
            role: Role::Primary,
            dir,
            data_dir,
            pg,
            ca,
        };
        server.launch_on_a_free_port()
    }

    /// Clones `primary` into `dir/replica` and starts it as a streaming,
    /// hot-standby replica, streaming over TLS verified with the
    /// cluster's CA.
    pub(crate) fn start_replica(dir: &Path, primary: &Self) -> Self {
        let data_dir = dir.join("replica");
        primary
            .pg
            .base_backup(
                &replication_conninfo(primary.port, &primary.ca, REPLICA_SLOT),
                &data_dir,
                REPLICA_SLOT,
                Durability::Unsynced,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let server = Unstarted {
            role: Role::Replica,
            dir,
            data_dir,
            pg: &primary.pg,
            ca: &primary.ca,
        };
        server.launch_on_a_free_port()
    }

    /// Spawns the postmaster and waits until `SELECT 1` answers. The error
    /// carries the log lines this run wrote, for the panic message.
    fn launch(&self) -> Result<(), String> {
        let mut child = self.lock_child();
        if let Some(running) = child.as_mut()
            && matches!(running.try_wait(), Ok(None))
        {
            return Err(format!("{} is already running", self.data_dir.display()));
        }
        let log_start = std::fs::metadata(&self.log).map_or(0, |m| m.len());
        let log = workdir::open_log(&self.log);
        let mut command = self.pg.server(&self.data_dir, self.port);
        command
            .stdout(log.try_clone().expect("log file handles clone"))
            .stderr(log);
        // SIGQUIT is PostgreSQL's immediate shutdown: the postmaster takes its
        // backends and shared memory down with it.
        let spawned = spawn_tied_to_process(command, libc::SIGQUIT)
            .unwrap_or_else(|e| panic!("cannot run postgres on {}: {e}", self.data_dir.display()));
        *child = Some(spawned);
        let outcome = self.wait_until_ready(&mut child);
        outcome.map_err(|why| {
            // Do not leave a half-started server behind a failed start.
            if let Some(mut c) = child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            let text = std::fs::read(&self.log).unwrap_or_default();
            let this_run = String::from_utf8_lossy(
                text.get(usize::try_from(log_start).unwrap_or(0)..)
                    .unwrap_or(&[]),
            );
            let lines: Vec<&str> = this_run.lines().collect();
            format!(
                "PostgreSQL {:?} on port {} {why}\n--- last lines of {} ---\n{}",
                self.role,
                self.port,
                self.log.display(),
                lines[lines.len().saturating_sub(30)..].join("\n")
            )
        })
    }

    /// Polls `SELECT 1` until it works, the server exits, or the deadline.
    fn wait_until_ready(&self, child: &mut MutexGuard<'_, Option<Child>>) -> Result<(), String> {
        let address = self.address();
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(c) = child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                return Err(format!("exited while starting ({status})"));
            }
            let answered = offthread::block_on(|| async {
                match address.connect("postgres").await {
                    Ok(client) => client.batch_execute("SELECT 1").await.is_ok(),
                    Err(_) => false,
                }
            });
            if answered {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "did not accept connections within {READY_DEADLINE:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn lock_child(&self) -> MutexGuard<'_, Option<Child>> {
        // A test that panicked mid-stop leaves a usable Option behind.
        self.child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Kills the server without waiting for a clean shutdown; for `Drop`.
    pub(crate) fn kill(&self) {
        let mut child = self.lock_child();
        if let Some(mut running) = child.take() {
            if self.pg.stop(&self.data_dir, StopMode::Immediate).is_err() {
                let _ = running.kill();
            }
            let _ = running.wait();
        }
    }
}

/// A server about to be started: what it needs before it has a port.
struct Unstarted<'a> {
    role: Role,
    /// The cluster folder (logs).
    dir: &'a Path,
    data_dir: PathBuf,
    pg: &'a Arc<Postgres>,
    ca: &'a Path,
}

impl Unstarted<'_> {
    /// Picks a port and starts; tries another port if someone took it meanwhile.
    fn launch_on_a_free_port(self) -> PgServer {
        let mut problems = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let server = self.on_port(workdir::free_port());
            match server.launch() {
                Ok(()) => return server,
                Err(problem) if problem.contains("Address already in use") => {
                    let _ = writeln!(problems, "{problem}");
                }
                Err(problem) => panic!("{problem}"),
            }
        }
        panic!("no free port for PostgreSQL after {PORT_ATTEMPTS} attempts:\n{problems}")
    }

    fn on_port(&self, port: u16) -> PgServer {
        let name = match self.role {
            Role::Primary => "primary",
            Role::Replica => "replica",
        };
        PgServer {
            role: self.role,
            port,
            data_dir: self.data_dir.clone(),
            log: self.dir.join(format!("{name}.log")),
            pg: Arc::clone(self.pg),
            ca: self.ca.to_path_buf(),
            child: Mutex::new(None),
        }
    }
}

/// Where a server of a cluster answers: on TCP, over TLS that its cluster's
/// CA verifies (the services' way in), and on its unix socket (the
/// harness's own connections: no handshake to pay on every database a test
/// creates, and trusted as the local stack trusts its sockets).
#[derive(Debug, Clone)]
pub(crate) struct Address {
    pub(crate) port: u16,
    socket_dir: PathBuf,
    /// The cluster's CA certificate.
    ca: PathBuf,
}

impl Address {
    /// `postgres://postgres@127.0.0.1:PORT/DATABASE?sslmode=verify-full&sslrootcert=CA`.
    pub(crate) fn url(&self, database: &str) -> String {
        self.url_for_host("127.0.0.1", database)
    }

    /// Like [`Self::url`], naming the host `host` (`localhost`, say).
    pub(crate) fn url_for_host(&self, host: &str, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@{host}:{}/{database}?sslmode=verify-full&sslrootcert={}",
            self.port,
            url_encode_path(&self.ca)
        )
    }

    /// Opens a connection on the unix socket (trust auth) and drives it on
    /// the current runtime.
    pub(crate) async fn connect(
        &self,
        database: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        connect(&self.socket_dir, self.port, database).await
    }
}

/// Opens a connection on the unix socket in `socket_dir` of the server on
/// `port` (trust auth) and drives it on the current runtime.
async fn connect(
    socket_dir: &Path,
    port: u16,
    database: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config
        .host_path(socket_dir)
        .port(port)
        .user(SUPERUSER)
        .dbname(database)
        .connect_timeout(Duration::from_secs(5));
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    // The connection ends with an error when a fault test kills the server;
    // the client then reports it, nothing to do here.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// What tests add to the settings every primary gets (the replica copies
/// them).
const SETTINGS: &str = "
# --- test-support: a small primary set up for streaming replication ---
max_connections = 300
shared_buffers = 32MB
max_wal_senders = 5
max_replication_slots = 5
hot_standby_feedback = on
# Replica queries that conflict with replay are cancelled after this long.
max_standby_streaming_delay = 5s
# Reconnect quickly after a fault test restarts the primary.
wal_retrieve_retry_interval = 200ms
wal_receiver_status_interval = 1s
# fsync stays on: fault tests crash the primary (pg_ctl -m immediate) and
# must find every acknowledged commit after restart.
fsync = on
log_line_prefix = '%m [%p] '
";
