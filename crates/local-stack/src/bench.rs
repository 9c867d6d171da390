//! `make bench`: the running stack under a real load generator (wrk),
//! against ceilings measured in the same run — nginx serving the very
//! bytes of the cached `GET /content` answer, identity and brotli,
//! directly and through the same gateway configuration — with the system
//! under test pinned to core 0 and the load generator to core 1; and a
//! flood of distinct searches from many client addresses beside cached
//! reads; and mixed traffic with writes (`mixed`). The data set is made
//! first at the size asked for (`crate::seeding`).
//!
//! The stack's gateways run again for the bench believing
//! `X-Forwarded-For` from the bench's own address (loopback): the
//! scenarios that stand for many users (searches, writes, logins, the
//! flood) name a client address per request, so that the per-address
//! rate limits meet as many addresses as a crowd would bring. They are
//! started again as they were when the bench ends.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::edge::{Edge, Limit, TlsFiles};
use crate::gateway::GatewayConf;
use crate::http;
use crate::process::{self, StackError};
use crate::seeding::{DataSet, Seeded};
use crate::{Layout, Options, Stack, Started, path_str};

mod mixed;

/// How long each scenario is measured (after its warm-up).
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub seconds: u64,
    pub warmup_seconds: u64,
    pub connections: u32,
    /// Runs only the scenarios whose names contain one of these (all when
    /// empty); a paced scenario brings its peak scenario along, a read held
    /// to ceilings its ceilings, and the flood the search peak it is ten
    /// times of.
    pub only: Vec<String>,
    /// The data set measured (`BENCH_REVIEWS`).
    pub data: DataSet,
}

impl BenchOptions {
    fn selected(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| name.contains(o.as_str()))
    }
}

/// One measured scenario.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub errors: u64,
    /// The median, over interleaved rounds, of req/s over nginx static
    /// direct's req/s in the same round (reads held to the ceilings only).
    pub vs_direct: Option<f64>,
    /// The same against the gateway → static ceiling.
    pub vs_gateway: Option<f64>,
    /// Answers by status, for the scenarios that count them (the flood).
    pub statuses: BTreeMap<u16, u64>,
    /// Answers in all (errors included).
    pub requests: u64,
}

impl Row {
    /// Answers a second that were not errors (what a refused search does
    /// not count towards).
    fn ok_rps(&self) -> f64 {
        let ok = self.requests.saturating_sub(self.errors);
        self.rps * ok as f64 / self.requests.max(1) as f64
    }
}

fn scripts_dir(root: &Path) -> PathBuf {
    root.join("crates/local-stack/bench")
}

const CEILING_DIRECT: &str = "ceiling: nginx static, direct";
const CEILING_GATEWAY: &str = "ceiling: gateway → nginx static";
const CEILING_BR_DIRECT: &str = "ceiling: nginx brotli_static, direct";
const CEILING_BR_GATEWAY: &str = "ceiling: gateway → nginx brotli_static";

/// The ceilings an identity read is held to, and a brotli one.
const IDENTITY_CEILINGS: (&str, &str) = (CEILING_DIRECT, CEILING_GATEWAY);
const BR_CEILINGS: (&str, &str) = (CEILING_BR_DIRECT, CEILING_BR_GATEWAY);

/// The client addresses the scenarios that stand for many users name
/// (searches, writes, logins): enough that none of them reaches a
/// per-address limit of the gateway at the rates measured here.
const CROWD: u32 = 4096;

/// Debian's `libnginx-mod-http-brotli-static` (`install-deps.sh --bench`).
const BROTLI_STATIC_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_brotli_static_module.so";

/// A scenario: what wrk runs, and the name of its row at half of its peak
/// req/s when the SLOs speak of it.
struct Scenario<'a> {
    name: &'a str,
    url: String,
    script: &'a str,
    connections: u32,
    env: Vec<(&'a str, String)>,
    half_peak: Option<&'a str>,
    /// A ceiling or a read compared with the ceilings: measured in rounds
    /// interleaved with them.
    interleaved: bool,
    /// For a read held to ceilings: their names (direct, through the
    /// gateway).
    held_to: Option<(&'a str, &'a str)>,
    /// Whether wrk counts the answers by status (`statuses.lua`).
    counting: bool,
}

impl<'a> Scenario<'a> {
    fn new(name: &'a str, url: String, script: &'a str, connections: u32) -> Self {
        Self {
            name,
            url,
            script,
            connections,
            env: Vec::new(),
            half_peak: None,
            interleaved: false,
            held_to: None,
            counting: false,
        }
    }

    /// Runs wrk on this scenario for `seconds`, paced with a mean think time
    /// of `delay_ms` when given.
    fn run(&self, root: &Path, seconds: u64, delay_ms: Option<f64>) -> Result<Row, StackError> {
        let mut env = self.env.clone();
        if let Some(delay) = delay_ms {
            env.push(("RCR_DELAY_MS", format!("{delay:.3}")));
        }
        let statuses = self.counting.then_some("statuses.lua");
        let scripts: Vec<&str> = [self.script].into_iter().chain(statuses).collect();
        wrk(root, &self.url, &scripts, seconds, self.connections, &env)
    }

    fn interleaved(mut self) -> Self {
        self.interleaved = true;
        self
    }

    /// A read measured in the rounds of `ceilings` and held to them.
    fn held_to(mut self, ceilings: (&'a str, &'a str)) -> Self {
        self.interleaved = true;
        self.held_to = Some(ceilings);
        self
    }

    fn counting(mut self) -> Self {
        self.counting = true;
        self
    }

