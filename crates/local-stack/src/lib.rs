//! The whole system on one machine, no containers: one PostgreSQL primary
//! and its synchronous standby in South America, one streaming replica and
//! one Redis per region, auth and the writer, one or more readers per
//! region, and an nginx gateway per region. Used by
//! `make run` / `make stop` / `make status` / `make clean` and by the
//! system tests, so both start the stack the same way.
//!
//! All state (data, logs, secrets, rendered configuration, the port layout)
//! lives under one folder; starting again after a stop or a reboot reuses
//! it, so nothing published is lost.
//!
//! TLS as deployed (SPEC §10.2): one local CA under `tls/` signs the
//! gateways' certificate and PostgreSQL's; PostgreSQL takes TCP connections
//! only over TLS, every service's database URL says
//! `sslmode=verify-full&sslrootcert=<tls/ca.pem>`, and each replica streams
//! over TLS verified the same way. A state folder made before TLS is
//! brought up to date by the next start.
//!
//! Data safety (SPEC §10.3): the primary's commits wait for the standby,
//! its WAL is archived and backed up with pgBackRest ([`backups`]), a
//! failover promotes the standby and the former primary comes back as the
//! standby (`failover`), and a point-in-time restore brings the data back to
//! an instant (`restore`). Everything that connects to the primary lists
//! both South American nodes, so it follows a failover unchanged.

pub mod backups;
pub mod bench;
pub mod edge;
mod failover;
mod gateway;
pub mod http;
mod layout;
mod links;
mod monitoring;
mod process;
mod restore;
pub mod seeding;
pub mod servers;
mod status;
pub mod wan;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::edge::{Edge, TlsFiles};
use crate::gateway::GatewayConf;
use crate::servers::{
    Durability, LocalCa, Postgres, RedisServer, ServerCert, StopMode, replication_conninfo_any,
};
use crate::wan::{LinkKind, WanProfile};

pub use failover::FailoverReport;
pub use layout::{Layout, SaNode};
pub use process::{StackError, remove_stale_temp_dirs};
pub use restore::{RestoreReport, RestoreTarget};

/// Every region the stack knows, in port order.
pub const ALL_REGIONS: &[&str] = &["sa", "na", "eu", "asia"];

/// How to start the stack.
#[derive(Debug, Clone)]
pub struct Options {
    /// The checkout (for `deploy/` and `crates/*/openapi.json`).
    pub root: PathBuf,
    /// Where all state lives.
    pub state_dir: PathBuf,
    /// Where `auth`, `reviews-writer` and `content-reader` are.
    pub bin_dir: PathBuf,
    pub regions: Vec<String>,
    pub readers_per_region: usize,
    /// Pick free ports instead of the documented ones (tests).
    pub free_ports: bool,
    /// Fetch the `/docs` page's assets with npm (skipped by tests).
    pub docs_assets: bool,
    /// The gateways' CORS origins, rate limits and trusted proxies.
    pub edge: Edge,
    /// Continents apart: every cross-region connection through a delaying
    /// link (`make run WAN=1`); `None` keeps them direct.
    pub wan: Option<WanProfile>,
    /// Run the gateways' metrics exporters and a Prometheus (`make run`;
    /// the system tests leave them out).
    pub monitoring: bool,
}

/// Credentials and URLs a user needs after `make run`.
#[derive(Debug, Clone)]
pub struct Started {
    pub layout: Layout,
    pub admin_email: String,
    pub admin_password: String,
    /// False when the stack was already running and nothing was changed.
    pub started_now: bool,
}

/// One process of a running stack, as [`Stack::kill`] and
/// [`Stack::restart`] name it (fault drills, the chaos test).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Component {
    /// South America's primary, whichever node it is now.
    Primary,
    /// South America's synchronous standby (the other node).
    Standby,
    Replica(String),
    Redis(String),
    Auth,
    Writer,
    /// A region's reader, numbered from 1.
    Reader(String, usize),
}

impl std::fmt::Display for Component {
    /// The name of its pid and log files.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Primary => f.write_str("primary"),
            Self::Standby => f.write_str("standby"),
            Self::Replica(region) => write!(f, "replica-{region}"),
            Self::Redis(region) => write!(f, "redis-{region}"),
            Self::Auth => f.write_str("auth"),
            Self::Writer => f.write_str("writer"),
            Self::Reader(region, n) => write!(f, "reader-{region}-{n}"),
        }
    }
}

