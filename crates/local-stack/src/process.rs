//! Processes, ports and files: the plumbing under the stack.

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::path_str;

/// A failure, as one line for the user.
#[derive(Debug, Clone)]
pub struct StackError(String);

impl StackError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    pub fn io(path: &Path, err: std::io::Error) -> Self {
        Self(format!("{}: {err}", path.display()))
    }
}

impl std::fmt::Display for StackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StackError {}

/// A port nobody listens on right now, and one this process has not handed
/// out before. The kernel may give a released port out again before the
/// server it was meant for binds it: two stacks started side by side in one
/// test binary would then share a port (one's `pg_basebackup` once reached
/// the other's link). Another process may still take it first.
pub fn free_port() -> Result<u16, StackError> {
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| StackError::new(format!("no free port: {e}")))?;
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if handed_out.insert(port) {
            return Ok(port);
        }
    }
}

/// Runs a command to completion; its stdout, or an error naming it with the
/// tail of its output.
pub fn run(cmd: &mut Command, what: &str) -> Result<String, StackError> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| StackError::new(format!("{what}: cannot start: {e}")))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    let tail: Vec<&str> = text.lines().rev().take(8).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(StackError::new(format!(
        "{what} failed ({}): {}",
        output.status,
        tail.join(" | ")
    )))
}

/// Starts a long-running process in its own process group (so a Ctrl-C in
/// the terminal that ran `make run` does not reach it), logging to a file.
pub fn spawn_detached(
    cmd: &mut Command,
    pid_file: &Path,
    log_file: &Path,
) -> Result<u32, StackError> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_file)
        .map_err(|e| StackError::io(log_file, e))?;
    let err = log.try_clone().map_err(|e| StackError::io(log_file, e))?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| StackError::new(format!("cannot start {:?}: {e}", cmd.get_program())))?;
    let pid = child.id();
    std::fs::write(pid_file, pid.to_string()).map_err(|e| StackError::io(pid_file, e))?;
    Ok(pid)
}

/// `cmd` run by `taskset -c cpus`, which confines it to those cores from
/// its first instruction and then becomes it (same pid).
pub fn on_cpus(cmd: &Command, cpus: &str) -> Command {
    let mut pinned = Command::new("taskset");
    pinned
        .args(["-c", cpus])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => pinned.env(key, value),
            None => pinned.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        pinned.current_dir(dir);
    }
    pinned
}

fn read_pid(file: &Path) -> Option<u32> {
    std::fs::read_to_string(file)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Whether a process runs. A zombie does not: processes this program
/// spawned stay zombies until it exits, and `kill -0` would still succeed.
pub(crate) fn alive(pid: u32) -> bool {
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        return stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X");
    }
    if Path::new("/proc/self").exists() {
        return false;
    }
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether the process named in a pid file is alive.
pub fn pid_alive(file: &Path) -> bool {
    read_pid(file).is_some_and(alive)
}

/// SIGTERM, a grace period, then SIGKILL; removes the pid file.
pub fn terminate(pid_file: &Path, grace: Duration) {
    if let Some(pid) = read_pid(pid_file) {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + grace;
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if alive(pid) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
    let _ = std::fs::remove_file(pid_file);
}

/// SIGKILL, as a crash would; waits until the process is gone and removes
/// the pid file. False when no process was running.
pub fn kill(pid_file: &Path) -> bool {
    let Some(pid) = read_pid(pid_file).filter(|pid| alive(*pid)) else {
        let _ = std::fs::remove_file(pid_file);
        return false;
    };
    kill_pid(pid);
    let _ = std::fs::remove_file(pid_file);
    true
}

/// SIGKILL to `pid`; waits (10 s at most) until it is gone.
pub(crate) fn kill_pid(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The processes whose parent is `pid` (from procfs).
pub(crate) fn children(pid: u32) -> Vec<u32> {
    let parent = pid.to_string();
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|child| {
                    std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|stat| {
                        stat.rsplit_once(')')
                            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                            == Some(parent.as_str())
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn wait_tcp(port: u16, timeout: Duration) -> Result<(), StackError> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(StackError::new(format!("nothing listens on port {port}")))
}

/// Removes the folders `<prefix><pid>-…` in the temporary directory whose
/// process has exited: what test binaries leave (their servers die with
/// them; nothing removed the files). Those of this process stay.
pub fn remove_stale_temp_dirs(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
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

pub fn random_text(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// Writes a secret readable by this user only.
pub fn write_private(path: &Path, value: &str) -> Result<(), StackError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| StackError::io(path, e))?;
    file.write_all(value.as_bytes())
        .map_err(|e| StackError::io(path, e))
}

/// Makes a file readable by its owner only (private keys).
pub fn restrict(path: &Path) -> Result<(), StackError> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| StackError::io(path, e))
}

pub fn append(path: &Path, text: &str) -> Result<(), StackError> {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| StackError::io(path, e))?;
    file.write_all(text.as_bytes())
        .map_err(|e| StackError::io(path, e))
}

/// A program on PATH or in the usual system folders.
pub fn find_binary(name: &str) -> Result<PathBuf, StackError> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin"])
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            StackError::new(format!(
                "{name} not found: `make run` and `make test` install it"
            ))
        })
}

/// Lets the unprivileged nginx workers use a folder (local stack only).
pub fn open_permissions(dir: &Path) -> Result<(), StackError> {
    run(
        Command::new("chmod").args(["-R", "a+rwX", &path_str(dir)]),
        "chmod",
    )
    .map(|_| ())
}

/// Copies a folder's files (not `node_modules`), recursively.
pub fn copy_dir(from: &Path, to: &Path) -> Result<(), StackError> {
    std::fs::create_dir_all(to).map_err(|e| StackError::io(to, e))?;
    let entries = std::fs::read_dir(from).map_err(|e| StackError::io(from, e))?;
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            if entry.file_name() != "node_modules" {
                copy_dir(&path, &target)?;
            }
        } else {
            std::fs::copy(&path, &target).map_err(|e| StackError::io(&path, e))?;
        }
    }
    Ok(())
}

/// Installs the docs page's assets; the API still works without them.
pub fn npm_install(dir: &Path) {
    let result = Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--omit=dev",
            "--silent",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !result.is_ok_and(|s| s.success()) {
        eprintln!("warning: npm could not install the /docs assets; the API is unaffected");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_never_handed_out_twice_even_across_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| (0..300).map(|_| free_port().unwrap()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<u16> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count);
    }
}