    fn env(mut self, env: Vec<(&'a str, String)>) -> Self {
        self.env = env;
        self
    }

    fn half_peak(mut self, name: &'a str) -> Self {
        self.half_peak = Some(name);
        self
    }
}

/// Runs wrk pinned to core 1; the figures its `done` hook printed.
fn wrk(
    root: &Path,
    url: &str,
    scripts: &[&str],
    seconds: u64,
    connections: u32,
    env: &[(&str, String)],
) -> Result<Row, StackError> {
    let combined = combined_script(root, scripts)?;
    let mut cmd = Command::new("taskset");
    cmd.args([
        "-c",
        LOAD_CORE,
        "wrk",
        "-t",
        "1",
        "-c",
        &connections.to_string(),
        "-d",
        &format!("{seconds}s"),
        "--timeout",
        "5s",
        "-s",
        &path_str(&combined),
        url,
    ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = process::run(&mut cmd, "wrk")?;
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("RCR_RESULT "))
        .ok_or_else(|| StackError::new(format!("wrk printed no result: {out}")))?;
    row_of(line)
}

/// The one script wrk takes: a fresh random seed, the scenario's parts,
/// and the shared report appended.
fn combined_script(root: &Path, scripts: &[&str]) -> Result<PathBuf, StackError> {
    let dir = scripts_dir(root);
    let combined = std::env::temp_dir().join(format!("rcr-bench-{}", scripts.join("+")));
    // A seed of its own for every run: wrk's Lua starts every run with
    // the same random sequence, so a scenario that draws its searches at
    // random would repeat its warm-up's (cached by then) and the search
    // scenario's would meet the flood's.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32));
    let mut text = format!("math.randomseed({seed})\n");
    for script in scripts.iter().chain(&["report.lua"]) {
        let path = dir.join(script);
        text += &std::fs::read_to_string(&path).map_err(|e| StackError::io(&path, e))?;
        text.push('\n');
    }
    std::fs::write(&combined, text).map_err(|e| StackError::io(&combined, e))?;
    Ok(combined)
}

/// The row of the JSON line report.lua's `done` hook printed.
fn row_of(line: &str) -> Result<Row, StackError> {
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| StackError::new(e.to_string()))?;
    let num = |k: &str| v[k].as_f64().unwrap_or(0.0);
    let statuses = v["statuses"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(status, n)| Some((status.parse().ok()?, n.as_u64()?)))
        .collect();
    let secs = num("duration_us") / 1e6;
    Ok(Row {
        name: String::new(),
        rps: if secs > 0.0 {
            num("requests") / secs
        } else {
            0.0
        },
        p50_ms: num("p50_us") / 1000.0,
        p99_ms: num("p99_us") / 1000.0,
        p999_ms: num("p999_us") / 1000.0,
        errors: v["errors"].as_u64().unwrap_or(0),
        vs_direct: None,
        vs_gateway: None,
        statuses,
        requests: v["requests"].as_u64().unwrap_or(0),
    })
}

/// The core the load generator runs on (the system under test has core 0).
const LOAD_CORE: &str = "1";

/// Pins the calling thread to `cpu`: the bench's own threads that send
/// requests beside wrk (mixed traffic's writer and probe) run on the load
/// generator's core, not on the system under test's.
fn pin_this_thread(cpu: &str) {
    // "/proc/thread-self" links to "<pid>/task/<tid>".
    if let Ok(link) = std::fs::read_link("/proc/thread-self")
        && let Some(tid) = link.file_name().and_then(|t| t.to_str())
    {
        let _ = Command::new("taskset").args(["-pc", cpu, tid]).output();
    }
}

/// Pins a process, its threads and its descendants to `cpu`.
fn pin_tree(pid: u32, cpu: &str) {
    let _ = Command::new("taskset")
        .args(["-apc", cpu, &pid.to_string()])
        .output();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.filter_map(Result::ok) {
            if let Ok(children) = std::fs::read_to_string(task.path().join("children")) {
                for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                    pin_tree(child, cpu);
                }
            }
        }
    }
}

fn pids(stack: &Stack) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(stack.dir("run"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
    {
        let path = entry.path();
        let pid = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse().ok());
        if let (true, Some(pid)) = (path.extension().is_some_and(|e| e == "pid"), pid) {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((name, pid));
        }
    }
    for dir in stack.pg_dirs() {
        if let Some(pid) = std::fs::read_to_string(dir.join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
        {
            out.push((
                format!(
                    "postgres {}",
                    dir.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ),
                pid,
            ));
        }
    }
    out
}

/// The stack's services started again confined to some cores; started
/// again free of the pin when dropped.
struct Confined<'a>(&'a Stack);

impl<'a> Confined<'a> {
    fn new(stack: &'a Stack, cpus: &str) -> Result<Self, StackError> {
        let guard = Self(stack);
        for service in stack.services() {
            stack.restart_service_on(&service, Some(cpus))?;
        }
        Ok(guard)
    }
}

impl Drop for Confined<'_> {
    fn drop(&mut self) {
        for service in self.0.services() {
            if let Err(e) = self.0.restart_service_on(&service, None) {
                eprintln!("bench: could not start {service} again: {e}");
            }
        }
    }
}

/// Peak resident memory (VmHWM) of a process, in MiB.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// The bytes the ceilings serve: the reader's cached first page of
/// `GET /content` as it sends it, identity and brotli.
struct CeilingBodies {
    identity: Vec<u8>,
    br: Vec<u8>,
}

/// The static ceilings — nginx serving the cached answer's bytes at
/// `/content`: identity on `static_port`, and with `brotli_static` (the
/// `.br` file beside it) on `static_br_port` — and the gateway template
/// proxying `/content` to each. Their pid files.
fn start_ceilings(
    stack: &Stack,
    layout: &Layout,
    bodies: &CeilingBodies,
    targets: &Targets,
) -> Result<Vec<PathBuf>, StackError> {
    let dir = ceiling_files(stack, bodies)?;
    let mut confs = Vec::new();
    for (name, port, brotli) in [
        ("static", targets.static_port, false),
        ("static-br", targets.static_br_port, true),
    ] {
        let conf = dir.join(format!("{name}.conf"));
        let text = static_conf(&dir, name, port, brotli);
        std::fs::write(&conf, text).map_err(|e| StackError::io(&conf, e))?;
        confs.push(conf);
    }
    for (name, port, upstream) in [
        ("gateway", targets.ceiling_gateway, targets.static_port),
        (
            "gateway-br",
            targets.ceiling_gateway_br,
            targets.static_br_port,
        ),
    ] {
        confs.push(ceiling_gateway(stack, layout, name, port, upstream)?);
    }
    let nginx = process::find_binary("nginx")?;
    for conf in &confs {
        process::run(
            Command::new(&nginx).args(["-c", &path_str(conf), "-p", &path_str(&dir)]),
            "nginx (bench ceiling)",
        )?;
    }
    for port in [targets.static_port, targets.static_br_port] {
        process::wait_tcp(port, Duration::from_secs(10))?;
    }
    for port in [targets.ceiling_gateway, targets.ceiling_gateway_br] {
        process::wait_tcp(port, Duration::from_secs(10))?;
    }
    // Each configuration names its pid file after itself.
    Ok(confs
        .iter()
        .map(|conf| conf.with_extension("pid"))
        .collect())
}

