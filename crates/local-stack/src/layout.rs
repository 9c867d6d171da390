//! The ports of a stack and which of South America's two database nodes is
//! the primary now, saved beside its state (`layout.json`) so that stop,
//! status, a restart, a failover and a restore find everything where it was.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ALL_REGIONS;
use crate::process::{self, StackError};
use crate::wan::{LinkKind, RegionLinks, WanProfile};

/// The folders (under `pg/`) of the two South American nodes of a new
/// stack: the primary and its synchronous standby. A failover swaps their
/// roles, never their folders or ports.
const FIRST_NODE: &str = "primary";
const SECOND_NODE: &str = "standby";

/// One of South America's database nodes: its data folder under `pg/` and
/// its port, both for good (the role is [`Layout::primary`]'s to say).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SaNode {
    pub folder: String,
    pub port: u16,
}

/// The ports of a stack, saved beside its state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Layout {
    pub regions: Vec<String>,
    /// The port of the primary now: the first node's until a failover
    /// promotes the standby, then the standby's.
    pub primary: u16,
    pub auth: u16,
    pub writer: u16,
    pub replicas: BTreeMap<String, u16>,
    pub redis: BTreeMap<String, u16>,
    pub readers: BTreeMap<String, Vec<u16>>,
    pub gateways: BTreeMap<String, u16>,
    /// Each gateway's HTTPS port.
    #[serde(default)]
    pub gateways_tls: BTreeMap<String, u16>,
    /// Each gateway's loopback `stub_status` port (metrics).
    #[serde(default)]
    pub gateways_status: BTreeMap<String, u16>,
    /// The links between each region but South America and the primary,
    /// auth and the writer, when the stack runs continents apart.
    #[serde(default)]
    pub wan: BTreeMap<String, RegionLinks>,
    /// South America's two database nodes in a fixed order (the order in
    /// which the multi-host URLs and the links list them): the one made
    /// as the primary, then its synchronous standby. Empty in a layout
    /// saved before the stack had a standby (it is laid out again).
    #[serde(default)]
    pub sa_nodes: Vec<SaNode>,
    /// Each gateway's metrics exporter (loopback).
    #[serde(default)]
    pub exporters: BTreeMap<String, u16>,
    /// The stack's Prometheus (loopback).
    #[serde(default)]
    pub prometheus: u16,
}

impl Layout {
    /// The documented ports (README), or free ones.
    pub fn new(
        regions: &[String],
        readers_per_region: usize,
        free_ports: bool,
        wan: Option<&WanProfile>,
    ) -> Result<Self, StackError> {
        // free_port never hands the same port out twice.
        let port = |fixed: u16| -> Result<u16, StackError> {
            if free_ports {
                process::free_port()
            } else {
                Ok(fixed)
            }
        };
        let primary = port(15432)?;
        let mut layout = Self {
            regions: regions.to_vec(),
            primary,
            auth: port(18081)?,
            writer: port(18082)?,
            replicas: BTreeMap::new(),
            redis: BTreeMap::new(),
            readers: BTreeMap::new(),
            gateways: BTreeMap::new(),
            gateways_tls: BTreeMap::new(),
            gateways_status: BTreeMap::new(),
            wan: BTreeMap::new(),
            sa_nodes: vec![
                SaNode {
                    folder: FIRST_NODE.into(),
                    port: primary,
                },
                SaNode {
                    folder: SECOND_NODE.into(),
                    port: port(15437)?,
                },
            ],
            exporters: BTreeMap::new(),
            prometheus: port(9090)?,
        };
        for region in regions {
            layout.add_region(region, readers_per_region, &port, wan)?;
        }
        Ok(layout)
    }

    /// The ports of `region`'s replica, Redis, readers, gateway and, when
    /// continents are apart, its links to South America.
    fn add_region(
        &mut self,
        region: &str,
        readers_per_region: usize,
        port: &dyn Fn(u16) -> Result<u16, StackError>,
        wan: Option<&WanProfile>,
    ) -> Result<(), StackError> {
        let i = ALL_REGIONS
            .iter()
            .position(|r| *r == region)
            .and_then(|i| u16::try_from(i).ok())
            .unwrap_or(0);
        let region = region.to_owned();
        self.replicas.insert(region.clone(), port(15433 + i)?);
        self.redis.insert(region.clone(), port(16379 + i)?);
        let readers = (0..readers_per_region.max(1))
            .map(|n| port(18100 + i * 10 + u16::try_from(n).unwrap_or(0)))
            .collect::<Result<Vec<_>, _>>()?;
        self.readers.insert(region.clone(), readers);
        self.gateways.insert(region.clone(), port(8000 + i)?);
        self.gateways_tls.insert(region.clone(), port(8443 + i)?);
        self.gateways_status
            .insert(region.clone(), port(18190 + i)?);
        self.exporters.insert(region.clone(), port(19113 + i)?);
        if let Some(profile) = wan.filter(|_| region != "sa") {
            let base = 17000 + i * 10;
            let links = RegionLinks {
                delay_ms: profile.delay_ms(&region),
                replication: port(base)?,
                fallback: port(base + 1)?,
                auth: port(base + 2)?,
                writer: port(base + 3)?,
                replication_2: Some(port(base + 4)?),
                fallback_2: Some(port(base + 5)?),
            };
            self.wan.insert(region, links);
        }
        Ok(())
    }

