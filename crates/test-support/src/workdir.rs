//! The temporary folder a cluster lives in, ports, server logs.

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Prefix of every cluster folder; the pid after it tells whose it is.
const PREFIX: &str = "rcr-test-";

/// Numbers the clusters of this process (the shared one and dedicated ones).
static NEXT_CLUSTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh `rcr-test-<pid>-<n>` folder name, nothing in it yet: whoever
/// creates it decides who owns it.
pub(crate) fn fresh() -> PathBuf {
    static SWEEP: Once = Once::new();
    SWEEP.call_once(|| local_stack::remove_stale_temp_dirs(PREFIX));
    let n = NEXT_CLUSTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("{PREFIX}{}-{n}", std::process::id()));
    // A leftover from a dead process that reused our pid.
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A port nobody listens on right now. Another process could take it before
/// the server binds it; starting a server retries with a new port for that.
pub(crate) fn free_port() -> u16 {
    local_stack::servers::free_port().unwrap_or_else(|e| panic!("{e}"))
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
