//! Which cache entries are still fresh (SPEC §10.5): per surrogate key,
//! not per global version, so that a write evicts the pages it changes
//! and no other.
//!
//! The router reads the change feed (`content_changes`) from the replica
//! reads go to, in one snapshot with its `content_state.version`
//! (`crate::router`), and hands every row here in version order. For each
//! surrogate key this keeps the last version that changed it; an entry
//! read at version `v` showing keys `K` is fresh while, for every `k` in
//! `K`, `v >= last_change(k)` — whoever made it, this reader or another
//! one of the region through Redis. Below `floor` nothing is fresh: before
//! the first poll, after a gap in the feed (rows purged past the
//! retention, versions bumped without a row, a reader far behind), and
//! for changes forgotten after `keep`.
//!
//! Forgetting is what bounds the map: a change older than `keep` (the
//! cache TTL, past which every entry has expired anyway) is dropped and
//! its version raises the floor instead, so an entry older than a change
//! this reader no longer remembers is never trusted.

use std::collections::{HashMap, VecDeque};
use std::sync::RwLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use platform::surrogate::{SurrogateKey, SurrogateKeys};

/// Why an entry is not fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// A change after its version touched one of its keys.
    Key,
    /// It is older than the floor (first poll, feed gap, forgotten change).
    Reset,
}

impl Stale {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Reset => "reset",
        }
    }
}

/// What one feed poll read, in one snapshot: the node's content version
/// and the rows after the version asked for, oldest first (at most the
/// limit asked for, none past `version`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPoll {
    pub version: i64,
    pub changes: Vec<(i64, SurrogateKeys)>,
}

/// What applying a poll did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Nothing new (or the node is behind what was already applied).
    Nothing,
    /// Every row up to this version applied; more rows wait past it when
    /// it is below the node's version.
    UpTo(i64),
    /// The feed could not say what changed: every older entry dropped.
    Reset(i64),
}

/// The last change of each key, and the floor.
#[derive(Debug)]
struct Known {
    floor: i64,
    last: HashMap<SurrogateKey, i64>,
    /// Applied changes by the time they were applied, to forget them
    /// after `keep`.
    log: VecDeque<(Instant, i64, SurrogateKeys)>,
}

/// The region's changes as this reader knows them.
#[derive(Debug)]
pub struct Invalidation {
    known: RwLock<Known>,
    /// Every change up to this version is applied; -1 before the first
    /// poll. Read without the lock by a second single-flight read.
    seen: AtomicI64,
    keep: Duration,
}

/// Before the first poll nothing is fresh.
const UNKNOWN: i64 = -1;

impl Invalidation {
    /// Remembers changes for `keep` (the cache TTL).
    pub fn new(keep: Duration) -> Self {
        Self {
            known: RwLock::new(Known {
                floor: i64::MAX,
                last: HashMap::new(),
                log: VecDeque::new(),
            }),
            seen: AtomicI64::new(UNKNOWN),
            keep,
        }
    }

    /// The version every change up to which is applied, if any poll has
    /// succeeded yet.
    pub fn seen(&self) -> Option<i64> {
        Some(self.seen.load(Ordering::Acquire)).filter(|&v| v != UNKNOWN)
    }

    /// Whether an entry read at `version` showing `keys` may be served.
    pub fn check(&self, version: i64, keys: &SurrogateKeys) -> Result<(), Stale> {
        let known = self
            .known
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if version < known.floor {
            return Err(Stale::Reset);
        }
        if known.last.is_empty() {
            return Ok(());
        }
        match keys
            .iter()
            .any(|k| known.last.get(k).is_some_and(|&v| v > version))
        {
            true => Err(Stale::Key),
            false => Ok(()),
        }
    }

    /// Applies one poll: its rows when they follow what was applied
    /// without a hole, else a reset at the node's version.
    pub fn apply(&self, poll: FeedPoll, limit: usize) -> Applied {
        let mut known = self
            .known
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        known.forget(now, self.keep);
        let Some(seen) = self.seen() else {
            return self.reset(&mut known, poll.version);
        };
        if poll.version <= seen {
            return Applied::Nothing;
        }
        let follows = poll
            .changes
            .iter()
            .zip(seen + 1..)
            .all(|((version, _), expected)| *version == expected);
        let last = poll.changes.last().map_or(seen, |(v, _)| *v);
        // Every version up to the node's must have its row, unless the
        // page was full and the rest waits for the next poll.
        if !follows || (last < poll.version && poll.changes.len() < limit) {
            return self.reset(&mut known, poll.version);
        }
        for (version, keys) in poll.changes {
            for key in keys.iter() {
                known.last.insert(key.clone(), version);
            }
            known.log.push_back((now, version, keys));
        }
        self.seen.store(last, Ordering::Release);
        Applied::UpTo(last)
    }