pub const ADMIN_EMAIL: &str = "admin@rcr.local";
const DATABASE: &str = "rcr";

/// What the local stack adds to the settings every primary gets (see
/// [`servers::Postgres::init_primary`]): room for a replica per region, the
/// standby and a few more, WAL kept for a replica that was stopped for a
/// while, a cache big enough for the bench's data set, and hint bits in the
/// WAL, which `pg_rewind` needs to take a former primary back as a standby
/// (a stack made before gets it at its next start: `configure_sa_node`).
const PRIMARY_SETTINGS: &str = "
# local stack
max_wal_senders = 12
max_replication_slots = 12
wal_keep_size = '256MB'
shared_buffers = '256MB'
wal_log_hints = on
";

/// A stack rooted at a state folder.
#[derive(Debug, Clone)]
pub struct Stack {
    pub(crate) options: Options,
    /// The PostgreSQL installation, found on first use: `status` and the
    /// chaos test's queries ask for it often.
    postgres: OnceLock<Postgres>,
}

impl Stack {
    pub fn new(options: Options) -> Self {
        Self {
            options,
            postgres: OnceLock::new(),
        }
    }

    /// The folder holding all of this stack's state.
    pub fn state_dir(&self) -> &Path {
        &self.options.state_dir
    }

    pub(crate) fn dir(&self, rel: &str) -> PathBuf {
        self.options.state_dir.join(rel)
    }

    fn layout_file(&self) -> PathBuf {
        self.dir("layout.json")
    }

