//! The bench's data set at any size (`make bench`, `BENCH_REVIEWS`; SPEC
//! §10.5): 10,000 reviews by default, 100,000 or 1,000,000 on request,
//! made by the generator in `bench/seed/` — set-based SQL drawing every
//! value from hashes of a row's number, so that the same data set comes
//! out on every machine and a bigger one continues a smaller one.
//!
//! What has been seeded is recorded in the database (`rcr_bench.seeded`),
//! so a run tops up only what is missing (or makes the data set again
//! when fewer are asked for), and the replicas are waited for until they
//! have replayed all of it: nothing is measured on a replica still
//! catching up.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::process::{self, StackError};
use crate::{DATABASE, Stack};

/// The generator's version, recorded with what it seeded: a data set made
/// by another version (or by the former `seed.sql`, which recorded
/// nothing) is deleted and seeded again rather than mixed with this one.
const GENERATOR: u32 = 1;

/// Reviews per transaction: a progress line each, and an interrupted run
/// keeps every whole batch (the record moves with them).
const BATCH: u64 = 20_000;

/// Reviews added by one seeding past which WAL archiving is paused for it
/// and a full backup taken after: each review written costs about 39 KB of
/// compressed WAL in the repository, so 900,000 more would need some
/// 35 GB of archive (docs/BENCHMARKS.md, "Seeding"), where the backup after
/// is one compressed copy. Below it every batch is archived as usual.
const ARCHIVE_EVERY_BATCH_UP_TO: u64 = 100_000;

/// How long the replicas may take to replay a seeding.
const REPLAY_WAIT: Duration = Duration::from_secs(30 * 60);

/// The data set's size: reviews, and the catalog and editors in
/// proportion (at 10,000 reviews: 500 subjects by 50 editors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataSet {
    pub reviews: u64,
}

impl DataSet {
    /// The default: what every figure of `docs/BENCHMARKS.md` before the
    /// "Data at size" section was measured on.
    pub const DEFAULT: Self = Self { reviews: 10_000 };

    /// Twenty reviews per subject on average (popular subjects many more).
    pub fn subjects(self) -> u64 {
        (self.reviews / 20).max(10)
    }

    /// Two hundred reviews per editor on average.
    pub fn editors(self) -> u64 {
        (self.reviews / 200).max(5)
    }
}

/// The reviews the generator made (`bench-<n>`, review n the n-th
/// newest), as SQL.
const GENERATED: &str = "slug ~ '^bench-[0-9]+$'";

/// What a seeding found and did.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// The data set's reviews found before this run.
    pub found: u64,
    /// Reviews added.
    pub added: u64,
    /// Reviews removed: those earlier runs wrote, and the generator's when
    /// fewer were asked for (the set is then made again).
    pub removed: u64,
    /// Time spent seeding (including the replicas' replay).
    pub elapsed: Duration,
    /// The database's size on the primary afterwards.
    pub database_bytes: u64,
}

impl std::fmt::Display for Seeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} reviews found, {} added, {} removed in {:.1} s; database {:.0} MiB",
            self.found,
            self.added,
            self.removed,
            self.elapsed.as_secs_f64(),
            self.database_bytes as f64 / 1_048_576.0
        )
    }
}

/// The generator's files.
pub(crate) fn seed_dir(root: &Path) -> PathBuf {
    root.join("crates/local-stack/bench/seed")
}

impl Stack {
    /// Makes the bench's data set `set` on this stack's primary (it must be
    /// running): the generator's tables and catalog, then the missing
    /// reviews in batches, then statistics; moves the content version on
    /// so that readers drop what they cached, and waits for every replica
    /// (and the standby) to replay it.
    pub fn seed_bench_data(&self, set: DataSet) -> Result<Seeded, StackError> {
        let layout = self
            .saved_layout()
            .ok_or_else(|| StackError::new("no stack here"))?;
        let started = Instant::now();
        let primary = layout.primary;
        self.seed_file(primary, "prepare.sql", set)?;
        let found: u64 = self.number(primary, "SELECT reviews FROM rcr_bench.seeded")?;
        let (kept, removed) = self.prune(primary, set, found)?;
        let paused = (set.reviews.saturating_sub(kept) > ARCHIVE_EVERY_BATCH_UP_TO)
            .then(|| ArchivingPaused::on(self, primary))
            .transpose()?;
        let mut added = 0;
        let mut first = kept + 1;
        while first <= set.reviews {
            let last = (first + BATCH - 1).min(set.reviews);
            let batch = Instant::now();
            self.seed_batch(primary, set, first, last)?;
            added += last - first + 1;
            println!(
                "  reviews {first}–{last} of {} in {:.1} s",
                set.reviews,
                batch.elapsed().as_secs_f64()
            );
            first = last + 1;
        }
        if added + removed > 0 {
            self.sql(primary, "VACUUM (ANALYZE) reviews, subjects, editors")?;
            self.sql(primary, "UPDATE content_state SET version = version + 1")?;
        }
        if let Some(paused) = paused {
            paused.resume()?;
            println!("  archiving resumed; a full backup of the data set…");
            self.backup(crate::backups::BackupKind::Full)?;
        }
        let mut standbys: Vec<u16> = layout.replicas.values().copied().collect();
        standbys.extend(layout.standby());
        self.wait_replayed(primary, &standbys)?;
        Ok(Seeded {
            found,
            added,
            removed,
            elapsed: started.elapsed(),
            database_bytes: self.number(primary, "SELECT pg_database_size(current_database())")?,
        })
    }