/// The ceilings' folder, with the bytes they serve: `content.json` and,
/// for `brotli_static` (its module checked for), `content.json.br`
/// beside it.
fn ceiling_files(stack: &Stack, bodies: &CeilingBodies) -> Result<PathBuf, StackError> {
    if !Path::new(BROTLI_STATIC_MODULE).exists() {
        return Err(StackError::new(format!(
            "{BROTLI_STATIC_MODULE} is missing: install libnginx-mod-http-brotli-static \
             (deploy/local/install-deps.sh --bench)"
        )));
    }
    let dir = stack.dir("bench");
    let temp = dir.join("temp");
    std::fs::create_dir_all(&temp).map_err(|e| StackError::io(&temp, e))?;
    for (name, bytes) in [
        ("content.json", &bodies.identity),
        ("content.json.br", &bodies.br),
    ] {
        let file = dir.join(name);
        std::fs::write(&file, bytes).map_err(|e| StackError::io(&file, e))?;
    }
    process::open_permissions(&dir)?;
    Ok(dir)
}

/// nginx serving `content.json` of `dir` at `/content` on `port`, as
/// plainly as it can (sendfile, no access log); with `brotli`, the
/// `.br` file beside it to clients that accept brotli (`brotli_static`).
fn static_conf(dir: &Path, name: &str, port: u16, brotli: bool) -> String {
    let (module, brotli_static) = if brotli {
        (
            format!("load_module {BROTLI_STATIC_MODULE};\n"),
            " brotli_static on;",
        )
    } else {
        (String::new(), "")
    };
    format!(
        "{module}worker_processes 1;\npid {dir}/{name}.pid;\nerror_log {dir}/{name}.error.log warn;\nevents {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {temp}/cb; proxy_temp_path {temp}/p; fastcgi_temp_path {temp}/f;\n  \
         uwsgi_temp_path {temp}/u; scgi_temp_path {temp}/s;\n  sendfile on; tcp_nopush on; keepalive_requests 100000;\n  \
         server {{\n    listen 127.0.0.1:{port};\n    location = /content {{ default_type application/json; alias {file};{brotli_static} }}\n  }}\n}}\n",
        dir = path_str(dir),
        temp = path_str(&dir.join("temp")),
        file = path_str(&dir.join("content.json")),
    )
}

/// The gateway template, as deployed but without rate limits, proxying
/// `/content` to the static nginx on `upstream`; its configuration file.
fn ceiling_gateway(
    stack: &Stack,
    layout: &Layout,
    name: &str,
    listen_port: u16,
    upstream: u16,
) -> Result<PathBuf, StackError> {
    let dir = stack.dir("bench");
    let tls = TlsFiles::ensure(&stack.dir("tls"))?;
    let edge = Edge::unlimited();
    let region = format!("bench{}", name.strip_prefix("gateway").unwrap_or_default());
    let gateway = GatewayConf {
        region: &region,
        listen_port,
        tls_port: process::free_port()?,
        status_port: process::free_port()?,
        tls: &tls,
        edge: &edge,
        auth_port: layout.auth,
        writer_port: layout.writer,
        reader_servers: &format!("server 127.0.0.1:{upstream};"),
        docs_dir: &stack.dir("docs"),
        script_dir: &stack.options.root.join("deploy/nginx"),
        pid_file: &dir.join(format!("{name}.pid")),
        log_dir: &dir,
        temp_dir: &dir.join("temp"),
    }
    .render(&GatewayConf::template(&stack.options.root)?);
    let file = dir.join(format!("{name}.conf"));
    std::fs::write(&file, gateway).map_err(|e| StackError::io(&file, e))?;
    Ok(file)
}

/// The stack's gateways started again believing `X-Forwarded-For` from
/// the bench's own address (see the module docs), with no region-wide
/// rate on searches (the search scenarios measure the readers, not that
/// rate) until [`TrustingGateways::limit_region_searches`]; started again
/// with the stack's own settings when dropped, however the bench ends.
struct TrustingGateways<'a> {
    stack: &'a Stack,
    layout: Layout,
}

impl<'a> TrustingGateways<'a> {
    fn new(stack: &'a Stack, layout: &Layout) -> Result<Self, StackError> {
        let gateways = Self {
            stack,
            layout: layout.clone(),
        };
        gateways.restart(Limit {
            rate: "100000r/s".to_owned(),
            burst: 100_000,
        })?;
        Ok(gateways)
    }

    /// Starts the gateways again with `per_second` as the rate of all of a
    /// region's searches together (`RCR_RATE_SEARCH_ALL`, burst half of
    /// it), pinned where the rest of the system under test runs.
    fn limit_region_searches(&self, per_second: u32, cpus: &str) -> Result<(), StackError> {
        self.restart(Limit {
            rate: format!("{per_second}r/s"),
            burst: (per_second / 2).max(1),
        })?;
        let gateways: Vec<(String, u32)> = pids(self.stack)
            .into_iter()
            .filter(|(name, _)| name.starts_with("gateway-"))
            .collect();
        pin_system_under_test(&gateways, &[], cpus);
        Ok(())
    }

    fn restart(&self, search_all: Limit) -> Result<(), StackError> {
        let mut edge = self.stack.options.edge.clone();
        edge.trusted_proxies.push("127.0.0.1".to_owned());
        edge.search_all = search_all;
        let trusting = Stack::new(Options {
            edge,
            ..self.stack.options.clone()
        });
        restart_gateways(&trusting, &self.layout)
    }
}

impl Drop for TrustingGateways<'_> {
    fn drop(&mut self) {
        if let Err(e) = restart_gateways(self.stack, &self.layout) {
            eprintln!("bench: could not start the gateways again: {e}");
        }
    }
}

