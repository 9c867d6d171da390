//! Surrogate keys: the names of what an answer shows and what a write
//! changes (SPEC §4), so that a CDN — and the reader's own cache — can
//! purge exactly the answers a write made stale. Sent space-separated in
//! `Surrogate-Key`.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// One key. The order of the variants is the order keys are sent in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SurrogateKey {
    /// One review's own page (`review:<id>`).
    Review(i64),
    /// A catalog entry's page and anything naming it (`subject:<slug>`).
    Subject(String),
    /// Every list, search and catalog page (`list`).
    List,
}

impl fmt::Display for SurrogateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Review(id) => write!(f, "review:{id}"),
            Self::Subject(slug) => write!(f, "subject:{slug}"),
            Self::List => f.write_str("list"),
        }
    }
}

/// A text that is not a surrogate key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a surrogate key: {0}")]
pub struct NotAKey(pub String);

impl FromStr for SurrogateKey {
    type Err = NotAKey;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || NotAKey(text.to_owned());
        match text.split_once(':') {
            None if text == "list" => Ok(Self::List),
            Some(("review", id)) => id.parse().map(Self::Review).map_err(|_| invalid()),
            Some(("subject", slug)) if !slug.is_empty() && !slug.contains(' ') => {
                Ok(Self::Subject(slug.to_owned()))
            }
            _ => Err(invalid()),
        }
    }
}

/// A set of keys, each once, in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SurrogateKeys(BTreeSet<SurrogateKey>);

impl SurrogateKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// The keys of a review's own page: the review and its subject.
    pub fn review_page(id: i64, subject_slug: &str) -> Self {
        Self::from_iter([
            SurrogateKey::Review(id),
            SurrogateKey::Subject(subject_slug.to_owned()),
        ])
    }

    /// What a write to a review changes: its page, its subject's pages and
    /// every list.
    pub fn review_write(id: i64, subject_slug: &str) -> Self {
        let mut keys = Self::review_page(id, subject_slug);
        keys.insert(SurrogateKey::List);
        keys
    }

    /// The keys of every list, search and catalog page.
    pub fn lists() -> Self {
        Self::from_iter([SurrogateKey::List])
    }

    pub fn insert(&mut self, key: SurrogateKey) {
        self.0.insert(key);
    }

    pub fn contains(&self, key: &SurrogateKey) -> bool {
        self.0.contains(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = &SurrogateKey> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any key is in both sets (an answer showing `self` is stale
    /// after a write changing `other`).
    pub fn intersects(&self, other: &SurrogateKeys) -> bool {
        self.0.intersection(&other.0).next().is_some()
    }

    /// The `Surrogate-Key` header value: the keys, space-separated.
    pub fn header_value(&self) -> String {
        self.to_string()
    }

    /// Reads a `Surrogate-Key` value back.
    pub fn parse(text: &str) -> Result<Self, NotAKey> {
        text.split_ascii_whitespace().map(str::parse).collect()
    }
}

impl fmt::Display for SurrogateKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, key) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{key}")?;
        }
        Ok(())
    }
}

impl FromIterator<SurrogateKey> for SurrogateKeys {
    fn from_iter<I: IntoIterator<Item = SurrogateKey>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl Extend<SurrogateKey> for SurrogateKeys {
    fn extend<I: IntoIterator<Item = SurrogateKey>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_write_names_its_review_its_subject_and_the_lists_in_that_order() {
        let keys = SurrogateKeys::review_write(7, "sony-a7-iv");
        assert_eq!(keys.header_value(), "review:7 subject:sony-a7-iv list");
        assert_eq!(
            SurrogateKeys::review_page(7, "sony-a7-iv").header_value(),
            "review:7 subject:sony-a7-iv"
        );
    }

    #[test]
    fn sets_meet_where_a_write_makes_an_answer_stale() {
        let write = SurrogateKeys::review_write(7, "a");
        assert!(SurrogateKeys::lists().intersects(&write));
        assert!(SurrogateKeys::review_page(8, "a").intersects(&write));
        assert!(!SurrogateKeys::review_page(8, "b").intersects(&write));
    }

    #[test]
    fn what_is_not_a_key_is_refused() {
        for text in ["", "lists", "review:", "review:x", "subject:", "page:1"] {
            assert!(text.parse::<SurrogateKey>().is_err(), "{text}");
        }
    }

    proptest! {
        #[test]
        fn a_header_value_reads_back_as_the_same_set(
            ids in proptest::collection::vec(1i64..1_000_000, 0..5),
            slugs in proptest::collection::vec("[a-z0-9-]{1,20}", 0..5),
            list in any::<bool>(),
        ) {
            let mut keys: SurrogateKeys = ids.into_iter().map(SurrogateKey::Review).collect();
            keys.extend(slugs.into_iter().map(SurrogateKey::Subject));
            if list {
                keys.insert(SurrogateKey::List);
            }
            prop_assert_eq!(SurrogateKeys::parse(&keys.header_value()), Ok(keys));
        }
    }
}
