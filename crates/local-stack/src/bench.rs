//! `make bench`: the running stack under a real load generator (wrk),
//! against two ceilings measured in the same run — nginx serving the very
//! bytes of the cached `GET /content` answer, directly and through the same
//! gateway configuration — with the system under test pinned to core 0 and
//! the load generator to core 1.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::edge::{Edge, TlsFiles};
use crate::gateway::GatewayConf;
use crate::http;
use crate::process::{self, StackError};
use crate::{Layout, Stack, Started, path_str};

/// How long each scenario is measured (after its warm-up).
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub seconds: u64,
    pub warmup_seconds: u64,
    pub connections: u32,
    /// Runs only the scenarios whose names contain one of these (all when
    /// empty); a paced scenario brings its peak scenario along.
    pub only: Vec<String>,
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
}

fn scripts_dir(root: &Path) -> PathBuf {
    root.join("crates/local-stack/bench")
}

const CEILING_DIRECT: &str = "ceiling: nginx static, direct";
const CEILING_GATEWAY: &str = "ceiling: gateway → nginx static";

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
        }
    }

    /// Runs wrk on this scenario for `seconds`, paced with a mean think time
    /// of `delay_ms` when given.
    fn run(&self, root: &Path, seconds: u64, delay_ms: Option<f64>) -> Result<Row, StackError> {
        let mut env = self.env.clone();
        if let Some(delay) = delay_ms {
            env.push(("RCR_DELAY_MS", format!("{delay:.3}")));
        }
        wrk(
            root,
            &self.url,
            self.script,
            seconds,
            self.connections,
            &env,
        )
    }

    fn interleaved(mut self) -> Self {
        self.interleaved = true;
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
    script: &str,
    seconds: u64,
    connections: u32,
    env: &[(&str, String)],
) -> Result<Row, StackError> {
    let dir = scripts_dir(root);
    // wrk takes one script: the scenario's, with the shared report appended.
    let combined = std::env::temp_dir().join(format!("rcr-bench-{script}"));
    let text = format!(
        "{}\n{}",
        std::fs::read_to_string(dir.join(script)).map_err(|e| StackError::io(&dir, e))?,
        std::fs::read_to_string(dir.join("report.lua")).map_err(|e| StackError::io(&dir, e))?
    );
    std::fs::write(&combined, text).map_err(|e| StackError::io(&combined, e))?;
    let mut cmd = Command::new("taskset");
    cmd.args([
        "-c",
        "1",
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
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| StackError::new(e.to_string()))?;
    let num = |k: &str| v[k].as_f64().unwrap_or(0.0);
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
    })
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

/// The static ceiling: nginx serving `body` at `/content` on
/// `static_port`, and the gateway template proxying `/content` to it on
/// `ceiling_gateway`. Their pid files.
fn start_ceilings(
    stack: &Stack,
    layout: &Layout,
    body: &str,
    targets: &Targets,
) -> Result<Vec<PathBuf>, StackError> {
    let dir = stack.dir("bench");
    let temp = dir.join("temp");
    std::fs::create_dir_all(&temp).map_err(|e| StackError::io(&temp, e))?;
    let file = dir.join("content.json");
    std::fs::write(&file, body).map_err(|e| StackError::io(&file, e))?;
    process::open_permissions(&dir)?;
    let static_conf = format!(
        "worker_processes 1;\npid {pid};\nerror_log {dir}/static.error.log warn;\nevents {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {temp}/cb; proxy_temp_path {temp}/p; fastcgi_temp_path {temp}/f;\n  \
         uwsgi_temp_path {temp}/u; scgi_temp_path {temp}/s;\n  sendfile on; tcp_nopush on; keepalive_requests 100000;\n  \
         server {{\n    listen 127.0.0.1:{static_port};\n    location = /content {{ default_type application/json; alias {file}; }}\n  }}\n}}\n",
        pid = path_str(&dir.join("static.pid")),
        dir = path_str(&dir),
        temp = path_str(&temp),
        file = path_str(&file),
        static_port = targets.static_port,
    );
    let static_file = dir.join("static.conf");
    std::fs::write(&static_file, static_conf).map_err(|e| StackError::io(&static_file, e))?;
    let tls = TlsFiles::ensure(&stack.dir("tls"))?;
    let edge = Edge::unlimited();
    let gateway = GatewayConf {
        region: "bench",
        listen_port: targets.ceiling_gateway,
        tls_port: process::free_port()?,
        status_port: process::free_port()?,
        tls: &tls,
        edge: &edge,
        auth_port: layout.auth,
        writer_port: layout.writer,
        reader_servers: &format!("server 127.0.0.1:{};", targets.static_port),
        docs_dir: &stack.dir("docs"),
        script_dir: &stack.options.root.join("deploy/nginx"),
        pid_file: &dir.join("gateway.pid"),
        log_dir: &dir,
        temp_dir: &temp,
    }
    .render(&GatewayConf::template(&stack.options.root)?);
    let gateway_file = dir.join("gateway.conf");
    std::fs::write(&gateway_file, gateway).map_err(|e| StackError::io(&gateway_file, e))?;
    let nginx = process::find_binary("nginx")?;
    for conf in [&static_file, &gateway_file] {
        process::run(
            Command::new(&nginx).args(["-c", &path_str(conf), "-p", &path_str(&dir)]),
            "nginx (bench ceiling)",
        )?;
    }
    process::wait_tcp(targets.static_port, Duration::from_secs(10))?;
    process::wait_tcp(targets.ceiling_gateway, Duration::from_secs(10))?;
    Ok(vec![dir.join("static.pid"), dir.join("gateway.pid")])
}

