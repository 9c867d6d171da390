//! South America's synchronous standby, failover and re-attaching the
//! former primary (SPEC §6 Durability, §10.3).
//!
//! South America runs two database nodes (`Layout::sa_nodes`): the primary
//! and a streaming standby named [`STANDBY_NAME`], which the primary waits
//! for at every commit (`synchronous_standby_names = 'ANY 1 (standby)'`,
//! `synchronous_commit = on`: the commit record is on the standby's disk
//! before the client hears of it). A write acknowledged by the writer is
//! therefore on two nodes, and promoting the standby loses none.
//!
//! What synchronous commit means when the standby is down: commits wait
//! (the commit phase is not bounded by `statement_timeout`) until it is
//! back; nothing is acknowledged that only one node holds. We chose that
//! over a bounded fallback, which would acknowledge writes the next failure
//! could lose: the standby is on the same site as the primary and comes
//! back in seconds; an operator who cannot bring it back runs the primary
//! alone on purpose (docs/RUNBOOKS.md, "Local stack and compose"). After a failover
//! there is no standby left to wait for, so the promoted node runs alone
//! (`synchronous_standby_names = ''`) until the former primary is
//! re-attached: writes resume at once, and those of that window are on one
//! node only (crash-safe, not disk-loss-safe) — the documented RPO.
//!
//! Every client lists both nodes (writer, auth and the readers' fallback:
//! multi-host URLs; every replica: a multi-host `primary_conninfo`), each
//! with `target_session_attrs=read-write`, in the fixed node order, so a
//! failover needs no configuration change anywhere: connections find the
//! node that takes writes. The layout records which one that is.

use std::time::{Duration, Instant};

use crate::servers::{
    Durability, Postgres, StopMode, replication_conninfo, replication_conninfo_any,
};
use crate::{Layout, SaNode, Stack, StackError};

/// The standby's `application_name`: what `synchronous_standby_names`
/// and the primary's `pg_stat_replication` call it; also its slot's name.
pub const STANDBY_NAME: &str = "standby";

/// Quorum commit: one standby named [`STANDBY_NAME`] must have flushed a
/// commit before it is acknowledged.
pub const SYNCHRONOUS_STANDBY_NAMES: &str = "ANY 1 (standby)";

/// How long a replica or the standby may take to stream from the primary
/// after it changed, before it is made to rejoin.
const STREAM_WITHIN: Duration = Duration::from_secs(20);

/// What a failover did and how long it took.
#[derive(Debug, Clone)]
pub struct FailoverReport {
    /// The promoted node's port and folder.
    pub primary: SaNode,
    /// The former primary's (the standby once re-attached).
    pub former: SaNode,
    /// The promoted node's timeline.
    pub timeline: String,
    /// From the start of the promotion until the new primary took writes.
    pub promote: Duration,
    /// Replicas that had replayed past the fork and were rewound.
    pub rejoined: Vec<String>,
    /// The whole command, replicas following included.
    pub total: Duration,
}

impl Stack {
    /// Writes the settings that belong to one South American node (they
    /// are not copied from a clone or a rewind: each node archives from its
    /// own folder) before it starts; for the standby, how it follows the
    /// primary. `sync`: whether a primary waits for the standby.
    pub(crate) fn configure_sa_node(
        &self,
        layout: &Layout,
        node: &SaNode,
    ) -> Result<(), StackError> {
        let pg = self.postgres()?;
        let data = self.node_dir(node);
        let archive = self.archive_command(&data)?;
        let sync = layout.standby().map_or("", |_| SYNCHRONOUS_STANDBY_NAMES);
        let conninfo = replication_conninfo_any(&layout.db_ports(), &self.ca_cert(), STANDBY_NAME);
        let is_standby = node.port != layout.primary;
        pg.set_auto_conf(
            &data,
            &[
                ("archive_mode", Some("on")),
                ("archive_command", Some(&archive)),
                ("archive_timeout", Some("60s")),
                ("wal_log_hints", Some("on")),
                ("synchronous_standby_names", Some(sync)),
                ("synchronous_commit", Some("on")),
                ("primary_conninfo", is_standby.then_some(conninfo.as_str())),
                ("primary_slot_name", is_standby.then_some(STANDBY_NAME)),
                ("recovery_target_timeline", Some("latest")),
                // A standby whose primary restarted or moved tries again
                // within a second (the default, 5 s, is that long a stall
                // of every write: commits wait for it).
                ("wal_retrieve_retry_interval", Some("1s")),
            ],
        )?;
        if is_standby {
            pg.make_standby(&data)?;
        }
        Ok(())
    }

