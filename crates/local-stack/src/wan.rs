//! Continents apart on one machine (SPEC §10.4): a TCP link that delays
//! every byte by a fixed one-way time in each direction and can be cut (a
//! partition) and healed. The kernel here has no `netem`, so the launcher
//! puts one of these in front of every cross-region connection: a region's
//! replication from the primary, a reader's fallback to the primary, and a
//! non-South-American gateway's routes to auth and the writer.
//!
//! Each accepted connection gets two pumps (one per direction). A pump's
//! reading thread stamps each chunk with the time it may leave and hands it
//! to its writing thread, which sleeps until then: a constant delay that
//! does not limit throughput. The channel between them is bounded, so a
//! slow far end pushes back as a real network does.
//!
//! A link leads to an ordered list of targets and joins each connection to
//! the first that accepts it, as a route that fails over would: the
//! database links list both South American nodes, each link its own node
//! first, so a connection through them finds whichever node runs (and a
//! client that lists both links, `target_session_attrs=read-write`, the one
//! that takes writes) before and after a failover, still delayed. A link
//! that accepted a connection it cannot take anywhere closes it, which a
//! client sees as a server that went away.
//!
//! A partition stops the pumps from reading (and new connections from
//! reaching the far end) without closing anything: both ends see a network
//! that has gone quiet — their own timeouts decide what happens, as they
//! would across an ocean. Healing lets the queued bytes flow again. The
//! partition is a file beside the link's pid file (`<name>.partitioned`),
//! so `rcr-local partition` and the tests can cut a link the launcher
//! started in another process.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

/// How often a link looks at its partition file, and how often a paused
/// pump looks at the link's state.
const POLL: Duration = Duration::from_millis(20);

/// How long after its file changes a link is cut or whole.
pub const TAKES_EFFECT: Duration = Duration::from_millis(100);

/// Chunks in flight per direction before the reading side waits: enough
/// for the delay times a replication stream's rate.
const IN_FLIGHT: usize = 1024;

/// One link: where it listens, where it leads (the first of `targets`
/// that accepts), its one-way delay, and the file whose existence means
/// "partitioned".
#[derive(Debug, Clone)]
pub struct Link {
    pub listen: SocketAddr,
    pub targets: Vec<SocketAddr>,
    pub delay: Duration,
    pub partition_file: PathBuf,
}

/// Whether the link is cut, shared by its pumps.
#[derive(Debug, Clone, Default)]
struct Cut(Arc<AtomicBool>);

impl Cut {
    fn is_cut(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Returns once the link is whole.
    fn wait_whole(&self) {
        while self.is_cut() {
            std::thread::sleep(POLL);
        }
    }
}

/// The partition file of a link named `name` in `dir`.
pub fn partition_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.partitioned"))
}

