//! The temporary folder a cluster lives in, the user servers run as, ports.

use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Prefix of every cluster folder; the pid after it tells whose it is.
const PREFIX: &str = "rcr-test-";

/// Numbers the clusters of this process (the shared one and dedicated ones).
static NEXT_CLUSTER: AtomicUsize = AtomicUsize::new(0);

/// Who PostgreSQL runs as when we are root: it refuses to run as root.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PgUser {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl PgUser {
    /// `None` when we are not root (servers then run as ourselves);
    /// Debian's `postgres` user when we are.
    pub(crate) fn when_root() -> Option<Self> {
        if effective_uid() != 0 {
            return None;
        }
        let out = std::process::Command::new("getent")
            .args(["passwd", "postgres"])
            .output()
            .expect("getent runs");
        let line = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<&str> = line.trim().split(':').collect();
        match (
            fields.get(2).map(|f| f.parse()),
            fields.get(3).map(|f| f.parse()),
        ) {
            (Some(Ok(uid)), Some(Ok(gid))) => Some(Self { uid, gid }),
            _ => panic!(
                "running as root but there is no `postgres` user for PostgreSQL to run as: \
                 run `make test`, which installs PostgreSQL and creates it"
            ),
        }
    }
}

/// The effective uid, read from procfs so no `unsafe` call is needed.
fn effective_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs is mounted");
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|euid| euid.parse().ok())
        .expect("/proc/self/status has a Uid line")
}

/// A fresh `rcr-test-<pid>-<n>` folder, owned by `user` when there is one.
pub(crate) fn create(user: Option<PgUser>) -> PathBuf {
    static SWEEP: Once = Once::new();
    SWEEP.call_once(remove_stale);
    let n = NEXT_CLUSTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("{PREFIX}{}-{n}", std::process::id()));
    // A leftover from a dead process that reused our pid.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    if let Some(user) = user {
        chown(&dir, Some(user.uid), Some(user.gid))
            .unwrap_or_else(|e| panic!("cannot hand {} to the postgres user: {e}", dir.display()));
    }
    dir
}

/// Removes the folders of earlier test binaries that have exited: their
/// servers died with them (see `spawn`), but nothing removed the files.
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A port nobody listens on right now. Another process could take it before
/// the server binds it; starting a server retries with a new port for that.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("the OS hands out a free port")
}

/// The last lines of a server log, for panic messages.
pub(crate) fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log)
        .unwrap_or_else(|e| format!("(cannot read {}: {e})", log.display()));
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(30)..].join("\n");
    format!("--- last lines of {} ---\n{tail}", log.display())
}

/// Opens (appending) the log file a server writes its stdout and stderr to;
/// appending keeps what earlier runs of the same server said.
pub(crate) fn open_log(log: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", log.display()))
}