/// Stops every gateway of the stack and starts them again with the
/// stack's settings.
fn restart_gateways(stack: &Stack, layout: &Layout) -> Result<(), StackError> {
    for region in &layout.regions {
        process::terminate(
            &stack.dir(&format!("run/gateway-{region}.pid")),
            Duration::from_secs(5),
        );
    }
    stack.start_gateways(layout)
}

/// Runs the whole bench; the markdown report.
pub fn run(stack: &Stack, options: BenchOptions) -> Result<String, StackError> {
    let started = stack.start()?;
    let layout = &started.layout;
    process::find_binary("wrk")?;
    process::find_binary("taskset")?;
    let seeded = seed(stack, options.data)?;
    let catalog = stack.bench_catalog(options.data)?;
    let reader = layout.readers["sa"][0];
    let slug = first_slug(reader)?;
    let bodies = CeilingBodies {
        identity: answer_bytes(reader, "/content", "identity")?,
        br: answer_bytes(reader, "/content", "br")?,
    };
    let ratios = compression_ratios(reader, &bodies, &slug)?;
    let token = admin_token(&started)?;

    println!("starting the gateways again, believing X-Forwarded-For from the bench…");
    let trusting = TrustingGateways::new(stack, layout)?;
    // The bench confines the system under test to core 0. Each service is
    // started again there, so that it runs one worker thread per core it
    // has, as a deployment on one core would (and as each nginx here runs
    // one worker), not two threads taking turns on it. The guard starts
    // them again free of the pin, however the bench ends.
    println!("starting the services again on core 0…");
    let _confined = Confined::new(stack, "0")?;
    let targets = Targets {
        static_port: process::free_port()?,
        static_br_port: process::free_port()?,
        ceiling_gateway: process::free_port()?,
        ceiling_gateway_br: process::free_port()?,
        reader,
        gateway: layout.gateways["sa"],
        slug,
        compare: catalog.subjects.iter().take(2).cloned().collect(),
    };
    let mixed = mixed::Inputs {
        pages: mixed::write_pages(&stack.dir("bench/pages"), &catalog)?,
        dir: stack.dir("bench/pages"),
        review_ids: catalog.review_ids,
        token: token.clone(),
        readers: layout.readers["sa"].clone(),
    };
    let ceiling_pids = start_ceilings(stack, layout, &bodies, &targets)?;
    // The system under test on core 0, the load generator on core 1.
    let processes = pids(stack);
    pin_system_under_test(&processes, &ceiling_pids, "0");
    let measured = measure_all(&trusting, &targets, &started, (token, &mixed), &options);
    let rss = peak_rss_of_services(&processes);
    for file in &ceiling_pids {
        process::terminate(file, Duration::from_secs(5));
    }
    pin_system_under_test(&processes, &[], "0,1");
    let measured = measured?;
    Ok(report(&measured, &seeded, &ratios, &rss, &options))
}

/// What a run measured: the rows, then the scenarios with reports of
/// their own when selected.
struct Measured {
    rows: Vec<Row>,
    mixed: Option<mixed::Mixed>,
    flood: Option<Flood>,
}

/// Every selected scenario: the rows, then mixed traffic, then the flood.
fn measure_all(
    gateways: &TrustingGateways<'_>,
    targets: &Targets,
    started: &Started,
    (token, inputs): (String, &mixed::Inputs),
    options: &BenchOptions,
) -> Result<Measured, StackError> {
    let root = &gateways.stack.options.root;
    let c = options.connections;
    let scenarios: Vec<Scenario<'_>> = cached_reads(targets, c)
        .into_iter()
        .chain(detail_reads(targets, c))
        .chain([
            search(targets, c),
            post_review(targets, token),
            login(targets, started),
        ])
        .collect();
    let rows = measure(root, &scenarios, options)?;
    let mixed = if options.selected(mixed::MIXED) {
        Some(mixed::measure(root, targets, inputs, options)?)
    } else {
        None
    };
    let flood = if options.selected(FLOOD) {
        // The search peak of this run, or measured now: the searches
        // answered, not those a reader refused.
        let search_peak = match rows.iter().find(|r| r.name == SEARCH) {
            Some(row) => row.ok_rps(),
            None => measure_alone(root, &search(targets, c), options)?.ok_rps(),
        };
        // The region-wide rate sized to what this region's readers (one
        // core here) can search, as README.md says to size it.
        let per_second = (search_peak * SEARCH_ALL_SHARE).round().max(1.0) as u32;
        println!("starting the gateways again with all searches at {per_second}/s…");
        gateways.limit_region_searches(per_second, "0")?;
        Some(measure_flood(
            root,
            targets,
            search_peak,
            per_second,
            options,
        )?)
    } else {
        None
    };
    Ok(Measured { rows, mixed, flood })
}

/// Makes the data set (only what is missing), waits for the replicas to
/// replay it, then lets the readers see the new version.
fn seed(stack: &Stack, data: DataSet) -> Result<Seeded, StackError> {
    println!(
        "seeding the data set ({} reviews, {} subjects, {} editors) if needed…",
        data.reviews,
        data.subjects(),
        data.editors()
    );
    let seeded = stack.seed_bench_data(data)?;
    println!("data set: {seeded}");
    // Past a version poll of every reader (250 ms by default).
    std::thread::sleep(Duration::from_secs(1));
    Ok(seeded)
}

/// The reader's answer at `path` as a client that sends
/// `Accept-Encoding: accept` receives it: the body's bytes, compressed
/// when it asked for a coding (checked).
fn answer_bytes(reader: u16, path: &str, accept: &str) -> Result<Vec<u8>, StackError> {
    let err = |e: &dyn std::fmt::Display| StackError::new(format!("GET {path} ({accept}): {e}"));
    // Without its compression features ureq neither asks for a coding nor
    // decodes one: the bytes are the reader's own.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut answer = agent
        .get(format!("http://127.0.0.1:{reader}{path}"))
        .header("Accept-Encoding", accept)
        .call()
        .map_err(|e| err(&e))?;
    let coding = answer
        .headers()
        .get("content-encoding")
        .map_or("identity", |v| v.to_str().unwrap_or("?"));
    if answer.status() != 200 || coding != accept {
        let status = answer.status();
        return Err(err(&format!("answered {status} in {coding}")));
    }
    answer.body_mut().read_to_vec().map_err(|e| err(&e))
}

