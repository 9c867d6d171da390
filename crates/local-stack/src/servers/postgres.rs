//! PostgreSQL: the installation, the user it runs as, a primary set up for
//! streaming replication and TLS, replicas cloned from it (streaming over
//! verified TLS), and stopping servers.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::tls::{ServerCert, conninfo_value};
use crate::path_str;
use crate::process::{self, StackError};

/// The superuser every client connects as (trust authentication on
/// loopback, no password).
pub const SUPERUSER: &str = "postgres";

/// Where Debian and Ubuntu put each major version's server programs, which
/// are not on PATH (only version-switching wrappers of the clients are).
const DEBIAN_VERSIONS: &str = "/usr/lib/postgresql";

/// Settings every primary gets; the replicas copy them with the data.
const REPLICATION_SETTINGS: &str = "
listen_addresses = '127.0.0.1'
wal_level = replica
hot_standby = on
";

/// Trust for everything from this machine, replication included: local
/// development and tests only. TCP only over TLS (`hostssl`): a plain-text
/// TCP connection matches no line and is refused, so clients use TLS as
/// they do in production; unix sockets stay plain.
const HBA: &str = "\
local   all         all              trust
hostssl all         all 127.0.0.1/32 trust
local   replication all              trust
hostssl replication all 127.0.0.1/32 trust
";

/// The `postgresql.conf` lines that turn TLS on, with `server.crt` and
/// `server.key` (PostgreSQL's default names) in the data folder, where
/// pg_basebackup copies them to each replica.
const TLS_SETTINGS: &str = "
# TLS: server.crt and server.key in this folder, signed by the local CA
ssl = on
";

/// The postgresql.conf line [`TLS_SETTINGS`] adds, how we recognise it.
const SSL_ON: &str = "ssl = on";

/// Who PostgreSQL runs as when we are root, which it refuses to run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgUser {
    pub uid: u32,
    pub gid: u32,
    /// Its home folder, the `HOME` of its programs: libpq looks there for
    /// a client certificate (`~/.postgresql/postgresql.crt`) on every TLS
    /// connection, and fails on a home it may not read (root's).
    pub home: PathBuf,
}

impl PgUser {
    /// `None` when we are not root (servers then run as ourselves); the
    /// `postgres` user that the PostgreSQL packages create when we are.
    pub fn when_root() -> Result<Option<Self>, StackError> {
        if effective_uid()? != 0 {
            return Ok(None);
        }
        let out = Command::new("getent")
            .args(["passwd", SUPERUSER])
            .output()
            .map_err(|e| StackError::new(format!("getent: cannot start: {e}")))?;
        let line = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<&str> = line.trim().split(':').collect();
        match (
            fields.get(2).and_then(|f| f.parse().ok()),
            fields.get(3).and_then(|f| f.parse().ok()),
            fields.get(5).filter(|f| !f.is_empty()),
        ) {
            (Some(uid), Some(gid), Some(home)) => Ok(Some(Self {
                uid,
                gid,
                home: PathBuf::from(home),
            })),
            _ => Err(StackError::new(
                "running as root needs a `postgres` user for PostgreSQL to run as: \
                 `make run` and `make test` install PostgreSQL, which creates it",
            )),
        }
    }
}

/// The effective uid, read from procfs (no `unsafe` call needed).
fn effective_uid() -> Result<u32, StackError> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| StackError::io(Path::new("/proc/self/status"), e))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|euid| euid.parse().ok())
        .ok_or_else(|| StackError::new("/proc/self/status has no Uid line"))
}

/// How `stop` shuts a server down (`pg_ctl stop -m ..`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Roll back open transactions, checkpoint, exit: a clean shutdown.
    Fast,
    /// Exit at once without a checkpoint, as in a power cut: the next start
    /// runs crash recovery from the WAL, and must find every acknowledged
    /// commit.
    Immediate,
}

impl StopMode {
    fn arg(self) -> &'static str {
        match self {
            Self::Fast => "fast",
            Self::Immediate => "immediate",
        }
    }
}

