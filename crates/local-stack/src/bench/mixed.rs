//! The mixed-traffic scenario (SPEC §10.5, `BENCH_ONLY='mixed traffic'`):
//! reads drawn by Zipf's law over every review page, filtered list page,
//! search of a vocabulary and subject page of the data set
//! (`bench/mixed.lua`), through the gateway — measured without writes,
//! then while a writer edits or publishes a review every second. Each row
//! carries the cache hit ratio the region's readers counted themselves
//! (`rcr_cache_lookups_total`, before and after), and the writer reads
//! the same counters a quarter, a half and three quarters of a second
//! after each write: how the ratio moves as the write reaches the region.
//! A third row holds the reads with writes at half of that peak, as the
//! SLOs are read. wrk's latencies are of every answer, misses included;
//! a probe beside it (one request at a time, the same mix) times cached
//! answers and database reads apart by their `X-Served-From`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{BenchOptions, LOAD_CORE, Row, Scenario, Targets, base, crowd, pin_this_thread};
use crate::http;
use crate::process::StackError;
use crate::seeding::Catalog;

/// The scenario's rows start with this.
pub(super) const MIXED: &str = "mixed traffic";

/// What the reads draw from and the writer writes with.
pub(super) struct Inputs {
    /// The folder of `lists.txt`, `searches.txt`, `subjects.txt`, and
    /// the pages they list.
    pub dir: PathBuf,
    pub pages: Pages,
    /// Review n's id at n − 1.
    pub review_ids: Vec<i64>,
    /// The admin's access token.
    pub token: String,
    /// The readers behind the gateway, whose metrics count the hits.
    pub readers: Vec<u16>,
}

/// Cache lookups the readers counted.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Lookups {
    pub hits: u64,
    pub all: u64,
}

impl Lookups {
    fn since(self, before: Self) -> Self {
        Self {
            hits: self.hits.saturating_sub(before.hits),
            all: self.all.saturating_sub(before.all),
        }
    }

    fn add(&mut self, other: Self) {
        self.hits += other.hits;
        self.all += other.all;
    }

    /// The hit ratio in per cent (NaN without lookups).
    pub fn ratio(self) -> f64 {
        100.0 * self.hits as f64 / self.all as f64
    }
}

/// What the writer did, and the lookups in each quarter second after its
/// writes (the first quarter from the write's answer on).
#[derive(Debug, Clone, Default)]
pub(super) struct Writes {
    pub edits: u64,
    pub publishes: u64,
    pub failed: u64,
    pub after: [Lookups; 4],
}

/// The list, search and subject pages, most popular first.
pub(super) struct Pages {
    pub lists: Vec<String>,
    pub searches: Vec<String>,
    pub subjects: Vec<String>,
}

/// Latencies (ms) the probe measured, by where the answer came from.
#[derive(Debug, Clone, Default)]
pub(super) struct Probe {
    pub cached: Vec<f64>,
    pub read: Vec<f64>,
}

impl Probe {
    /// The `q` quantile (0..1) of `samples` (NaN without any).
    fn quantile(samples: &[f64], q: f64) -> f64 {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = (q * sorted.len() as f64).ceil() as usize;
        sorted
            .get(rank.saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN)
    }
}

/// One row: wrk's figures, the readers' lookups, the writes made and the
/// probe's latencies meanwhile.
pub(super) struct Counted {
    pub row: Row,
    pub lookups: Lookups,
    pub writes: Writes,
    pub probe: Probe,
}

/// What the scenario measured.
pub(super) struct Mixed {
    pub reviews: usize,
    pub pages: (usize, usize, usize),
    pub quiet: Counted,
    pub busy: Counted,
    pub paced: Counted,
}

/// The list, search and subject pages of `catalog`, most popular first, in
/// files for `mixed.lua` under `dir`.
pub(super) fn write_pages(dir: &Path, catalog: &Catalog) -> Result<Pages, StackError> {
    std::fs::create_dir_all(dir).map_err(|e| StackError::io(dir, e))?;
    let lists = list_pages(catalog);
    let searches: Vec<String> = catalog
        .queries
        .iter()
        .map(|q| format!("/content?q={}", encode(q)))
        .collect();
    let subjects: Vec<String> = catalog
        .subjects
        .iter()
        .map(|s| format!("/content/subjects/{s}"))
        .collect();
    for (name, pages) in [
        ("lists.txt", &lists),
        ("searches.txt", &searches),
        ("subjects.txt", &subjects),
    ] {
        let file = dir.join(name);
        std::fs::write(&file, pages.join("\n") + "\n").map_err(|e| StackError::io(&file, e))?;
    }
    Ok(Pages {
        lists,
        searches,
        subjects,
    })
}

