//! What SREs watch, on one machine: an nginx exporter beside each gateway
//! (Debian's `prometheus-nginx-exporter`, reading the gateway's loopback
//! `stub_status`) and a Prometheus that scrapes every service, every
//! exporter, and evaluates `deploy/prometheus/alerts.yml` — the rules
//! promtool tests and Kubernetes loads as a PrometheusRule.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::process::{self, StackError};
use crate::{Layout, Stack, path_str};

impl Stack {
    /// An exporter beside each gateway and a Prometheus scraping the whole
    /// stack with the project's alert rules (`Options::monitoring`).
    pub(crate) fn start_monitoring(&self, layout: &Layout) -> Result<(), StackError> {
        available()?;
        for region in &layout.regions {
            let pid_file = self.dir(&format!("run/exporter-{region}.pid"));
            if !process::pid_alive(&pid_file) {
                let log = self.dir(&format!("logs/exporter-{region}.log"));
                process::spawn_detached(&mut exporter_command(layout, region), &pid_file, &log)?;
                wait_listening(&format!("exporter {region}"), layout.exporters[region]);
            }
        }
        let pid_file = self.dir("run/prometheus.pid");
        if process::pid_alive(&pid_file) {
            return Ok(());
        }
        let rules = self.options.root.join("deploy/prometheus/alerts.yml");
        let config = self.dir("prometheus.yml");
        std::fs::write(&config, prometheus_config(layout, &rules))
            .map_err(|e| StackError::io(&config, e))?;
        let data = self.dir("prometheus");
        std::fs::create_dir_all(&data).map_err(|e| StackError::io(&data, e))?;
        let mut prometheus = prometheus_command(&config, &data, layout.prometheus);
        process::spawn_detached(&mut prometheus, &pid_file, &self.dir("logs/prometheus.log"))?;
        wait_listening("prometheus", layout.prometheus);
        Ok(())
    }
}

/// The scrape configuration of the local stack's Prometheus: the same job
/// names as compose's and Kubernetes', so the alert rules and the dashboard
/// read the same series.
pub(crate) fn prometheus_config(layout: &Layout, rules: &Path) -> String {
    let readers = layout
        .readers
        .values()
        .flatten()
        .map(|p| format!("\"127.0.0.1:{p}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut config = String::new();
    let _ = write!(
        config,
        "# Written by rcr-local at every start: the local stack's scrape targets.\n\
         global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n  \
         external_labels: {{ system: rcr, stack: local }}\n\
         rule_files: [\"{rules}\"]\n\
         scrape_configs:\n  \
         - job_name: auth\n    static_configs: [{{ targets: [\"127.0.0.1:{auth}\"] }}]\n  \
         - job_name: reviews-writer\n    static_configs: [{{ targets: [\"127.0.0.1:{writer}\"] }}]\n  \
         - job_name: content-reader\n    static_configs: [{{ targets: [{readers}] }}]\n  \
         - job_name: gateway\n    static_configs:\n",
        rules = path_str(rules),
        auth = layout.auth,
        writer = layout.writer,
    );
    // The nginx_* series carry no labels of their own: each exporter's
    // target names its region and service, as the PodMonitor does.
    for (region, port) in &layout.exporters {
        let _ = writeln!(
            config,
            "      - {{ targets: [\"127.0.0.1:{port}\"], labels: {{ region: {region}, service: gateway }} }}"
        );
    }
    config
}

/// The exporter of `region`'s gateway: reads its `stub_status`, serves
/// `/metrics` on loopback.
pub(crate) fn exporter_command(layout: &Layout, region: &str) -> std::process::Command {
    let mut exporter = std::process::Command::new("prometheus-nginx-exporter");
    exporter
        .arg(format!(
            "-nginx.scrape-uri=http://127.0.0.1:{}/stub_status",
            layout.gateways_status[region]
        ))
        .arg(format!(
            "-web.listen-address=127.0.0.1:{}",
            layout.exporters[region]
        ));
    exporter
}

/// Prometheus on loopback with `config`, its data under `data`.
pub(crate) fn prometheus_command(config: &Path, data: &Path, port: u16) -> std::process::Command {
    let mut prometheus = std::process::Command::new("prometheus");
    prometheus
        .arg(format!("--config.file={}", path_str(config)))
        .arg(format!("--storage.tsdb.path={}", path_str(data)))
        .arg("--storage.tsdb.retention.time=7d")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    prometheus
}

/// Waits for a started monitoring process to listen; it is not part of
/// serving, so a slow one is reported, not fatal.
pub(crate) fn wait_listening(what: &str, port: u16) {
    if let Err(e) = process::wait_tcp(port, Duration::from_secs(10)) {
        eprintln!("warning: {what} did not come up: {e}");
    }
}

/// Whether both programs are installed (`make run` installs them).
pub(crate) fn available() -> Result<(), StackError> {
    for program in ["prometheus", "prometheus-nginx-exporter"] {
        process::find_binary(program)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scrape_configuration_is_one_prometheus_accepts_with_the_project_rules() {
        let layout =
            Layout::new(&["sa".to_owned(), "eu".to_owned()], 2, false, None).expect("layout");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let rules = root.join("deploy/prometheus/alerts.yml");
        let dir = std::env::temp_dir().join(format!("rcr-prom-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp folder");
        let config = dir.join("prometheus.yml");
        let text = prometheus_config(&layout, &rules);
        std::fs::write(&config, &text).expect("written");
        for port in [
            layout.exporters["sa"],
            layout.exporters["eu"],
            layout.readers["eu"][1],
        ] {
            assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        }
        // promtool comes with Prometheus, which `make deps` installs.
        let checked = std::process::Command::new("promtool")
            .args(["check", "config"])
            .arg(&config)
            .output()
            .expect("promtool runs (make deps installs it)");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(checked.status.success(), "{text}\n{checked:?}");
    }
}
