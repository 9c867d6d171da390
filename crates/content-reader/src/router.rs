//! Replica routing (SPEC §6): which node answers a read, and why.
//!
//! Each node (the region's replicas, best first, and optionally the primary
//! for fallback) has a background task that every `check_interval` asks it,
//! with a short timeout, whether it is up, where its replay is and how far
//! behind it is, and reads `content_state.version`. Requests never wait for
//! a check: they read the last result. When the node reads go to shows a
//! version past the last one applied, its task reads the change feed from
//! it — the version and the rows after the last applied in one statement,
//! so one snapshot — and hands them to `crate::invalidation`: the cache
//! learns what changed from the very node whose data it will read next.
//!
//! Lag is measured two ways: bytes (replayed vs received WAL) and time
//! (`now() - pg_last_xact_replay_timestamp()`). The time alone grows on an
//! idle primary, so a replica that has replayed everything it received
//! counts as not lagging whatever the clock says.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use prometheus::{GaugeVec, IntCounterVec, IntGauge, IntGaugeVec, Opts};

use crate::invalidation::{Applied, FeedPoll, Invalidation};
use crate::settings::RoutingSettings;

/// The state of one node as its last check saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Health {
    pub up: bool,
    /// WAL position whose effects the node shows (replay position on a
    /// replica, current position on the primary).
    pub lsn: u64,
    pub lag_ms: f64,
    /// `content_state.version` on the node.
    pub version: i64,
}

/// A database node readers may use.
pub struct Node {
    /// `replica:<name>` or `primary`: the `X-Served-From` value.
    pub label: String,
    pub is_primary: bool,
    /// Connections for reads.
    pub pool: Pool,
    /// Connections for checks and replay-position polls only.
    checks: Pool,
    health: Mutex<(Health, Option<Instant>)>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("label", &self.label)
            .field("health", &self.health())
            .finish_non_exhaustive()
    }
}

impl Node {
    pub fn new(label: String, is_primary: bool, pool: Pool, checks: Pool) -> Self {
        Self {
            label,
            is_primary,
            pool,
            checks,
            health: Mutex::new((
                Health {
                    up: false,
                    lsn: 0,
                    lag_ms: f64::INFINITY,
                    version: 0,
                },
                None,
            )),
        }
    }

    pub fn health(&self) -> Health {
        lock(&self.health).0
    }

    fn set_health(&self, health: Health) {
        *lock(&self.health) = (health, Some(Instant::now()));
    }

    /// A request found the node unreachable: avoid it until its next
    /// successful check rather than send it more requests meanwhile.
    pub fn mark_down(&self) {
        let mut guard = lock(&self.health);
        if guard.0.up {
            tracing::warn!(node = %self.label, reason = "query failed", "replica_offline");
        }
        guard.0.up = false;
        guard.0.lag_ms = f64::INFINITY;
    }

    /// Records what a request learnt first-hand (a replay position seen
    /// while waiting), so other requests benefit before the next check.
    pub fn observe_lsn(&self, lsn: u64) {
        let mut guard = lock(&self.health);
        if lsn > guard.0.lsn {
            guard.0.lsn = lsn;
        }
    }
}

/// Why a read did not go to the first replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// A later replica in the list.
    NextReplica,
    /// No replica usable: the primary.
    Primary,
}

/// Router metrics.
#[derive(Debug, Clone)]
pub struct RouterMetrics {
    pub lag_seconds: GaugeVec,
    pub node_up: IntGaugeVec,
    pub fallbacks: IntCounterVec,
}