/// Cuts (`true`) or heals (`false`) the link whose partition file is `file`.
pub fn set_partitioned(file: &Path, partitioned: bool) -> std::io::Result<()> {
    if partitioned {
        std::fs::write(file, b"")
    } else {
        match std::fs::remove_file(file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

impl Link {
    /// Binds and serves the link until the process ends.
    pub fn serve(&self) -> std::io::Result<()> {
        let listener = TcpListener::bind(self.listen)?;
        self.serve_on(listener)
    }

    /// Serves on an already bound listener (tests bind port 0).
    pub fn serve_on(&self, listener: TcpListener) -> std::io::Result<()> {
        let cut = Cut::default();
        let watched = cut.clone();
        let file = self.partition_file.clone();
        std::thread::spawn(move || {
            loop {
                watched.0.store(file.exists(), Ordering::Relaxed);
                std::thread::sleep(POLL);
            }
        });
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let link = self.clone();
            let cut = cut.clone();
            std::thread::spawn(move || link.connect(client, &cut));
        }
        Ok(())
    }

    /// Joins `client` to the far end, once the link is whole.
    fn connect(&self, client: TcpStream, cut: &Cut) {
        cut.wait_whole();
        // The far end is on this machine: connecting costs no delay of its
        // own, so the handshake pays one crossing here.
        std::thread::sleep(self.delay);
        let Some(server) = self
            .targets
            .iter()
            .find_map(|target| TcpStream::connect(target).ok())
        else {
            let _ = client.shutdown(Shutdown::Both);
            return;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (Ok(client_in), Ok(server_in)) = (client.try_clone(), server.try_clone()) else {
            return;
        };
        pump(client_in, server, self.delay, cut.clone());
        pump(server_in, client, self.delay, cut.clone());
    }
}

/// Moves bytes from `from` to `to`, each `delay` after it was read, not
/// reading while the link is cut.
fn pump(mut from: TcpStream, to: TcpStream, delay: Duration, cut: Cut) {
    let (tx, rx) = sync_channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    std::thread::spawn(move || deliver(&rx, to));
    std::thread::spawn(move || read_into(&mut from, &tx, delay, &cut));
}

fn read_into(
    from: &mut TcpStream,
    tx: &SyncSender<(Instant, Vec<u8>)>,
    delay: Duration,
    cut: &Cut,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        cut.wait_whole();
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                // A read that was waiting when the link was cut holds what
                // it got until the heal.
                cut.wait_whole();
                if tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    // Dropping `tx` lets the writer finish what is queued, then close.
}

fn deliver(rx: &Receiver<(Instant, Vec<u8>)>, mut to: TcpStream) {
    while let Ok((due, bytes)) = rx.recv() {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if to.write_all(&bytes).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that echoes what it reads.
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 || stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    fn link(delay_ms: u64) -> (SocketAddr, PathBuf) {
        let dir = std::env::temp_dir().join(format!("rcr-wan-{}-{delay_ms}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let listen = listener.local_addr().unwrap();
        let file = partition_file(&dir, &format!("link-{}", listen.port()));
        let link = Link {
            listen,
            targets: vec![echo_server()],
            delay: Duration::from_millis(delay_ms),
            partition_file: file.clone(),
        };
        std::thread::spawn(move || link.serve_on(listener));
        (listen, file)
    }

    fn round_trip(stream: &mut TcpStream, message: &[u8]) -> Duration {
        let started = Instant::now();
        stream.write_all(message).unwrap();
        let mut back = vec![0u8; message.len()];
        stream.read_exact(&mut back).unwrap();
        assert_eq!(back, message);
        started.elapsed()
    }

    #[test]
    fn bytes_cross_in_order_and_never_sooner_than_the_delay_each_way() {
        let (addr, _) = link(40);
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        for i in 0..5u8 {
            let message: Vec<u8> = (0..200)
                .map(|j| i.wrapping_mul(31).wrapping_add(j))
                .collect();
            // There and back: at least two crossings (a lower bound only:
            // the machine may be slow, never faster than the link).
            assert!(round_trip(&mut stream, &message) >= Duration::from_millis(80));
        }
        let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        round_trip(&mut stream, &big);
    }

    #[test]
    fn a_link_leads_to_the_first_target_that_accepts() {
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let listen = listener.local_addr().unwrap();
        let link = Link {
            listen,
            targets: vec![closed, echo_server()],
            delay: Duration::ZERO,
            partition_file: std::env::temp_dir().join(format!("rcr-wan-none-{}", listen.port())),
        };
        std::thread::spawn(move || link.serve_on(listener));
        let mut stream = TcpStream::connect(listen).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        round_trip(&mut stream, b"the second target answers");
    }

    #[test]
    fn a_partition_holds_bytes_back_until_it_heals_and_loses_none() {
        let (addr, file) = link(0);
        let mut stream = TcpStream::connect(addr).unwrap();
        round_trip(&mut stream, b"before");
        set_partitioned(&file, true).unwrap();
        std::thread::sleep(POLL * 5);
        stream.write_all(b"during").unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 6];
        assert!(
            stream.read_exact(&mut buf).is_err(),
            "nothing crosses a partition"
        );
        set_partitioned(&file, false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"during");
        // A connection made during a partition waits for the heal.
        set_partitioned(&file, true).unwrap();
        std::thread::sleep(POLL * 5);
        let mut late = TcpStream::connect(addr).unwrap();
        late.write_all(b"late").unwrap();
        late.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut four = [0u8; 4];
        assert!(late.read_exact(&mut four).is_err());
        set_partitioned(&file, false).unwrap();
        late.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        late.read_exact(&mut four).unwrap();
        assert_eq!(&four, b"late");
    }
}

/// The one-way delays between South America (where the primary, auth and
/// the writer are) and each other region: `na:60,eu:100,asia:150` (ms) by
/// default (SPEC §10.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WanProfile {
    pub delays_ms: std::collections::BTreeMap<String, u64>,
}

impl Default for WanProfile {
    fn default() -> Self {
        Self::parse("na:60,eu:100,asia:150").unwrap_or(Self {
            delays_ms: std::collections::BTreeMap::new(),
        })
    }
}

impl WanProfile {
    /// `region:ms,region:ms` (`WAN_DELAYS`); regions not named keep no
    /// delay, South America never has one.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut delays_ms = std::collections::BTreeMap::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (region, ms) = part
                .split_once(':')
                .ok_or_else(|| format!("`{part}`: expected region:milliseconds"))?;
            let region = region.trim();
            if !crate::ALL_REGIONS.contains(&region) || region == "sa" {
                return Err(format!(
                    "`{region}`: a delay applies to na, eu or asia (South America is where the primary is)"
                ));
            }
            let ms: u64 = ms
                .trim()
                .parse()
                .ok()
                .filter(|ms| *ms <= 10_000)
                .ok_or_else(|| format!("`{part}`: the delay must be 0 to 10000 ms"))?;
            delays_ms.insert(region.to_owned(), ms);
        }
        Ok(Self { delays_ms })
    }

    /// The one-way delay of `region`'s links (0 for South America).
    pub fn delay_ms(&self, region: &str) -> u64 {
        self.delays_ms.get(region).copied().unwrap_or(0)
    }
}

/// Which cross-region connection a link carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// A region's replica streaming from the primary.
    Replication,
    /// A region's readers' connections to the primary (fallback and
    /// read-your-writes past the wait).
    Fallback,
    /// A region's gateway to auth.
    Auth,
    /// A region's gateway to the writer.
    Writer,
}

impl LinkKind {
    pub const ALL: [LinkKind; 4] = [Self::Replication, Self::Fallback, Self::Auth, Self::Writer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replication => "replication",
            Self::Fallback => "fallback",
            Self::Auth => "auth",
            Self::Writer => "writer",
        }
    }
}