    pub fn gateway_url(&self, region: &str) -> Option<String> {
        self.gateways
            .get(region)
            .map(|p| format!("http://127.0.0.1:{p}"))
    }

    /// Where `region` reaches what its link of `kind` leads to: the link
    /// when the stack runs continents apart, else the service itself. For
    /// the database links, the link to the first South American node (see
    /// [`Layout::db_via`] for both).
    pub fn via(&self, region: &str, kind: LinkKind) -> u16 {
        if let Some(links) = self.wan.get(region) {
            return links.port(kind);
        }
        match kind {
            LinkKind::Replication | LinkKind::Fallback => self.primary,
            LinkKind::Auth => self.auth,
            LinkKind::Writer => self.writer,
        }
    }

    /// The ports through which `region` reaches each South American
    /// database node over its link of `kind` (replication or fallback), in
    /// the fixed node order: the nodes themselves, or the delaying links in
    /// front of them. A multi-host connection string over these with
    /// `target_session_attrs=read-write` finds the primary wherever it is.
    pub fn db_via(&self, region: &str, kind: LinkKind) -> Vec<u16> {
        match self.wan.get(region) {
            Some(links) => links.db_ports(kind),
            None => self.db_ports(),
        }
    }

    /// The ports of South America's database nodes, in the fixed order.
    pub fn db_ports(&self) -> Vec<u16> {
        if self.sa_nodes.is_empty() {
            return vec![self.primary];
        }
        self.sa_nodes.iter().map(|n| n.port).collect()
    }

    /// The node that is the primary now.
    pub fn primary_node(&self) -> SaNode {
        self.sa_nodes
            .iter()
            .find(|n| n.port == self.primary)
            .cloned()
            .unwrap_or_else(|| SaNode {
                folder: FIRST_NODE.into(),
                port: self.primary,
            })
    }

    /// The synchronous standby's node: the one that is not the primary.
    pub fn standby_node(&self) -> Option<SaNode> {
        self.sa_nodes
            .iter()
            .find(|n| n.port != self.primary)
            .cloned()
    }

    /// The standby's port, if the stack has one.
    pub fn standby(&self) -> Option<u16> {
        self.standby_node().map(|n| n.port)
    }

    /// The gateway's HTTPS address (its certificate names `localhost` and
    /// `127.0.0.1`; trust the stack's CA, [`crate::Stack::ca_cert`]).
    pub fn gateway_https_url(&self, region: &str) -> Option<String> {
        self.gateways_tls
            .get(region)
            .map(|p| format!("https://127.0.0.1:{p}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions(list: &[&str]) -> Vec<String> {
        list.iter().map(|r| (*r).to_owned()).collect()
    }

    #[test]
    fn a_new_layout_has_the_documented_ports_and_a_standby_beside_the_primary() {
        let layout = Layout::new(&regions(&["sa", "eu"]), 1, false, None).unwrap();
        assert_eq!(layout.primary, 15432);
        assert_eq!(layout.standby(), Some(15437));
        assert_eq!(layout.db_ports(), [15432, 15437]);
        assert_eq!(layout.db_via("eu", LinkKind::Replication), [15432, 15437]);
        assert_eq!(layout.primary_node().folder, "primary");
    }

    #[test]
    fn after_a_failover_the_roles_move_and_the_order_of_the_nodes_does_not() {
        let mut layout = Layout::new(&regions(&["sa"]), 1, false, None).unwrap();
        layout.primary = 15437;
        assert_eq!(layout.primary_node().folder, "standby");
        assert_eq!(layout.standby(), Some(15432));
        assert_eq!(layout.standby_node().unwrap().folder, "primary");
        assert_eq!(layout.db_ports(), [15432, 15437]);
    }

    #[test]
    fn far_regions_reach_both_nodes_through_a_link_each() {
        let wan = WanProfile::parse("eu:100").unwrap();
        let layout = Layout::new(&regions(&["sa", "eu"]), 1, false, Some(&wan)).unwrap();
        assert_eq!(layout.db_via("eu", LinkKind::Replication), [17020, 17024]);
        assert_eq!(layout.db_via("eu", LinkKind::Fallback), [17021, 17025]);
        assert_eq!(layout.db_via("sa", LinkKind::Fallback), [15432, 15437]);
    }

    #[test]
    fn a_layout_saved_before_the_standby_still_reads_and_has_one_node() {
        let mut layout = Layout::new(&regions(&["sa"]), 1, false, None).unwrap();
        layout.sa_nodes.clear();
        let text = serde_json::to_string(&layout)
            .unwrap()
            .replace(",\"sa_nodes\":[]", "");
        let read: Layout = serde_json::from_str(&text).unwrap();
        assert_eq!(read.db_ports(), [15432]);
        assert_eq!(read.standby(), None);
        assert_eq!(read.primary_node().folder, "primary");
    }
}
