//! Backups with pgBackRest (SPEC §10.3): a repository under the state
//! folder (`backups/`), continuous WAL archiving from whichever South
//! American node is the primary (its `archive_command` pushes each
//! completed segment), a full backup at the first start, more on request
//! (`make backup`), and the restores that `make restore` runs.
//!
//! pgBackRest runs as the servers' user (the `postgres` user when we are
//! root), as PostgreSQL runs its `archive_command`; the repository, its
//! log and lock folders are that user's. The configuration file is written
//! by the launcher from the layout each time the primary may have moved
//! (a start, a failover, a restore), so `pg1-path` always names the
//! primary's folder; each node's `archive_command` names its own folder,
//! so a promoted standby archives correctly before the file is rewritten.
//!
//! Retention: [`RETAIN_FULL`] full backups, with the WAL the oldest of
//! them needs; any instant since the oldest full backup can be restored.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{self, StackError};
use crate::{Layout, RestoreTarget, Stack, path_str};

/// The pgBackRest stanza: the one cluster the repository holds.
pub const STANZA: &str = "rcr";

/// Full backups kept; `expire` (run after each backup) removes older ones
/// and the WAL only they needed.
pub const RETAIN_FULL: u32 = 2;

/// What a backup copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupKind {
    /// Everything.
    Full,
    /// What changed since the last full backup.
    Diff,
    /// What changed since the last backup of any kind.
    Incr,
}

impl BackupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Diff => "diff",
            Self::Incr => "incr",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        [Self::Full, Self::Diff, Self::Incr]
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| format!("`{text}`: one of full, diff, incr"))
    }
}

/// One backup in the repository, as `pgbackrest info` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSet {
    pub label: String,
    pub kind: String,
    /// Unix seconds.
    pub started: i64,
    pub stopped: i64,
    /// The database's size, and what the backup takes in the repository.
    pub database_bytes: u64,
    pub repository_bytes: u64,
}

impl Stack {
    /// The repository (`backups/`).
    pub fn backups_dir(&self) -> PathBuf {
        self.dir("backups")
    }

    fn pgbackrest_conf(&self) -> PathBuf {
        self.dir("backups/pgbackrest.conf")
    }

    fn background_backup_pid(&self) -> PathBuf {
        self.dir("run/backup.pid")
    }

    /// The `archive_command` of the node whose data folder is `data`.
    pub(crate) fn archive_command(&self, data: &Path) -> Result<String, StackError> {
        Ok(format!(
            "\"{}\" --config=\"{}\" --stanza={STANZA} --pg1-path=\"{}\" archive-push %p",
            path_str(&process::find_binary("pgbackrest")?),
            path_str(&self.pgbackrest_conf()),
            path_str(data)
        ))
    }

    /// Writes the configuration for the primary of `layout`, and makes the
    /// folders pgBackRest writes to (the servers' user's).
    pub(crate) fn write_backup_config(&self, layout: &Layout) -> Result<(), StackError> {
        let pg = self.postgres()?;
        let (repo, logs, locks) = (
            self.backups_dir(),
            self.dir("logs/pgbackrest"),
            self.dir("run/pgbackrest"),
        );
        for dir in [&repo, &logs, &locks] {
            std::fs::create_dir_all(dir).map_err(|e| StackError::io(dir, e))?;
            pg.chown(dir)?;
        }
        let primary = layout.primary_node();
        let text = format!(
            "# Written by rcr-local from layout.json at each start, failover and restore.\n\
             [global]\n\
             repo1-path={}\n\
             repo1-retention-full={RETAIN_FULL}\n\
             compress-type=lz4\n\
             start-fast=y\n\
             archive-timeout=60\n\
             log-path={}\n\
             lock-path={}\n\
             log-level-console=warn\n\
             log-level-file=info\n\n\
             [{STANZA}]\n\
             pg1-path={}\n\
             pg1-port={}\n\
             pg1-socket-path={}\n\
             pg1-user=postgres\n",
            path_str(&repo),
            path_str(&logs),
            path_str(&locks),
            path_str(&self.node_dir(&primary)),
            primary.port,
            path_str(pg.socket_dir()),
        );
        let conf = self.pgbackrest_conf();
        std::fs::write(&conf, text).map_err(|e| StackError::io(&conf, e))
    }

    /// `pgbackrest <args>` on the stack's stanza, as the servers' user.
    fn pgbackrest(&self, args: &[&str]) -> Result<Command, StackError> {
        let mut cmd = self
            .postgres()?
            .as_server_user(&process::find_binary("pgbackrest")?);
        cmd.arg(format!("--config={}", path_str(&self.pgbackrest_conf())))
            .arg(format!("--stanza={STANZA}"))
            .args(args);
        Ok(cmd)
    }

    fn run_pgbackrest(&self, args: &[&str]) -> Result<String, StackError> {
        let what = format!("pgbackrest {}", args.first().copied().unwrap_or_default());
        process::run(&mut self.pgbackrest(args)?, &what)
    }

    /// As soon as the primary runs, before it archives anything: the
    /// configuration, and the stanza (made once), so that no segment fails
    /// to archive for want of it.
    pub(crate) fn prepare_backups(&self, layout: &Layout) -> Result<(), StackError> {
        self.write_backup_config(layout)?;
        if !self.backups_dir().join("backup").join(STANZA).exists() {
            self.run_pgbackrest(&["stanza-create"])?;
        }
        Ok(())
    }

