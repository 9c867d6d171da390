//! PostgreSQL servers: an initdb'd primary and a `pg_basebackup` replica.
//!
//! Servers are run as `postgres -D ..` children of the spawner thread (not
//! via `pg_ctl start`, which would daemonize them out of our reach), so that
//! they receive SIGQUIT (immediate shutdown) when the test binary exits.
//! Stopping goes through `pg_ctl stop`, which knows PostgreSQL's shutdown modes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::binaries::PgBinaries;
use crate::offthread;
use crate::spawn::spawn_tied_to_process;
use crate::workdir::{self, PgUser};

/// The superuser every test connects as (trust authentication, no password).
pub(crate) const SUPERUSER: &str = "postgres";

/// How long a server gets to start accepting connections.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// How many fresh ports to try when another process grabs ours first.
const PORT_ATTEMPTS: usize = 5;

/// Name of the physical replication slot that keeps WAL for the replica
/// while it is stopped or paused in fault tests.
const REPLICA_SLOT: &str = "rcr_replica";

/// How `stop` shuts a server down (`pg_ctl stop -m ..`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Roll back open transactions, checkpoint, exit: a clean shutdown.
    Fast,
    /// Exit at once without a checkpoint, like a crash: the next start runs
    /// crash recovery, and must find every acknowledged commit.
    Immediate,
}

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
    /// Where the unix socket goes: inside the cluster folder, not /var/run.
    socket_dir: PathBuf,
    /// stdout and stderr of every run of this server, appended.
    log: PathBuf,
    bins: Arc<PgBinaries>,
    /// Who the server runs as; `None` means as ourselves (we are not root).
    user: Option<PgUser>,
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

    /// A `postgres://` URL for `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the server and waits until it is down.
    pub fn stop(&self, mode: StopMode) {
        let mut child = self.lock_child();
        let mode_arg = match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        };
        let mut pg_ctl = self.pg_command(&self.bins.pg_ctl);
        pg_ctl
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", mode_arg, "-w", "-t", "60", "stop"]);
        let out = run(&mut pg_ctl);
        // pg_ctl fails when the server already died (say, killed by a
        // test); that still counts as stopped. Only a server that pg_ctl
        // gave up on while it still runs is a failure, and must not be
        // waited for.
        let exited = match child.as_mut() {
            Some(c) if out.status.success() => c.wait().is_ok(),
            Some(c) => matches!(c.try_wait(), Ok(Some(_))),
            None => false,
        };
        if !out.status.success() && !exited {
            panic!(
                "pg_ctl stop -m {mode_arg} failed for {}: {}\n{}",
                self.data_dir.display(),
                describe(&out),
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

    /// A connection to the `postgres` database, for replay control.
    async fn replica_control(&self) -> tokio_postgres::Client {
        assert!(
            self.role == Role::Replica,
            "replay can only be paused or resumed on the replica"
        );
        connect(self.port, "postgres")
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the replica on port {}: {e}", self.port))
    }

    /// Initialises a primary in `dir/primary` and starts it.
    pub(crate) fn start_primary(dir: &Path, bins: &Arc<PgBinaries>, user: Option<PgUser>) -> Self {
        let data_dir = dir.join("primary");
        let unstarted = Self::unstarted(Role::Primary, 0, dir, data_dir.clone(), bins, user);
        let mut init = unstarted.pg_command(&bins.initdb);
        init.arg("-D").arg(&data_dir).args([
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            // C.UTF-8 rather than C: `lower()` in the schema's unique indexes
            // must fold non-ASCII letters (É/é) as production does.
            "--locale=C.UTF-8",
            "--lc-messages=C",
            // Nothing here must survive a power cut; durability of the
            // running server (fsync) stays on, see `settings`.
            "--no-sync",
        ]);
        check("initdb", &run(&mut init));
        append(&data_dir.join("postgresql.conf"), &settings(dir));
        // initdb made the file (owned by the server's user); truncating it
        // keeps the owner, replacing it would not.
        std::fs::write(data_dir.join("pg_hba.conf"), HBA).expect("pg_hba.conf is writable");
        Self::launch_on_a_free_port(Role::Primary, dir, data_dir, bins, user)
    }

    /// Clones `primary` into `dir/replica` and starts it as a streaming,
    /// hot-standby replica.
    pub(crate) fn start_replica(dir: &Path, primary: &Self) -> Self {
        let data_dir = dir.join("replica");
        let mut backup = primary.pg_command(&primary.bins.pg_basebackup);
        backup
            .arg("-D")
            .arg(&data_dir)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                SUPERUSER,
            ])
            // -R writes standby.signal and primary_conninfo (plus the slot).
            .args([
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
                "--no-sync",
                "-C",
                "-S",
                REPLICA_SLOT,
            ]);
        check("pg_basebackup", &run(&mut backup));
        Self::launch_on_a_free_port(Role::Replica, dir, data_dir, &primary.bins, primary.user)
    }

    /// Picks a port and starts; tries another port if someone took it meanwhile.
    fn launch_on_a_free_port(
        role: Role,
        dir: &Path,
        data_dir: PathBuf,
        bins: &Arc<PgBinaries>,
        user: Option<PgUser>,
    ) -> Self {
        let mut problems = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let server = Self::unstarted(
                role,
                workdir::free_port(),
                dir,
                data_dir.clone(),
                bins,
                user,
            );
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

    fn unstarted(
        role: Role,
        port: u16,
        dir: &Path,
        data_dir: PathBuf,
        bins: &Arc<PgBinaries>,
        user: Option<PgUser>,
    ) -> Self {
        let name = match role {
            Role::Primary => "primary",
            Role::Replica => "replica",
        };
        Self {
            role,
            port,
            data_dir,
            socket_dir: dir.to_path_buf(),
            log: dir.join(format!("{name}.log")),
            bins: Arc::clone(bins),
            user,
            child: Mutex::new(None),
        }
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
        let mut command = self.pg_command(&self.bins.postgres);
        command
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.socket_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file handles clone"))
            .stderr(log);
        // SIGQUIT is PostgreSQL's immediate shutdown: the postmaster takes its
        // backends and shared memory down with it.
        let spawned = spawn_tied_to_process(command, libc::SIGQUIT)
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bins.postgres.display()));
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
        let port = self.port;
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(c) = child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                return Err(format!("exited while starting ({status})"));
            }
            let answered = offthread::block_on(|| async move {
                match connect(port, "postgres").await {
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

    /// A command for a PostgreSQL program, run as the server's user.
    fn pg_command(&self, program: &Path) -> Command {
        pg_command(program, &self.socket_dir, self.user)
    }

    /// Kills the server without waiting for a clean shutdown; for `Drop`.
    pub(crate) fn kill(&self) {
        let mut child = self.lock_child();
        if let Some(mut running) = child.take() {
            let stop = self
                .pg_command(&self.bins.pg_ctl)
                .arg("-D")
                .arg(&self.data_dir)
                .args(["-m", "immediate", "-w", "stop"])
                .output();
            if !stop.is_ok_and(|o| o.status.success()) {
                let _ = running.kill();
            }
            let _ = running.wait();
        }
    }
}

/// Opens a connection (TCP, trust auth) and drives it on the current runtime.
pub(crate) async fn connect(
    port: u16,
    database: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
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

/// A command for a PostgreSQL program, as `user` when given, in `cwd`.
fn pg_command(program: &Path, cwd: &Path, user: Option<PgUser>) -> Command {
    use std::os::unix::process::CommandExt as _;
    let mut command = Command::new(program);
    // The test's own folder may not be readable by the postgres user, and
    // PostgreSQL programs look up their working directory.
    command.current_dir(cwd);
    if let Some(user) = user {
        command.uid(user.uid).gid(user.gid);
    }
    command
}

/// Settings shared by primary and replica (the replica copies this file).
fn settings(dir: &Path) -> String {
    format!(
        "
# --- test-support: a small primary set up for streaming replication ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '{socket_dir}'
max_connections = 300
shared_buffers = 32MB
wal_level = replica
max_wal_senders = 5
max_replication_slots = 5
hot_standby = on
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
",
        socket_dir = dir.display()
    )
}

/// Trust for everything from this machine, replication included: test only.
const HBA: &str = "\
local all         all              trust
host  all         all 127.0.0.1/32 trust
local replication all              trust
host  replication all 127.0.0.1/32 trust
";

fn append(file: &Path, text: &str) {
    use std::io::Write as _;
    let mut handle = std::fs::OpenOptions::new()
        .append(true)
        .open(file)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", file.display()));
    handle
        .write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
}

fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!(
            "cannot run {}: {e}",
            command.get_program().to_string_lossy()
        )
    })
}

fn check(what: &str, out: &Output) {
    assert!(out.status.success(), "{what} failed: {}", describe(out));
}

fn describe(out: &Output) -> String {
    format!(
        "{}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
