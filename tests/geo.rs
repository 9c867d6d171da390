//! Continents apart on one machine (SPEC §10.4): the stack started with
//! every cross-region link delayed (`make run WAN=1`), and what users meet
//! across them — read-your-writes in a far region, a region whose
//! replication link is cut serving from the primary across the ocean, and
//! catching up when the link heals.
//!
//! The four-region test prints the figures of docs/RELIABILITY.md
//! ("Across continents"): read-your-writes on the first read, token read
//! and publish-to-visible times per region, how late each region shows a
//! release after `publish_at` (the skew), and the partition drill. It
//! asserts only what must hold (every first read sees its write, nothing
//! shown before `publish_at`, recovery after the heal); times are
//! reported, never asserted. `RCR_GEO_TRIES=200` is the long form.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Gateway, StopOnDrop, start_stack_apart, wait_until};
use local_stack::wan::{LinkKind, WanProfile};
use local_stack::{Component, Stack};
use serde_json::json;

#[test]
fn a_far_region_reads_its_writes_and_survives_a_cut_replication_link() {
    let wan = WanProfile::parse("eu:100").expect("profile");
    let (stack, started) = start_stack_apart("geo-test", &["sa", "eu"], wan);
    let _guard = StopOnDrop(&stack);
    let layout = started.layout.clone();
    assert_eq!(layout.wan["eu"].delay_ms, 100);
    assert!(
        stack
            .status()
            .iter()
            .any(|l| l.contains("wan eu") && l.contains("100 ms")),
        "{:?}",
        stack.status()
    );
    let gw = Gateway { layout: &layout };
    let admin = gw.login(&started.admin_email, &started.admin_password);
    let editor = gw.new_editor(&admin, "geo@example.com", "Geo Tester");
    let publish = |title: &str| write_review(&gw, &editor, title, None);
    // Read-your-writes across 100 ms each way.
    let (_, slug, token) = publish("Leica Q3 en Europa");
    let read = read_with_token(&gw, "eu", &slug, &token);
    assert_eq!(read.status, 200, "{:?}", read.body);

    // The replication link cut: the write does not reach eu's replica, and
    // a token-carrying read is served from the primary across the ocean.
    stack
        .partition("eu", LinkKind::Replication, true)
        .expect("cut");
    let feed_before = gw.call(
        "eu",
        "GET",
        "/content/changes?since=0&limit=1000",
        None,
        &[],
        None,
    );
    assert_eq!(feed_before.status, 200, "{:?}", feed_before.body);
    let since = feed_before.body["version"].as_i64().expect("version");
    let (cut_id, cut_slug, cut_token) = publish("Leica Q3 durante el corte");
    let read = read_with_token(&gw, "eu", &cut_slug, &cut_token);
    assert_eq!(read.status, 200, "{:?}", read.body);
    assert_eq!(read.header("x-served-from"), Some("primary"));
    let on_replica = || {
        stack
            .query(
                &Component::Replica("eu".into()),
                &format!("SELECT count(*) FROM reviews WHERE slug = '{cut_slug}'"),
            )
            .expect("replica answers")
    };
    assert_eq!(on_replica(), "0", "the cut link carried the write");
    // The editor sees where the write has not arrived, and eu's change
    // feed does not announce what eu cannot serve yet.
    let eu_visible = || {
        let reply = gw.call(
            "sa",
            "GET",
            &format!("/reviews/{cut_id}/propagation"),
            Some(&editor),
            &[],
            None,
        );
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let regions = reply.body["regions"].as_array().expect("regions").clone();
        let eu = regions
            .iter()
            .find(|r| r["region"] == "eu")
            .unwrap_or_else(|| panic!("eu among {regions:?}"));
        eu["visible"].as_bool().expect("visible")
    };
    let feed_lists_it = || {
        let reply = gw.call(
            "eu",
            "GET",
            &format!("/content/changes?since={since}&limit=1000"),
            None,
            &[],
            None,
        );
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let wanted = format!("review:{cut_id}");
        reply.body["data"]
            .as_array()
            .expect("data")
            .iter()
            .any(|c| {
                c["surrogate_keys"]
                    .as_array()
                    .expect("keys")
                    .iter()
                    .any(|k| k == &wanted[..])
            })
    };
    assert!(
        !eu_visible(),
        "propagation says eu has a write its link never carried"
    );
    assert!(
        !feed_lists_it(),
        "eu's change feed lists a write eu cannot serve"
    );
    stack
        .partition("eu", LinkKind::Replication, false)
        .expect("heal");
    wait_until("eu's replica catches up after the heal", || {
        on_replica() == "1"
    });
    wait_until("propagation shows eu visible after the heal", eu_visible);
    assert!(
        feed_lists_it(),
        "eu's change feed lacks the write after the heal"
    );
}