/// A region's links to South America: their ports and one-way delay. The
/// replication and fallback links lead to the first of South America's
/// database nodes; `replication_2` and `fallback_2` to the second (the
/// standby until a failover), so that the region's replica and readers
/// reach the primary, still delayed, wherever it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegionLinks {
    pub delay_ms: u64,
    pub replication: u16,
    pub fallback: u16,
    pub auth: u16,
    pub writer: u16,
    /// Absent from a layout saved before the stack had a standby.
    #[serde(default)]
    pub replication_2: Option<u16>,
    #[serde(default)]
    pub fallback_2: Option<u16>,
}

/// One link process: its name (of its pid, log and partition files), what
/// it carries, where it listens and the port it leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSpec {
    pub name: String,
    pub kind: LinkKind,
    pub listen: u16,
    /// Tried in order: the node the link is named after first.
    pub targets: Vec<u16>,
}

impl RegionLinks {
    /// The port of the link of `kind` (for the database links, the one to
    /// the first node).
    pub fn port(&self, kind: LinkKind) -> u16 {
        match kind {
            LinkKind::Replication => self.replication,
            LinkKind::Fallback => self.fallback,
            LinkKind::Auth => self.auth,
            LinkKind::Writer => self.writer,
        }
    }

    /// The links of `kind` to each database node, in the nodes' order.
    pub fn db_ports(&self, kind: LinkKind) -> Vec<u16> {
        let second = match kind {
            LinkKind::Replication => self.replication_2,
            LinkKind::Fallback => self.fallback_2,
            LinkKind::Auth | LinkKind::Writer => None,
        };
        std::iter::once(self.port(kind)).chain(second).collect()
    }

    /// Every link of `region`: auth and the writer (`auth_port`,
    /// `writer_port`), and replication and fallback to each database node
    /// of `db_ports` (a second node's links are named with `-2`). A
    /// database link tries its own node first, then the others: through
    /// either link a client reaches a node that runs, and through the two
    /// in turn the one that takes writes.
    pub fn specs(
        &self,
        region: &str,
        db_ports: &[u16],
        auth_port: u16,
        writer_port: u16,
    ) -> Vec<LinkSpec> {
        let mut specs = Vec::new();
        for kind in LinkKind::ALL {
            for (i, listen) in self.db_ports(kind).into_iter().enumerate() {
                let targets = match kind {
                    LinkKind::Auth => vec![auth_port],
                    LinkKind::Writer => vec![writer_port],
                    LinkKind::Replication | LinkKind::Fallback => {
                        let mut ports = db_ports.to_vec();
                        let first = i.min(ports.len().saturating_sub(1));
                        ports.rotate_left(first);
                        ports
                    }
                };
                let suffix = if i == 0 {
                    String::new()
                } else {
                    format!("-{}", i + 1)
                };
                specs.push(LinkSpec {
                    name: format!("wan-{region}-{}{suffix}", kind.as_str()),
                    kind,
                    listen,
                    targets,
                });
            }
        }
        specs
    }
}