impl RouterMetrics {
    /// The router's metrics, and `rcr_feed_version_applied`: the version
    /// up to which `invalidation` has applied the change feed, read from
    /// it at each scrape.
    pub fn new(metrics: &platform::metrics::Metrics, invalidation: &Arc<Invalidation>) -> Self {
        let lag_seconds = GaugeVec::new(
            Opts::new("replica_lag_seconds", "Replication lag per node"),
            &["node"],
        )
        .expect("valid metric");
        let node_up = IntGaugeVec::new(
            Opts::new("node_up", "Whether a node answers its checks"),
            &["node"],
        )
        .expect("valid metric");
        let fallbacks = IntCounterVec::new(
            Opts::new(
                "read_fallbacks_total",
                "Reads not served by the first replica, by reason",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let feed_applied = IntGauge::new(
            "feed_version_applied",
            "Content version up to which this reader has applied the change feed",
        )
        .expect("valid metric");
        metrics.register(Box::new(lag_seconds.clone()));
        metrics.register(Box::new(node_up.clone()));
        metrics.register(Box::new(fallbacks.clone()));
        metrics.register(Box::new(feed_applied.clone()));
        let invalidation = invalidation.clone();
        metrics.on_scrape(move || {
            if let Some(version) = invalidation.seen() {
                feed_applied.set(version);
            }
        });
        Self {
            lag_seconds,
            node_up,
            fallbacks,
        }
    }
}

/// Chooses nodes for reads.
pub struct Router {
    replicas: Vec<Arc<Node>>,
    primary: Option<Arc<Node>>,
    settings: RoutingSettings,
    /// What changed, as the feed of the node reads go to says.
    invalidation: Arc<Invalidation>,
    metrics: RouterMetrics,
    /// Since when the feed could not be read while the node reads go to
    /// held versions not applied.
    feed_failing_since: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("replicas", &self.replicas)
            .field("primary", &self.primary)
            .finish_non_exhaustive()
    }
}

/// No node can serve.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("no database node can serve")]
pub struct NoNode;

impl Router {
    pub fn new(
        replicas: Vec<Arc<Node>>,
        primary: Option<Arc<Node>>,
        settings: RoutingSettings,
        invalidation: Arc<Invalidation>,
        metrics: RouterMetrics,
    ) -> Self {
        Self {
            replicas,
            primary,
            settings,
            invalidation,
            metrics,
            feed_failing_since: Mutex::new(None),
        }
    }

    pub fn settings(&self) -> &RoutingSettings {
        &self.settings
    }

    fn usable(&self, node: &Node) -> bool {
        let h = node.health();
        h.up && (node.is_primary || h.lag_ms <= self.settings.max_lag_ms as f64)
    }

    /// The node for an eventually consistent read: the first usable
    /// replica, else the primary (if configured).
    pub fn choose(&self) -> Result<Arc<Node>, NoNode> {
        self.choose_excluding(None)
    }

    /// Like [`Router::choose`] but never `excluded` (retrying a query that
    /// a replica cancelled).
    pub fn choose_excluding(&self, excluded: Option<&str>) -> Result<Arc<Node>, NoNode> {
        let candidates = self
            .replicas
            .iter()
            .filter(|n| excluded != Some(n.label.as_str()));
        for (i, node) in candidates.enumerate() {
            if self.usable(node) {
                if i > 0 {
                    self.metrics
                        .fallbacks
                        .with_label_values(&["next_replica"])
                        .inc();
                }
                return Ok(node.clone());
            }
        }
        match &self.primary {
            Some(primary) if excluded != Some(primary.label.as_str()) => {
                self.metrics.fallbacks.with_label_values(&["primary"]).inc();
                Ok(primary.clone())
            }
            _ => Err(NoNode),
        }
    }

    /// A node whose data is at least as new as `lsn` (read-your-writes):
    /// a replica that has replayed past it — waiting up to the bound while
    /// asking the best replica cheaply — else the primary.
    pub async fn choose_at_least(&self, lsn: u64) -> Result<Arc<Node>, NoNode> {
        let deadline = Instant::now() + Duration::from_millis(self.settings.ryw_wait_ms);
        loop {
            if let Some(node) = self
                .replicas
                .iter()
                .find(|n| self.usable(n) && n.health().lsn >= lsn)
            {
                return Ok(node.clone());
            }
            if Instant::now() >= deadline {
                break;
            }
            // Ask the first usable replica directly rather than wait for its
            // next check: replay usually catches up within milliseconds.
            if let Some(node) = self.replicas.iter().find(|n| self.usable(n))
                && let Some(replayed) = replay_lsn(node).await
            {
                node.observe_lsn(replayed);
                if replayed >= lsn {
                    return Ok(node.clone());
                }
            }
            tokio::time::sleep(Duration::from_millis(self.settings.ryw_poll_ms.max(1))).await;
        }
        self.metrics
            .fallbacks
            .with_label_values(&["read_your_writes"])
            .inc();
        // The primary even if its last check failed: it is the only node
        // that certainly has the write, and a failed query answers 503.
        self.primary.clone().ok_or(NoNode)
    }