/// Identity and brotli sizes, in bytes, of the pages the report names.
struct Ratios {
    list: (usize, usize),
    review: (usize, usize),
}

/// The sizes of the first list page (the ceilings' bodies) and of the
/// review page `slug`, as the reader stores and sends them.
fn compression_ratios(
    reader: u16,
    bodies: &CeilingBodies,
    slug: &str,
) -> Result<Ratios, StackError> {
    let path = format!("/content/{slug}");
    Ok(Ratios {
        list: (bodies.identity.len(), bodies.br.len()),
        review: (
            answer_bytes(reader, &path, "identity")?.len(),
            answer_bytes(reader, &path, "br")?.len(),
        ),
    })
}

/// The slug of the data set's newest review (`bench-1`), for the detail
/// scenario and the compression ratio of a review page: the newest review
/// on the list may be one a user wrote in the stack (the README's
/// walk-through), too short to be stored compressed.
fn first_slug(reader: u16) -> Result<String, StackError> {
    let slug = "bench-1";
    let detail = http::get(reader, &format!("/content/{slug}"))?;
    if detail.status != 200 {
        return Err(StackError::new(format!(
            "GET /content/{slug}: {} (is the data set seeded?)",
            detail.status
        )));
    }
    Ok(slug.to_owned())
}

/// An access token of the admin, who publishes in the write scenario.
fn admin_token(started: &Started) -> Result<String, StackError> {
    let login = serde_json::json!({
        "email": started.admin_email,
        "password": started.admin_password.trim(),
    });
    let answer = http::request(
        started.layout.auth,
        "POST",
        "/auth/login",
        &[("Content-Type", "application/json")],
        Some(&login.to_string()),
    )?;
    serde_json::from_str::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| v["access_token"].as_str().map(str::to_owned))
        .ok_or_else(|| StackError::new("bench could not log in as the admin"))
}

/// Pins every process of the stack and the ceilings' nginx to `cpus`.
fn pin_system_under_test(processes: &[(String, u32)], pid_files: &[PathBuf], cpus: &str) {
    for (_, pid) in processes {
        pin_tree(*pid, cpus);
    }
    for file in pid_files {
        if let Some(pid) = std::fs::read_to_string(file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            pin_tree(pid, cpus);
        }
    }
}

/// Where the scenarios send their load.
struct Targets {
    /// nginx serving the cached answer's bytes.
    static_port: u16,
    /// nginx serving them with `brotli_static`.
    static_br_port: u16,
    /// The gateway configuration in front of `static_port`.
    ceiling_gateway: u16,
    /// The same in front of `static_br_port`.
    ceiling_gateway_br: u16,
    /// South America's first reader, straight.
    reader: u16,
    /// South America's gateway.
    gateway: u16,
    /// A review that exists.
    slug: String,
    /// Two subjects that exist, the most reviewed, to compare.
    compare: Vec<String>,
}

fn base(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// A set of cached reads of the first list page held to their ceilings:
/// what the identity set and the brotli set differ in.
struct Held {
    /// The ceilings (direct, through the gateway).
    ceilings: (&'static str, &'static str),
    /// The reads (straight to a reader, through the gateway).
    reads: (&'static str, &'static str),
    script: &'static str,
    /// The static nginx and the gateway in front of it.
    ports: (u16, u16),
}

/// The two ceilings of `held` and the cached list held to them, each read
/// listed right after its ceiling: straight to a reader against nginx
/// static, through the gateway against the gateway in front of it.
fn held_reads(t: &Targets, c: u32, held: Held) -> [Scenario<'static>; 4] {
    let url = |port: u16| format!("{}/content", base(port));
    let (direct, via_gateway) = held.ceilings;
    [
        Scenario::new(direct, url(held.ports.0), held.script, c).interleaved(),
        Scenario::new(held.reads.0, url(t.reader), held.script, c).held_to(held.ceilings),
        Scenario::new(via_gateway, url(held.ports.1), held.script, c).interleaved(),
        Scenario::new(held.reads.1, url(t.gateway), held.script, c).held_to(held.ceilings),
    ]
}

/// The cached list, identity (with its rows at half peak) and brotli, each
/// against ceilings serving the same bytes.
fn cached_reads(t: &Targets, c: u32) -> Vec<Scenario<'static>> {
    let [direct, straight, gateway, through] = held_reads(
        t,
        c,
        Held {
            ceilings: IDENTITY_CEILINGS,
            reads: (
                "GET /content cached, straight to a reader",
                "GET /content cached, through the gateway",
            ),
            script: "get.lua",
            ports: (t.static_port, t.ceiling_gateway),
        },
    );
    let brotli = held_reads(
        t,
        c,
        Held {
            ceilings: BR_CEILINGS,
            reads: (
                "GET /content cached br, straight to a reader",
                "GET /content cached br, through the gateway",
            ),
            script: "get_br.lua",
            ports: (t.static_br_port, t.ceiling_gateway_br),
        },
    );
    [
        direct,
        straight.half_peak("GET /content cached, straight to a reader, at half peak"),
        gateway,
        through.half_peak("GET /content cached, through the gateway, at half peak"),
    ]
    .into_iter()
    .chain(brotli)
    .collect()
}

/// One review and a comparison, cached, through the gateway.
fn detail_reads(t: &Targets, c: u32) -> [Scenario<'static>; 2] {
    [
        Scenario::new(
            "GET /content/{slug} cached, gateway",
            format!("{}/content/{}", base(t.gateway), t.slug),
            "get.lua",
            c,
        )
        .held_to(IDENTITY_CEILINGS),
        Scenario::new(
            "GET /content/compare, gateway",
            format!(
                "{}/content/compare?subjects={}",
                base(t.gateway),
                t.compare.join(",")
            ),
            "get.lua",
            c,
        )
        .held_to(IDENTITY_CEILINGS),
    ]
}