    /// The saved layout, if the stack was ever started here.
    pub fn saved_layout(&self) -> Option<Layout> {
        let text = std::fs::read_to_string(self.layout_file()).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Whether any process of the stack is alive.
    pub fn is_running(&self) -> bool {
        self.pid_files().iter().any(|f| process::pid_alive(f))
    }

    fn pid_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.dir("run"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "pid"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .chain(self.pg_dirs().into_iter().map(|d| d.join("postmaster.pid")))
            .collect()
    }

    /// Every database folder: the primary's, the standby's, the replicas'.
    pub(crate) fn pg_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.pg_dir(&Component::Primary)];
        if let Some(layout) = self.saved_layout() {
            if layout.standby().is_some() {
                dirs.push(self.pg_dir(&Component::Standby));
            }
            dirs.extend(
                layout
                    .regions
                    .iter()
                    .map(|r| self.pg_dir(&Component::Replica(r.clone()))),
            );
        }
        dirs
    }

    /// Starts everything that is not running; see the module docs.
    pub fn start(&self) -> Result<Started, StackError> {
        if self.is_running() {
            let layout = self
                .saved_layout()
                .ok_or_else(|| StackError::new("stack is running but its layout is missing"))?;
            return Ok(self.started(layout, false));
        }
        for sub in ["run", "logs", "secrets", "pg", "redis", "gateway", "docs"] {
            std::fs::create_dir_all(self.dir(sub))
                .map_err(|e| StackError::io(&self.dir(sub), e))?;
        }
        let layout = self.layout_to_start()?;
        self.save_layout(&layout)?;
        let secrets = self.secrets()?;
        self.start_primary(&layout)?;
        self.prepare_backups(&layout)?;
        // Before anything writes: the primary's commits wait for it.
        self.start_standby(&layout)?;
        self.ensure_database(&layout)?;
        self.prepare_database(&layout)?;
        self.start_backups(&layout)?;
        self.start_wan_links(&layout)?;
        for region in &layout.regions {
            self.start_replica(&layout, region)?;
            self.start_redis(&layout, region)?;
        }
        self.start_services(&layout, &secrets)?;
        self.start_gateways(&layout)?;
        if self.options.monitoring {
            self.start_monitoring(&layout)?;
        }
        Ok(self.started(layout, true))
    }

    /// Saves `layout` as this stack's (`layout.json`).
    pub(crate) fn save_layout(&self, layout: &Layout) -> Result<(), StackError> {
        std::fs::write(
            self.layout_file(),
            serde_json::to_vec_pretty(layout).unwrap_or_default(),
        )
        .map_err(|e| StackError::io(&self.layout_file(), e))
    }

    /// The saved layout, or an error saying there is no stack here.
    pub(crate) fn layout(&self) -> Result<Layout, StackError> {
        self.saved_layout()
            .ok_or_else(|| StackError::new("no stack here (run `make run`)"))
    }

    /// What a user needs to know about a running stack.
    fn started(&self, layout: Layout, started_now: bool) -> Started {
        Started {
            layout,
            admin_email: ADMIN_EMAIL.into(),
            admin_password: std::fs::read_to_string(self.admin_password_file()).unwrap_or_default(),
            started_now,
        }
    }

    fn admin_password_file(&self) -> PathBuf {
        self.dir("secrets/admin-password")
    }

    /// The saved layout when it has the regions and readers asked for;
    /// otherwise a new one that keeps the ports of what exists (data
    /// folders and replication slots refer to them).
    fn layout_to_start(&self) -> Result<Layout, StackError> {
        let fresh = || {
            Layout::new(
                &self.options.regions,
                self.options.readers_per_region,
                self.options.free_ports,
                self.options.wan.as_ref(),
            )
        };
        let Some(saved) = self.saved_layout() else {
            return fresh();
        };
        let readers = self.options.readers_per_region.max(1);
        // A layout saved before the gateways had HTTPS and status ports, or
        // before South America had a standby, is laid out again (keeping
        // the database ports below).
        if saved.regions == self.options.regions
            && saved.readers.values().all(|r| r.len() == readers)
            && saved.gateways_tls.len() == saved.regions.len()
            && saved.gateways_status.len() == saved.regions.len()
            && saved.exporters.len() == saved.regions.len()
            && saved.sa_nodes.len() == 2
            && saved.wan.values().all(|l| l.replication_2.is_some())
            && self.wan_matches(&saved)
        {
            return Ok(saved);
        }
        let mut layout = fresh()?;
        if saved.sa_nodes.len() == 2 {
            layout.sa_nodes = saved.sa_nodes.clone();
        } else {
            layout.sa_nodes[0].port = saved.primary;
        }
        layout.primary = saved.primary;
        layout.auth = saved.auth;
        layout.writer = saved.writer;
        for (region, port) in &saved.replicas {
            if layout.replicas.contains_key(region) {
                layout.replicas.insert(region.clone(), *port);
            }
        }
        Ok(layout)
    }

    /// Whether `saved` has the links (and delays) this start asks for.
    fn wan_matches(&self, saved: &Layout) -> bool {
        let wanted: BTreeMap<&String, u64> = match &self.options.wan {
            Some(profile) => saved
                .regions
                .iter()
                .filter(|r| *r != "sa")
                .map(|r| (r, profile.delay_ms(r)))
                .collect(),
            None => BTreeMap::new(),
        };
        let have: BTreeMap<&String, u64> = saved
            .wan
            .iter()
            .map(|(r, links)| (r, links.delay_ms))
            .collect();
        wanted == have
    }

    /// Creates the stack's database on the primary unless it exists.
    fn ensure_database(&self, layout: &Layout) -> Result<(), StackError> {
        let pg = self.postgres()?;
        let exists = format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'");
        if pg.query(layout.primary, "postgres", &exists)? != "1" {
            pg.query(
                layout.primary,
                "postgres",
                &format!("CREATE DATABASE {DATABASE}"),
            )?;
        }
        Ok(())
    }

    /// Applies the migrations and creates the admin (both do nothing when
    /// already done), with auth's own commands.
    fn prepare_database(&self, layout: &Layout) -> Result<(), StackError> {
        let db_url = database_url(layout.primary, &self.ca_cert());
        self.run_auth_command(&["migrate"], &db_url, layout)?;
        self.run_auth_command(
            &[
                "create-admin",
                "--email",
                ADMIN_EMAIL,
                "--name",
                "Admin",
                "--password-file",
                &path_str(&self.admin_password_file()),
            ],
            &db_url,
            layout,
        )
    }

    /// Secrets shared by services, made once.
    fn secrets(&self) -> Result<BTreeMap<&'static str, PathBuf>, StackError> {
        let mut out = BTreeMap::new();
        for (name, len) in [
            ("consistency-secret", 48usize),
            ("cursor-secret", 48),
            ("admin-password", 18),
        ] {
            let path = self.dir(&format!("secrets/{name}"));
            if !path.exists() {
                let value = process::random_text(len);
                process::write_private(&path, &value)?;
            }
            out.insert(name, path);
        }
        let key = self.dir("secrets/signing-key.pem");
        if !key.exists() {
            process::run(
                std::process::Command::new(self.options.bin_dir.join("auth")).args([
                    "gen-key",
                    "--out",
                    &path_str(&key),
                ]),
                "auth gen-key",
            )?;
        }
        out.insert("signing-key", key);
        Ok(out)
    }

    /// The PostgreSQL installation, its sockets under the state folder.
    pub(crate) fn postgres(&self) -> Result<&Postgres, StackError> {
        if let Some(pg) = self.postgres.get() {
            // `clean` deletes the folder; the stack may start again.
            pg.create_socket_dir()?;
            return Ok(pg);
        }
        let located = Postgres::locate(&self.dir("run/pg-sock"))?;
        Ok(self.postgres.get_or_init(|| located))
    }

    /// The certificate PostgreSQL serves TLS with, signed by the stack's
    /// CA (the gateways' too), made on first use.
    fn postgres_tls(&self) -> Result<ServerCert, StackError> {
        LocalCa::ensure(&self.dir("tls"), edge::CA_NAME)?.server_cert("postgres")
    }

    /// Starts the primary, made on first start. A primary made before the
    /// stack had TLS, WAL archiving or a standby gets them now.
    fn start_primary(&self, layout: &Layout) -> Result<(), StackError> {
        let pg = self.postgres()?;
        let node = layout.primary_node();
        let data = self.node_dir(&node);
        let tls = self.postgres_tls()?;
        if data.join("PG_VERSION").exists() {
            pg.enable_tls(&data, &tls)?;
        } else {
            pg.init_primary(&data, PRIMARY_SETTINGS, &tls, Durability::Synced)?;
        }
        self.configure_sa_node(layout, &node)?;
        pg.start_daemon(&data, node.port, &self.node_log(&node))
    }

    /// The data folder of one of South America's nodes.
    pub(crate) fn node_dir(&self, node: &SaNode) -> PathBuf {
        self.dir(&format!("pg/{}", node.folder))
    }

    /// The server log of one of South America's nodes (named after its
    /// folder, so it stays with the node through a failover).
    pub(crate) fn node_log(&self, node: &SaNode) -> PathBuf {
        self.dir(&format!("logs/postgres-{}.log", node.folder))
    }

    /// Starts a region's replica, cloned from the primary on first start.
    /// A replica made before the stack had TLS gets it now, and streams
    /// over it.
    /// It follows whichever South American node is the primary (a
    /// multi-host `primary_conninfo`), on the latest timeline.
    pub(crate) fn start_replica(&self, layout: &Layout, region: &str) -> Result<(), StackError> {
        let pg = self.postgres()?;
        let data = self.pg_dir(&Component::Replica(region.to_owned()));
        let conninfo = replication_conninfo_any(
            &layout.db_via(region, LinkKind::Replication),
            &self.ca_cert(),
            region,
        );
        if data.join("PG_VERSION").exists() {
            pg.enable_tls(&data, &self.postgres_tls()?)?;
            pg.follow(&data, &conninfo)?;
        } else {
            let slot = format!("replica_{region}");
            // A slot or a folder left by an earlier, interrupted attempt
            // would make the clone fail.
            let _ = pg.query(
                layout.primary,
                DATABASE,
                &format!(
                    "SELECT pg_drop_replication_slot('{slot}') FROM pg_replication_slots WHERE slot_name = '{slot}' AND NOT active"
                ),
            );
            if data.exists() {
                std::fs::remove_dir_all(&data).map_err(|e| StackError::io(&data, e))?;
            }
            pg.base_backup(&conninfo, &data, &slot, Durability::Synced)?;
        }
        pg.set_auto_conf(
            &data,
            &[
                ("recovery_target_timeline", Some("latest")),
                ("wal_retrieve_retry_interval", Some("1s")),
            ],
        )?;
        pg.start_daemon(
            &data,
            layout.replicas[region],
            &self.dir(&format!("logs/postgres-replica-{region}.log")),
        )
    }

    fn start_redis(&self, layout: &Layout, region: &str) -> Result<(), StackError> {
        let port = layout.redis[region];
        let dir = self.dir(&format!("redis/{region}"));
        std::fs::create_dir_all(&dir).map_err(|e| StackError::io(&dir, e))?;
        let mut redis = RedisServer::locate()?.command(port, &dir);
        redis
            .args(["--daemonize", "yes", "--pidfile"])
            .arg(self.dir(&format!("run/redis-{region}.pid")))
            .arg("--logfile")
            .arg(self.dir(&format!("logs/redis-{region}.log")));
        process::run(&mut redis, "redis-server")?;
        process::wait_tcp(port, Duration::from_secs(10))
    }

    fn run_auth_command(
        &self,
        args: &[&str],
        db_url: &str,
        layout: &Layout,
    ) -> Result<(), StackError> {
        let mut cmd = std::process::Command::new(self.options.bin_dir.join("auth"));
        cmd.args(args)
            .env("RCR__DATABASE__URL", db_url)
            .env("RCR__LOG__LEVEL", "warn")
            .env(
                "RCR__TOKENS__ACTIVE_KEY_FILE",
                self.dir("secrets/signing-key.pem"),
            )
            .env("RCR__TOKENS__ISSUER", issuer(layout));
        process::run(&mut cmd, &format!("auth {}", args[0])).map(|_| ())
    }

    fn start_services(
        &self,
        layout: &Layout,
        secrets: &BTreeMap<&'static str, PathBuf>,
    ) -> Result<(), StackError> {
        for service in &services_of(layout) {
            self.start_service(service, layout, secrets, None)?;
        }
        Ok(())
    }

    /// Starts auth, the writer or a reader with its configuration; with
    /// `cpus`, confined to those cores (`taskset -c` syntax) from its start,
    /// so that it sizes its worker threads to them.
    fn start_service(
        &self,
        service: &Component,
        layout: &Layout,
        secrets: &BTreeMap<&'static str, PathBuf>,
        cpus: Option<&str>,
    ) -> Result<(), StackError> {
        let (mut cmd, port) = match service {
            Component::Auth => (self.auth_command(layout, secrets), layout.auth),
            Component::Writer => (self.writer_command(layout, secrets), layout.writer),
            Component::Reader(region, n) => self.reader_command(layout, secrets, region, *n)?,
            Component::Primary
            | Component::Standby
            | Component::Replica(_)
            | Component::Redis(_) => {
                return Err(StackError::new(format!("{service} is not a service")));
            }
        };
        // Workers 0: one per core the process may run on, as deployed.
        cmd.env("RCR__HTTP__PORT", port.to_string())
            .env("RCR__HTTP__WORKERS", "0")
            .env("RCR__HTTP__SHUTDOWN_TIMEOUT_S", "5")
            .env("RCR__LOG__FORMAT", "json");
        if let Some(cpus) = cpus {
            cmd = process::on_cpus(&cmd, cpus);
        }
        self.spawn_service(&service.to_string(), &mut cmd, port)
    }

    /// Auth on the primary, its login throttle in the first region's Redis.
    fn auth_command(
        &self,
        layout: &Layout,
        secrets: &BTreeMap<&'static str, PathBuf>,
    ) -> std::process::Command {
        let mut auth = std::process::Command::new(self.options.bin_dir.join("auth"));
        auth.arg("serve")
            .env(
                "RCR__DATABASE__URL",
                database_url_any(&layout.db_ports(), &self.ca_cert()),
            )
            .env(
                "RCR__REDIS__URL",
                format!("redis://127.0.0.1:{}", layout.redis[&layout.regions[0]]),
            )
            .env("RCR__TOKENS__ACTIVE_KEY_FILE", &secrets["signing-key"])
            .env("RCR__TOKENS__ISSUER", issuer(layout));
        auth
    }

    /// The writer on the primary, verifying tokens with auth's JWKS.
    fn writer_command(
        &self,
        layout: &Layout,
        secrets: &BTreeMap<&'static str, PathBuf>,
    ) -> std::process::Command {
        let issuer = issuer(layout);
        let mut writer = std::process::Command::new(self.options.bin_dir.join("reviews-writer"));
        writer
            .env(
                "RCR__DATABASE__URL",
                database_url_any(&layout.db_ports(), &self.ca_cert()),
            )
            .env(
                "RCR__JWT__JWKS_URL",
                format!("{issuer}/.well-known/jwks.json"),
            )
            .env("RCR__JWT__ISSUER", issuer)
            .env(
                "RCR__CONSISTENCY__SECRET_FILE",
                &secrets["consistency-secret"],
            )
            .env("RCR__CURSOR__SECRET_FILE", &secrets["cursor-secret"]);
        writer
    }

    /// Reader `n` (from 1) of `region` on the region's replica and Redis,
    /// falling back to the primary; its command and port.
    fn reader_command(
        &self,
        layout: &Layout,
        secrets: &BTreeMap<&'static str, PathBuf>,
        region: &str,
        n: usize,
    ) -> Result<(std::process::Command, u16), StackError> {
        let port = layout
            .readers
            .get(region)
            .zip(n.checked_sub(1))
            .and_then(|(ports, i)| ports.get(i))
            .copied()
            .ok_or_else(|| StackError::new(format!("no reader-{region}-{n} in this stack")))?;
        let mut reader = std::process::Command::new(self.options.bin_dir.join("content-reader"));
        reader
            .env("RCR__REGION", region)
            .env("RCR__REPLICAS__0__NAME", format!("{region}-1"))
            .env(
                "RCR__REPLICAS__0__URL",
                database_url(layout.replicas[region], &self.ca_cert()),
            )
            .env(
                "RCR__PRIMARY_URL",
                database_url_any(&layout.db_via(region, LinkKind::Fallback), &self.ca_cert()),
            )
            .env(
                "RCR__REDIS__URL",
                format!("redis://127.0.0.1:{}", layout.redis[region]),
            )
            .env(
                "RCR__CONSISTENCY__SECRET_FILE",
                &secrets["consistency-secret"],
            )
            .env("RCR__CURSOR__SECRET_FILE", &secrets["cursor-secret"]);
        // `RCR_READER__<X>` in the launcher's environment is the readers'
        // `RCR__<X>`: a reader-only setting, which the other services would
        // refuse as a field they do not know.
        for (name, value) in std::env::vars_os() {
            if let Some(setting) = name.to_str().and_then(|n| n.strip_prefix("RCR_READER__")) {
                reader.env(format!("RCR__{setting}"), value);
            }
        }
        Ok((reader, port))
    }

    fn spawn_service(
        &self,
        name: &str,
        cmd: &mut std::process::Command,
        port: u16,
    ) -> Result<(), StackError> {
        process::spawn_detached(
            cmd,
            &self.dir(&format!("run/{name}.pid")),
            &self.dir(&format!("logs/{name}.log")),
        )?;
        http::wait_ok(port, "/healthz", Duration::from_secs(20)).map_err(|e| {
            StackError::new(format!(
                "{name} did not come up ({e}); see {}",
                path_str(&self.dir(&format!("logs/{name}.log")))
            ))
        })
    }

    /// The local CA's certificate: what a client trusts to reach the
    /// gateways over HTTPS (`curl --cacert`) and PostgreSQL over TLS
    /// (`sslrootcert=`).
    pub fn ca_cert(&self) -> PathBuf {
        self.dir("tls/ca.pem")
    }

    fn start_gateways(&self, layout: &Layout) -> Result<(), StackError> {
        let template = GatewayConf::template(&self.options.root)?;
        let tls = TlsFiles::ensure(&self.dir("tls"))?;
        let docs = self.prepare_docs()?;
        let nginx = process::find_binary("nginx")?;
        for region in &layout.regions {
            let prefix = self.dir(&format!("gateway/{region}"));
            let temp = prefix.join("temp");
            std::fs::create_dir_all(&temp).map_err(|e| StackError::io(&temp, e))?;
            process::open_permissions(&temp)?;
            let mut servers = String::new();
            for port in &layout.readers[region] {
                let _ = writeln!(
                    servers,
                    "        server 127.0.0.1:{port} max_fails=2 fail_timeout=5s;"
                );
            }
            let conf = GatewayConf {
                region,
                listen_port: layout.gateways[region],
                tls_port: layout.gateways_tls[region],
                status_port: layout.gateways_status[region],
                tls: &tls,
                edge: &self.options.edge,
                auth_port: layout.via(region, LinkKind::Auth),
                writer_port: layout.via(region, LinkKind::Writer),
                reader_servers: servers.trim_start(),
                docs_dir: &docs,
                script_dir: &self.options.root.join("deploy/nginx"),
                pid_file: &self.dir(&format!("run/gateway-{region}.pid")),
                log_dir: &self.dir("logs"),
                temp_dir: &temp,
            }
            .render(&template);
            let conf_file = prefix.join("nginx.conf");
            std::fs::write(&conf_file, conf).map_err(|e| StackError::io(&conf_file, e))?;
            process::run(
                std::process::Command::new(&nginx).args([
                    "-c",
                    &path_str(&conf_file),
                    "-p",
                    &path_str(&prefix),
                ]),
                &format!("nginx (gateway {region})"),
            )?;
            process::wait_tcp(layout.gateways[region], Duration::from_secs(10))?;
        }
        Ok(())
    }

    /// The `/docs` folder: the page, its assets from npm, and the three
    /// OpenAPI documents.
    fn prepare_docs(&self) -> Result<PathBuf, StackError> {
        let docs = self.dir("docs");
        let source = self.options.root.join("deploy/nginx/docs");
        process::copy_dir(&source, &docs)?;
        for (crate_name, file) in [
            ("auth", "auth.json"),
            ("reviews-writer", "reviews.json"),
            ("content-reader", "content.json"),
        ] {
            let from = self
                .options
                .root
                .join(format!("crates/{crate_name}/openapi.json"));
            std::fs::copy(&from, docs.join(file)).map_err(|e| StackError::io(&from, e))?;
        }
        if self.options.docs_assets
            && docs.join("package.json").exists()
            && !docs.join("node_modules").exists()
        {
            process::npm_install(&docs);
        }
        process::open_permissions(&docs)?;
        Ok(docs)
    }

    /// Stops everything (services first, then gateways, Redis, PostgreSQL).
    pub fn stop(&self) -> Result<(), StackError> {
        let run = self.dir("run");
        let mut pid_files: Vec<PathBuf> = std::fs::read_dir(&run)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "pid"))
                    .collect()
            })
            .unwrap_or_default();
        // Clients before servers: an idle keep-alive connection (a gateway's
        // upstream pool, the writer's JWKS client) would otherwise hold a
        // service's graceful shutdown for its whole grace period.
        pid_files.sort_by_key(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let rank = ["gateway", "reader", "writer", "auth", "redis"]
                .iter()
                .position(|p| name.starts_with(p))
                .unwrap_or(5);
            (rank, name)
        });
        for file in pid_files {
            process::terminate(&file, Duration::from_secs(15));
        }
        if let Ok(pg) = self.postgres() {
            let mut dirs = self.pg_dirs();
            dirs.reverse();
            for dir in dirs {
                if dir.join("postmaster.pid").exists() {
                    // Not running after all (a stale pid file): stopped.
                    let _ = pg.stop(&dir, StopMode::Fast);
                }
            }
        }
        Ok(())
    }

    /// Kills one process of the running stack the hard way: SIGKILL for a
    /// service or Redis, an immediate shutdown for PostgreSQL. The rest of
    /// the stack keeps running; [`Stack::restart`] brings it back.
    pub fn kill(&self, component: &Component) -> Result<(), StackError> {
        match component {
            Component::Primary | Component::Standby | Component::Replica(_) => self
                .postgres()?
                .stop(&self.pg_dir(component), StopMode::Immediate),
            Component::Redis(_) | Component::Auth | Component::Writer | Component::Reader(..) => {
                let pid_file = self.dir(&format!("run/{component}.pid"));
                if process::kill(&pid_file) {
                    Ok(())
                } else {
                    Err(StackError::new(format!("{component} is not running")))
                }
            }
        }
    }

    /// Starts one process again with the configuration it had, and waits
    /// until it accepts connections (a service: until `/healthz` answers).
    pub fn restart(&self, component: &Component) -> Result<(), StackError> {
        let layout = self
            .saved_layout()
            .ok_or_else(|| StackError::new("no stack here"))?;
        match component {
            Component::Primary => {
                let node = layout.primary_node();
                self.postgres()?.start_daemon(
                    &self.node_dir(&node),
                    node.port,
                    &self.node_log(&node),
                )
            }
            Component::Standby => self.start_standby(&layout),
            Component::Replica(region) => self.start_replica(&layout, region),
            Component::Redis(region) => self.start_redis(&layout, region),
            Component::Auth | Component::Writer | Component::Reader(..) => {
                let secrets = self.secrets()?;
                self.start_service(component, &layout, &secrets, None)
            }
        }
    }

    /// Stops a running service (auth, the writer or a reader) gracefully
    /// and starts it again with its configuration, confined to `cpus`
    /// (`taskset -c` syntax) or, with `None`, free to run on every core.
    /// Its worker threads follow: one per core it may run on.
    pub fn restart_service_on(
        &self,
        service: &Component,
        cpus: Option<&str>,
    ) -> Result<(), StackError> {
        let layout = self
            .saved_layout()
            .ok_or_else(|| StackError::new("no stack here"))?;
        if !matches!(
            service,
            Component::Auth | Component::Writer | Component::Reader(..)
        ) {
            return Err(StackError::new(format!("{service} is not a service")));
        }
        let secrets = self.secrets()?;
        process::terminate(
            &self.dir(&format!("run/{service}.pid")),
            Duration::from_secs(10),
        );
        self.start_service(service, &layout, &secrets, cpus)
    }

    /// The services of the running stack: auth, the writer, every reader.
    pub fn services(&self) -> Vec<Component> {
        self.saved_layout()
            .map(|layout| services_of(&layout))
            .unwrap_or_default()
    }

    /// Runs SQL on the `rcr` database of the primary or a replica: the
    /// rows as `psql -At` prints them (`|` between columns).
    pub fn query(&self, node: &Component, sql: &str) -> Result<String, StackError> {
        let layout = self
            .saved_layout()
            .ok_or_else(|| StackError::new("no stack here"))?;
        let port = match node {
            Component::Primary => Some(layout.primary),
            Component::Standby => layout.standby(),
            Component::Replica(region) => layout.replicas.get(region).copied(),
            _ => None,
        }
        .ok_or_else(|| StackError::new(format!("{node} is not a database of this stack")))?;
        self.sql(port, sql)
    }

    /// Runs `sql` on the stack's database on the server on `port` (one of
    /// the stack's, or a copy restored beside it).
    pub fn sql(&self, port: u16, sql: &str) -> Result<String, StackError> {
        self.postgres()?.query(port, DATABASE, sql)
    }

    /// The data folder of the primary, the standby or a replica.
    pub(crate) fn pg_dir(&self, node: &Component) -> PathBuf {
        let layout = self.saved_layout();
        match node {
            Component::Replica(region) => self.dir(&format!("pg/replica-{region}")),
            Component::Standby => layout
                .and_then(|l| l.standby_node())
                .map_or_else(|| self.dir("pg/standby"), |n| self.node_dir(&n)),
            _ => layout.map_or_else(
                || self.dir("pg/primary"),
                |l| self.node_dir(&l.primary_node()),
            ),
        }
    }

    /// Stops the stack and deletes all its state.
    pub fn clean(&self) -> Result<(), StackError> {
        self.stop()?;
        if self.options.state_dir.exists() {
            std::fs::remove_dir_all(&self.options.state_dir)
                .map_err(|e| StackError::io(&self.options.state_dir, e))?;
        }
        Ok(())
    }
}

