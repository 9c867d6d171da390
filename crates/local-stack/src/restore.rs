//! Point-in-time restore of the local stack (`make restore TARGET=…`,
//! SPEC §10.3): the primary back to an instant from the pgBackRest
//! repository, everything that copies it made again from it, and no reader
//! left serving what it had before.
//!
//! In order: the writers (auth, the writer) and the readers stop (the
//! gateways stay up and answer 503 + `Retry-After`); the highest
//! `content_state.version` any node holds is noted (readers cannot have
//! seen a higher one); a running primary's last WAL goes into the archive
//! (`pgbackrest check`); every database stops; pgBackRest restores the
//! primary's folder (`--delta`) and PostgreSQL replays the archive up to
//! the target, then promotes (a new timeline); `content_state.version`
//! moves past the noted one by [`VERSION_STEP`], so no cache key made
//! before can match again; the standby and every region's replica are
//! cloned afresh (theirs is newer than the restored data, on the old
//! timeline); every region's Redis is emptied; the services start again,
//! readers with an empty memory; a full backup starts in the background.

use std::time::{Duration, Instant};

use crate::servers::{StopMode, redis_flush, replication_conninfo};
use crate::{Component, Layout, Stack, StackError, process, services_of};

/// How far past the highest version readers may have seen the restore
/// moves `content_state.version` (as docs/RUNBOOKS.md does in Kubernetes).
pub const VERSION_STEP: i64 = 1000;

/// How long replaying the archive up to the target may take.
const REPLAY_WITHIN: Duration = Duration::from_secs(900);

/// Where a restore stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreTarget {
    /// Everything the archive holds.
    Latest,
    /// The end of the newest backup, the first consistent instant (a check
    /// that a backup restores).
    Consistent,
    /// An instant, as PostgreSQL reads it (`YYYY-MM-DD HH:MM:SS[.f]+HH:MM`):
    /// every transaction committed at or before it is kept, none after.
    Time(String),
}

impl RestoreTarget {
    /// `latest`, or an RFC 3339 time (`2026-12-01T09:30:00Z`,
    /// `2026-12-01T06:30:00.250-03:00`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "latest" {
            return Ok(Self::Latest);
        }
        rfc3339_to_postgres(text).map(Self::Time).ok_or_else(|| {
            format!("`{text}`: `latest` or an RFC 3339 time such as 2026-12-01T09:30:00Z")
        })
    }
}