/// The crowd's client addresses, for the scenarios that stand for many
/// users (`report.lua`'s `rcr_client`).
fn crowd() -> (&'static str, String) {
    ("RCR_CLIENTS", CROWD.to_string())
}

const SEARCH: &str = "GET /content?q= uncached search, gateway";

/// Searches no cache can answer (`search.lua` varies the query), from a
/// crowd of client addresses.
fn search(t: &Targets, c: u32) -> Scenario<'static> {
    Scenario::new(SEARCH, base(t.gateway), "search.lua", c)
        .env(vec![crowd()])
        .half_peak("GET /content?q= uncached search, at half peak")
}

/// The admin publishing reviews, on 8 connections: each write is a
/// transaction on the primary.
fn post_review(t: &Targets, token: String) -> Scenario<'static> {
    Scenario::new(
        "POST /reviews, gateway",
        base(t.gateway),
        "post_review.lua",
        8,
    )
    .env(vec![("RCR_TOKEN", token), crowd()])
    .half_peak("POST /reviews, at half peak")
}

/// The admin logging in, on 4 connections: argon2 is meant to be slow.
fn login(t: &Targets, started: &Started) -> Scenario<'static> {
    Scenario::new("POST /auth/login, gateway", base(t.gateway), "login.lua", 4).env(vec![
        ("RCR_EMAIL", started.admin_email.clone()),
        ("RCR_PASSWORD", started.admin_password.trim().to_owned()),
        crowd(),
    ])
}

/// The flood scenario's rows start with this (`BENCH_ONLY=flood`).
const FLOOD: &str = "flood";

/// Client addresses the flood comes from: at ten times the search peak
/// each sends a few searches a second, under the gateway's per-address
/// search limit (20 r/s by default), as a crowd or a botnet would; the
/// reader's own bound has to do the refusing.
const FLOOD_CLIENTS: u32 = 256;

/// wrk's connections for the flood: a refused search takes up to the
/// reader's queue wait (100 ms by default), so sending ten times the
/// search peak takes many connections.
const FLOOD_CONNECTIONS: u32 = 512;

/// How many times the search peak the flood asks for.
const FLOOD_FACTOR: f64 = 10.0;

/// The share of the readers' search capacity the gateway lets through
/// during the flood (`RCR_RATE_SEARCH_ALL`): about a seventh, so that a flood of
/// searches leaves most of the readers' cores to the cached reads.
const SEARCH_ALL_SHARE: f64 = 0.15;

/// What the flood scenario measured.
struct Flood {
    /// The search peak (req/s) the flood is ten times of.
    search_peak: f64,
    /// The region-wide search rate the gateways had (per second).
    search_all: u32,
    /// Cached reads through the gateway alone, then beside the flood.
    without: Row,
    during: Row,
    /// The flood itself, its answers counted by status.
    flood: Row,
}

/// Cached reads of the first list page through the gateway, alone and then
/// beside a flood of distinct searches at ten times `search_peak` from
/// [`FLOOD_CLIENTS`] addresses, also through the gateway.
fn measure_flood(
    root: &Path,
    t: &Targets,
    search_peak: f64,
    search_all: u32,
    options: &BenchOptions,
) -> Result<Flood, StackError> {
    let url = format!("{}/content", base(t.gateway));
    let cached = Scenario::new(
        "GET /content cached, gateway, beside the flood",
        url,
        "get.lua",
        options.connections,
    );
    let flood = Scenario::new(
        "flood: distinct searches, gateway",
        base(t.gateway),
        "search.lua",
        FLOOD_CONNECTIONS,
    )
    .env(vec![("RCR_CLIENTS", FLOOD_CLIENTS.to_string())])
    .counting();
    let without = measure_alone(root, &cached, options)?;
    let target = FLOOD_FACTOR * search_peak;
    println!(
        "{}: ~{target:.0} req/s from {FLOOD_CLIENTS} addresses",
        flood.name
    );
    let delay = calibrate_pace(root, &flood, target, options.warmup_seconds.max(3))?;
    // The flood runs through the cached reads' warm-up and measurement.
    let seconds = options.warmup_seconds + options.seconds;
    let (flooded, during) = std::thread::scope(|scope| {
        let flooding = scope.spawn(|| flood.run(root, seconds, Some(delay)));
        std::thread::sleep(Duration::from_secs(options.warmup_seconds));
        println!("{}: measure {}s", cached.name, options.seconds);
        let during = cached.run(root, options.seconds, None);
        (flooding.join(), during)
    });
    let mut flooded = flooded.map_err(|_| StackError::new("the flood's wrk did not finish"))??;
    flooded.name = flood.name.to_owned();
    Ok(Flood {
        search_peak,
        search_all,
        without,
        during: during?,
        flood: flooded,
    })
}

