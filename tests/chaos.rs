//! Faults under load: processes killed and restarted while reads and writes go on.
//!
//! One stack (regions `sa` and `eu`, two readers each) carries a steady
//! mixed load through its gateways: readers in both regions, and writers
//! behaving as a careful client does (a unique `Idempotency-Key` and a
//! unique title per review; after no answer, a 5xx or a 409 the SAME
//! request is sent again after `Retry-After`), each acknowledged review read
//! back at once with its `X-Consistency-Token`, alternately in each region.
//! Meanwhile each scenario in turn kills one process (PostgreSQL with an
//! immediate shutdown) and starts it again, or pauses a replica's replay.
//!
//! Checked per scenario: every 201 is in the primary exactly once, with the
//! acknowledged id; no read-your-writes read misses its write; no answer is
//! a 5xx except those of requests in flight on the killed process (for the
//! writer, also a 502 + `Retry-After` for a write the gateway sent on a
//! kept-alive connection to the dead process) and the 503 + `Retry-After`
//! that writes answer by design while the writer or the primary is down;
//! the component is back in service after its restart.
//! The report (a markdown table) is printed with `--nocapture` and is part
//! of any failure message.
//!
//! Scale: `RCR_CHAOS_SECONDS` (default 9) is the load per scenario, a third
//! before the fault, a third during it and at least a third after the
//! restart; `make chaos` runs it longer. `RCR_CHAOS_ONLY=writer,primary`
//! runs some scenarios only.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Gateway, StopOnDrop, start_stack};
use local_stack::{Component, Layout, Stack, http};
use serde_json::{Value, json};

/// Client threads: writers, and readers per region.
const WRITERS: usize = 2;
const READERS_PER_REGION: usize = 2;
/// How long a careful client keeps retrying one write before giving up.
const GIVE_UP: Duration = Duration::from_secs(90);
/// How long a restarted component may take to be back in service before
/// the scenario fails (a liveness bound, not a performance target).
const BACK_WITHIN: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
enum Fault {
    /// Kill the process, start it again.
    Kill(Component),
    /// `pg_wal_replay_pause()` on a region's replica, then resume.
    PauseReplay(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    /// A read with a write's `X-Consistency-Token`.
    TokenRead,
}

/// One answer seen by a client (status 0: no answer at all).
#[derive(Debug, Clone, Copy)]
struct Answer {
    kind: Kind,
    start: Duration,
    end: Duration,
    status: u16,
    retry_after: bool,
}

impl Answer {
    fn ok(&self) -> bool {
        matches!((self.kind, self.status), (Kind::Write, 201) | (_, 200))
    }
}

/// An acknowledged write.
#[derive(Debug, Clone)]
struct Acked {
    title: String,
    id: i64,
}

/// What the client threads of one scenario saw.
#[derive(Debug)]
struct Log {
    t0: Instant,
    stop: AtomicBool,
    answers: Mutex<Vec<Answer>>,
    acked: Mutex<Vec<Acked>>,
    replayed: AtomicUsize,
    abandoned: Mutex<Vec<String>>,
    ryw_ok: AtomicUsize,
    /// Read-your-writes reads that did not show the write.
    ryw_failures: Mutex<Vec<String>>,
    /// Answers no client should get (a 4xx other than 409 on a write, a
    /// read that is neither 200 nor a 5xx).
    unexpected: Mutex<Vec<String>>,
}

impl Log {
    fn new() -> Self {
        Self {
            t0: Instant::now(),
            stop: AtomicBool::new(false),
            answers: Mutex::new(Vec::new()),
            acked: Mutex::new(Vec::new()),
            replayed: AtomicUsize::new(0),
            abandoned: Mutex::new(Vec::new()),
            ryw_ok: AtomicUsize::new(0),
            ryw_failures: Mutex::new(Vec::new()),
            unexpected: Mutex::new(Vec::new()),
        }
    }

    fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn note(list: &Mutex<Vec<String>>, what: String) {
        list.lock().expect("log").push(what);
    }