    /// Makes the primary on `port` (data folder `data`) wait for the
    /// standby at each commit, or not, from now on (a reload).
    fn set_synchronous(
        &self,
        data: &std::path::Path,
        port: u16,
        on: bool,
    ) -> Result<(), StackError> {
        let pg = self.postgres()?;
        let names = if on { SYNCHRONOUS_STANDBY_NAMES } else { "" };
        pg.set_auto_conf(data, &[("synchronous_standby_names", Some(names))])?;
        pg.query(port, "postgres", "SELECT pg_reload_conf()")
            .map(|_| ())
    }

    /// Starts the standby: cloned from the primary at the first start; a
    /// folder that is not a standby (the former primary, after a failover)
    /// is rewound onto the primary's timeline first. Once it streams, the
    /// primary waits for it again.
    pub(crate) fn start_standby(&self, layout: &Layout) -> Result<(), StackError> {
        let Some(node) = layout.standby_node() else {
            return Ok(());
        };
        let pg = self.postgres()?;
        let data = self.node_dir(&node);
        if pg.is_running(&data) && !Postgres::is_standby(&data) {
            // Two primaries must never take writes: fence it.
            pg.stop(&data, StopMode::Immediate)?;
        }
        if !pg.is_running(&data) {
            if !data.join("PG_VERSION").exists() {
                let conninfo = replication_conninfo(layout.primary, &self.ca_cert(), STANDBY_NAME);
                self.clone_primary(layout, &conninfo, &data, STANDBY_NAME)?;
            } else if !Postgres::is_standby(&data) {
                self.rewind_onto_primary(layout, &data, STANDBY_NAME)?;
            }
            pg.enable_tls(&data, &self.postgres_tls()?)?;
            self.configure_sa_node(layout, &node)?;
            pg.start_daemon(&data, node.port, &self.node_log(&node))?;
        }
        self.drop_slots_of_standby(node.port)?;
        self.wait_streaming(layout.primary, STANDBY_NAME)?;
        self.set_synchronous(&self.node_dir(&layout.primary_node()), layout.primary, true)
    }

    /// A fresh copy of the primary in `data` (which is deleted first),
    /// streaming over `conninfo` with the slot `slot` (made anew).
    pub(crate) fn clone_primary(
        &self,
        layout: &Layout,
        conninfo: &str,
        data: &std::path::Path,
        slot: &str,
    ) -> Result<(), StackError> {
        let pg = self.postgres()?;
        // A slot or a folder left by an earlier, interrupted attempt
        // would make the clone fail.
        pg.query(
            layout.primary,
            "postgres",
            &format!(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                 WHERE slot_name = '{slot}' AND NOT active"
            ),
        )?;
        if data.exists() {
            std::fs::remove_dir_all(data).map_err(|e| StackError::io(data, e))?;
        }
        pg.base_backup(conninfo, data, slot, Durability::Synced)
    }

    /// Brings the stopped server of `data` onto the primary's timeline
    /// (`pg_rewind`: a former primary, or a replica that replayed WAL the
    /// promoted standby never had), as a standby using the slot `slot` on
    /// the primary; a fresh clone when pg_rewind cannot (a folder made
    /// before `wal_log_hints`).
    pub(crate) fn rewind_onto_primary(
        &self,
        layout: &Layout,
        data: &std::path::Path,
        slot: &str,
    ) -> Result<(), StackError> {
        let pg = self.postgres()?;
        // pg_rewind reads the new timeline from the control file, which a
        // promotion updates only at its next checkpoint.
        pg.query(layout.primary, "postgres", "CHECKPOINT")?;
        self.ensure_slots(layout.primary, &[slot])?;
        if let Err(e) = pg.rewind(data, layout.primary) {
            eprintln!("rcr-local: {e}; cloning {} afresh", data.display());
            let conninfo = replication_conninfo(layout.primary, &self.ca_cert(), slot);
            return self.clone_primary(layout, &conninfo, data, slot);
        }
        // The rewind copied the primary's own settings over the folder's.
        pg.set_auto_conf(data, &[("primary_slot_name", Some(slot))])
            .map(|_| ())
    }