/// Tries per region: `RCR_GEO_TRIES` (the long form, 200 in
/// docs/RELIABILITY.md), else a short form for `make test`.
fn tries() -> usize {
    std::env::var("RCR_GEO_TRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// A published (or, with `publish_at`, scheduled) review by `editor`
/// through South America's gateway: its id, slug and consistency token.
fn write_review(
    gw: &Gateway<'_>,
    editor: &str,
    title: &str,
    publish_at: Option<&str>,
) -> (i64, String, String) {
    let mut body = json!({
        "subject": { "kind": "camera", "brand": "Ricoh", "model": "GR IIIx" },
        "title": title, "body": "Pequeña y rápida.", "rating": 8
    });
    if let Some(at) = publish_at {
        body["publish_at"] = json!(at);
    }
    let reply = gw.call("sa", "POST", "/reviews", Some(editor), &[], Some(&body));
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    (
        reply.body["id"].as_i64().expect("id"),
        reply.body["slug"].as_str().expect("slug").to_owned(),
        reply
            .header("x-consistency-token")
            .expect("token")
            .to_owned(),
    )
}

/// `GET /content/{slug}` in `region` with the write's consistency token.
fn read_with_token(gw: &Gateway<'_>, region: &str, slug: &str, token: &str) -> common::Reply {
    gw.call(
        region,
        "GET",
        &format!("/content/{slug}"),
        None,
        &[("X-Consistency-Token", token)],
        None,
    )
}

/// Milliseconds between two instants.
fn ms(from: Instant, to: Instant) -> f64 {
    to.duration_since(from).as_secs_f64() * 1000.0
}

/// The `p`th percentile (0–100) of `samples`, nearest rank.
fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Per region: how many first reads with the write's token saw it, and
/// how long each took (client side, through the region's gateway).
fn read_your_writes(
    gw: &Gateway<'_>,
    editor: &str,
    regions: &[String],
    n: usize,
) -> BTreeMap<String, (usize, Vec<f64>)> {
    let mut out: BTreeMap<String, (usize, Vec<f64>)> = BTreeMap::new();
    for i in 0..n {
        let (id, slug, token) = write_review(gw, editor, &format!("Lectura propia {i}"), None);
        let path = format!("/content/{slug}");
        let reads: Vec<(String, bool, f64)> = std::thread::scope(|s| {
            let handles: Vec<_> = regions
                .iter()
                .map(|region| {
                    let (path, token) = (&path, &token);
                    s.spawn(move || {
                        let start = Instant::now();
                        let reply = gw.call(
                            region,
                            "GET",
                            path,
                            None,
                            &[("X-Consistency-Token", token)],
                            None,
                        );
                        let seen = reply.status == 200 && reply.body["id"] == id;
                        (region.clone(), seen, ms(start, Instant::now()))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("read"))
                .collect()
        });
        for (region, seen, took) in reads {
            let entry = out.entry(region).or_default();
            entry.0 += usize::from(seen);
            entry.1.push(took);
        }
    }
    out
}

/// Polls `path` in `region` (no token) until `shown` holds: when it
/// first did, or `None` past the deadline.
fn first_shown(
    gw: &Gateway<'_>,
    region: &str,
    path: &str,
    shown: impl Fn(&common::Reply) -> bool,
) -> Option<(Instant, SystemTime)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let reply = gw.call(region, "GET", path, None, &[], None);
        if reply.status == 200 && shown(&reply) {
            return Some((Instant::now(), SystemTime::now()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// Whether a list answer shows review `id`.
fn lists(reply: &common::Reply, id: i64) -> bool {
    reply.body["data"]
        .as_array()
        .is_some_and(|items| items.iter().any(|item| item["id"] == id))
}

/// Per region: milliseconds from a write's answer until the region's
/// newest-first list shows it without a token.
fn publish_to_visible(
    gw: &Gateway<'_>,
    editor: &str,
    regions: &[String],
    n: usize,
) -> BTreeMap<String, Vec<f64>> {
    let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for i in 0..n {
        let (id, _, _) = write_review(gw, editor, &format!("Visible sin token {i}"), None);
        let written = Instant::now();
        let seen: Vec<(String, Option<(Instant, SystemTime)>)> = std::thread::scope(|s| {
            let handles: Vec<_> = regions
                .iter()
                .map(|region| {
                    s.spawn(move || {
                        let at = first_shown(gw, region, "/content?limit=5", |r| lists(r, id));
                        (region.clone(), at)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("poll"))
                .collect()
        });
        for (region, at) in seen {
            let (at, _) = at.unwrap_or_else(|| panic!("{region} never showed review {id}"));
            out.entry(region).or_default().push(ms(written, at));
        }
    }
    out
}

/// A review scheduled ~3 s ahead by the primary's clock, and when each
/// region's list first showed it: per region, milliseconds after
/// `publish_at`. Panics if any region showed it before.
fn release_lateness(
    stack: &Stack,
    gw: &Gateway<'_>,
    editor: &str,
    regions: &[String],
) -> BTreeMap<String, f64> {
    let row = stack
        .query(
            &Component::Primary,
            "SELECT e, to_char(to_timestamp(e) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
               FROM (SELECT floor(extract(epoch FROM now()))::bigint + 3 AS e) x",
        )
        .expect("the primary's clock");
    let (epoch, text) = row.trim().split_once('|').expect("two columns");
    let at = UNIX_EPOCH + Duration::from_secs(epoch.parse().expect("seconds"));
    let (id, _, _) = write_review(gw, editor, "Bajo embargo", Some(text));
    let seen: Vec<(String, SystemTime)> = std::thread::scope(|s| {
        let handles: Vec<_> = regions
            .iter()
            .map(|region| {
                s.spawn(move || {
                    let shown = first_shown(gw, region, "/content?limit=5", |r| lists(r, id));
                    (region.clone(), shown.expect("the release is shown").1)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("poll"))
            .collect()
    });
    seen.into_iter()
        .map(|(region, when)| {
            let late = when
                .duration_since(at)
                .unwrap_or_else(|_| panic!("{region} showed the review before publish_at"));
            (region, late.as_secs_f64() * 1000.0)
        })
        .collect()
}

/// What the partition drill measured.
struct Drill {
    cut_s: f64,
    reads: usize,
    from_primary: usize,
    read_p50_ms: f64,
    caught_up_ms: f64,
}

/// `region`'s replication link cut for `writes` writes, each read back at
/// once there with its token (every one must be seen), then healed: how
/// long until the replica holds the last write and the reader serves
/// read-your-writes from it again.
fn partition_drill(
    stack: &Stack,
    gw: &Gateway<'_>,
    editor: &str,
    region: &str,
    writes: usize,
) -> Drill {
    stack
        .partition(region, LinkKind::Replication, true)
        .expect("cut");
    let cut = Instant::now();
    let (mut took, mut from_primary, mut last) = (Vec::new(), 0, String::new());
    for i in 0..writes {
        let (id, slug, token) = write_review(gw, editor, &format!("Durante el corte {i}"), None);
        let start = Instant::now();
        let reply = read_with_token(gw, region, &slug, &token);
        took.push(ms(start, Instant::now()));
        assert_eq!(
            reply.status, 200,
            "read-your-writes during the cut: {:?}",
            reply.body
        );
        assert_eq!(reply.body["id"], id);
        from_primary += usize::from(reply.header("x-served-from") == Some("primary"));
        last = slug;
    }
    let cut_s = cut.elapsed().as_secs_f64();
    stack
        .partition(region, LinkKind::Replication, false)
        .expect("heal");
    let healed = Instant::now();
    let replica = Component::Replica(region.to_owned());
    let held = format!("SELECT count(*) FROM reviews WHERE slug = '{last}'");
    wait_until("the replica catches up after the heal", || {
        stack.query(&replica, &held).is_ok_and(|n| n.trim() == "1")
    });
    let caught_up_ms = ms(healed, Instant::now());
    let (_, slug, token) = write_review(gw, editor, "Después del corte", None);
    wait_until("read-your-writes from the replica again", || {
        let reply = read_with_token(gw, region, &slug, &token);
        reply.status == 200
            && reply
                .header("x-served-from")
                .is_some_and(|s| s.starts_with("replica:"))
    });
    Drill {
        cut_s,
        reads: writes,
        from_primary,
        read_p50_ms: percentile(&took, 50.0),
        caught_up_ms,
    }
}

#[test]
fn four_regions_continents_apart_read_their_writes_see_publishes_and_releases_together() {
    let wan = WanProfile::default();
    let regions: Vec<String> = ["sa", "na", "eu", "asia"].map(str::to_owned).to_vec();
    let names: Vec<&str> = regions.iter().map(String::as_str).collect();
    let (stack, started) = start_stack_apart("geo-figures", &names, wan);
    let _guard = StopOnDrop(&stack);
    let layout = started.layout.clone();
    let gw = Gateway { layout: &layout };
    let admin = gw.login(&started.admin_email, &started.admin_password);
    let editor = gw.new_editor(&admin, "figures@example.com", "Figures");
    let n = tries();

    let ryw = read_your_writes(&gw, &editor, &regions, n);
    for (region, (seen, _)) in &ryw {
        assert_eq!(*seen, n, "{region}: read-your-writes on the first read");
    }
    let visible = publish_to_visible(&gw, &editor, &regions, n);
    let release = release_lateness(&stack, &gw, &editor, &regions);
    let drill = partition_drill(&stack, &gw, &editor, "asia", (n / 4).max(5));

    println!("\nContinents apart: {n} tries per region (RCR_GEO_TRIES)\n");
    println!(
        "| region | one-way ms | read-your-writes, first read | token read p50 / p99 ms | publish→visible p50 / p99 ms | goal p99 ms | shown after publish_at ms |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for region in &regions {
        let delay = layout.wan.get(region).map_or(0, |l| l.delay_ms);
        let (seen, waits) = &ryw[region];
        let shown = &visible[region];
        println!(
            "| {region} | {delay} | {seen}/{n} | {:.0} / {:.0} | {:.0} / {:.0} | {} + replay | {:.0} |",
            percentile(waits, 50.0),
            percentile(waits, 99.0),
            percentile(shown, 50.0),
            percentile(shown, 99.0),
            delay + 250,
            release[region],
        );
    }
    let late: Vec<f64> = release.values().copied().collect();
    let skew = late.iter().copied().fold(f64::MIN, f64::max)
        - late.iter().copied().fold(f64::MAX, f64::min);
    println!("\nEmbargo skew across regions: {skew:.0} ms (goal < 300 ms)");
    println!(
        "Partition drill (asia's replication cut {:.1} s): {}/{} token reads answered, {} from the primary across the ocean, p50 {:.0} ms; replica caught up {:.0} ms after the heal, read-your-writes from it again",
        drill.cut_s,
        drill.reads,
        drill.reads,
        drill.from_primary,
        drill.read_p50_ms,
        drill.caught_up_ms
    );
}