    /// The primary, for retrying a read-your-writes request.
    pub fn primary(&self) -> Option<Arc<Node>> {
        self.primary.clone()
    }

    /// What changed since a cache entry was read.
    pub fn invalidation(&self) -> &Invalidation {
        &self.invalidation
    }

    /// Ready when some node can serve.
    pub fn ready(&self) -> bool {
        self.replicas.iter().any(|n| self.usable(n))
            || self.primary.as_ref().is_some_and(|p| p.health().up)
    }

    /// Starts the checks; they run for the life of the process.
    pub fn spawn_checks(self: &Arc<Self>) {
        let nodes: Vec<Arc<Node>> = self
            .replicas
            .iter()
            .chain(self.primary.iter())
            .cloned()
            .collect();
        for node in nodes {
            let router = Arc::clone(self);
            actix_web::rt::spawn(async move {
                let mut ticker = tokio::time::interval(Duration::from_millis(
                    router.settings.check_interval_ms.max(10),
                ));
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticker.tick().await;
                    router.check(&node).await;
                }
            });
        }
    }

    async fn check(&self, node: &Node) {
        let timeout = Duration::from_millis(self.settings.check_timeout_ms.max(10));
        let before = node.health();
        let outcome = tokio::time::timeout(timeout, probe(node)).await;
        let health = match outcome {
            Ok(Ok(health)) => health,
            Ok(Err(reason)) => down(before, reason, node),
            Err(_) => down(before, "check timed out".into(), node),
        };
        let was_usable = self.usable(node);
        node.set_health(health);
        let is_usable = self.usable(node);
        if was_usable != is_usable || before.up != health.up {
            if is_usable {
                tracing::info!(node = %node.label, lag_ms = health.lag_ms, "replica_online");
            } else if health.up {
                tracing::warn!(node = %node.label, lag_ms = health.lag_ms, reason = "lagging", "replica_offline");
            }
        }
        self.metrics
            .node_up
            .with_label_values(&[&node.label])
            .set(i64::from(health.up));
        if health.up {
            self.metrics
                .lag_seconds
                .with_label_values(&[&node.label])
                .set(health.lag_ms / 1000.0);
        }
        self.follow_feed(node, health).await;
    }

    /// Reads the change feed from `node` when reads go to it and it holds
    /// versions not yet applied: page after page while pages come full,
    /// each bounded by the check timeout. A failed read is retried at the
    /// next check ([`Router::feed_unreadable`]).
    async fn follow_feed(&self, node: &Node, health: Health) {
        let reads_here = self
            .choose_quiet()
            .is_ok_and(|chosen| chosen.label == node.label);
        if !reads_here || self.invalidation.seen() >= Some(health.version) {
            return;
        }
        let timeout = Duration::from_millis(self.settings.check_timeout_ms.max(10));
        for _ in 0..FEED_PAGES {
            let after = self.invalidation.seen().unwrap_or(i64::MAX);
            let poll = match tokio::time::timeout(timeout, read_feed(node, after)).await {
                Ok(Ok(poll)) => poll,
                Ok(Err(e)) => {
                    tracing::warn!(node = %node.label, error = %e, "change feed read failed");
                    return self.feed_unreadable(node, health.version);
                }
                Err(_) => return self.feed_unreadable(node, health.version),
            };
            *lock(&self.feed_failing_since) = None;
            let target = poll.version;
            match self.invalidation.apply(poll, FEED_PAGE) {
                Applied::UpTo(v) if v < target => {}
                Applied::Reset(version) => {
                    tracing::info!(node = %node.label, content.version = version, "cache_reset");
                    return;
                }
                Applied::UpTo(_) | Applied::Nothing => return,
            }
        }
    }

    /// The feed could not be read from `node`, which reads go to and which
    /// is at `version`, past what was applied. Past `max_lag` of that the
    /// reader can no longer say which entries are fresh: it resets at the
    /// node's version, as for a hole in the feed, so that staleness stays
    /// bounded by `max_lag` whatever the cache TTL. (A node that is down
    /// reaches no version: entries then serve until their TTL.)
    fn feed_unreadable(&self, node: &Node, version: i64) {
        let mut since = lock(&self.feed_failing_since);
        let first = *since.get_or_insert_with(Instant::now);
        if first.elapsed() < Duration::from_millis(self.settings.max_lag_ms) {
            return;
        }
        *since = None;
        let behind = FeedPoll {
            version,
            changes: Vec::new(),
        };
        if let Applied::Reset(version) = self.invalidation.apply(behind, FEED_PAGE) {
            tracing::warn!(node = %node.label, content.version = version, reason = "feed unreadable", "cache_reset");
        }
    }