    /// Makes the physical replication slots `names` on the primary on
    /// `port` unless they exist, keeping WAL from now on.
    fn ensure_slots(&self, port: u16, names: &[&str]) -> Result<(), StackError> {
        for name in names {
            self.postgres()?.query(
                port,
                "postgres",
                &format!(
                    "SELECT pg_create_physical_replication_slot('{name}', true) \
                     WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '{name}')"
                ),
            )?;
        }
        Ok(())
    }

    /// Drops the slots a standby kept from a time it was a primary: nothing
    /// uses them there, and they would hold its WAL for ever.
    fn drop_slots_of_standby(&self, port: u16) -> Result<(), StackError> {
        self.postgres()?
            .query(
                port,
                "postgres",
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active",
            )
            .map(|_| ())
    }

    /// Waits until the primary on `port` streams to `name`.
    fn wait_streaming(&self, port: u16, name: &str) -> Result<(), StackError> {
        if self.streams_to(port, name, STREAM_WITHIN) {
            return Ok(());
        }
        Err(StackError::new(format!(
            "{name} does not stream from the primary on port {port} after {STREAM_WITHIN:?}"
        )))
    }

    /// Whether the primary on `port` streams to `name` within `within`.
    fn streams_to(&self, port: u16, name: &str, within: Duration) -> bool {
        let sql = format!(
            "SELECT count(*) FROM pg_stat_replication WHERE application_name = '{name}' AND state = 'streaming'"
        );
        let began = Instant::now();
        while began.elapsed() < within {
            if self
                .postgres()
                .and_then(|pg| pg.query(port, "postgres", &sql))
                .is_ok_and(|n| n == "1")
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Promotes the standby after the primary died (`make failover`); with
    /// `force`, a primary that still runs is stopped first (an immediate
    /// shutdown: two primaries must never take writes). Without it, a
    /// running primary is a refusal. Then every replica follows the new
    /// timeline; the former primary waits for [`Stack::reattach`].
    pub fn failover(&self, force: bool) -> Result<FailoverReport, StackError> {
        let began = Instant::now();
        let mut layout = self.layout()?;
        let (Some(standby), former) = (layout.standby_node(), layout.primary_node()) else {
            return Err(StackError::new("this stack has no standby to promote"));
        };
        self.fence(&former, force)?;
        let pg = self.postgres()?;
        if pg.query(standby.port, "postgres", "SELECT pg_is_in_recovery()")? != "t" {
            return Err(StackError::new(format!(
                "the node on port {} is not a standby",
                standby.port
            )));
        }
        let data = self.node_dir(&standby);
        // It runs alone until the former primary is re-attached: with no
        // standby to wait for, its commits would hang.
        self.set_synchronous(&data, standby.port, false)?;
        let promoting = Instant::now();
        pg.promote(&data)?;
        let promote = promoting.elapsed();
        layout.primary = standby.port;
        self.save_layout(&layout)?;
        self.write_backup_config(&layout)?;
        pg.query(standby.port, "postgres", "CHECKPOINT")?;
        let mut slots: Vec<String> = layout
            .regions
            .iter()
            .map(|r| format!("replica_{r}"))
            .collect();
        slots.push(STANDBY_NAME.into());
        self.ensure_slots(
            standby.port,
            &slots.iter().map(String::as_str).collect::<Vec<_>>(),
        )?;
        let rejoined = self.replicas_follow(&layout)?;
        Ok(FailoverReport {
            timeline: pg.query(
                standby.port,
                "postgres",
                "SELECT timeline_id FROM pg_control_checkpoint()",
            )?,
            primary: standby,
            former,
            promote,
            rejoined,
            total: began.elapsed(),
        })
    }

    /// Makes sure the primary `node` takes no more writes before its
    /// standby is promoted: refused while it runs, unless `force` (then an
    /// immediate shutdown).
    fn fence(&self, node: &SaNode, force: bool) -> Result<(), StackError> {
        let pg = self.postgres()?;
        let data = self.node_dir(node);
        let up =
            pg.is_running(&data) || std::net::TcpStream::connect(("127.0.0.1", node.port)).is_ok();
        match (up, force) {
            (false, _) => Ok(()),
            (true, true) => pg.stop(&data, StopMode::Immediate),
            (true, false) => Err(StackError::new(format!(
                "the primary on port {} is up: a failover promotes the standby when the primary \
                 is gone (`--force` stops it first)",
                node.port
            ))),
        }
    }

    /// After a failover: each region's replica streams from the new primary
    /// on its timeline. One that replayed past the fork (WAL of the former
    /// primary that the standby never had: replicas are asynchronous) or
    /// does not stream in time is rewound onto it. Which were.
    fn replicas_follow(&self, layout: &Layout) -> Result<Vec<String>, StackError> {
        let pg = self.postgres()?;
        let fork = self.fork_point(layout.primary)?;
        let mut rejoined = Vec::new();
        for region in &layout.regions {
            let port = layout.replicas[region];
            let past_fork = pg
                .query(
                    port,
                    "postgres",
                    &format!("SELECT pg_last_wal_replay_lsn() > '{fork}'::pg_lsn"),
                )
                .is_ok_and(|t| t == "t");
            if !past_fork && self.streams_to(layout.primary, region, STREAM_WITHIN) {
                continue;
            }
            let replica = crate::Component::Replica(region.clone());
            let data = self.pg_dir(&replica);
            if pg.is_running(&data) {
                pg.stop(&data, StopMode::Fast)?;
            }
            self.rewind_onto_primary(layout, &data, &format!("replica_{region}"))?;
            self.start_replica(layout, region)?;
            rejoined.push(region.clone());
        }
        Ok(rejoined)
    }

    /// Where the primary on `port` forked off its previous timeline (the
    /// last line of its timeline's history file).
    fn fork_point(&self, port: u16) -> Result<String, StackError> {
        let history = self.postgres()?.query(
            port,
            "postgres",
            "SELECT pg_read_file('pg_wal/' || lpad(upper(to_hex(timeline_id)), 8, '0') || '.history') \
             FROM pg_control_checkpoint()",
        )?;
        history
            .lines()
            .rfind(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_owned)
            .ok_or_else(|| StackError::new(format!("no fork point in the history: {history}")))
    }

    /// Takes the former primary back as the standby (`make reattach`;
    /// `make run` does it too): rewound onto the new timeline, or cloned
    /// afresh when it cannot be; then the primary waits for it again.
    pub fn reattach(&self) -> Result<SaNode, StackError> {
        let layout = self.layout()?;
        let node = layout
            .standby_node()
            .ok_or_else(|| StackError::new("this stack has no standby"))?;
        self.start_standby(&layout)?;
        Ok(node)
    }
}

impl Stack {
    /// Kills the postmaster of the primary or the standby with SIGKILL, as
    /// a crash of its machine would end it, and waits until its server
    /// processes (which stop on their own once their postmaster is gone)
    /// have exited, so that its folder can be rewound. A drill's fault.
    pub fn crash(&self, node: &crate::Component) -> Result<(), StackError> {
        let data = self.pg_dir(node);
        let pid_file = data.join("postmaster.pid");
        let pid: u32 = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse().ok())
            .ok_or_else(|| StackError::new(format!("{node} is not running")))?;
        let children = crate::process::children(pid);
        crate::process::kill_pid(pid);
        let began = Instant::now();
        // Its children, and its own pid once reaped: a new postmaster
        // refuses a folder whose old one still shows in the process table.
        let gone = |pid: u32| !std::path::Path::new(&format!("/proc/{pid}")).exists();
        while children.iter().any(|c| crate::process::alive(*c))
            || (!gone(pid) && began.elapsed() < Duration::from_secs(5))
        {
            if began.elapsed() > Duration::from_secs(30) {
                return Err(StackError::new(format!("{node}'s processes outlived it")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}
