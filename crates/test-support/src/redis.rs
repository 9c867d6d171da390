//! A throwaway Redis: no persistence, loopback only, dies with the test binary.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

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
    binary: PathBuf,
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

    /// Starts `binary` with its working directory in `dir/redis`, on a free port.
    pub(crate) fn start_in(dir: &Path, binary: &Path) -> Self {
        let redis_dir = dir.join("redis");
        std::fs::create_dir_all(&redis_dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", redis_dir.display()));
        let mut problems = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let server = Self {
                port: workdir::free_port(),
                binary: binary.to_path_buf(),
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
        let mut command = Command::new(&self.binary);
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file handles clone"))
            .stderr(log);
        let spawned = spawn_tied_to_process(command, libc::SIGTERM)
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.binary.display()));
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
            if answers_ping(self.port) {
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

/// Speaks just enough RESP to see whether the server is up.
fn answers_ping(port: u16) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
        stream.set_read_timeout(Some(Duration::from_secs(1)))?;
        stream.write_all(b"PING\r\n")?;
        let mut reply = [0_u8; 7];
        stream.read_exact(&mut reply)?;
        Ok(&reply == b"+PONG\r\n")
    };
    attempt().unwrap_or(false)
}
