//! `make status`: one line per process of the stack — its port, whether it
//! answers, and for the databases what matters about them (TLS, lag,
//! whether the standby is synchronous), for the links their state, and the
//! backups.

use crate::failover::STANDBY_NAME;
use crate::{Component, Layout, Stack, http, servers};

impl Stack {
    /// The status line of the primary, the standby or a replica. The
    /// primary's detail counts its TCP connections that use TLS
    /// (`pg_stat_ssl`; every one should, its `pg_hba.conf` refuses the
    /// others) and says whether commits wait for the standby; the
    /// standby's, its sync state as the primary sees it (`sync` or
    /// `quorum` when commits wait for it); a replica's, its lag and whether
    /// it streams over TLS (its walsender on the primary).
    fn pg_status(&self, layout: &Layout, node: &Component) -> String {
        let (name, port) = match node {
            Component::Replica(region) => (
                format!("postgres replica {region}"),
                Some(layout.replicas[region]),
            ),
            Component::Standby => ("postgres standby".to_owned(), layout.standby()),
            _ => ("postgres primary".to_owned(), Some(layout.primary)),
        };
        let Some(port) = port else {
            return format!("{name:<22}        none");
        };
        let up = self.sql(port, "SELECT 1").is_ok();
        let detail = match node {
            _ if !up => String::new(),
            Component::Replica(region) => self.copy_detail(layout, port, region),
            Component::Standby => self.copy_detail(layout, port, STANDBY_NAME),
            _ => self.primary_detail(port),
        };
        let state = if up { "up" } else { "down" };
        let folder = match node {
            Component::Primary => format!(" (pg/{})", layout.primary_node().folder),
            Component::Standby => layout
                .standby_node()
                .map(|n| format!(" (pg/{})", n.folder))
                .unwrap_or_default(),
            _ => String::new(),
        };
        format!("{name:<22} {port:>6}  {state:<5} {detail}{folder}")
    }

    /// TLS on the primary's connections, and whom its commits wait for.
    fn primary_detail(&self, port: u16) -> String {
        const TLS_CONNECTIONS: &str = "SELECT 'TLS on ' || count(*) FILTER (WHERE s.ssl) || ' of ' \
             || count(*) || ' TCP connections' FROM pg_stat_ssl s JOIN pg_stat_activity a \
             USING (pid) WHERE a.client_addr IS NOT NULL";
        let tls = self.sql(port, TLS_CONNECTIONS).unwrap_or_default();
        let sync = match self.sql(port, "SHOW synchronous_standby_names") {
            Ok(names) if !names.is_empty() => format!("commits wait for {names}"),
            Ok(_) => "alone: commits wait for no standby".to_owned(),
            Err(_) => String::new(),
        };
        format!("{tls}, {sync}, timeline {}", self.timeline(port))
    }

    fn timeline(&self, port: u16) -> String {
        self.sql(port, "SELECT timeline_id FROM pg_control_checkpoint()")
            .unwrap_or_default()
    }

    /// A copy's lag, and how the primary sees its stream (`name` is its
    /// `application_name`).
    fn copy_detail(&self, layout: &Layout, port: u16, name: &str) -> String {
        const LAG: &str = "SELECT CASE WHEN pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn() THEN 'lag 0.0 s' \
             ELSE 'lag ' || round(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::numeric, 1) || ' s' END";
        let stream = format!(
            "SELECT CASE WHEN s.ssl THEN 'streams over TLS' ELSE 'streams in plain text' END \
             || CASE WHEN r.sync_state IN ('sync', 'quorum') THEN ', ' || r.sync_state ELSE '' END \
             FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) \
             WHERE r.application_name = '{name}' AND r.state = 'streaming'"
        );
        let stream = self.sql(layout.primary, &stream).unwrap_or_default();
        let lag = self.sql(port, LAG).unwrap_or_default();
        if stream.is_empty() {
            format!("{lag}, not streaming")
        } else {
            format!("{lag}, {stream}")
        }
    }

    /// One line per process: name, port, state, detail.
    pub fn status(&self) -> Vec<String> {
        let Some(layout) = self.saved_layout() else {
            return vec!["no stack here (run `make run`)".into()];
        };
        let mut lines = vec![
            self.pg_status(&layout, &Component::Primary),
            self.pg_status(&layout, &Component::Standby),
        ];
        for region in &layout.regions {
            lines.push(self.pg_status(&layout, &Component::Replica(region.clone())));
            let redis = if servers::redis_ping(layout.redis[region]) {
                "up"
            } else {
                "down"
            };
            lines.push(format!(
                "{:<22} {:>6}  {redis}",
                format!("redis {region}"),
                layout.redis[region]
            ));
        }
        let http_line = |name: String, port: u16, path: &str| {
            let state = match http::get(port, path) {
                Ok(answer) if answer.status == 200 => "up",
                Ok(_) => "unready",
                Err(_) => "down",
            };
            format!("{name:<22} {port:>6}  {state}")
        };
        lines.push(http_line("auth".into(), layout.auth, "/readyz"));
        lines.push(http_line("reviews-writer".into(), layout.writer, "/readyz"));
        for region in &layout.regions {
            for (i, port) in layout.readers[region].iter().enumerate() {
                lines.push(http_line(
                    format!("reader {region}-{}", i + 1),
                    *port,
                    "/readyz",
                ));
            }
            lines.push(http_line(
                format!("gateway {region}"),
                layout.gateways[region],
                "/content?limit=1",
            ));
        }
        lines.extend(self.wan_status(&layout));
        lines.push(self.backups_status(&layout));
        if self.dir("run/prometheus.pid").exists() {
            for region in &layout.regions {
                lines.push(http_line(
                    format!("exporter {region}"),
                    layout.exporters[region],
                    "/metrics",
                ));
            }
            lines.push(http_line(
                "prometheus".into(),
                layout.prometheus,
                "/-/ready",
            ));
        }
        lines
    }
}