    /// [`Router::choose`] without counting a fallback.
    fn choose_quiet(&self) -> Result<Arc<Node>, NoNode> {
        self.replicas
            .iter()
            .find(|n| self.usable(n))
            .or_else(|| self.primary.as_ref().filter(|p| p.health().up))
            .cloned()
            .ok_or(NoNode)
    }
}

/// Feed rows read per statement.
const FEED_PAGE: usize = 500;
/// Pages read per check: a reader further behind than this many rows
/// resets instead (`Invalidation::apply`) — cheaper than replaying them.
const FEED_PAGES: usize = 8;

/// The node's content version and the feed rows after `after` up to it,
/// in one statement (one snapshot). `after` past every version (before the
/// first poll) reads the version alone.
/// `mutex`'s guard; a panic elsewhere while it was held leaves nothing
/// half-done here (each holder sets whole values).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn read_feed(node: &Node, after: i64) -> Result<FeedPoll, String> {
    let client = node.checks.get().await.map_err(|e| e.to_string())?;
    let stmt = client
        .prepare_cached(
            "SELECT cs.version, c.version AS change, c.surrogate_keys
               FROM content_state cs
               LEFT JOIN LATERAL (
                    SELECT version, surrogate_keys FROM content_changes
                     WHERE version > $1 AND version <= cs.version
                     ORDER BY version LIMIT $2) c ON true
              ORDER BY c.version",
        )
        .await
        .map_err(|e| e.to_string())?;
    let limit = i64::try_from(FEED_PAGE).unwrap_or(i64::MAX);
    let rows = client
        .query(&stmt, &[&after, &limit])
        .await
        .map_err(|e| e.to_string())?;
    let version = rows
        .first()
        .map(|r| r.get::<_, i64>(0))
        .ok_or("no content_state row")?;
    let mut changes = Vec::with_capacity(rows.len());
    for row in &rows {
        let Some(change) = row.get::<_, Option<i64>>(1) else {
            continue;
        };
        let texts: Vec<String> = row.get(2);
        match texts.iter().map(|t| t.parse()).collect() {
            Ok(keys) => changes.push((change, keys)),
            // A key this reader cannot read (a newer writer's): its rows
            // say nothing usable, so none is passed on — a reset.
            Err(platform::surrogate::NotAKey(text)) => {
                tracing::warn!(key = %text, content.version = change, "unreadable change feed key");
                changes.clear();
                break;
            }
        }
    }
    Ok(FeedPoll { version, changes })
}

fn down(before: Health, reason: String, node: &Node) -> Health {
    if before.up {
        tracing::warn!(node = %node.label, reason = %reason, "replica_offline");
    }
    Health {
        up: false,
        lag_ms: f64::INFINITY,
        ..before
    }
}

/// One health check.
async fn probe(node: &Node) -> Result<Health, String> {
    let client = node.checks.get().await.map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "SELECT CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_replay_lsn(), '0/0')
                         ELSE pg_current_wal_lsn() END::text,
                    CASE WHEN NOT pg_is_in_recovery() THEN 0
                         WHEN pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn() THEN 0
                         ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000, 0)
                    END::float8,
                    (SELECT version FROM content_state)",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    let lsn: String = row.get(0);
    let lsn: platform::consistency::Lsn = lsn.parse().map_err(|_| "unparsable LSN".to_owned())?;
    Ok(Health {
        up: true,
        lsn: lsn.0,
        lag_ms: row.get::<_, f64>(1).max(0.0),
        version: row.get(2),
    })
}

/// The replay position of a node, asked directly (read-your-writes wait).
async fn replay_lsn(node: &Node) -> Option<u64> {
    let client = node.checks.get().await.ok()?;
    let row = client
        .query_one(
            "SELECT CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_replay_lsn(), '0/0')
                         ELSE pg_current_wal_lsn() END::text",
            &[],
        )
        .await
        .ok()?;
    let lsn: String = row.get(0);
    lsn.parse::<platform::consistency::Lsn>().ok().map(|l| l.0)
}
