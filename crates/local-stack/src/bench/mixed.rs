//! The mixed-traffic scenario (SPEC §10.5, `BENCH_ONLY='mixed traffic'`):
//! reads drawn by Zipf's law over every review page, filtered list page,
//! search of a vocabulary and subject page of the data set
//! (`bench/mixed.lua`), through the gateway — measured without writes,
//! then while a writer edits or publishes a review every second. Each row
//! carries the cache hit ratio the region's readers counted themselves
//! (`rcr_cache_lookups_total`, before and after), and the writer reads
//! the same counters a quarter, a half and three quarters of a second
//! after each write: how the ratio moves as the write reaches the region.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{BenchOptions, Row, Scenario, Targets, base, crowd};
use crate::http;
use crate::process::StackError;
use crate::seeding::Catalog;

/// The scenario's rows start with this.
pub(super) const MIXED: &str = "mixed traffic";

/// What the reads draw from and the writer writes with.
pub(super) struct Inputs {
    /// The folder of `lists.txt`, `searches.txt`, `subjects.txt`, and
    /// how many pages each lists.
    pub pages: PathBuf,
    pub counts: (usize, usize, usize),
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

/// What the scenario measured.
pub(super) struct Mixed {
    pub reviews: usize,
    pub pages: (usize, usize, usize),
    pub quiet: (Row, Lookups),
    pub busy: (Row, Lookups),
    pub writes: Writes,
}

/// The list, search and subject pages of `catalog`, most popular first, in
/// files for `mixed.lua` under `dir`; their counts.
pub(super) fn write_pages(
    dir: &Path,
    catalog: &Catalog,
) -> Result<(usize, usize, usize), StackError> {
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
    Ok((lists.len(), searches.len(), subjects.len()))
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

/// The scenario's reads: warmed up for three times `options.seconds`, then measured
/// without writes and with a write a second.
pub(super) fn measure(
    root: &Path,
    t: &Targets,
    inputs: &Inputs,
    options: &BenchOptions,
) -> Result<Mixed, StackError> {
    let reviews = inputs.review_ids.len();
    let reads = Scenario::new(MIXED, base(t.gateway), "mixed.lua", options.connections)
        .env(vec![
            crowd(),
            ("RCR_REVIEWS", reviews.to_string()),
            ("RCR_PAGES", crate::path_str(&inputs.pages)),
        ])
        .counting();
    let counted = |what: &str| -> Result<(Row, Lookups), StackError> {
        println!("{MIXED}, {what}: measure {}s", options.seconds);
        let missing = || StackError::new("a reader's /metrics did not answer");
        let before = lookups(&inputs.readers).ok_or_else(missing)?;
        let row = reads.run(root, options.seconds, None)?;
        let after = lookups(&inputs.readers).ok_or_else(missing)?;
        Ok((row, after.since(before)))
    };
    // The long tail takes a while to be cached: a warm-up of three times
    // the measurement, so the rows measure the steady state, not the fill.
    let warmup = 3 * options.seconds;
    println!("{MIXED}: warm-up {warmup}s");
    reads.run(root, warmup, None)?;
    let quiet = counted("no writes")?;
    let stop = AtomicBool::new(false);
    let (busy, writes) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| write_every_second(t.gateway, inputs, &stop));
        let busy = counted("a write a second");
        stop.store(true, Ordering::Relaxed);
        (busy, writer.join())
    });
    let writes = writes.map_err(|_| StackError::new("the writer did not finish"))?;
    Ok(Mixed {
        reviews,
        pages: inputs.counts,
        quiet,
        busy: busy?,
        writes,
    })
}

/// Until `stop`: every second one write through the gateway — an edit of
/// a review drawn by Zipf's law (recent reviews are corrected most),
/// then a new review, in turn — and the readers' lookups in each quarter
/// second after it.
fn write_every_second(gateway: u16, inputs: &Inputs, stop: &AtomicBool) -> Writes {
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
         ({subjects}), each drawn by Zipf's law (s = 1) over its popularity ranking. Cache hit ratio: the readers' \
         own lookups (`rcr_cache_lookups_total`), before and after.\n",
        options.connections,
        options.seconds,
        3 * options.seconds,
        mixed.reviews,
    );
    let _ = writeln!(
        out,
        "| scenario | req/s | p50 ms | p99 ms | p99.9 ms | errors | cache hit ratio |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, (row, lookups)) in [
        ("mixed traffic, no writes", &mixed.quiet),
        ("mixed traffic, a write a second", &mixed.busy),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.1} % |",
            row.rps,
            row.p50_ms,
            row.p99_ms,
            row.p999_ms,
            row.errors,
            lookups.ratio()
        );
    }
    for (name, (row, _)) in [
        ("no writes", &mixed.quiet),
        ("a write a second", &mixed.busy),
    ] {
        let refused: Vec<String> = row
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
    let w = &mixed.writes;
    let _ = writeln!(
        out,
        "\nWrites during the second row: {} edits, {} new reviews, {} failed. Hit ratio after each write, by quarter \
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
}