    /// Sends one request and records its answer.
    fn send(
        &self,
        port: u16,
        kind: Kind,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Sent {
        let start = self.now();
        let result = http::request(port, method, path, headers, body);
        let end = self.now();
        let sent = match result {
            Ok(answer) => Sent {
                status: answer.status,
                retry_after: answer.header("retry-after").and_then(|v| v.parse().ok()),
                body: serde_json::from_str(&answer.body).unwrap_or(Value::Null),
                headers: answer.headers,
            },
            Err(_) => Sent {
                status: 0,
                retry_after: None,
                headers: Vec::new(),
                body: Value::Null,
            },
        };
        self.answers.lock().expect("log").push(Answer {
            kind,
            start,
            end,
            status: sent.status,
            retry_after: sent.retry_after.is_some(),
        });
        sent
    }
}

#[derive(Debug)]
struct Sent {
    status: u16,
    retry_after: Option<u64>,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Sent {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Worth sending again: no answer, a 5xx, or a 409 (the same key still
    /// in flight).
    fn retryable(&self) -> bool {
        self.status == 0 || self.status >= 500 || self.status == 409
    }

    fn pause(&self) -> Duration {
        self.retry_after
            .map_or(Duration::from_millis(200), Duration::from_secs)
    }
}

/// A careful writer: unique key and title per review, the same request
/// again after a failure, then a read-your-writes read of what it wrote.
fn writer_loop(log: &Log, layout: &Layout, token: &str, scenario: &str, thread: usize) {
    let auth = format!("Bearer {token}");
    let sa = layout.gateways["sa"];
    let mut n = 0usize;
    while !log.stopped() {
        n += 1;
        let title = format!("Chaos {scenario} w{thread}-{n}");
        let key = format!("chaos-{scenario}-{thread}-{n}-{}", std::process::id());
        let body = json!({
            "subject": { "kind": "camera", "brand": "Chaos", "model": "Rig" },
            "title": title,
            "body": "Written under load while a process dies.",
            "rating": 7.5,
        })
        .to_string();
        let headers = [
            ("Authorization", auth.as_str()),
            ("Idempotency-Key", key.as_str()),
            ("Content-Type", "application/json"),
        ];
        let began = Instant::now();
        let created = loop {
            let sent = log.send(sa, Kind::Write, "POST", "/reviews", &headers, Some(&body));
            if sent.status == 201 {
                break Some(sent);
            }
            if !sent.retryable() {
                Log::note(
                    &log.unexpected,
                    format!("POST {title}: {} {}", sent.status, sent.body),
                );
                break None;
            }
            if began.elapsed() > GIVE_UP {
                Log::note(&log.abandoned, title.clone());
                break None;
            }
            std::thread::sleep(sent.pause());
        };
        let Some(created) = created else { continue };
        if created.header("idempotent-replayed") == Some("true") {
            log.replayed.fetch_add(1, Ordering::Relaxed);
        }
        let id = created.body["id"].as_i64().unwrap_or_default();
        log.acked.lock().expect("log").push(Acked {
            title: title.clone(),
            id,
        });
        match created.header("x-consistency-token") {
            Some(consistency) => {
                let region = if n.is_multiple_of(2) { "sa" } else { "eu" };
                read_your_write(log, layout.gateways[region], consistency, id, &title);
            }
            None => Log::note(&log.ryw_failures, format!("{title}: 201 without a token")),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads the write back with its token; retried like the write while the
/// answer is no answer or a 5xx.
fn read_your_write(log: &Log, port: u16, token: &str, id: i64, title: &str) {
    let path = format!("/content/{id}");
    let began = Instant::now();
    loop {
        let sent = log.send(
            port,
            Kind::TokenRead,
            "GET",
            &path,
            &[("X-Consistency-Token", token)],
            None,
        );
        if sent.status == 200 && sent.body["title"] == title {
            log.ryw_ok.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if !(sent.status == 0 || sent.status >= 500) || began.elapsed() > GIVE_UP {
            Log::note(
                &log.ryw_failures,
                format!(
                    "{title} (id {id}) on port {port}: {} from {:?}",
                    sent.status,
                    sent.header("x-served-from")
                ),
            );
            return;
        }
        std::thread::sleep(sent.pause());
    }
}

/// A reader: lists, a detail, a search and the catalog, in turn.
fn reader_loop(log: &Log, port: u16, seed_slug: &str) {
    let paths = [
        "/content?limit=5".to_owned(),
        format!("/content/{seed_slug}"),
        "/content?q=chaos&limit=3".to_owned(),
        "/content/subjects?limit=5".to_owned(),
        "/content?sort=newest&limit=20".to_owned(),
    ];
    let mut i = 0usize;
    while !log.stopped() {
        let path = &paths[i % paths.len()];
        i += 1;
        let sent = log.send(port, Kind::Read, "GET", path, &[], None);
        if sent.status != 200 && sent.status != 0 && sent.status < 500 {
            Log::note(&log.unexpected, format!("GET {path}: {}", sent.status));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A read no cache can answer: where did the region's reader get it?
fn fresh_read_source(layout: &Layout, region: &str) -> Option<String> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let path = format!("/content?q=zzprobe{n}x{}", std::process::id());
    let answer = http::get(layout.gateways[region], &path).ok()?;
    (answer.status == 200)
        .then(|| answer.header("x-served-from").map(str::to_owned))
        .flatten()
}

/// `DBSIZE` of a Redis: entries written since it (re)started; `None` when
/// it does not answer within two seconds.
fn redis_keys(port: u16) -> Option<u64> {
    let timeout = Duration::from_secs(2);
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
    let mut connection = client.get_connection_with_timeout(timeout).ok()?;
    connection.set_read_timeout(Some(timeout)).ok()?;
    redis::cmd("DBSIZE").query(&mut connection).ok()
}

/// Whether the service on `port` says it is ready.
fn ready(port: u16) -> bool {
    http::get(port, "/readyz").is_ok_and(|answer| answer.status == 200)
}

/// Polls `check` every 100 ms for at most `within`; how long it took.
fn wait_for(within: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let began = Instant::now();
    while began.elapsed() < within {
        if check() {
            return Some(began.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// The whole stack as it should be between scenarios: every process up,
/// replicas streaming and caught up, each region's reads from its replica.
fn healthy(stack: &Stack, layout: &Layout) -> bool {
    let streaming = stack
        .query(
            &Component::Primary,
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND replay_lsn = pg_current_wal_lsn() AND application_name <> 'standby'",
        )
        .ok()
        .and_then(|n| n.parse::<usize>().ok());
    streaming == Some(layout.regions.len())
        && ready(layout.writer)
        && layout.regions.iter().all(|region| {
            layout.readers[region].iter().all(|port| ready(*port))
                && redis_keys(layout.redis[region]).is_some()
                && fresh_read_source(layout, region)
                    .is_some_and(|s| s == format!("replica:{region}-1"))
        })
}

/// Timestamps of one scenario, from the start of its load.
#[derive(Debug, Default)]
struct Marks {
    /// The kill (or pause) was started, and it had returned.
    fault: Duration,
    fault_done: Duration,
    restart_begin: Duration,
    restart_end: Duration,
    /// The component back in service (see [`back_in_service`]).
    back: Option<Duration>,
    /// Lag scenario: reads routed around the paused replica.
    routed_around: Option<Duration>,
}

/// Whether the faulty component serves again after its restart.
fn back_in_service(
    stack: &Stack,
    layout: &Layout,
    log: &Log,
    fault: &Fault,
    since: Duration,
) -> bool {
    let wrote_since = || {
        log.answers
            .lock()
            .expect("log")
            .iter()
            .any(|a| a.kind == Kind::Write && a.status == 201 && a.start >= since)
    };
    match fault {
        Fault::Kill(Component::Replica(region)) | Fault::PauseReplay(region) => {
            fresh_read_source(layout, region).is_some_and(|s| s == format!("replica:{region}-1"))
        }
        Fault::Kill(Component::Redis(region)) => {
            redis_keys(layout.redis[region]).is_some_and(|n| n > 0)
        }
        Fault::Kill(Component::Reader(region, n)) => ready(layout.readers[region][n - 1]),
        Fault::Kill(Component::Writer | Component::Auth) => wrote_since(),
        Fault::Kill(Component::Standby) => stack
            .query(
                &Component::Primary,
                "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'standby' AND state = 'streaming'",
            )
            .is_ok_and(|n| n == "1"),
        Fault::Kill(Component::Primary) => {
            wrote_since()
                && stack
                    .query(
                        &Component::Primary,
                        "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND application_name <> 'standby'",
                    )
                    .is_ok_and(|n| n == layout.regions.len().to_string())
        }
    }
}

/// Tells the client threads to stop when dropped.
struct StopLoad<'a>(&'a AtomicBool);

impl Drop for StopLoad<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs the load, the fault and the restart of one scenario.
fn run_scenario(
    stack: &Stack,
    layout: &Layout,
    token: &str,
    seed_slug: &str,
    name: &str,
    fault: &Fault,
    third: Duration,
) -> (Log, Marks) {
    let log = Log::new();
    let mut marks = Marks::default();
    std::thread::scope(|s| {
        // However this closure ends (a failed kill panics), the client
        // threads stop, so the scope can end.
        let _stop = StopLoad(&log.stop);
        for t in 0..WRITERS {
            let log = &log;
            s.spawn(move || writer_loop(log, layout, token, name, t + 1));
        }
        for region in &layout.regions {
            for _ in 0..READERS_PER_REGION {
                let (log, port) = (&log, layout.gateways[region]);
                s.spawn(move || reader_loop(log, port, seed_slug));
            }
        }
        std::thread::sleep(third);
        marks.fault = log.now();
        match fault {
            Fault::Kill(component) => stack
                .kill(component)
                .unwrap_or_else(|e| panic!("{name}: kill: {e}")),
            Fault::PauseReplay(region) => {
                stack
                    .query(
                        &Component::Replica(region.clone()),
                        "SELECT pg_wal_replay_pause()",
                    )
                    .unwrap_or_else(|e| panic!("{name}: pause: {e}"));
            }
        }
        marks.fault_done = log.now();
        if let Fault::PauseReplay(region) = fault {
            // Readers must stop using it once it lags past max_lag.
            marks.routed_around = wait_for(BACK_WITHIN, || {
                fresh_read_source(layout, region).is_some_and(|s| s == "primary")
            })
            .map(|d| d + marks.fault_done);
        }
        std::thread::sleep(third.saturating_sub(log.now() - marks.fault));
        marks.restart_begin = log.now();
        match fault {
            Fault::Kill(component) => stack
                .restart(component)
                .unwrap_or_else(|e| panic!("{name}: restart: {e}")),
            Fault::PauseReplay(region) => {
                stack
                    .query(
                        &Component::Replica(region.clone()),
                        "SELECT pg_wal_replay_resume()",
                    )
                    .unwrap_or_else(|e| panic!("{name}: resume: {e}"));
            }
        }
        marks.restart_end = log.now();
        marks.back = wait_for(BACK_WITHIN, || {
            back_in_service(stack, layout, &log, fault, marks.restart_begin)
        })
        .map(|d| d + marks.restart_end);
        std::thread::sleep(third.saturating_sub(log.now() - marks.restart_end));
    });
    (log, marks)
}

/// What one scenario measured, and what went wrong.
#[derive(Debug)]
struct Outcome {
    name: String,
    requests: usize,
    by_status: BTreeMap<u16, usize>,
    in_flight_5xx: usize,
    by_design_503: usize,
    other_5xx: Vec<String>,
    acked: usize,
    replayed: usize,
    found_once: usize,
    lost: Vec<String>,
    duplicated: Vec<String>,
    abandoned: usize,
    ryw_ok: usize,
    restart_s: f64,
    back_s: Option<f64>,
    clean_s: Option<f64>,
    routed_around_s: Option<f64>,
    failures: Vec<String>,
}

/// The start of the first 1 s window after `from` in which every answer
/// was a success, relative to `from`.
fn first_clean_window(answers: &[Answer], from: Duration, until: Duration) -> Option<Duration> {
    let window = Duration::from_secs(1);
    let failures: Vec<Duration> = answers
        .iter()
        .filter(|a| !a.ok() && a.start >= from)
        .map(|a| a.start)
        .collect();
    std::iter::once(from)
        .chain(failures.iter().map(|f| *f + Duration::from_millis(1)))
        .filter(|t| *t + window <= until)
        .find(|t| {
            !failures.iter().any(|f| f >= t && *f < *t + window)
                && answers
                    .iter()
                    .any(|a| a.start >= *t && a.start < *t + window)
        })
        .map(|t| t - from)
}

/// `title|count|min id|max id` of every review whose title has `prefix`.
fn rows_by_title(stack: &Stack, prefix: &str) -> BTreeMap<String, (usize, i64, i64)> {
    let out = stack
        .query(
            &Component::Primary,
            &format!(
                "SELECT title, count(*), min(id), max(id) FROM reviews WHERE title LIKE '{prefix}%' GROUP BY title"
            ),
        )
        .unwrap_or_else(|e| panic!("query the primary: {e}"));
    out.lines()
        .filter_map(|line| {
            let mut cols = line.rsplitn(4, '|');
            let max = cols.next()?.parse().ok()?;
            let min = cols.next()?.parse().ok()?;
            let count = cols.next()?.parse().ok()?;
            Some((cols.next()?.to_owned(), (count, min, max)))
        })
        .collect()
}

/// Acknowledged writes against the primary: (found once, lost, duplicated).
fn check_writes(stack: &Stack, prefix: &str, acked: &[Acked]) -> (usize, Vec<String>, Vec<String>) {
    let rows = rows_by_title(stack, prefix);
    let mut found_once = 0;
    let mut lost = Vec::new();
    for a in acked {
        match rows.get(&a.title) {
            Some((1, id, _)) if *id == a.id => found_once += 1,
            Some((1, id, _)) => lost.push(format!(
                "{} acknowledged as id {} but stored as {id}",
                a.title, a.id
            )),
            Some(_) => {}
            None => lost.push(format!("{} (id {})", a.title, a.id)),
        }
    }
    let duplicated = rows
        .iter()
        .filter(|(_, (count, _, _))| *count > 1)
        .map(|(title, (count, _, _))| format!("{title} ×{count}"))
        .collect();
    (found_once, lost, duplicated)
}

fn analyse(stack: &Stack, name: &str, fault: &Fault, log: &Log, marks: &Marks) -> Outcome {
    let answers = log.answers.lock().expect("log").clone();
    let acked = log.acked.lock().expect("log").clone();
    // While the writer or the primary is down, writes answer 503 +
    // Retry-After by design (the gateway for an unreachable writer, the
    // writer for an unreachable primary); so do the read-your-writes reads
    // that only the primary could serve.
    let by_design = |kind: Kind| match fault {
        Fault::Kill(Component::Writer) => kind == Kind::Write,
        Fault::Kill(Component::Primary) => kind != Kind::Read,
        Fault::Kill(_) | Fault::PauseReplay(_) => false,
    };
    let mut by_status = BTreeMap::new();
    let (mut in_flight_5xx, mut by_design_503) = (0, 0);
    let mut other_5xx = Vec::new();
    for a in &answers {
        *by_status.entry(a.status).or_insert(0) += 1;
        if a.status != 0 && a.status < 500 {
            continue;
        }
        // On the process while it was being killed; or, for the writer,
        // sent before the restart on a connection the gateway had kept
        // open to it: the dead process closed that connection, but the
        // gateway may take it from its keepalive pool before it sees the
        // close, and it answers 502 + Retry-After (outcome unknown).
        let kept_alive = matches!(fault, Fault::Kill(Component::Writer))
            && a.kind == Kind::Write
            && a.status == 502
            && a.retry_after
            && a.start >= marks.fault
            && a.start < marks.restart_begin;
        let in_flight = (a.start <= marks.fault_done && a.end >= marks.fault) || kept_alive;
        let down = a.start >= marks.fault && a.start <= marks.restart_end;
        if in_flight && a.status >= 500 {
            in_flight_5xx += 1;
        } else if by_design(a.kind) && down && a.status == 503 && a.retry_after {
            by_design_503 += 1;
        } else {
            other_5xx.push(format!(
                "{:?} {} at {:.2} s (fault at {:.2} s, restarted {:.2}–{:.2} s)",
                a.kind,
                a.status,
                a.start.as_secs_f64(),
                marks.fault.as_secs_f64(),
                marks.restart_begin.as_secs_f64(),
                marks.restart_end.as_secs_f64()
            ));
        }
    }
    let (found_once, lost, duplicated) = check_writes(stack, &format!("Chaos {name} "), &acked);
    let end = answers.iter().map(|a| a.start).max().unwrap_or_default();
    let mut failures = Vec::new();
    let mut fail = |what: &str, list: &[String]| {
        if !list.is_empty() {
            failures.push(format!(
                "{name}: {what} ({}): {}",
                list.len(),
                list.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
            ));
        }
    };
    fail("acknowledged writes lost", &lost);
    fail("writes duplicated", &duplicated);
    fail("5xx beyond the allowed ones", &other_5xx);
    fail(
        "read-your-writes misses",
        &log.ryw_failures.lock().expect("log"),
    );
    fail("unexpected answers", &log.unexpected.lock().expect("log"));
    fail("writes abandoned", &log.abandoned.lock().expect("log"));
    if acked.is_empty() || !answers.iter().any(|a| a.kind == Kind::Read && a.ok()) {
        failures.push(format!("{name}: no load went through"));
    }
    if marks.back.is_none() {
        failures.push(format!(
            "{name}: not back in service within {BACK_WITHIN:?}"
        ));
    }
    if matches!(fault, Fault::PauseReplay(_)) && marks.routed_around.is_none() {
        failures.push(format!(
            "{name}: reads never routed around the paused replica"
        ));
    }
    let since_restart = |d: Option<Duration>| d.map(|d| (d - marks.restart_begin).as_secs_f64());
    Outcome {
        name: name.to_owned(),
        requests: answers.len(),
        by_status,
        in_flight_5xx,
        by_design_503,
        other_5xx,
        acked: acked.len(),
        replayed: log.replayed.load(Ordering::Relaxed),
        found_once,
        lost,
        duplicated,
        abandoned: log.abandoned.lock().expect("log").len(),
        ryw_ok: log.ryw_ok.load(Ordering::Relaxed),
        restart_s: (marks.restart_end - marks.restart_begin).as_secs_f64(),
        back_s: since_restart(marks.back),
        clean_s: first_clean_window(&answers, marks.restart_begin, end).map(|d| d.as_secs_f64()),
        routed_around_s: marks.routed_around.map(|d| (d - marks.fault).as_secs_f64()),
        failures,
    }
}

fn report(outcomes: &[Outcome], seconds: u64) -> String {
    let secs = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}"));
    let mut out = format!(
        "Faults under load: {seconds} s of load per scenario, {WRITERS} writer and {} reader client threads.\n\n\
         | scenario | requests | answers by status | 5xx in flight / by design / other | writes acked (replayed) | found once | lost | duplicated | abandoned | read-your-writes ok | restart (s) | back in service (s) | first clean 1 s (s) |\n\
         | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        READERS_PER_REGION * 2
    );
    for o in outcomes {
        let statuses = o
            .by_status
            .iter()
            .map(|(s, n)| {
                if *s == 0 {
                    format!("none×{n}")
                } else {
                    format!("{s}×{n}")
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        let name = match o.routed_around_s {
            Some(r) => format!("{} (routed around after {r:.1} s)", o.name),
            None => o.name.clone(),
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {statuses} | {} / {} / {} | {} ({}) | {} | {} | {} | {} | {} | {:.1} | {} | {} |",
            o.requests,
            o.in_flight_5xx,
            o.by_design_503,
            o.other_5xx.len(),
            o.acked,
            o.replayed,
            o.found_once,
            o.lost.len(),
            o.duplicated.len(),
            o.abandoned,
            o.ryw_ok,
            o.restart_s,
            secs(o.back_s),
            secs(o.clean_s),
        );
    }
    out.push_str(
        "\n\"by design\": 503 + Retry-After on writes while the writer or the primary is down. \
         Times from the start of the restart (for replay-pause: of the resume).\n",
    );
    out
}

#[test]
fn acknowledged_writes_survive_every_fault_under_load_and_the_stack_recovers() {
    let seconds: u64 = std::env::var("RCR_CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(9)
        .max(3);
    let third = Duration::from_secs(seconds) / 3;
    let only: Option<Vec<String>> = std::env::var("RCR_CHAOS_ONLY")
        .ok()
        .map(|s| s.split(',').map(|p| p.trim().to_owned()).collect());

    let (stack, started) = start_stack("chaos", &["sa", "eu"], 2);
    let guard = StopOnDrop(&stack);
    let layout = started.layout.clone();
    let gw = Gateway { layout: &layout };

    let admin = gw.login(&started.admin_email, &started.admin_password);
    let token = gw.new_editor(&admin, "chaos@example.com", "Chaos Monkey");
    let seed = json!({
        "subject": { "kind": "camera", "brand": "Chaos", "model": "Rig" },
        "title": "Chaos seed review", "body": "Read by every reader thread.", "rating": 8
    });
    let seeded = gw.call("sa", "POST", "/reviews", Some(&token), &[], Some(&seed));
    assert_eq!(seeded.status, 201, "{:?}", seeded.body);
    let seed_slug = seeded.body["slug"].as_str().expect("slug").to_owned();

    let scenarios = [
        ("replica-eu", Fault::Kill(Component::Replica("eu".into()))),
        ("redis-eu", Fault::Kill(Component::Redis("eu".into()))),
        (
            "reader-sa-1",
            Fault::Kill(Component::Reader("sa".into(), 1)),
        ),
        ("writer", Fault::Kill(Component::Writer)),
        ("primary", Fault::Kill(Component::Primary)),
        ("replay-paused-eu", Fault::PauseReplay("eu".into())),
    ];
    let mut outcomes = Vec::new();
    let mut all_acked = Vec::new();
    for (name, fault) in &scenarios {
        if only.as_ref().is_some_and(|o| !o.iter().any(|n| n == name)) {
            continue;
        }
        assert!(
            wait_for(BACK_WITHIN, || healthy(&stack, &layout)).is_some(),
            "the stack is not healthy before {name}: {:#?}",
            stack.status()
        );
        // A fresh access token per scenario: `make chaos` outlasts one.
        let (log, marks) = run_scenario(&stack, &layout, &token, &seed_slug, name, fault, third);
        let outcome = analyse(&stack, name, fault, &log, &marks);
        eprintln!(
            "{name}: {} requests, {} writes acknowledged",
            outcome.requests, outcome.acked
        );
        all_acked.extend(log.acked.lock().expect("log").iter().cloned());
        outcomes.push(outcome);
    }
    // Later faults (the primary's crash above all) lost nothing of earlier
    // scenarios either.
    let (found_once, lost, duplicated) = check_writes(&stack, "Chaos ", &all_acked);
    let table = report(&outcomes, seconds);
    println!("\n{table}");
    let mut failures: Vec<String> = outcomes.iter().flat_map(|o| o.failures.clone()).collect();
    if found_once != all_acked.len() {
        failures.push(format!(
            "at the end: {found_once} of {} acknowledged writes found once; lost {lost:?}, duplicated {duplicated:?}",
            all_acked.len()
        ));
    }
    assert!(
        failures.is_empty(),
        "{}\n\n{table}\nsee the logs in {}",
        failures.join("\n"),
        stack.state_dir().display()
    );
    // Stopped first: a stop after the clean would leave an empty folder.
    drop(guard);
    stack.clean().expect("cleans");
}