/// Measures the selected scenarios: the interleaved ones in rounds, the
/// others one after another, then the paced rows; in the order of
/// `scenarios`, the paced rows last.
fn measure(
    root: &Path,
    scenarios: &[Scenario<'_>],
    options: &BenchOptions,
) -> Result<Vec<Row>, StackError> {
    // A paced scenario needs its peak measured first, and a read held to
    // ceilings needs them.
    let held: Vec<&str> = scenarios
        .iter()
        .filter(|s| options.selected(s.name))
        .filter_map(|s| s.held_to)
        .flat_map(|(direct, via_gateway)| [direct, via_gateway])
        .collect();
    let wanted: Vec<&Scenario<'_>> = scenarios
        .iter()
        .filter(|s| {
            options.selected(s.name)
                || s.half_peak.is_some_and(|h| options.selected(h))
                || held.contains(&s.name)
        })
        .collect();
    let mut interleaved = measure_interleaved(root, &wanted, options)?;
    let mut rows = Vec::new();
    let mut paced = Vec::new();
    for s in wanted {
        let mut row = match interleaved.remove(s.name) {
            Some(row) => row,
            None => measure_alone(root, s, options)?,
        };
        row.name = s.name.to_owned();
        if let Some(name) = s.half_peak.filter(|h| options.selected(h)) {
            paced.push((name, s, row.rps));
        }
        rows.push(row);
    }
    // Half of the peak load, paced: the latency the SLOs speak of. Run after
    // every peak, in the order of their scenarios.
    for (name, s, peak) in paced {
        rows.push(measure_paced(root, name, s, peak, options)?);
    }
    Ok(rows)
}

/// A scenario at its peak on its own: a warm-up, then the measurement.
fn measure_alone(root: &Path, s: &Scenario<'_>, options: &BenchOptions) -> Result<Row, StackError> {
    println!(
        "{}: warm-up {}s, measure {}s",
        s.name, options.warmup_seconds, options.seconds
    );
    if options.warmup_seconds > 0 {
        s.run(root, options.warmup_seconds, None)?;
    }
    s.run(root, options.seconds, None)
}

/// The row `name`: scenario `s` paced at half of its `peak` req/s.
fn measure_paced(
    root: &Path,
    name: &str,
    s: &Scenario<'_>,
    peak: f64,
    options: &BenchOptions,
) -> Result<Row, StackError> {
    let target = (peak / 2.0).max(1.0);
    println!("{name}: ~{target:.0} req/s");
    let delay_ms = calibrate_pace(root, s, target, options.warmup_seconds.max(3))?;
    let mut row = s.run(root, options.seconds, Some(delay_ms))?;
    row.name = name.to_owned();
    Ok(row)
}

/// Peak memory of auth, the writer and the readers (not of the servers
/// and gateways they share with a deployment's neighbours).
fn peak_rss_of_services(processes: &[(String, u32)]) -> Vec<(String, f64)> {
    processes
        .iter()
        .filter(|(name, _)| {
            !name.starts_with("postgres")
                && !name.starts_with("redis")
                && !name.starts_with("gateway")
        })
        .filter_map(|(name, pid)| peak_rss_mib(*pid).map(|m| (name.clone(), m)))
        .collect()
}

/// Rounds of the interleaved scenarios (the ceilings and the reads compared
/// with them), each round running every one of them in turn.
const ROUNDS: usize = 9;

/// Measures the interleaved scenarios among `wanted` (each read listed right
/// after the ceiling it is held to): a warm-up each, then
/// `ROUNDS` rounds of `round_seconds` each, so that a drift of the
/// shared machine lands on a ceiling and the reads compared with it alike.
/// Each row holds the medians over its rounds; a read's ratios are the
/// medians of its req/s over the ceiling's in the same round.
fn measure_interleaved(
    root: &Path,
    wanted: &[&Scenario<'_>],
    options: &BenchOptions,
) -> Result<std::collections::HashMap<String, Row>, StackError> {
    let set: Vec<&Scenario<'_>> = wanted.iter().copied().filter(|s| s.interleaved).collect();
    let rounds = run_rounds(root, &set, options)?;
    let ceiling = |name: &str| set.iter().position(|s| s.name == name).map(|i| &rounds[i]);
    let ratio = |own: &[Row], ceiling: Option<&Vec<Row>>| {
        ceiling
            .map(|c| median(own.iter().zip(c).map(|(o, c)| o.rps / c.rps).collect()))
            .filter(|r| r.is_finite())
    };
    let mut out = std::collections::HashMap::new();
    for (s, own) in set.iter().zip(&rounds) {
        let pick = |f: fn(&Row) -> f64| median(own.iter().map(f).collect());
        let held_to = |direct: bool| {
            s.held_to
                .and_then(|(d, g)| ratio(own, ceiling(if direct { d } else { g })))
        };
        out.insert(
            s.name.to_owned(),
            Row {
                name: s.name.to_owned(),
                rps: pick(|r| r.rps),
                p50_ms: pick(|r| r.p50_ms),
                p99_ms: pick(|r| r.p99_ms),
                p999_ms: pick(|r| r.p999_ms),
                errors: own.iter().map(|r| r.errors).sum(),
                vs_direct: held_to(true),
                vs_gateway: held_to(false),
                statuses: BTreeMap::new(),
                requests: own.iter().map(|r| r.requests).sum(),
            },
        );
    }
    Ok(out)
}

/// A warm-up of each of `set`, then [`ROUNDS`] rounds running each in
/// turn: every scenario's rows, one per round.
fn run_rounds(
    root: &Path,
    set: &[&Scenario<'_>],
    options: &BenchOptions,
) -> Result<Vec<Vec<Row>>, StackError> {
    let seconds = round_seconds(options);
    for s in set {
        if options.warmup_seconds > 0 {
            println!("{}: warm-up {}s", s.name, options.warmup_seconds);
            s.run(root, options.warmup_seconds, None)?;
        }
    }
    let mut rounds: Vec<Vec<Row>> = vec![Vec::new(); set.len()];
    for round in 1..=ROUNDS {
        for (s, measured) in set.iter().zip(&mut rounds) {
            let row = s.run(root, seconds, None)?;
            println!(
                "{}: round {round}/{ROUNDS}, {seconds}s: {:.0} req/s",
                s.name, row.rps
            );
            measured.push(row);
        }
    }
    Ok(rounds)
}

/// Each interleaved round: three tenths of the scenario time, so that the
/// rounds together take one and a half times a single measurement.
fn round_seconds(options: &BenchOptions) -> u64 {
    (options.seconds * 3 / 10).max(1)
}

/// The median of a few figures (the upper middle one of an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The mean think time (ms) that holds `target` req/s over the scenario's
/// connections. Each connection's cycle is its think time plus the answer's
/// latency, so a short paced run measures the latency at that load and the
/// think time is shortened by it.
fn calibrate_pace(
    root: &Path,
    s: &Scenario<'_>,
    target: f64,
    seconds: u64,
) -> Result<f64, StackError> {
    let cycle_ms = f64::from(s.connections) * 1000.0 / target;
    let trial = s.run(root, seconds, Some(cycle_ms))?;
    let latency_ms = if trial.rps > 0.0 {
        (f64::from(s.connections) * 1000.0 / trial.rps - cycle_ms).max(0.0)
    } else {
        0.0
    };
    Ok((cycle_ms - latency_ms).max(0.05))
}

fn report(
    measured: &Measured,
    seeded: &Seeded,
    ratios: &Ratios,
    rss: &[(String, f64)],
    options: &BenchOptions,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Data set: {} reviews by the generator (bench/seed/), {} subjects, {} editors; {seeded}.\n",
        options.data.reviews,
        options.data.subjects(),
        options.data.editors(),
    );
    let _ = writeln!(
        out,
        "Ceilings and the cached reads compared with them: {ROUNDS} interleaved rounds of {} s after {} s of warm-up, medians; \
         the `br` reads (Accept-Encoding: br) are held to the brotli_static ceilings serving the same compressed bytes. \
         Other scenarios: {} s after {} s of warm-up. {} connections (POST /reviews 8, login 4); searches, writes and logins \
         from {CROWD} client addresses; system under test on core 0, wrk on core 1.\n",
        round_seconds(options),
        options.warmup_seconds,
        options.seconds,
        options.warmup_seconds,
        options.connections
    );
    table(&mut out, &measured.rows, true);
    let ratio = |(identity, br): (usize, usize)| identity as f64 / br.max(1) as f64;
    let _ = writeln!(
        out,
        "\nBrotli as the reader stores it: the first list page {} → {} bytes ({:.1}×), a review page {} → {} bytes ({:.1}×).",
        ratios.list.0,
        ratios.list.1,
        ratio(ratios.list),
        ratios.review.0,
        ratios.review.1,
        ratio(ratios.review),
    );
    if let Some(mixed) = &measured.mixed {
        mixed::report(&mut out, mixed, options);
    }
    if let Some(flood) = &measured.flood {
        flood_report(&mut out, flood, options);
    }
    let _ = writeln!(
        out,
        "\nPeak RSS (VmHWM) of each service process during the run:\n"
    );
    let _ = writeln!(out, "| process | peak RSS MiB |");
    let _ = writeln!(out, "| --- | ---: |");
    for (name, mib) in rss {
        let _ = writeln!(out, "| {name} | {mib:.1} |");
    }
    out
}

/// A markdown table of `rows`, with the ceiling ratios when `ratios`.
fn table(out: &mut String, rows: &[Row], ratios: bool) {
    let (head, rule) = if ratios {
        (" vs static direct | vs gateway→static |", " ---: | ---: |")
    } else {
        ("", "")
    };
    let _ = writeln!(
        out,
        "| scenario | req/s | p50 ms | p99 ms | p99.9 ms | errors |{head}"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: |{rule}");
    let ratio = |r: Option<f64>| r.map_or_else(String::new, |r| format!("{r:.2}×"));
    for r in rows {
        let _ = write!(
            out,
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
            r.name, r.rps, r.p50_ms, r.p99_ms, r.p999_ms, r.errors,
        );
        if ratios {
            let _ = write!(out, " {} | {} |", ratio(r.vs_direct), ratio(r.vs_gateway));
        }
        out.push('\n');
    }
}

/// The flood's rows and what they say: the cached reads' throughput and
/// p99 beside it against alone, and the flood's answers by status.
fn flood_report(out: &mut String, flood: &Flood, options: &BenchOptions) {
    let _ = writeln!(
        out,
        "\nFlood: distinct searches through the gateway from {FLOOD_CLIENTS} client addresses on {FLOOD_CONNECTIONS} \
         connections, asked at {FLOOD_FACTOR}× the search peak of {:.0} req/s, the gateway letting all of the region's \
         searches through at {}/s (RCR_RATE_SEARCH_ALL, 15 % of that peak); the cached list through the gateway \
         ({} connections) measured {} s alone, then {} s beside it:\n",
        flood.search_peak, flood.search_all, options.connections, options.seconds, options.seconds,
    );
    let mut without = flood.without.clone();
    without.name = "GET /content cached, gateway, without the flood".to_owned();
    let mut during = flood.during.clone();
    during.name = "GET /content cached, gateway, during the flood".to_owned();
    table(out, &[without, during, flood.flood.clone()], false);
    let all: u64 = flood.flood.statuses.values().sum();
    let share = |keep: &dyn Fn(u16) -> bool| {
        let n: u64 = flood
            .flood
            .statuses
            .iter()
            .filter(|(status, _)| keep(**status))
            .map(|(_, n)| n)
            .sum();
        100.0 * n as f64 / all.max(1) as f64
    };
    let _ = writeln!(
        out,
        "\nBeside the flood the cached reads kept {:.0} % of their throughput (p99 {:.2} → {:.2} ms). \
         The flood's {all} answers: 200 {:.1} %, 429 {:.1} %, 503 {:.1} %, other 5xx {:.1} %, anything else {:.1} %.",
        100.0 * flood.during.rps / flood.without.rps.max(f64::MIN_POSITIVE),
        flood.without.p99_ms,
        flood.during.p99_ms,
        share(&|s| s == 200),
        share(&|s| s == 429),
        share(&|s| s == 503),
        share(&|s| s >= 500 && s != 503),
        share(&|s| s != 200 && s != 429 && s < 500),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_answers_by_status_are_read_back_and_refusals_do_not_count_as_served() {
        let row = row_of(
            r#"{"requests":100,"duration_us":2000000,"errors":40,"p50_us":1000,"p99_us":2000,"p999_us":3000,"statuses":{"200":60,"503":40}}"#,
        )
        .expect("a result line");
        assert_eq!(row.statuses, BTreeMap::from([(200, 60), (503, 40)]));
        assert!((row.rps - 50.0).abs() < 1e-9, "{}", row.rps);
        assert!((row.ok_rps() - 30.0).abs() < 1e-9, "{}", row.ok_rps());
        let plain = row_of(
            r#"{"requests":10,"duration_us":1000000,"errors":0,"p50_us":1,"p99_us":2,"p999_us":3}"#,
        )
        .expect("a result line");
        assert!(plain.statuses.is_empty());
    }

    #[test]
    fn only_the_brotli_ceiling_loads_and_turns_on_brotli_static() {
        let dir = Path::new("/srv/bench");
        let plain = static_conf(dir, "static", 1, false);
        let brotli = static_conf(dir, "static-br", 2, true);
        assert!(!plain.contains("brotli"), "{plain}");
        assert!(brotli.starts_with(&format!("load_module {BROTLI_STATIC_MODULE};")));
        assert!(brotli.contains("alias /srv/bench/content.json; brotli_static on;"));
        assert!(brotli.contains("pid /srv/bench/static-br.pid;"));
    }
}