    /// One of the generator's files run with the data set's sizes as psql
    /// variables, in one transaction; what it printed.
    fn seed_file(&self, port: u16, file: &str, set: DataSet) -> Result<String, StackError> {
        let mut psql = self.postgres()?.psql(port, DATABASE);
        let sizes = [
            ("generator", u64::from(GENERATOR)),
            ("reviews", set.reviews),
            ("subjects", set.subjects()),
            ("editors", set.editors()),
        ];
        for (name, value) in sizes {
            psql.arg("-v").arg(format!("{name}={value}"));
        }
        psql.args(["-q", "-At", "-1", "-f"])
            .arg(seed_dir(&self.options.root).join(file));
        process::run(&mut psql, &format!("seeding ({file})"))
    }

    /// Reviews `first` to `last` and the record of them, in one transaction.
    fn seed_batch(&self, port: u16, set: DataSet, first: u64, last: u64) -> Result<(), StackError> {
        let mut psql = self.postgres()?.psql(port, DATABASE);
        for (name, value) in [
            ("first", first),
            ("last", last),
            ("subjects", set.subjects()),
            ("editors", set.editors()),
        ] {
            psql.arg("-v").arg(format!("{name}={value}"));
        }
        psql.args(["-q", "-1", "-f"])
            .arg(seed_dir(&self.options.root).join("reviews.sql"))
            .arg("-c")
            .arg(format!(
                "UPDATE rcr_bench.seeded SET reviews = {last}, updated_at = now()"
            ));
        process::run(&mut psql, "seeding (reviews.sql)").map(drop)
    }

    /// Removes every review that is not in the data set `set`: those
    /// earlier runs wrote themselves (`POST /reviews`, mixed traffic), and,
    /// when fewer reviews are asked for than `found`, the generator's too,
    /// so that the set is made again from its first review (the first n
    /// reviews of a bigger set are not the set of n: their subjects are
    /// drawn from the bigger catalog, and a smaller set's pages would name
    /// subjects left without reviews). How many of the generator's are
    /// kept, and how many reviews were removed.
    ///
    /// Left in place, the reviews the bench wrote pile up run after run as
    /// the newest, with text unlike the data set's, and change what the
    /// next run measures (a search first reads the newest reviews:
    /// docs/BENCHMARKS.md, "The walk on").
    fn prune(&self, port: u16, set: DataSet, found: u64) -> Result<(u64, u64), StackError> {
        let written = self.number(
            port,
            &format!("SELECT count(*) FROM reviews WHERE NOT {GENERATED}"),
        )?;
        let kept = if found > set.reviews { 0 } else { found };
        if written == 0 && kept == found {
            return Ok((kept, 0));
        }
        let which = if kept == found {
            format!("NOT {GENERATED}")
        } else {
            "true".to_owned()
        };
        self.sql(
            port,
            &format!(
                "BEGIN; \
                 DELETE FROM reviews WHERE {which}; \
                 UPDATE rcr_bench.seeded SET reviews = {kept}, updated_at = now(); \
                 COMMIT"
            ),
        )?;
        Ok((kept, written + found - kept))
    }

    /// A single number `sql` answers.
    fn number(&self, port: u16, sql: &str) -> Result<u64, StackError> {
        let text = self.sql(port, sql)?;
        text.parse()
            .map_err(|_| StackError::new(format!("{sql}: answered {text:?}")))
    }