    fn reset(&self, known: &mut Known, version: i64) -> Applied {
        known.floor = version;
        known.last.clear();
        known.log.clear();
        self.seen.store(version, Ordering::Release);
        Applied::Reset(version)
    }
}

impl Known {
    /// Drops changes applied longer than `keep` ago, raising the floor to
    /// the newest of them.
    fn forget(&mut self, now: Instant, keep: Duration) {
        let mut raised = false;
        while let Some((at, version, _)) = self.log.front() {
            if now.duration_since(*at) < keep {
                break;
            }
            self.floor = self.floor.max(*version);
            self.log.pop_front();
            raised = true;
        }
        if raised {
            let floor = self.floor;
            self.last.retain(|_, v| *v > floor);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a write that moves review `id` of `subject` names (among
    /// others): its page, its subject and the lists.
    fn moved(id: i64, subject: &str) -> SurrogateKeys {
        let mut keys = SurrogateKeys::review_page(id, subject);
        keys.insert(platform::surrogate::SurrogateKey::List);
        keys
    }

    fn review(id: i64, subject: &str) -> SurrogateKeys {
        SurrogateKeys::review_page(id, subject)
    }

    fn poll(version: i64, changes: &[(i64, SurrogateKeys)]) -> FeedPoll {
        FeedPoll {
            version,
            changes: changes.to_vec(),
        }
    }

    fn started_at(version: i64) -> Invalidation {
        let inv = Invalidation::new(Duration::from_secs(300));
        assert_eq!(inv.apply(poll(version, &[]), 100), Applied::Reset(version));
        inv
    }

    #[test]
    fn nothing_is_fresh_before_the_first_poll_and_nothing_older_than_it_after() {
        let inv = Invalidation::new(Duration::from_secs(300));
        assert_eq!(inv.check(5, &SurrogateKeys::lists()), Err(Stale::Reset));
        assert_eq!(inv.seen(), None);
        let inv = started_at(10);
        assert_eq!(inv.seen(), Some(10));
        assert_eq!(inv.check(9, &SurrogateKeys::lists()), Err(Stale::Reset));
        assert_eq!(inv.check(10, &SurrogateKeys::lists()), Ok(()));
    }

    #[test]
    fn a_write_to_one_review_leaves_another_reviews_page_fresh() {
        let inv = started_at(10);
        let write = moved(1, "a");
        assert_eq!(inv.apply(poll(11, &[(11, write)]), 100), Applied::UpTo(11));
        assert_eq!(inv.check(10, &review(1, "a")), Err(Stale::Key));
        assert_eq!(inv.check(10, &SurrogateKeys::lists()), Err(Stale::Key));
        assert_eq!(inv.check(10, &review(2, "b")), Ok(()));
        // Read after the write: fresh again.
        assert_eq!(inv.check(11, &review(1, "a")), Ok(()));
        assert_eq!(inv.check(11, &SurrogateKeys::lists()), Ok(()));
    }

    #[test]
    fn a_hole_in_the_feed_drops_everything_older() {
        let inv = started_at(10);
        // Version 11 has no row (purged, or bumped without one).
        let write = moved(1, "a");
        assert_eq!(inv.apply(poll(12, &[(12, write)]), 100), Applied::Reset(12));
        assert_eq!(inv.check(11, &review(2, "b")), Err(Stale::Reset));
        assert_eq!(inv.check(12, &review(2, "b")), Ok(()));
        // A node at a version past its last row: a reset too.
        assert_eq!(inv.apply(poll(14, &[]), 100), Applied::Reset(14));
    }

    #[test]
    fn a_full_page_is_applied_and_the_rest_waits_for_the_next_poll() {
        let inv = started_at(10);
        let keys = SurrogateKeys::lists();
        let page = [(11, keys.clone()), (12, keys.clone())];
        assert_eq!(inv.apply(poll(20, &page), 2), Applied::UpTo(12));
        assert_eq!(inv.seen(), Some(12));
        // A node behind what was applied teaches nothing.
        assert_eq!(inv.apply(poll(12, &[]), 2), Applied::Nothing);
    }

    #[test]
    fn a_forgotten_change_raises_the_floor_and_empties_the_map() {
        let inv = Invalidation::new(Duration::ZERO);
        inv.apply(poll(10, &[]), 100);
        let write = moved(1, "a");
        inv.apply(poll(11, &[(11, write)]), 100);
        // The next poll forgets the change at once (keep is zero).
        inv.apply(poll(11, &[]), 100);
        let known = inv.known.read().expect("lock");
        assert_eq!(known.floor, 11);
        assert!(known.last.is_empty());
        drop(known);
        assert_eq!(inv.check(10, &review(2, "b")), Err(Stale::Reset));
    }
}
