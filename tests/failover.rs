//! Drills of "no acknowledged write lost, ever" (SPEC §6 Durability,
//! §10.3) on a stack of their own: regions sa and eu, eu 40 ms away, so
//! that its replica and reader reach South America through delaying links
//! before and after the primary moves.
//!
//! (a) Failover under write load: writer threads post reviews as a careful
//!     client does (a unique `Idempotency-Key` per review; after no answer,
//!     a 5xx or a 409, the same request again after `Retry-After`); the
//!     primary's postmaster is killed (SIGKILL) and the standby promoted
//!     (`Stack::failover`). Every acknowledged write must be on the new
//!     primary exactly once; the time from the crash to the next
//!     acknowledged write is the RTO. The former primary is then taken back
//!     as the synchronous standby, and eu reads its writes across the new
//!     timeline.
//! (c) A backup taken while writes run: `pgbackrest check` and `verify`
//!     pass, and the backup restored beside the stack (to the end of the
//!     backup) holds every write acknowledged before it began, each with its
//!     audit row, and passes `amcheck` on every B-tree index.
//! (b) Point-in-time restore: reviews written, the time noted, more written
//!     and some deleted by hand on the primary (the mistake), the stack
//!     restored to the noted time: every write acknowledged before it is
//!     back (the earlier drills' too), none after it, in every region's
//!     reader (whose caches had served the later ones).
//!
//! Scale: `RCR_CHAOS_SECONDS` (default 6) seconds of load around each
//! fault; `make chaos` runs 60 and also restores the bench's 10,000-review
//! data set (`the_bench_data_set_restores`, ignored otherwise). The
//! figures are printed with `--nocapture`, and are part of any failure.

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{StopOnDrop, start_stack, start_stack_apart, wait_until};
use local_stack::backups::BackupKind;
use local_stack::seeding::DataSet;
use local_stack::wan::WanProfile;
use local_stack::{Component, Layout, RestoreTarget, Stack, http};
use serde_json::{Value, json};

/// Writer threads under load.
const WRITERS: usize = 3;
/// How long a careful client retries one write before giving up.
const GIVE_UP: Duration = Duration::from_secs(60);

/// An acknowledged write: its title, id, and when its 201 arrived.
#[derive(Debug, Clone)]
struct Acked {
    title: String,
    id: i64,
    at: Duration,
}

/// What the writer threads of one drill saw.
#[derive(Default)]
struct Seen {
    acked: Vec<Acked>,
    /// Answers a careful client cannot retry, and writes given up.
    failures: Vec<String>,
}

/// The writer threads of one drill: when they started, whether to stop,
/// what they saw.
struct Load {
    t0: Instant,
    stop: AtomicBool,
    seen: Mutex<Seen>,
}

impl Load {
    fn new() -> Self {
        let (t0, stop) = (Instant::now(), AtomicBool::new(false));
        let seen = Mutex::default();
        Self { t0, stop, seen }
    }

    fn acked(&self) -> Vec<Acked> {
        self.seen.lock().expect("load").acked.clone()
    }

    fn failures(&self) -> Vec<String> {
        self.seen.lock().expect("load").failures.clone()
    }
}

/// Stops the writer threads however a drill's scope ends.
struct StopLoad<'a>(&'a Load);

impl Drop for StopLoad<'_> {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
    }
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// A review titled `title`, as JSON.
fn review(title: &str) -> String {
    let subject = json!({ "kind": "lens", "brand": "Drill", "model": "50mm" });
    let body = "Written while the database moves.";
    json!({ "subject": subject, "title": title, "body": body, "rating": 8 }).to_string()
}

/// Posts one review until it is acknowledged, as a careful client: the
/// same body and key again after no answer, a 5xx or a 409. Its 201.
fn post(load: &Load, layout: &Layout, token: &str, title: &str) -> Option<http::Answer> {
    let (auth, body) = (format!("Bearer {token}"), review(title));
    let key = format!("{title}-{}", std::process::id()).replace(' ', "-");
    let headers = [("Authorization", &*auth), ("Idempotency-Key", &*key), JSON];
    let began = Instant::now();
    loop {
        let answer = http::request(
            layout.gateways["sa"],
            "POST",
            "/reviews",
            &headers,
            Some(&body),
        );
        let status = answer.as_ref().map_or(0, |a| a.status);
        if status == 201 {
            return answer.ok();
        }
        let retry = status == 0 || status == 409 || status >= 500;
        if !retry || began.elapsed() > GIVE_UP {
            let failure = format!("{title}: {status}");
            load.seen.lock().expect("load").failures.push(failure);
            return None;
        }
        let pause = answer
            .ok()
            .and_then(|a| a.header("retry-after").and_then(|v| v.parse().ok()))
            .map_or(Duration::from_millis(100), Duration::from_secs);
        std::thread::sleep(pause.min(Duration::from_secs(1)));
    }
}