/// Filtered list pages in a plausible order of popularity: the front
/// pages, then each brand's pages (brands by popularity), then each
/// subject's reviews (subjects by popularity).
fn list_pages(catalog: &Catalog) -> Vec<String> {
    let mut pages: Vec<String> = [
        "/content",
        "/content?sort=rating",
        "/content?kind=camera",
        "/content?kind=lens",
        "/content?language=es",
        "/content?language=pt",
        "/content?language=en",
        "/content/subjects",
        "/content?rating_min=8&sort=rating",
    ]
    .map(str::to_owned)
    .into();
    for brand in &catalog.brands {
        let b = encode(brand);
        pages.extend([
            format!("/content?brand={b}"),
            format!("/content/subjects?brand={b}"),
            format!("/content?brand={b}&kind=camera"),
            format!("/content?brand={b}&sort=rating"),
            format!("/content?brand={b}&kind=lens"),
        ]);
    }
    pages.extend(
        catalog
            .subjects
            .iter()
            .map(|s| format!("/content?subject={s}")),
    );
    pages
}

/// Percent-encodes a query value (unreserved characters kept).
fn encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The readers' cache lookups so far, summed (None when one of them did
/// not answer).
fn lookups(readers: &[u16]) -> Option<Lookups> {
    let mut total = Lookups::default();
    for &port in readers {
        let answer = http::get(port, "/metrics").ok()?;
        for line in answer.body.lines() {
            let Some(rest) = line.strip_prefix("rcr_cache_lookups_total{") else {
                continue;
            };
            let n: u64 = rest
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .map_or(0, |v| v as u64);
            total.all += n;
            if !rest.contains("outcome=\"miss\"") {
                total.hits += n;
            }
        }
    }
    Some(total)
}

/// The scenario's reads: warmed up for three times `options.seconds`, then
/// measured without writes, with a write a second, and with a write a
/// second at half of that row's req/s.
pub(super) fn measure(
    root: &Path,
    t: &Targets,
    inputs: &Inputs,
    options: &BenchOptions,
) -> Result<Mixed, StackError> {
    let reads = Scenario::new(MIXED, base(t.gateway), "mixed.lua", options.connections)
        .env(vec![
            crowd(),
            ("RCR_REVIEWS", inputs.review_ids.len().to_string()),
            ("RCR_PAGES", crate::path_str(&inputs.dir)),
        ])
        .counting();
    let counted = |what: &str, writing: bool, delay_ms: Option<f64>| {
        println!("{MIXED}, {what}: measure {}s", options.seconds);
        let ((row, lookups), writes, probe) = alongside(t.gateway, inputs, writing, || {
            let missing = || StackError::new("a reader's /metrics did not answer");
            let before = lookups(&inputs.readers).ok_or_else(missing)?;
            let row = reads.run(root, options.seconds, delay_ms)?;
            let after = lookups(&inputs.readers).ok_or_else(missing)?;
            Ok((row, after.since(before)))
        })?;
        Ok::<_, StackError>(Counted {
            row,
            lookups,
            writes,
            probe,
        })
    };
    // The long tail takes a while to be cached: a warm-up of three times
    // the measurement, so the rows measure the steady state, not the fill.
    let warmup = 3 * options.seconds;
    println!("{MIXED}: warm-up {warmup}s");
    reads.run(root, warmup, None)?;
    let quiet = counted("no writes", false, None)?;
    let busy = counted("a write a second", true, None)?;
    let target = (busy.row.rps / 2.0).max(1.0);
    println!("{MIXED}, a write a second: pace for ~{target:.0} req/s");
    let (calibrated, _, _) = alongside(t.gateway, inputs, true, || {
        super::calibrate_pace(root, &reads, target, options.warmup_seconds.max(3))
    })?;
    let paced = counted("a write a second, at half peak", true, Some(calibrated))?;
    let p = &inputs.pages;
    Ok(Mixed {
        reviews: inputs.review_ids.len(),
        pages: (p.lists.len(), p.searches.len(), p.subjects.len()),
        quiet,
        busy,
        paced,
    })
}

/// Runs `reads` with the probe beside it, and the writer when `writing`:
/// what `reads` gave, the writes made and the probe's latencies.
fn alongside<T>(
    gateway: u16,
    inputs: &Inputs,
    writing: bool,
    reads: impl FnOnce() -> Result<T, StackError>,
) -> Result<(T, Writes, Probe), StackError> {
    let stop = AtomicBool::new(false);
    let (result, writes, probe) = std::thread::scope(|scope| {
        let writer = writing.then(|| scope.spawn(|| write_every_second(gateway, inputs, &stop)));
        let prober = scope.spawn(|| probe(gateway, inputs, &stop));
        let result = reads();
        stop.store(true, Ordering::Relaxed);
        let writes = writer.map(|w| w.join());
        (result, writes, prober.join())
    });
    let failed = || StackError::new("the writer or the probe did not finish");
    let writes = writes
        .transpose()
        .map_err(|_| failed())?
        .unwrap_or_default();
    Ok((result?, writes, probe.map_err(|_| failed())?))
}