    /// Once the stack's database is there: a first full backup, in the
    /// background, when the repository has none.
    pub(crate) fn start_backups(&self, layout: &Layout) -> Result<(), StackError> {
        self.prepare_backups(layout)?;
        if self.backup_sets()?.is_empty() && !process::pid_alive(&self.background_backup_pid()) {
            let mut backup = self.pgbackrest(&["--type=full", "backup"])?;
            process::spawn_detached(
                &mut backup,
                &self.background_backup_pid(),
                &self.dir("logs/backup.log"),
            )?;
        }
        Ok(())
    }

    /// Waits for a backup that a start left running in the background.
    pub fn wait_for_background_backup(&self) {
        while process::pid_alive(&self.background_backup_pid()) {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// Takes a backup of the primary now (`make backup`), then expires
    /// what the retention no longer keeps; the new set.
    pub fn backup(&self, kind: BackupKind) -> Result<BackupSet, StackError> {
        self.wait_for_background_backup();
        let layout = self.layout()?;
        self.write_backup_config(&layout)?;
        self.run_pgbackrest(&[&format!("--type={}", kind.as_str()), "backup"])?;
        self.backup_sets()?
            .pop()
            .ok_or_else(|| StackError::new("the backup finished but `pgbackrest info` lists none"))
    }

    /// `pgbackrest check`: the primary archives (a WAL switch reaches the
    /// repository) and the configuration is sound. Also how a restore makes
    /// sure the last writes are in the archive.
    pub fn check_backups(&self) -> Result<(), StackError> {
        self.write_backup_config(&self.layout()?)?;
        self.run_pgbackrest(&["check"]).map(|_| ())
    }

    /// `pgbackrest verify`: every backup file and archived WAL segment in
    /// the repository is read back and checked against its checksum; its
    /// report.
    pub fn verify_backups(&self) -> Result<String, StackError> {
        self.run_pgbackrest(&["--output=text", "verify"])
            .map(|out| out.trim().to_owned())
    }

    /// The backups in the repository, oldest first.
    pub fn backup_sets(&self) -> Result<Vec<BackupSet>, StackError> {
        let out = self.run_pgbackrest(&["--output=json", "info"])?;
        let info: serde_json::Value = serde_json::from_str(&out)
            .map_err(|e| StackError::new(format!("pgbackrest info: {e}")))?;
        let sets = info[0]["backup"].as_array().cloned().unwrap_or_default();
        Ok(sets
            .iter()
            .map(|b| BackupSet {
                label: b["label"].as_str().unwrap_or_default().to_owned(),
                kind: b["type"].as_str().unwrap_or_default().to_owned(),
                started: b["timestamp"]["start"].as_i64().unwrap_or_default(),
                stopped: b["timestamp"]["stop"].as_i64().unwrap_or_default(),
                database_bytes: b["info"]["size"].as_u64().unwrap_or_default(),
                repository_bytes: b["info"]["repository"]["size"].as_u64().unwrap_or_default(),
            })
            .collect())
    }

    /// The bytes the repository takes on disk (backups and WAL).
    pub fn backups_size(&self) -> u64 {
        fn size(path: &Path) -> u64 {
            std::fs::read_dir(path).map_or(0, |entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| match e.metadata() {
                        Ok(m) if m.is_dir() => size(&e.path()),
                        Ok(m) => m.len(),
                        Err(_) => 0,
                    })
                    .sum()
            })
        }
        size(&self.backups_dir())
    }

    /// Restores the stopped cluster in `data` from the repository to
    /// `target`; at its next start PostgreSQL replays the archive up to the
    /// target, then promotes. In place (`--delta`: only the files that
    /// differ are copied), or, for a `copy` beside the stack, into an empty
    /// folder and archiving nothing (its WAL must not reach the stack's
    /// repository).
    pub(crate) fn restore_into(
        &self,
        data: &Path,
        target: &RestoreTarget,
        copy: bool,
    ) -> Result<(), StackError> {
        let path = format!("--pg1-path={}", path_str(data));
        let mut args = vec![path.as_str()];
        args.push(if copy {
            "--archive-mode=off"
        } else {
            "--delta"
        });
        let target_arg;
        match target {
            RestoreTarget::Latest => args.push("--type=default"),
            RestoreTarget::Consistent => {
                args.extend(["--type=immediate", "--target-action=promote"]);
            }
            RestoreTarget::Time(time) => {
                target_arg = format!("--target={time}");
                args.extend([
                    "--type=time",
                    target_arg.as_str(),
                    "--target-action=promote",
                ]);
            }
        }
        args.push("restore");
        self.run_pgbackrest(&args).map(|_| ())
    }

    /// The status line of the repository: its backups, its size, and the
    /// primary's archiver (last segment archived, failures).
    pub(crate) fn backups_status(&self, layout: &Layout) -> String {
        let sets = self.backup_sets().unwrap_or_default();
        let newest = sets.last().map_or_else(
            || "none yet".to_owned(),
            |s| format!("newest {} ({})", s.label, s.kind),
        );
        let archiver = self
            .sql(
                layout.primary,
                "SELECT 'WAL archived up to ' || coalesce(last_archived_wal, 'nothing yet') \
                 || ', ' || failed_count || ' failures' FROM pg_stat_archiver",
            )
            .unwrap_or_default();
        format!(
            "{:<22} {:>6}  {} full of {RETAIN_FULL} kept, {newest}, {:.1} MiB; {archiver}",
            "backups (pgBackRest)",
            "",
            sets.iter().filter(|s| s.kind == "full").count(),
            self.backups_size() as f64 / (1024.0 * 1024.0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_kinds_read_back_and_others_are_refused() {
        for kind in [BackupKind::Full, BackupKind::Diff, BackupKind::Incr] {
            assert_eq!(BackupKind::parse(kind.as_str()), Ok(kind));
        }
        assert!(BackupKind::parse("complete").is_err());
    }
}