/// A writer thread: reviews titled `<prefix> w<thread>-<n>` until stopped.
fn writer(load: &Load, layout: &Layout, token: &str, prefix: &str, thread: usize) {
    let mut n = 0;
    while !load.stop.load(Ordering::Relaxed) {
        n += 1;
        let title = format!("{prefix} w{thread}-{n}");
        if let Some(answer) = post(load, layout, token, &title) {
            let id = serde_json::from_str::<Value>(&answer.body).expect("json")["id"]
                .as_i64()
                .expect("id");
            let at = load.t0.elapsed();
            let acked = Acked { title, id, at };
            load.seen.lock().expect("load").acked.push(acked);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `title → (count, min id)` of the reviews whose title starts with
/// `prefix`, on the server on `port`.
fn rows(stack: &Stack, port: u16, prefix: &str) -> BTreeMap<String, (usize, i64)> {
    let out = stack
        .sql(
            port,
            &format!("SELECT title, count(*), min(id) FROM reviews WHERE title LIKE '{prefix}%' GROUP BY title"),
        )
        .unwrap_or_else(|e| panic!("query: {e}"));
    out.lines()
        .filter_map(|line| {
            let mut cols = line.rsplitn(3, '|');
            let id = cols.next()?.parse().ok()?;
            let count = cols.next()?.parse().ok()?;
            Some((cols.next()?.to_owned(), (count, id)))
        })
        .collect()
}

/// Acknowledged writes missing (or stored under another id) on the server
/// on `port`, and titles stored more than once.
fn lost_and_duplicated(
    stack: &Stack,
    port: u16,
    prefix: &str,
    acked: &[Acked],
) -> (Vec<String>, Vec<String>) {
    let rows = rows(stack, port, prefix);
    let lost = acked
        .iter()
        .filter(|a| rows.get(&a.title).is_none_or(|(_, id)| *id != a.id))
        .map(|a| format!("{} (id {})", a.title, a.id))
        .collect();
    let duplicated = rows
        .iter()
        .filter(|(_, (count, _))| *count > 1)
        .map(|(title, (count, _))| format!("{title} ×{count}"))
        .collect();
    (lost, duplicated)
}

/// What every drill works on: the stack, its layout as started, an
/// editor's token, and the seconds of load around each fault.
#[derive(Clone, Copy)]
struct Drill<'a> {
    stack: &'a Stack,
    layout: &'a Layout,
    token: &'a str,
    seconds: u64,
}

/// One line of the figures, and what failed.
#[derive(Default)]
struct Figures {
    lines: Vec<String>,
    failures: Vec<String>,
}

impl Figures {
    fn fail_if(&mut self, what: &str, list: &[String]) {
        if !list.is_empty() {
            let some: Vec<&str> = list.iter().take(5).map(String::as_str).collect();
            self.failures
                .push(format!("{what} ({}): {}", list.len(), some.join("; ")));
        }
    }
}

/// Runs `seconds` of load with the fault `fault` a third of the way in.
fn under_load<T>(drill: Drill<'_>, prefix: &str, fault: impl FnOnce(&Load) -> T) -> (Load, T) {
    let Drill { layout, token, .. } = drill;
    let load = Load::new();
    let third = Duration::from_secs(drill.seconds) / 3;
    let outcome = std::thread::scope(|s| {
        let _stop = StopLoad(&load);
        for thread in 0..WRITERS {
            let load = &load;
            s.spawn(move || writer(load, layout, token, prefix, thread));
        }
        std::thread::sleep(third);
        let outcome = fault(&load);
        std::thread::sleep(third * 2);
        outcome
    });
    (load, outcome)
}

/// (a) Failover under write load, then the former primary back.
fn failover_drill(drill: Drill<'_>, figures: &mut Figures) -> Vec<Acked> {
    let stack = drill.stack;
    let (load, (crashed, report)) = under_load(drill, "Failover ", |load| {
        let crashed = load.t0.elapsed();
        stack
            .crash(&Component::Primary)
            .expect("the primary crashes");
        let report = stack.failover(false).expect("the standby is promoted");
        (crashed, report)
    });
    let layout = stack.saved_layout().expect("layout");
    assert_eq!(
        layout.primary, report.primary.port,
        "the layout names the new primary"
    );
    let acked = load.acked();
    let (lost, duplicated) = lost_and_duplicated(stack, layout.primary, "Failover ", &acked);
    // The time without acknowledged writes: the longest wait between two
    // 201s (a few milliseconds under steady load).
    let mut times: Vec<Duration> = acked.iter().map(|a| a.at).collect();
    times.sort();
    let rto = times.windows(2).map(|w| w[1] - w[0]).max();
    let after_crash = acked
        .iter()
        .any(|a| a.at > crashed + Duration::from_secs(1));
    figures.fail_if("failover: acknowledged writes lost", &lost);
    figures.fail_if("failover: writes duplicated", &duplicated);
    figures.fail_if("failover: writes failed", &load.failures());
    if !after_crash {
        figures
            .failures
            .push("failover: no write acknowledged after the crash".into());
    }
    let reattach = Instant::now();
    stack
        .reattach()
        .expect("the former primary is the standby again");
    let reattach = reattach.elapsed();
    let sync = stack
        .sql(
            layout.primary,
            "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'",
        )
        .expect("primary");
    if sync != "quorum" && sync != "sync" {
        figures
            .failures
            .push(format!("failover: the re-attached standby is `{sync}`"));
    }
    figures.lines.push(format!(
        "| failover under load (SIGKILL of the primary) | {} | {} | {} | no write acknowledged for {:.2} s (RTO; promotion {:.2} s, failover command {:.2} s); replicas rewound: {}; re-attach {:.1} s, standby `{sync}` |",
        acked.len(),
        lost.len(),
        duplicated.len(),
        rto.unwrap_or_default().as_secs_f64(),
        report.promote.as_secs_f64(),
        report.total.as_secs_f64(),
        report.rejoined.len(),
        reattach.as_secs_f64(),
    ));
    acked
}

/// Far regions follow the new timeline: eu's replica streams from the new
/// primary through its link, and eu reads a new write with its token.
fn far_region_follows(stack: &Stack, token: &str) {
    let layout = &stack.saved_layout().expect("layout");
    wait_until("eu's replica streams from the new primary", || {
        stack
            .sql(layout.primary, "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'eu' AND state = 'streaming'")
            .is_ok_and(|n| n == "1")
    });
    let load = Load::new();
    let answer =
        post(&load, layout, token, "Failover read in eu").expect("a write after the failover");
    let id = serde_json::from_str::<Value>(&answer.body).expect("json")["id"].clone();
    let consistency = answer
        .header("x-consistency-token")
        .expect("token")
        .to_owned();
    let read = http::request(
        layout.gateways["eu"],
        "GET",
        &format!("/content/{id}"),
        &[("X-Consistency-Token", consistency.as_str())],
        None,
    )
    .expect("eu answers");
    assert_eq!(read.status, 200, "{}", read.body);
}

/// (c) A backup under writes restores to a consistent database.
fn backup_drill(drill: Drill<'_>, figures: &mut Figures) -> Vec<Acked> {
    let stack = drill.stack;
    stack.wait_for_background_backup();
    let (load, (before, set, took)) = under_load(drill, "Backup ", |load| {
        let before = load.acked();
        let began = Instant::now();
        let set = stack
            .backup(BackupKind::Full)
            .expect("a backup under writes");
        (before, set, began.elapsed())
    });
    stack.check_backups().expect("pgbackrest check");
    let verified = stack.verify_backups().expect("pgbackrest verify");
    let copy = stack.state_dir().join("pg/drill-copy");
    let port = local_stack::servers::free_port().expect("port");
    stack
        .restore_copy(&copy, port)
        .expect("the backup restores");
    let (lost, _) = lost_and_duplicated(stack, port, "Backup ", &before);
    let unaudited = stack
        .sql(
            port,
            "SELECT count(*) FROM reviews r WHERE NOT EXISTS (SELECT 1 FROM audit_log a \
             WHERE a.entity = 'review' AND a.entity_id = r.id::text) AND r.title LIKE 'Backup %'",
        )
        .expect("copy");
    stack
        .sql(port, "CREATE EXTENSION IF NOT EXISTS amcheck")
        .expect("amcheck");
    let indexes = stack
        .sql(
            port,
            "SELECT count(bt_index_check(c.oid, true)) \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE a.amname = 'btree' AND n.nspname = 'public'",
        )
        .expect("amcheck passes");
    stack.drop_copy(&copy).expect("copy removed");
    figures.fail_if(
        "backup: writes acknowledged before it missing from its restore",
        &lost,
    );
    if unaudited != "0" {
        figures.failures.push(format!(
            "backup: {unaudited} reviews without their audit row"
        ));
    }
    figures.fail_if("backup: writes failed", &load.failures());
    figures.lines.push(format!(
        "| full backup under load | {} | {} | 0 | backup {:.1} s, {:.1} MiB in the repository; restored copy: {} writes acknowledged before it all there, audited, {indexes} B-tree indexes pass amcheck; verify: {} |",
        load.acked().len(),
        lost.len(),
        took.as_secs_f64(),
        set.repository_bytes as f64 / 1_048_576.0,
        before.len(),
        verified.lines().last().unwrap_or("ok"),
    ));
    load.acked()
}

/// What each region's gateway answers for a review, cache and all.
fn status_in(layout: &Layout, region: &str, id: i64) -> u16 {
    http::get(layout.gateways[region], &format!("/content/{id}")).map_or(0, |a| a.status)
}

/// Titles on the first page of each region's newest reviews.
fn newest_titles(layout: &Layout, region: &str) -> Vec<String> {
    let answer =
        http::get(layout.gateways[region], "/content?sort=newest&limit=100").expect("list");
    let list: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    list["data"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|r| r["title"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// (b) Point-in-time restore to an instant before a mistake.
fn restore_drill(drill: Drill<'_>, earlier: &[Acked], figures: &mut Figures) {
    let Drill {
        stack,
        layout,
        token,
        ..
    } = drill;
    let load = Load::new();
    let write = |prefix: &str| -> Vec<Acked> {
        (1..=6)
            .filter_map(|n| {
                let title = format!("{prefix} {n}");
                let answer = post(&load, layout, token, &title)?;
                let id = serde_json::from_str::<Value>(&answer.body).ok()?["id"].as_i64()?;
                Some(Acked {
                    title,
                    id,
                    at: load.t0.elapsed(),
                })
            })
            .collect()
    };
    let kept = write("Restore kept");
    let target = stack
        .query(&Component::Primary, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
        .expect("time");
    std::thread::sleep(Duration::from_secs(1));
    let later = write("Restore later");
    let mistaken: Vec<String> = kept.iter().take(3).map(|a| a.id.to_string()).collect();
    stack
        .query(
            &Component::Primary,
            &format!("DELETE FROM reviews WHERE id IN ({})", mistaken.join(",")),
        )
        .expect("the mistake");
    // Each region's caches hold the later writes and the mistake (a
    // delete by hand changes no content version: read once replayed).
    for region in &layout.regions {
        let replica = Component::Replica(region.clone());
        wait_until("the mistake reaches every replica", || {
            stack
                .query(
                    &replica,
                    &format!(
                        "SELECT count(*) FROM reviews WHERE id IN ({})",
                        mistaken.join(",")
                    ),
                )
                .is_ok_and(|n| n == "0")
        });
        wait_until("the later writes reach every region", || {
            status_in(layout, region, later[0].id) == 200
        });
        assert_eq!(status_in(layout, region, kept[0].id), 404, "{region}");
        newest_titles(layout, region);
    }
    let report = stack
        .restore(&RestoreTarget::parse(&target).expect("RFC 3339"))
        .expect("the restore");
    let primary = stack.saved_layout().expect("layout").primary;
    let mut all_kept: Vec<Acked> = earlier.to_vec();
    all_kept.extend(kept.iter().cloned());
    let (lost, duplicated) = lost_and_duplicated(stack, primary, "", &all_kept);
    let back_after: Vec<String> = rows(stack, primary, "Restore later").into_keys().collect();
    let mut served_wrong = Vec::new();
    for region in &layout.regions {
        for a in &kept {
            let status = status_in(layout, region, a.id);
            if status != 200 {
                served_wrong.push(format!("{region}: {} answers {status}", a.title));
            }
        }
        for a in &later {
            let status = status_in(layout, region, a.id);
            if status != 404 {
                served_wrong.push(format!("{region}: {} answers {status}", a.title));
            }
        }
        let listed: Vec<String> = newest_titles(layout, region)
            .into_iter()
            .filter(|t| t.starts_with("Restore later"))
            .collect();
        if !listed.is_empty() {
            served_wrong.push(format!("{region} still lists {listed:?}"));
        }
    }
    figures.fail_if(
        "restore: writes acknowledged before the target missing",
        &lost,
    );
    figures.fail_if("restore: writes duplicated", &duplicated);
    figures.fail_if("restore: writes after the target back", &back_after);
    figures.fail_if("restore: regions serving the wrong data", &served_wrong);
    figures.lines.push(format!(
        "| point-in-time restore to {target} | {} before, {} after | {} | {} | restore {:.1} s (replay {:.1} s); {} after the target back; content version {} → {}; every region's reader right: {} |",
        all_kept.len(),
        later.len(),
        lost.len(),
        duplicated.len(),
        report.total.as_secs_f64(),
        report.replay.as_secs_f64(),
        back_after.len(),
        report.version_before,
        report.version_after,
        served_wrong.is_empty(),
    ));
}

fn seconds() -> u64 {
    std::env::var("RCR_CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6)
        .max(3)
}

#[test]
fn no_acknowledged_write_is_lost_by_a_failover_a_backup_or_a_point_in_time_restore() {
    let seconds = seconds();
    let wan = WanProfile::parse("eu:40").expect("profile");
    let (stack, started) = start_stack_apart("failover", &["sa", "eu"], wan);
    let guard = StopOnDrop(&stack);
    let layout = started.layout.clone();
    let gw = common::Gateway { layout: &layout };
    let admin = gw.login(&started.admin_email, &started.admin_password);
    let token = gw.new_editor(&admin, "drills@example.com", "Drill Sergeant");

    let mut figures = Figures::default();
    let drill = Drill {
        stack: &stack,
        layout: &layout,
        token: &token,
        seconds,
    };
    let mut acked = failover_drill(drill, &mut figures);
    far_region_follows(&stack, &token);
    acked.extend(backup_drill(drill, &mut figures));
    restore_drill(drill, &acked, &mut figures);

    let table = format!(
        "Data-safety drills, {seconds} s of load around each fault, {WRITERS} writer threads, eu 40 ms away.\n\n\
         | drill | writes acknowledged | lost | duplicated | figures |\n| --- | ---: | ---: | ---: | --- |\n{}\n",
        figures.lines.join("\n")
    );
    println!("\n{table}");
    assert!(
        figures.failures.is_empty(),
        "{}\n\n{table}\nsee the logs in {}",
        figures.failures.join("\n"),
        stack.state_dir().display()
    );
    drop(guard);
    stack.clean().expect("cleans");
}

#[test]
#[ignore = "seeds 10,000 reviews and restores them (minutes): `make chaos` runs it"]
fn the_bench_data_set_restores() {
    let (stack, _started) = start_stack("restore-bench", &["sa"], 1);
    let guard = StopOnDrop(&stack);
    let seeding = stack
        .seed_bench_data(DataSet::DEFAULT)
        .expect("seeded")
        .elapsed;
    let count = || {
        stack
            .query(&Component::Primary, "SELECT count(*) FROM reviews")
            .expect("count")
    };
    let reviews = count();
    let size = stack
        .query(
            &Component::Primary,
            "SELECT pg_size_pretty(pg_database_size('rcr'))",
        )
        .expect("size");
    stack.wait_for_background_backup();
    let backing_up = Instant::now();
    let set = stack.backup(BackupKind::Full).expect("backup");
    let backing_up = backing_up.elapsed();
    let report = stack.restore(&RestoreTarget::Latest).expect("restore");
    assert_eq!(count(), reviews, "the restore kept every review");
    // The same backup into an empty folder: every file copied (a lost disk).
    let copy = stack.state_dir().join("pg/bench-copy");
    let port = local_stack::servers::free_port().expect("port");
    let from_scratch = Instant::now();
    stack
        .restore_copy(&copy, port)
        .expect("restores from scratch");
    let from_scratch = from_scratch.elapsed();
    let copied = stack
        .sql(port, "SELECT count(*) FROM reviews")
        .expect("copy");
    stack.drop_copy(&copy).expect("copy removed");
    assert_eq!(copied, reviews);
    println!(
        "\n| data set | database | seeding | full backup | backup in the repository | repository | make restore TARGET=latest | of which replay | restore into an empty folder |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n\
         | {reviews} reviews (bench/seed/) | {size} | {:.1} s | {:.1} s | {:.1} MiB | {:.1} MiB | {:.1} s | {:.1} s | {:.1} s |\n",
        seeding.as_secs_f64(),
        backing_up.as_secs_f64(),
        set.repository_bytes as f64 / 1_048_576.0,
        stack.backups_size() as f64 / 1_048_576.0,
        report.total.as_secs_f64(),
        report.replay.as_secs_f64(),
        from_scratch.as_secs_f64(),
    );
    drop(guard);
    stack.clean().expect("cleans");
}