/// Until `stop`: one request at a time through the gateway, drawn as
/// `mixed.lua` draws them, each timed and filed by its `X-Served-From`.
fn probe(gateway: u16, inputs: &Inputs, stop: &AtomicBool) -> Probe {
    pin_this_thread(LOAD_CORE);
    let mut probe = Probe::default();
    while !stop.load(Ordering::Relaxed) {
        let path = draw(inputs);
        let client = format!("10.255.{}.{}", rand::random::<u8>(), rand::random::<u8>());
        let start = Instant::now();
        let answer = http::request(gateway, "GET", &path, &[("X-Forwarded-For", &client)], None);
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        match answer {
            Ok(a) if a.header("x-served-from") == Some("cache") => probe.cached.push(ms),
            Ok(a) if a.status == 200 => probe.read.push(ms),
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    probe
}

/// A page drawn as `mixed.lua` draws it.
fn draw(inputs: &Inputs) -> String {
    let u: f64 = rand::random();
    let pick = |pages: &[String]| pages[zipf(pages.len()) - 1].clone();
    let p = &inputs.pages;
    match u {
        _ if u < 0.55 || p.lists.is_empty() => {
            format!("/content/bench-{}", zipf(inputs.review_ids.len()))
        }
        _ if u < 0.75 => pick(&p.lists),
        _ if u < 0.90 && !p.searches.is_empty() => pick(&p.searches),
        _ if !p.subjects.is_empty() => pick(&p.subjects),
        _ => pick(&p.lists),
    }
}

/// Until `stop`: every second one write through the gateway — an edit of
/// a review drawn by Zipf's law (recent reviews are corrected most),
/// then a new review, in turn — and the readers' lookups in each quarter
/// second after it.
fn write_every_second(gateway: u16, inputs: &Inputs, stop: &AtomicBool) -> Writes {
    pin_this_thread(LOAD_CORE);
    let mut writes = Writes::default();
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let start = Instant::now();
        n += 1;
        let ok = if n % 2 == 1 && !inputs.review_ids.is_empty() {
            let rank = zipf(inputs.review_ids.len());
            writes.edits += 1;
            edit(gateway, &inputs.token, inputs.review_ids[rank - 1], n)
        } else {
            writes.publishes += 1;
            publish(gateway, &inputs.token, n)
        };
        if !ok {
            writes.failed += 1;
        }
        let mut last = lookups(&inputs.readers);
        for (quarter, bucket) in writes.after.iter_mut().enumerate() {
            let until = start + Duration::from_millis(250 * (quarter as u64 + 1));
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
            let now = lookups(&inputs.readers);
            if let (Some(before), Some(after)) = (last, now) {
                bucket.add(after.since(before));
            }
            last = now;
        }
    }
    writes
}

/// A rank in 1..=n with P(rank = r) about proportional to 1/r.
fn zipf(n: usize) -> usize {
    let u: f64 = rand::random();
    ((u * (n as f64 + 1.0).ln()).exp().floor() as usize).clamp(1, n.max(1))
}

/// Edits review `id`'s summary; whether the writer took it.
fn edit(gateway: u16, token: &str, id: i64, n: u64) -> bool {
    let body = serde_json::json!({
        "summary": format!("Corrected during the mixed-traffic bench (write {n})."),
    });
    write(
        gateway,
        token,
        "PATCH",
        &format!("/reviews/{id}"),
        &body,
        None,
    )
}

/// Publishes a new review; whether the writer took it.
fn publish(gateway: u16, token: &str, n: u64) -> bool {
    let key = format!("mixed-{}-{n}", std::process::id());
    let body = serde_json::json!({
        "subject": { "kind": "camera", "brand": "Bench", "model": "Mixed" },
        "title": format!("Mixed traffic review {key}"),
        "summary": "Published during the mixed-traffic bench.",
        "body": "Benchmark body text. ".repeat(40),
        "rating": 7.5,
        "language": "en",
    });
    write(gateway, token, "POST", "/reviews", &body, Some(&key))
}

fn write(
    gateway: u16,
    token: &str,
    method: &str,
    path: &str,
    body: &serde_json::Value,
    idempotency_key: Option<&str>,
) -> bool {
    let bearer = format!("Bearer {token}");
    let mut headers = vec![
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    headers.extend(idempotency_key.map(|k| ("Idempotency-Key", k)));
    http::request(gateway, method, path, &headers, Some(&body.to_string()))
        .is_ok_and(|a| (200..300).contains(&a.status))
}

/// The scenario's table and what it says.
pub(super) fn report(out: &mut String, mixed: &Mixed, options: &BenchOptions) {
    let (lists, searches, subjects) = mixed.pages;
    let _ = writeln!(
        out,
        "\nMixed traffic through the gateway ({} connections, {} s each after {} s of warm-up without writes): review pages 55 % \
         ({} reviews), filtered list pages 20 % ({lists}), searches 15 % ({searches} queries), subject pages 10 % \
         ({subjects}), each drawn by Zipf's law (s = 1) over its popularity ranking; the last row paced at half of the \
         row above it. Cache hit ratio: the readers' own lookups (`rcr_cache_lookups_total`), before and after. wrk's \
         latencies are of every answer; the probe (one request at a time beside wrk, the same mix) times answers from \
         the cache and database reads apart by `X-Served-From`.\n",
        options.connections,
        options.seconds,
        3 * options.seconds,
        mixed.reviews,
    );
    table(out, mixed);
    refusals(out, mixed);
    writes_after(out, mixed);
}

/// The rows: wrk's figures, the hit ratio, the probe's latencies.
fn table(out: &mut String, mixed: &Mixed) {
    let _ = writeln!(
        out,
        "| scenario | req/s | p50 ms | p99 ms | p99.9 ms | errors | cache hit ratio | probe: cached p50 / p99 ms (n) | probe: read p50 / p99 ms (n) |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (name, c) in rows(mixed) {
        let (row, probe) = (&c.row, &c.probe);
        let spread = |samples: &[f64]| {
            format!(
                "{:.2} / {:.2} ({})",
                Probe::quantile(samples, 0.5),
                Probe::quantile(samples, 0.99),
                samples.len()
            )
        };
        let _ = writeln!(
            out,
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.1} % | {} | {} |",
            row.rps,
            row.p50_ms,
            row.p99_ms,
            row.p999_ms,
            row.errors,
            c.lookups.ratio(),
            spread(&probe.cached),
            spread(&probe.read),
        );
    }
}

/// The answers of each row that were not 2xx/3xx, if any.
fn refusals(out: &mut String, mixed: &Mixed) {
    for (name, c) in rows(mixed) {
        let refused: Vec<String> = c
            .row
            .statuses
            .iter()
            .filter(|(status, _)| !(200..400).contains(*status))
            .map(|(status, n)| format!("{n} × {status}"))
            .collect();
        if !refused.is_empty() {
            let _ = writeln!(
                out,
                "\nAnswers that were not 2xx/3xx ({name}): {}.",
                refused.join(", ")
            );
        }
    }
}

/// The writes of the rows with writes, and the hit ratio after them.
fn writes_after(out: &mut String, mixed: &Mixed) {
    for (name, c) in rows(mixed).into_iter().skip(1) {
        let w = &c.writes;
        let _ = writeln!(
            out,
            "\nWrites during \"{name}\": {} edits, {} new reviews, {} failed. Hit ratio after each write, by quarter \
             second: {:.1} % (answer to 250 ms), {:.1} % (250–500 ms), {:.1} % (500–750 ms), {:.1} % (750–1000 ms).",
            w.edits,
            w.publishes,
            w.failed,
            w.after[0].ratio(),
            w.after[1].ratio(),
            w.after[2].ratio(),
            w.after[3].ratio(),
        );
    }
}

/// The rows in the order of the table.
fn rows(mixed: &Mixed) -> [(&'static str, &Counted); 3] {
    [
        ("mixed traffic, no writes", &mixed.quiet),
        ("mixed traffic, a write a second", &mixed.busy),
        (
            "mixed traffic, a write a second, at half peak",
            &mixed.paced,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded_and_zipf_stays_in_range() {
        assert_eq!(encode("om system"), "om%20system");
        assert_eq!(encode("cámara"), "c%C3%A1mara");
        assert_eq!(encode("x-t5_a.b~"), "x-t5_a.b~");
        for _ in 0..1000 {
            assert!((1..=3).contains(&zipf(3)));
        }
        assert_eq!(zipf(1), 1);
    }

    #[test]
    fn quantiles_take_the_sample_at_or_above_the_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).rev().collect();
        assert_eq!(Probe::quantile(&samples, 0.5), 50.0);
        assert_eq!(Probe::quantile(&samples, 0.99), 99.0);
        assert_eq!(Probe::quantile(&[7.0], 0.99), 7.0);
        assert!(Probe::quantile(&[], 0.99).is_nan());
    }
}
