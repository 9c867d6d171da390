//! The stack's delaying links between continents (`make run WAN=1`,
//! [`crate::wan`]): starting them, cutting and healing them, and their
//! status. A far region has one link to auth, one to the writer, and a
//! replication and a fallback link to each of South America's database
//! nodes, so it reaches the primary, delayed, before and after a failover.

use std::path::PathBuf;
use std::time::Duration;

use crate::wan::{self, LinkKind, LinkSpec};
use crate::{Layout, Stack, StackError, process};

impl Stack {
    /// Every link of `region` in `layout` (none when it runs without
    /// delays).
    fn link_specs(layout: &Layout, region: &str) -> Vec<LinkSpec> {
        layout.wan.get(region).map_or_else(Vec::new, |links| {
            links.specs(region, &layout.db_ports(), layout.auth, layout.writer)
        })
    }

    fn link_pid_file(&self, link: &LinkSpec) -> PathBuf {
        self.dir(&format!("run/{}.pid", link.name))
    }

    fn link_partition_file(&self, link: &LinkSpec) -> PathBuf {
        wan::partition_file(&self.dir("run"), &link.name)
    }

    /// One line per region whose links to South America are delayed: the
    /// one-way delay, whether each link runs, and which are partitioned.
    pub(crate) fn wan_status(&self, layout: &Layout) -> Vec<String> {
        layout
            .wan
            .iter()
            .map(|(region, links)| {
                let states: Vec<String> = Self::link_specs(layout, region)
                    .iter()
                    .map(|link| {
                        let up = process::pid_alive(&self.link_pid_file(link));
                        let cut = self.link_partition_file(link).exists();
                        let state = match (up, cut) {
                            (false, _) => "down",
                            (true, true) => "partitioned",
                            (true, false) => "up",
                        };
                        let to: Vec<String> =
                            link.targets.iter().map(|t| format!(":{t}")).collect();
                        format!(
                            "{} :{} → {} {state}",
                            link.kind.as_str(),
                            link.listen,
                            to.join("|")
                        )
                    })
                    .collect();
                format!(
                    "{:<22} {:>4} ms one way to sa: {}",
                    format!("wan {region}"),
                    links.delay_ms,
                    states.join(", ")
                )
            })
            .collect()
    }

    /// Cuts (`true`) or heals the link of `kind` between `region` and South
    /// America (the partition drills), to every node it leads to; a stack
    /// running without delays has no links to cut.
    pub fn partition(&self, region: &str, kind: LinkKind, cut: bool) -> Result<(), StackError> {
        let layout = self.layout()?;
        if !layout.wan.contains_key(region) {
            return Err(StackError::new(format!(
                "{region} has no link to cut: start the stack continents apart (WAN=1)"
            )));
        }
        for link in Self::link_specs(&layout, region) {
            if link.kind == kind {
                let file = self.link_partition_file(&link);
                wan::set_partitioned(&file, cut).map_err(|e| StackError::io(&file, e))?;
            }
        }
        // The link looks at its file every few milliseconds: once this
        // returns, the cut (or the heal) is in force.
        std::thread::sleep(wan::TAKES_EFFECT);
        Ok(())
    }

    /// Starts the links of every region that has them (`rcr-local
    /// wan-link`, one process each), unless they run already.
    pub(crate) fn start_wan_links(&self, layout: &Layout) -> Result<(), StackError> {
        for (region, links) in &layout.wan {
            for link in Self::link_specs(layout, region) {
                let pid_file = self.link_pid_file(&link);
                if process::pid_alive(&pid_file) {
                    continue;
                }
                let mut command =
                    std::process::Command::new(self.options.bin_dir.join("rcr-local"));
                command
                    .arg("wan-link")
                    .args(["--listen", &format!("127.0.0.1:{}", link.listen)])
                    .args(
                        link.targets
                            .iter()
                            .flat_map(|t| ["--to".to_owned(), format!("127.0.0.1:{t}")]),
                    )
                    .args(["--delay-ms", &links.delay_ms.to_string()])
                    .arg("--partition-file")
                    .arg(self.link_partition_file(&link));
                let log = self.dir(&format!("logs/{}.log", link.name));
                process::spawn_detached(&mut command, &pid_file, &log)?;
                process::wait_tcp(link.listen, Duration::from_secs(10))?;
            }
        }
        Ok(())
    }
}