/// Whether the files a new server's setup writes must survive a power cut.
/// The running server's own durability (`fsync`) is a setting, apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// initdb and pg_basebackup wait until their files are on disk: the
    /// local stack keeps its data.
    Synced,
    /// They do not (`--no-sync`): a test cluster is thrown away with its
    /// folder, and the waits would cost every test binary seconds.
    Unsynced,
}

impl Durability {
    fn args(self) -> &'static [&'static str] {
        match self {
            Self::Synced => &[],
            Self::Unsynced => &["--no-sync"],
        }
    }
}

/// One PostgreSQL installation, run as [`PgUser`] when we are root, with
/// its unix sockets in a folder of the caller's.
#[derive(Debug, Clone)]
pub struct Postgres {
    /// The folder of `postgres`, `initdb`, `pg_ctl`, `pg_basebackup` and
    /// `psql`, all from one installation so their versions match.
    bin: PathBuf,
    user: Option<PgUser>,
    /// The servers' unix sockets, and the working folder of the programs:
    /// the caller's own folder may be unreadable to the server's user, and
    /// PostgreSQL programs look up their working folder.
    socket_dir: PathBuf,
}

impl Postgres {
    /// Finds the programs and the user, then creates `socket_dir` for that
    /// user: a missing program costs no time and leaves nothing behind.
    pub fn locate(socket_dir: &Path) -> Result<Self, StackError> {
        let pg = Self {
            bin: server_programs()?,
            user: PgUser::when_root()?,
            socket_dir: socket_dir.to_path_buf(),
        };
        pg.create_socket_dir()?;
        Ok(pg)
    }