    /// Waits until every node of `standbys` has replayed the primary's WAL
    /// as far as it reached now.
    fn wait_replayed(&self, primary: u16, standbys: &[u16]) -> Result<(), StackError> {
        let target = self.sql(primary, "SELECT pg_current_wal_lsn()")?;
        let caught_up = format!("SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn");
        let deadline = Instant::now() + REPLAY_WAIT;
        for &port in standbys {
            while self.sql(port, &caught_up)? != "t" {
                if Instant::now() > deadline {
                    return Err(StackError::new(format!(
                        "the replica on port {port} has not replayed up to {target} after {} s",
                        REPLAY_WAIT.as_secs()
                    )));
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        Ok(())
    }

    /// The paths the mixed-traffic scenario draws from, each list in order
    /// of popularity: the data set's review ids (review n at n − 1), its
    /// subjects' slugs, the brands (most popular first) and the search
    /// vocabulary (`seed/queries.sql`).
    pub(crate) fn bench_catalog(&self, set: DataSet) -> Result<Catalog, StackError> {
        let layout = self
            .saved_layout()
            .ok_or_else(|| StackError::new("no stack here"))?;
        let port = layout.primary;
        let lines = |sql: &str| -> Result<Vec<String>, StackError> {
            Ok(self.sql(port, sql)?.lines().map(str::to_owned).collect())
        };
        // After `prune`, the generator's reviews are exactly the set's.
        let ids = lines(&format!(
            "SELECT id FROM reviews WHERE {GENERATED} ORDER BY substr(slug, 7)::bigint"
        ))?;
        Ok(Catalog {
            review_ids: ids.iter().filter_map(|id| id.parse().ok()).collect(),
            subjects: lines(&format!(
                "SELECT s.slug FROM rcr_bench.subjects b JOIN subjects s USING (id) \
                 WHERE b.n <= {} ORDER BY b.n",
                set.subjects()
            ))?,
            brands: lines("SELECT brand FROM rcr_bench.brands ORDER BY rank")?,
            queries: self
                .seed_file(port, "queries.sql", set)?
                .lines()
                .map(str::to_owned)
                .collect(),
        })
    }
}

/// What the data set holds, for the scenarios that draw from it.
#[derive(Debug, Clone)]
pub(crate) struct Catalog {
    /// Review n's id at n − 1 (review 1 the newest).
    pub review_ids: Vec<i64>,
    /// Subject slugs, the most reviewed first.
    pub subjects: Vec<String>,
    /// Brands, the most popular first.
    pub brands: Vec<String>,
    /// Search queries, the most asked first.
    pub queries: Vec<String>,
}

/// WAL archiving paused on the primary while a large data set is loaded
/// (`ARCHIVE_EVERY_BATCH_UP_TO`): its segments are recycled unarchived, so
/// no point in time inside the load can be restored; the full backup
/// taken after it starts the archive again. Resumed when dropped, on an
/// error too.
struct ArchivingPaused<'a> {
    stack: &'a Stack,
    port: u16,
    resumed: bool,
}

impl<'a> ArchivingPaused<'a> {
    fn on(stack: &'a Stack, port: u16) -> Result<Self, StackError> {
        println!("  archiving paused for the load");
        stack.sql(port, "ALTER SYSTEM SET archive_command = 'true'")?;
        stack.sql(port, "SELECT pg_reload_conf()")?;
        Ok(Self {
            stack,
            port,
            resumed: false,
        })
    }

    /// The primary's own `archive_command` again, as the stack configures
    /// it at each start.
    fn resume(mut self) -> Result<(), StackError> {
        self.resumed = true;
        self.restore()
    }

    fn restore(&self) -> Result<(), StackError> {
        let data = self.stack.pg_dir(&crate::Component::Primary);
        let command = self.stack.archive_command(&data)?.replace('\'', "''");
        self.stack.sql(
            self.port,
            &format!("ALTER SYSTEM SET archive_command = '{command}'"),
        )?;
        self.stack.sql(self.port, "SELECT pg_reload_conf()")?;
        Ok(())
    }
}

impl Drop for ArchivingPaused<'_> {
    fn drop(&mut self) {
        if !self.resumed
            && let Err(e) = self.restore()
        {
            eprintln!(
                "rcr-local: archiving not resumed ({e}); `make stop` and `make run` restore it"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_data_set_keeps_its_catalog_and_bigger_ones_grow_in_proportion() {
        assert_eq!(DataSet::DEFAULT.subjects(), 500);
        assert_eq!(DataSet::DEFAULT.editors(), 50);
        let big = DataSet { reviews: 1_000_000 };
        assert_eq!((big.subjects(), big.editors()), (50_000, 5_000));
        let tiny = DataSet { reviews: 10 };
        assert_eq!((tiny.subjects(), tiny.editors()), (10, 5));
    }
}