impl std::fmt::Display for RestoreTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Latest => f.write_str("latest"),
            Self::Consistent => f.write_str("the end of the newest backup"),
            Self::Time(time) => f.write_str(time),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` as PostgreSQL's
/// `YYYY-MM-DD HH:MM:SS[.fraction]±HH:MM`; `None` for anything else.
fn rfc3339_to_postgres(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|b| b.iter().all(u8::is_ascii_digit))
    };
    let shape = digits(0..4)
        && bytes.get(4) == Some(&b'-')
        && digits(5..7)
        && bytes.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(bytes.get(10), Some(b'T' | b't' | b' '))
        && digits(11..13)
        && bytes.get(13) == Some(&b':')
        && digits(14..16)
        && bytes.get(16) == Some(&b':')
        && digits(17..19);
    if !shape {
        return None;
    }
    let rest = &text[19..];
    let fraction_len = rest
        .strip_prefix('.')
        .map_or(0, |f| 1 + f.bytes().take_while(u8::is_ascii_digit).count());
    if fraction_len == 1 {
        return None;
    }
    let (fraction, zone) = rest.split_at(fraction_len);
    let zone = match zone {
        "Z" | "z" => "+00:00".to_owned(),
        z if z.len() == 6
            && matches!(z.as_bytes()[0], b'+' | b'-')
            && z.as_bytes()[3] == b':'
            && z[1..3]
                .bytes()
                .chain(z[4..6].bytes())
                .all(|b| b.is_ascii_digit()) =>
        {
            z.to_owned()
        }
        _ => return None,
    };
    let field = |range: std::ops::Range<usize>| text[range].parse::<u32>().unwrap_or(99);
    let in_range = (1..=12).contains(&field(5..7))
        && (1..=31).contains(&field(8..10))
        && field(11..13) <= 23
        && field(14..16) <= 59
        && field(17..19) <= 60;
    in_range.then(|| format!("{} {}{fraction}{zone}", &text[..10], &text[11..19]))
}

/// What a restore did and how long it took.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub target: RestoreTarget,
    /// The highest `content_state.version` a node held before, and the
    /// restored primary's after the step.
    pub version_before: i64,
    pub version_after: i64,
    /// Replaying the archive: from pgBackRest's restore to the promotion.
    pub replay: Duration,
    /// The whole command, from stopping the services to serving again.
    pub total: Duration,
}

impl Stack {
    /// Restores the stack's data to `target` (see the module docs).
    pub fn restore(&self, target: &RestoreTarget) -> Result<RestoreReport, StackError> {
        let began = Instant::now();
        let layout = self.layout()?;
        self.wait_for_background_backup();
        if self.backup_sets()?.is_empty() {
            return Err(StackError::new(
                "the repository holds no backup yet (make backup)",
            ));
        }
        for service in services_of(&layout) {
            process::terminate(
                &self.dir(&format!("run/{service}.pid")),
                Duration::from_secs(10),
            );
        }
        let version_before = self.highest_version(&layout);
        if self.sql(layout.primary, "SELECT 1").is_ok() {
            self.check_backups()?;
        }
        self.stop_databases()?;
        let replaying = Instant::now();
        self.restore_primary(&layout, target)?;
        let replay = replaying.elapsed();
        let version_after: i64 = self
            .sql(
                layout.primary,
                &format!(
                    "WITH bumped AS (UPDATE content_state \
                     SET version = GREATEST(version, {version_before}) + {VERSION_STEP} RETURNING version) \
                     SELECT version FROM bumped"
                ),
            )?
            .parse()
            .map_err(|e| StackError::new(format!("content_state.version: {e}")))?;
        self.reseed_copies(&layout)?;
        for region in &layout.regions {
            redis_flush(layout.redis[region])?;
        }
        for service in services_of(&layout) {
            self.restart(&service)?;
        }
        self.start_backups(&layout)?;
        Ok(RestoreReport {
            target: target.clone(),
            version_before,
            version_after,
            replay,
            total: began.elapsed(),
        })
    }

    /// Restores the newest backup as it was when it ended into `dir`, a
    /// copy beside the stack, and starts it on `port`, archiving nothing
    /// and waiting for no standby: how a drill checks that a backup taken
    /// under writes restores to a consistent database (query it with
    /// [`Stack::sql`]; [`Stack::drop_copy`] removes it).
    pub fn restore_copy(&self, dir: &std::path::Path, port: u16) -> Result<(), StackError> {
        use std::os::unix::fs::PermissionsExt as _;
        let pg = self.postgres()?;
        self.wait_for_background_backup();
        std::fs::create_dir_all(dir).map_err(|e| StackError::io(dir, e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| StackError::io(dir, e))?;
        pg.chown(dir)?;
        self.restore_into(dir, &RestoreTarget::Consistent, true)?;
        pg.set_auto_conf(
            dir,
            &[
                ("synchronous_standby_names", Some("")),
                ("primary_conninfo", None),
                ("primary_slot_name", None),
            ],
        )?;
        pg.start_daemon(dir, port, &dir.with_extension("log"))?;
        let began = Instant::now();
        while pg.query(port, "postgres", "SELECT pg_is_in_recovery()")? != "f" {
            if began.elapsed() > REPLAY_WITHIN {
                return Err(StackError::new(
                    "the restored copy did not finish its recovery",
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }

    /// Stops and deletes a copy made by [`Stack::restore_copy`].
    pub fn drop_copy(&self, dir: &std::path::Path) -> Result<(), StackError> {
        let pg = self.postgres()?;
        if pg.is_running(dir) {
            pg.stop(dir, StopMode::Fast)?;
        }
        std::fs::remove_dir_all(dir).map_err(|e| StackError::io(dir, e))
    }

    /// The highest `content_state.version` of any node that answers.
    fn highest_version(&self, layout: &Layout) -> i64 {
        std::iter::once(layout.primary)
            .chain(layout.standby())
            .chain(layout.replicas.values().copied())
            .filter_map(|port| self.sql(port, "SELECT version FROM content_state").ok())
            .filter_map(|v| v.parse::<i64>().ok())
            .max()
            .unwrap_or(0)
    }

    /// Stops every database of the stack, replicas first.
    fn stop_databases(&self) -> Result<(), StackError> {
        let pg = self.postgres()?;
        let mut dirs = self.pg_dirs();
        dirs.reverse();
        for dir in dirs {
            if pg.is_running(&dir) {
                pg.stop(&dir, StopMode::Fast)?;
            }
        }
        Ok(())
    }

    /// Restores the primary's folder to `target` and starts it; returns
    /// once it has replayed the archive up to the target and promoted.
    fn restore_primary(&self, layout: &Layout, target: &RestoreTarget) -> Result<(), StackError> {
        let pg = self.postgres()?;
        let node = layout.primary_node();
        let data = self.node_dir(&node);
        self.restore_into(&data, target, false)?;
        // No standby to wait for until it is cloned again.
        self.configure_sa_node(layout, &node)?;
        pg.set_auto_conf(&data, &[("synchronous_standby_names", Some(""))])?;
        pg.start_daemon(&data, node.port, &self.node_log(&node))
            .map_err(|e| {
                StackError::new(format!(
                    "{e}; if the log says the recovery ended before the target, no transaction \
                 committed after it: restore to `latest`"
                ))
            })?;
        let replayed = Instant::now();
        while pg.query(node.port, "postgres", "SELECT pg_is_in_recovery()")? != "f" {
            if replayed.elapsed() > REPLAY_WITHIN {
                return Err(StackError::new(
                    "the restored primary did not finish its recovery",
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // The recovery settings pgBackRest wrote would be copied to every
        // clone of this folder: they end here.
        pg.set_auto_conf(
            &data,
            &[
                ("restore_command", None),
                ("recovery_target_time", None),
                ("recovery_target_action", None),
                ("recovery_target", None),
            ],
        )?;
        Ok(())
    }

    /// The standby and every region's replica cloned again from the
    /// restored primary, then the primary waits for the standby again.
    fn reseed_copies(&self, layout: &Layout) -> Result<(), StackError> {
        if let Some(node) = layout.standby_node() {
            let data = self.node_dir(&node);
            let conninfo = replication_conninfo(
                layout.primary,
                &self.ca_cert(),
                crate::failover::STANDBY_NAME,
            );
            self.clone_primary(layout, &conninfo, &data, crate::failover::STANDBY_NAME)?;
            self.start_standby(layout)?;
        }
        for region in &layout.regions {
            let data = self.pg_dir(&Component::Replica(region.clone()));
            if data.exists() {
                std::fs::remove_dir_all(&data).map_err(|e| StackError::io(&data, e))?;
            }
            self.start_replica(layout, region)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_3339_times_become_postgres_timestamps() {
        assert_eq!(
            RestoreTarget::parse("2026-12-01T09:30:00Z"),
            Ok(RestoreTarget::Time("2026-12-01 09:30:00+00:00".into()))
        );
        assert_eq!(
            RestoreTarget::parse("2026-12-01T06:30:00.250-03:00"),
            Ok(RestoreTarget::Time("2026-12-01 06:30:00.250-03:00".into()))
        );
        assert_eq!(RestoreTarget::parse(" latest "), Ok(RestoreTarget::Latest));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "yesterday",
            "2026-12-01",
            "2026-12-01T09:30:00",
            "2026-12-01T09:30Z",
            "2026-13-01T09:30:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T09:30:00.Z",
            "2026-12-01T09:30:00+0300",
            "2026-12-01T09:30:00Z'; DROP TABLE reviews",
        ] {
            assert!(RestoreTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