    /// Creates the socket folder for the servers' user, if it is missing
    /// (a folder deleted since `locate`, say).
    pub fn create_socket_dir(&self) -> Result<(), StackError> {
        if self.socket_dir.is_dir() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.socket_dir)
            .map_err(|e| StackError::io(&self.socket_dir, e))?;
        self.chown(&self.socket_dir)
    }

    /// The folder of the servers' unix sockets (`host=` for a client that
    /// connects without TCP).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// Who the servers run as; `None`: as ourselves.
    pub fn user(&self) -> Option<&PgUser> {
        self.user.as_ref()
    }

    /// A PostgreSQL program, run as the servers' user in the socket folder.
    fn command(&self, program: &str) -> Command {
        self.as_server_user(&self.bin.join(program))
    }

    /// Gives the servers' user a file or folder (when we are root).
    pub fn chown(&self, path: &Path) -> Result<(), StackError> {
        match &self.user {
            Some(user) => std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
                .map_err(|e| StackError::io(path, e)),
            None => Ok(()),
        }
    }

    /// A new primary in `data`: initdb, the replication settings followed
    /// by the caller's `settings` (postgresql.conf lines), TLS with `tls`
    /// ([`Self::enable_tls`]), trust on loopback. Not started.
    pub fn init_primary(
        &self,
        data: &Path,
        settings: &str,
        tls: &ServerCert,
        durability: Durability,
    ) -> Result<(), StackError> {
        std::fs::create_dir_all(data).map_err(|e| StackError::io(data, e))?;
        self.chown(data)?;
        let mut initdb = self.command("initdb");
        initdb
            .arg("-D")
            .arg(data)
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8"])
            // C.UTF-8 rather than C: `lower()` in the schema's unique
            // indexes must fold non-ASCII letters (É/é) as production does.
            .args(["--locale=C.UTF-8", "--lc-messages=C"])
            .args(durability.args());
        process::run(&mut initdb, "initdb").map_err(|e| {
            StackError::new(format!(
                "{e} (the `postgres` user must be able to reach {})",
                data.display()
            ))
        })?;
        // initdb made both files, owned by the servers' user: appending and
        // truncating keep the owner, replacing would not.
        process::append(
            &data.join("postgresql.conf"),
            &format!("{REPLICATION_SETTINGS}{settings}"),
        )?;
        self.enable_tls(data, tls)
    }

    /// Turns TLS on in the data folder `data` (a primary's or a
    /// replica's): `tls` copied in as `server.crt` and `server.key` (the
    /// key the servers' user's, mode 0600, as PostgreSQL demands),
    /// `ssl = on`, and the `pg_hba.conf` that refuses plain-text TCP. Safe
    /// to run again, and how a folder made before TLS is brought up to
    /// date; takes effect at the server's next start.
    pub fn enable_tls(&self, data: &Path, tls: &ServerCert) -> Result<(), StackError> {
        for (from, to, mode) in [
            (&tls.cert, data.join("server.crt"), 0o644),
            (&tls.key, data.join("server.key"), 0o600),
        ] {
            std::fs::copy(from, &to).map_err(|e| StackError::io(&to, e))?;
            self.chown(&to)?;
            std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(mode))
                .map_err(|e| StackError::io(&to, e))?;
        }
        let conf = data.join("postgresql.conf");
        let text = std::fs::read_to_string(&conf).map_err(|e| StackError::io(&conf, e))?;
        if !text.lines().any(|line| line.trim() == SSL_ON) {
            process::append(&conf, TLS_SETTINGS)?;
        }
        // Truncating keeps the owner initdb gave the file.
        let hba = data.join("pg_hba.conf");
        std::fs::write(&hba, HBA).map_err(|e| StackError::io(&hba, e))
    }

    /// A streaming, hot-standby replica of the primary `conninfo` reaches
    /// ([`replication_conninfo`]), cloned into `data` (which must not
    /// exist) with a physical replication `slot` that keeps WAL for it
    /// while it is down; it goes on streaming over the same connection
    /// (the primary's TLS files and settings come with the copy). Not
    /// started.
    pub fn base_backup(
        &self,
        conninfo: &str,
        data: &Path,
        slot: &str,
        durability: Durability,
    ) -> Result<(), StackError> {
        if let Some(parent) = data.parent() {
            self.chown(parent)?;
        }
        let mut backup = self.command("pg_basebackup");
        backup
            .arg("-D")
            .arg(data)
            .args(["-d", conninfo])
            // -R writes standby.signal and primary_conninfo (the -d string
            // with libpq's defaults, and the slot).
            .args(["-R", "-X", "stream", "--checkpoint=fast", "-C", "-S", slot])
            .args(durability.args());
        process::run(&mut backup, "pg_basebackup").map(|_| ())
    }

    /// Makes the replica in `data` stream over `conninfo` (a replica made
    /// before TLS, or before its link to the primary changed, is brought up
    /// to date); takes effect at its next start. Whether it changed.
    pub fn follow(&self, data: &Path, conninfo: &str) -> Result<bool, StackError> {
        self.set_auto_conf(data, &[("primary_conninfo", Some(conninfo))])
    }

    /// Sets (`Some`) or removes (`None`) settings in the
    /// `postgresql.auto.conf` of `data`, as `ALTER SYSTEM` would, for the
    /// server's next start or reload. Whether anything changed.
    pub fn set_auto_conf(
        &self,
        data: &Path,
        settings: &[(&str, Option<&str>)],
    ) -> Result<bool, StackError> {
        let auto = data.join("postgresql.auto.conf");
        let text = std::fs::read_to_string(&auto).map_err(|e| StackError::io(&auto, e))?;
        let key_of = |line: &str| {
            line.split('=')
                .next()
                .map(str::trim)
                .unwrap_or_default()
                .to_owned()
        };
        let mut lines: Vec<String> = text
            .lines()
            .filter(|line| !settings.iter().any(|(key, _)| key_of(line) == *key))
            .map(str::to_owned)
            .collect();
        // A postgresql.conf string: quotes doubled, backslashes escaped.
        lines.extend(settings.iter().filter_map(|(key, value)| {
            value.map(|v| format!("{key} = '{}'", v.replace('\\', "\\\\").replace('\'', "''")))
        }));
        let wanted = lines.join("\n") + "\n";
        if wanted == text {
            return Ok(false);
        }
        // Truncating keeps the owner initdb or pg_basebackup gave the file.
        std::fs::write(&auto, wanted).map_err(|e| StackError::io(&auto, e))?;
        Ok(true)
    }

    /// Marks `data` as a standby (`standby.signal`): at its next start it
    /// follows its `primary_conninfo` instead of running as a primary.
    pub fn make_standby(&self, data: &Path) -> Result<(), StackError> {
        let signal = data.join("standby.signal");
        std::fs::write(&signal, "").map_err(|e| StackError::io(&signal, e))?;
        self.chown(&signal)
    }

    /// Whether `data` is set up as a standby (`standby.signal`).
    pub fn is_standby(data: &Path) -> bool {
        data.join("standby.signal").exists()
    }

    /// Promotes the standby of `data` to a primary on a new timeline and
    /// waits until it takes writes (`pg_ctl promote -w`).
    pub fn promote(&self, data: &Path) -> Result<(), StackError> {
        let mut pg_ctl = self.command("pg_ctl");
        pg_ctl.args(["promote", "-w", "-t", "60", "-D"]).arg(data);
        process::run(&mut pg_ctl, "pg_ctl promote").map(|_| ())
    }

    /// Turns the stopped server of `data` (a former primary, or a replica
    /// that replayed past the point where the primary on `source_port`
    /// forked off) into a copy of that primary's timeline with `pg_rewind`,
    /// which copies only the blocks that differ; `standby.signal` is
    /// written. The source must have checkpointed since its promotion
    /// (`CHECKPOINT`), or pg_rewind sees no new timeline. A server that was
    /// killed is first taken through crash recovery by pg_rewind itself.
    pub fn rewind(&self, data: &Path, source_port: u16) -> Result<(), StackError> {
        let source = format!(
            "host={} port={source_port} user={SUPERUSER} dbname=postgres",
            conninfo_value(&path_str(&self.socket_dir))
        );
        let mut rewind = self.command("pg_rewind");
        rewind
            .arg("-D")
            .arg(data)
            .args(["--source-server", &source, "--write-recovery-conf"]);
        process::run(&mut rewind, "pg_rewind").map(|_| ())
    }

    /// Whether a server runs in `data`: the postmaster its `postmaster.pid`
    /// names is alive (a killed one that is not reaped yet is not: `pg_ctl
    /// status` would say it runs).
    pub fn is_running(&self, data: &Path) -> bool {
        std::fs::read_to_string(data.join("postmaster.pid"))
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse::<u32>().ok())
            .is_some_and(process::alive)
    }

    /// Another program (pgBackRest) run as the servers' user, in the socket
    /// folder, as the PostgreSQL programs are.
    pub fn as_server_user(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.socket_dir).stdin(Stdio::null());
        if let Some(user) = &self.user {
            cmd.uid(user.uid).gid(user.gid).env("HOME", &user.home);
        }
        cmd
    }

    /// The postmaster of `data` on `port`, in the foreground: for a caller
    /// that keeps it as a child.
    pub fn server(&self, data: &Path, port: u16) -> Command {
        let mut postgres = self.command("postgres");
        postgres
            .arg("-D")
            .arg(data)
            .args(["-p", &port.to_string()])
            .arg("-k")
            .arg(&self.socket_dir);
        postgres
    }

    /// Starts the server of `data` on `port` as a daemon logging to `log`
    /// (`pg_ctl start`), unless it runs already; waits until it listens.
    pub fn start_daemon(&self, data: &Path, port: u16, log: &Path) -> Result<(), StackError> {
        if !log.exists() {
            std::fs::write(log, "").map_err(|e| StackError::io(log, e))?;
        }
        self.chown(log)?;
        if !self.is_running(data) {
            let mut pg_ctl = self.command("pg_ctl");
            pg_ctl
                .args(["start", "-w", "-t", "60", "-D"])
                .arg(data)
                .arg("-l")
                .arg(log)
                .arg("-o")
                .arg(format!("-p {port} -k {}", path_str(&self.socket_dir)));
            process::run(&mut pg_ctl, "pg_ctl start")?;
        }
        process::wait_tcp(port, Duration::from_secs(30))
    }

    /// Stops the server of `data` and waits until it is down (`pg_ctl stop
    /// -w`, up to 60 s). Fails when no server runs there.
    pub fn stop(&self, data: &Path, mode: StopMode) -> Result<(), StackError> {
        let mut pg_ctl = self.command("pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(data)
            .args(["-m", mode.arg(), "-w", "-t", "60", "stop"]);
        process::run(&mut pg_ctl, &format!("pg_ctl stop -m {}", mode.arg())).map(|_| ())
    }

    /// `psql` on `database` of the server on `port`, as the superuser,
    /// stopping at the first error; add what to run.
    pub fn psql(&self, port: u16, database: &str) -> Command {
        let mut psql = Command::new(self.bin.join("psql"));
        psql.args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(["-U", SUPERUSER, "-d", database])
            .args(["-v", "ON_ERROR_STOP=1"]);
        psql
    }

    /// Runs `sql` on `database` of the server on `port`: the rows as
    /// `psql -At` prints them (`|` between columns), trimmed.
    pub fn query(&self, port: u16, database: &str, sql: &str) -> Result<String, StackError> {
        process::run(self.psql(port, database).args(["-Atc", sql]), "psql")
            .map(|out| out.trim().to_owned())
    }
}

