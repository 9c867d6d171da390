//! Surrogate keys: the names of what an answer shows and what a write
//! changes (SPEC §4), so that a CDN — and the reader's own cache — can
//! purge exactly the answers a write made stale. Sent space-separated in
//! `Surrogate-Key`.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use domain::{Language, SubjectKind};

/// One key. The order of the variants is the order keys are sent in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SurrogateKey {
    /// One review's own page (`review:<id>`).
    Review(i64),
    /// Every page showing a subject (`subject:<slug>`): its own, its
    /// reviews', comparisons, and every list, search and catalog page
    /// with it or one of its reviews. Every write to a review names it.
    Subject(String),
    /// The list and catalog pages of one brand (`brand:<hash>`, the brand
    /// as PostgreSQL's `lower` gives it, hashed by [`word_hash`]).
    Brand(u64),
    /// The list and catalog pages of one kind of subject (`kind:<kind>`).
    Kind(SubjectKind),
    /// The list pages of one language (`language:<code>`).
    Language(Language),
    /// The list pages of one editor's reviews (`editor:<id>`).
    Editor(i64),
    /// Every page whose reviews a write can add, drop or reorder without
    /// showing them before (`list`): the list and catalog pages no
    /// filter key above names, and the searches no word names alone (an
    /// excluded word, no word at all). A write emits it, and the filter
    /// keys of the review before and after, when it moves a review:
    /// publishes, retracts, or changes its status, dates, rating,
    /// subject, language or author.
    List,
    /// Every search page (`search`): a write emits it instead of the words
    /// it changed when they are more than [`MAX_NAMED_WORDS`].
    Searches,
    /// Every search with a phrase (`phrase`): a phrase can start or stop
    /// matching when words move without any word changing. A write emits
    /// it when it changes the text of a review that is or will be public.
    Phrases,
    /// The search pages whose query has this word (`term:<hash>`, the
    /// word as the search configuration stems it, hashed by [`word_hash`]
    /// so that a header stays short and ASCII). A write emits the words it
    /// adds to or removes from a review's title, heading, opening or body
    /// — and every word of a review it moves.
    Term(u64),
}

/// Past this many changed words a write names [`SurrogateKey::Searches`]
/// instead (a new long review has hundreds): a `Surrogate-Key` header
/// stays within a few kilobytes.
pub const MAX_NAMED_WORDS: usize = 128;

/// The 48-bit hash that names a stemmed word in a [`SurrogateKey::Term`]:
/// FNV-1a over its UTF-8 bytes. Two words sharing one only evict a page
/// more often than needed.
pub fn word_hash(word: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in word.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash & WORD_HASH_MASK
}

const WORD_HASH_MASK: u64 = (1 << 48) - 1;

impl fmt::Display for SurrogateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Review(id) => write!(f, "review:{id}"),
            Self::Subject(slug) => write!(f, "subject:{slug}"),
            Self::Brand(hash) => write!(f, "brand:{hash:012x}"),
            Self::Kind(kind) => write!(f, "kind:{kind}"),
            Self::Language(language) => write!(f, "language:{language}"),
            Self::Editor(id) => write!(f, "editor:{id}"),
            Self::List => f.write_str("list"),
            Self::Searches => f.write_str("search"),
            Self::Phrases => f.write_str("phrase"),
            Self::Term(hash) => write!(f, "term:{hash:012x}"),
        }
    }
}

impl SurrogateKey {
    /// The key of the searches for a stemmed word.
    pub fn word(word: &str) -> Self {
        Self::Term(word_hash(word))
    }

    /// The key of a brand's pages, from the brand as PostgreSQL's `lower`
    /// gives it (the lists match brands that way).
    pub fn brand(lowered: &str) -> Self {
        Self::Brand(word_hash(lowered))
    }
}