/// Runs the whole bench; the markdown report.
pub fn run(stack: &Stack, options: BenchOptions) -> Result<String, StackError> {
    let started = stack.start()?;
    let layout = &started.layout;
    let root = &stack.options.root;
    process::find_binary("wrk")?;
    process::find_binary("taskset")?;
    seed(stack, layout)?;
    let reader = layout.readers["sa"][0];
    let cached_body = cached_list(reader)?;
    let slug = first_slug(reader)?;
    let token = admin_token(&started)?;

    // The bench confines the system under test to core 0. Each service is
    // started again there, so that it runs one worker thread per core it
    // has, as a deployment on one core would (and as each nginx here runs
    // one worker), not two threads taking turns on it. The guard starts
    // them again free of the pin, however the bench ends.
    println!("starting the services again on core 0…");
    let _confined = Confined::new(stack, "0")?;
    let targets = Targets {
        static_port: process::free_port()?,
        ceiling_gateway: process::free_port()?,
        reader,
        gateway: layout.gateways["sa"],
        slug,
    };
    let ceiling_pids = start_ceilings(stack, layout, &cached_body, &targets)?;
    // The system under test on core 0, the load generator on core 1.
    let processes = pids(stack);
    pin_system_under_test(&processes, &ceiling_pids, "0");

    let c = options.connections;
    let scenarios: Vec<Scenario<'_>> = cached_reads(&targets, c)
        .into_iter()
        .chain(detail_reads(&targets, c))
        .chain([
            search(&targets, c),
            post_review(&targets, token),
            login(&targets, &started),
        ])
        .collect();
    let rows = measure(root, &scenarios, &options)?;
    let rss = peak_rss_of_services(&processes);
    for file in &ceiling_pids {
        process::terminate(file, Duration::from_secs(5));
    }
    pin_system_under_test(&processes, &[], "0,1");
    Ok(report(&rows, &rss, &options))
}

/// Loads `bench/seed.sql` (it adds only what is missing), then lets the
/// replicas replay it and the readers see the new version.
fn seed(stack: &Stack, layout: &Layout) -> Result<(), StackError> {
    println!("seeding the data set (10,000 reviews, 500 subjects, 50 editors) if needed…");
    let mut psql = stack.postgres()?.psql(layout.primary, "rcr");
    psql.arg("-q")
        .arg("-f")
        .arg(scripts_dir(&stack.options.root).join("seed.sql"));
    process::run(&mut psql, "seeding")?;
    std::thread::sleep(Duration::from_secs(3));
    Ok(())
}

/// The reader's first page of `GET /content`: the bytes the ceilings serve.
fn cached_list(reader: u16) -> Result<String, StackError> {
    let answer = http::get(reader, "/content")?;
    if answer.status != 200 {
        return Err(StackError::new(format!(
            "GET /content answered {}",
            answer.status
        )));
    }
    Ok(answer.body)
}

/// The slug of the newest review, for the detail scenario.
fn first_slug(reader: u16) -> Result<String, StackError> {
    let detail = http::get(reader, "/content?limit=1")?;
    Ok(serde_json::from_str::<serde_json::Value>(&detail.body)
        .ok()
        .and_then(|v| v["data"][0]["slug"].as_str().map(str::to_owned))
        .unwrap_or_default())
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
    /// The gateway configuration in front of `static_port`.
    ceiling_gateway: u16,
    /// South America's first reader, straight.
    reader: u16,
    /// South America's gateway.
    gateway: u16,
    /// A review that exists.
    slug: String,
}