/// How a replica reaches the primary on `port` (or the link in front of
/// it): as the superuser, over TLS that verifies the primary's certificate
/// against `ca` and its name, naming itself `application_name` (what the
/// primary's `pg_stat_replication` shows: the region, in the local stack).
pub fn replication_conninfo(port: u16, ca: &Path, application_name: &str) -> String {
    replication_conninfo_any(&[port], ca, application_name)
}

/// [`replication_conninfo`] to whichever of the servers on `ports` (or the
/// links in front of them) takes writes: libpq tries them in turn and keeps
/// the first that is not in recovery (`target_session_attrs=read-write`),
/// so a replica follows a failover without a change of configuration.
pub fn replication_conninfo_any(ports: &[u16], ca: &Path, application_name: &str) -> String {
    let hosts = vec!["127.0.0.1"; ports.len()].join(",");
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    let choose = if ports.len() > 1 {
        " target_session_attrs=read-write"
    } else {
        ""
    };
    format!(
        "host={hosts} port={} user={SUPERUSER} application_name={application_name}{choose} \
         sslmode=verify-full sslrootcert={}",
        ports.join(","),
        conninfo_value(&path_str(ca))
    )
}

/// The folder of the server programs: that of `postgres` on PATH (a
/// symbolic link resolved), else the newest version Debian installed. The
/// other programs are taken from the same folder, since PATH may hold
/// wrappers that pick another version.
fn server_programs() -> Result<PathBuf, StackError> {
    let on_path = process::find_binary("postgres")
        .ok()
        .and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let mut installed: Vec<(u32, PathBuf)> = std::fs::read_dir(DEBIAN_VERSIONS)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let major = e.file_name().to_str()?.split('.').next()?.parse().ok()?;
                    Some((major, e.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    installed.sort();
    on_path
        .into_iter()
        .chain(installed.into_iter().rev().map(|(_, bin)| bin))
        .find(|bin| {
            ["postgres", "initdb", "pg_ctl", "pg_basebackup", "pg_rewind", "psql"]
                .iter()
                .all(|program| bin.join(program).is_file())
        })
        .ok_or_else(|| {
            StackError::new(
                "the PostgreSQL server programs (postgres, initdb, pg_ctl, pg_basebackup, pg_rewind, psql) \
                 were not found: `make run` and `make test` install them",
            )
        })
}