/// The stack's database on the server listening on `port`, over TLS that
/// verifies the server against the CA certificate `ca` (as deployed).
fn database_url(port: u16, ca: &Path) -> String {
    database_url_any(&[port], ca)
}

/// [`database_url`] for whichever of the servers on `ports` takes writes
/// (`target_session_attrs=read-write`): the writer, auth and the readers'
/// fallback follow a failover without a change of configuration.
fn database_url_any(ports: &[u16], ca: &Path) -> String {
    let hosts: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let choose = if ports.len() > 1 {
        "target_session_attrs=read-write&"
    } else {
        ""
    };
    format!(
        "postgres://postgres@{}/{DATABASE}?{choose}sslmode=verify-full&sslrootcert={}",
        hosts.join(","),
        servers::url_encode_path(ca)
    )
}

/// The `iss` of the tokens auth signs, and where its JWKS is.
fn issuer(layout: &Layout) -> String {
    format!("http://127.0.0.1:{}", layout.auth)
}

/// A path as text for command lines and configuration files.
pub fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The services of a layout: auth, the writer, every reader.
fn services_of(layout: &Layout) -> Vec<Component> {
    let mut services = vec![Component::Auth, Component::Writer];
    for region in &layout.regions {
        services.extend(
            (1..=layout.readers[region].len()).map(|n| Component::Reader(region.clone(), n)),
        );
    }
    services
}