fn base(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// The two ceilings and the cached list held to them, each read listed
/// right after its ceiling: straight to a reader against nginx static,
/// through the gateway against the gateway in front of nginx static.
fn cached_reads(t: &Targets, c: u32) -> [Scenario<'static>; 4] {
    [
        Scenario::new(
            CEILING_DIRECT,
            format!("{}/content", base(t.static_port)),
            "get.lua",
            c,
        )
        .interleaved(),
        Scenario::new(
            "GET /content cached, straight to a reader",
            format!("{}/content", base(t.reader)),
            "get.lua",
            c,
        )
        .interleaved()
        .half_peak("GET /content cached, straight to a reader, at half peak"),
        Scenario::new(
            CEILING_GATEWAY,
            format!("{}/content", base(t.ceiling_gateway)),
            "get.lua",
            c,
        )
        .interleaved(),
        Scenario::new(
            "GET /content cached, through the gateway",
            format!("{}/content", base(t.gateway)),
            "get.lua",
            c,
        )
        .interleaved()
        .half_peak("GET /content cached, through the gateway, at half peak"),
    ]
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
        .interleaved(),
        Scenario::new(
            "GET /content/compare, gateway",
            format!(
                "{}/content/compare?subjects=bench-sony-bm-10,bench-nikon-bm-1",
                base(t.gateway)
            ),
            "get.lua",
            c,
        )
        .interleaved(),
    ]
}

/// Searches no cache can answer (`search.lua` varies the query).
fn search(t: &Targets, c: u32) -> Scenario<'static> {
    Scenario::new(
        "GET /content?q= uncached search, gateway",
        base(t.gateway),
        "search.lua",
        c,
    )
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
    .env(vec![("RCR_TOKEN", token)])
    .half_peak("POST /reviews, at half peak")
}

/// The admin logging in, on 4 connections: argon2 is meant to be slow.
fn login(t: &Targets, started: &Started) -> Scenario<'static> {
    Scenario::new("POST /auth/login, gateway", base(t.gateway), "login.lua", 4).env(vec![
        ("RCR_EMAIL", started.admin_email.clone()),
        ("RCR_PASSWORD", started.admin_password.trim().to_owned()),
    ])
}

/// Measures the selected scenarios: the interleaved ones in rounds, the
/// others one after another, then the paced rows; in the order of
/// `scenarios`, the paced rows last.
fn measure(
    root: &Path,
    scenarios: &[Scenario<'_>],
    options: &BenchOptions,
) -> Result<Vec<Row>, StackError> {
    // A paced scenario needs its peak measured first.
    let wanted: Vec<&Scenario<'_>> = scenarios
        .iter()
        .filter(|s| options.selected(s.name) || s.half_peak.is_some_and(|h| options.selected(h)))
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
    let seconds = round_seconds(options);
    for s in &set {
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
    let ceiling = |name: &str| set.iter().position(|s| s.name == name).map(|i| &rounds[i]);
    let direct = ceiling(CEILING_DIRECT);
    let via_gateway = ceiling(CEILING_GATEWAY);
    let ratio = |own: &[Row], ceiling: Option<&Vec<Row>>| {
        ceiling
            .map(|c| median(own.iter().zip(c).map(|(o, c)| o.rps / c.rps).collect()))
            .filter(|r| r.is_finite())
    };
    let mut out = std::collections::HashMap::new();
    for (s, own) in set.iter().zip(&rounds) {
        let pick = |f: fn(&Row) -> f64| median(own.iter().map(f).collect());
        let is_ceiling = s.name == CEILING_DIRECT || s.name == CEILING_GATEWAY;
        out.insert(
            s.name.to_owned(),
            Row {
                name: s.name.to_owned(),
                rps: pick(|r| r.rps),
                p50_ms: pick(|r| r.p50_ms),
                p99_ms: pick(|r| r.p99_ms),
                p999_ms: pick(|r| r.p999_ms),
                errors: own.iter().map(|r| r.errors).sum(),
                vs_direct: ratio(own, direct).filter(|_| !is_ceiling),
                vs_gateway: ratio(own, via_gateway).filter(|_| !is_ceiling),
            },
        );
    }
    Ok(out)
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

fn report(rows: &[Row], rss: &[(String, f64)], options: &BenchOptions) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Ceilings and the cached reads compared with them: {ROUNDS} interleaved rounds of {} s after {} s of warm-up, medians. \
         Other scenarios: {} s after {} s of warm-up. {} connections (POST /reviews 8, login 4); system under test on core 0, wrk on core 1.\n",
        round_seconds(options),
        options.warmup_seconds,
        options.seconds,
        options.warmup_seconds,
        options.connections
    );
    let _ = writeln!(
        out,
        "| scenario | req/s | p50 ms | p99 ms | p99.9 ms | errors | vs static direct | vs gateway→static |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let ratio = |r: Option<f64>| r.map_or_else(String::new, |r| format!("{r:.2}×"));
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
            r.name,
            r.rps,
            r.p50_ms,
            r.p99_ms,
            r.p999_ms,
            r.errors,
            ratio(r.vs_direct),
            ratio(r.vs_gateway)
        );
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