/// Twelve lowercase hex digits, as [`SurrogateKey`] writes a hash.
fn parse_hash(text: &str) -> Option<u64> {
    let hex = text.len() == 12 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    hex.then(|| u64::from_str_radix(text, 16).ok()).flatten()
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
            None if text == "search" => Ok(Self::Searches),
            None if text == "phrase" => Ok(Self::Phrases),
            Some(("term", hash)) => parse_hash(hash).map(Self::Term).ok_or_else(invalid),
            Some(("brand", hash)) => parse_hash(hash).map(Self::Brand).ok_or_else(invalid),
            Some(("kind", kind)) => kind.parse().map(Self::Kind).map_err(|_| invalid()),
            Some(("language", code)) => code.parse().map(Self::Language).map_err(|_| invalid()),
            Some(("editor", id)) => id.parse().map(Self::Editor).map_err(|_| invalid()),
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

    /// `list` alone: the keys of a list or catalog page no filter narrows,
    /// before the subjects it shows.
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

impl IntoIterator for SurrogateKeys {
    type Item = SurrogateKey;
    type IntoIter = std::collections::btree_set::IntoIter<SurrogateKey>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
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
    fn keys_are_sent_review_subject_lists_searches_then_words() {
        let mut keys = SurrogateKeys::review_page(7, "sony-a7-iv");
        keys.extend([
            SurrogateKey::word("lens"),
            SurrogateKey::Phrases,
            SurrogateKey::Searches,
            SurrogateKey::List,
        ]);
        assert_eq!(
            keys.header_value(),
            format!(
                "review:7 subject:sony-a7-iv list search phrase term:{:012x}",
                word_hash("lens")
            )
        );
    }

    #[test]
    fn a_word_is_named_by_a_short_stable_hash() {
        // FNV-1a 64 of "lens", its low 48 bits: the writer and every reader
        // of every version must agree on it.
        assert_eq!(word_hash("lens"), 0x87ad_a1ed_7c0d);
        assert_eq!(
            SurrogateKey::word("lens").to_string().len(),
            "term:".len() + 12
        );
        assert_ne!(word_hash("lens"), word_hash("lente"));
        assert_eq!(word_hash("câmera"), word_hash("câmera"));
    }

    #[test]
    fn sets_meet_where_a_write_makes_an_answer_stale() {
        let mut write = SurrogateKeys::review_page(7, "a");
        write.insert(SurrogateKey::List);
        assert!(SurrogateKeys::lists().intersects(&write));
        assert!(SurrogateKeys::review_page(8, "a").intersects(&write));
        assert!(!SurrogateKeys::review_page(8, "b").intersects(&write));
    }

    #[test]
    fn what_is_not_a_key_is_refused() {
        for text in [
            "",
            "lists",
            "review:",
            "review:x",
            "subject:",
            "page:1",
            "term:",
            "term:abc",
            "term:+0000000000a",
            "term:00000000000A",
            "term:0000000000000",
            "brand:x",
            "kind:body",
            "language:fr",
            "editor:x",
        ] {
            assert!(text.parse::<SurrogateKey>().is_err(), "{text}");
        }
    }

    proptest! {
        #[test]
        fn a_header_value_reads_back_as_the_same_set(
            ids in proptest::collection::vec(1i64..1_000_000, 0..5),
            slugs in proptest::collection::vec("[a-z0-9-]{1,20}", 0..5),
            words in proptest::collection::vec("\\PC{1,12}", 0..5),
            list in any::<bool>(),
        ) {
            let mut keys: SurrogateKeys = ids.into_iter().map(SurrogateKey::Review).collect();
            keys.extend(slugs.into_iter().map(SurrogateKey::Subject));
            keys.extend(words.iter().map(|w| SurrogateKey::word(w)));
            keys.extend(words.iter().map(|w| SurrogateKey::brand(w)));
            keys.extend([
                SurrogateKey::Kind(SubjectKind::Lens),
                SurrogateKey::Language(Language::Pt),
                SurrogateKey::Editor(3),
            ]);
            if list {
                keys.extend([SurrogateKey::List, SurrogateKey::Searches, SurrogateKey::Phrases]);
            }
            prop_assert_eq!(SurrogateKeys::parse(&keys.header_value()), Ok(keys));
        }
    }
}
