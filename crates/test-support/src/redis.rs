//! A throwaway Redis, as `local_stack::servers` runs one (loopback only,
//! nothing persisted), that dies with the test binary.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use local_stack::servers::{self, RedisServer as Program};

use crate::spawn::spawn_tied_to_process;
use crate::workdir;

/// How long Redis gets to answer PING after being started.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// How many fresh ports to try when another process grabs ours first.
const PORT_ATTEMPTS: usize = 5;

/// The Redis of a test cluster.
#[derive(Debug)]
pub struct RedisServer {
    /// Fixed for the server's life so URLs handed out stay valid across restarts.
    port: u16,
    program: Program,
    /// Working directory; with `--save ''` nothing is written there.
    dir: PathBuf,
    /// stdout and stderr of every run, appended.
    log: PathBuf,
    /// The running server; `None` while stopped. A mutex so `stop`/`start`
    /// work through the `&'static` shared cluster.
    child: Mutex<Option<Child>>,
}

impl RedisServer {
    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The file the server logs to.
    pub fn log_file(&self) -> &Path {
        &self.log
    }

    /// Kills the server (it holds nothing worth a clean shutdown) and waits
    /// until it is gone. Its data is lost: a restarted Redis is empty.
    pub fn stop(&self) {
        if let Some(mut child) = self.lock_child().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and waits until it answers PING.
    pub fn start(&self) {
        if let Err(problem) = self.launch() {
            panic!("{problem}");
        }
    }

    /// Starts `program` with its working directory in `dir/redis`, on a free port.
    pub(crate) fn start_in(dir: &Path, program: &Program) -> Self {
        let redis_dir = dir.join("redis");
        std::fs::create_dir_all(&redis_dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", redis_dir.display()));
        let mut problems = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let server = Self {
                port: workdir::free_port(),
                program: program.clone(),
                dir: redis_dir.clone(),
                log: dir.join("redis.log"),
                child: Mutex::new(None),
            };
            match server.launch() {
                Ok(()) => return server,
                Err(problem) if problem.contains("Address already in use") => {
                    problems.push(problem)
                }
                Err(problem) => panic!("{problem}"),
            }
        }
        panic!(
            "no free port for Redis after {PORT_ATTEMPTS} attempts:\n{}",
            problems.join("\n")
        )
    }

    fn launch(&self) -> Result<(), String> {
        let mut child = self.lock_child();
        if let Some(running) = child.as_mut()
            && matches!(running.try_wait(), Ok(None))
        {
            return Err(format!("Redis on port {} is already running", self.port));
        }
        let log = workdir::open_log(&self.log);
        let mut command = self.program.command(self.port, &self.dir);
        command
            .args(["--daemonize", "no"])
            .stdout(log.try_clone().expect("log file handles clone"))
            .stderr(log);
        let spawned = spawn_tied_to_process(command, libc::SIGTERM)
            .unwrap_or_else(|e| panic!("cannot run redis-server: {e}"));
        *child = Some(spawned);
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(c) = child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                *child = None;
                return Err(format!(
                    "Redis on port {} exited while starting ({status})\n{}",
                    self.port,
                    workdir::log_tail(&self.log)
                ));
            }
            if servers::redis_ping(self.port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                if let Some(mut c) = child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                return Err(format!(
                    "Redis on port {} did not answer PING within {READY_DEADLINE:?}\n{}",
                    self.port,
                    workdir::log_tail(&self.log)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn lock_child(&self) -> MutexGuard<'_, Option<Child>> {
        // A test that panicked mid-stop leaves a usable Option behind.
        self.child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
