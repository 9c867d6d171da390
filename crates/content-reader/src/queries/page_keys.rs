//! The surrogate keys of list, catalog and search pages (SPEC §10.5):
//! which writes can change a page, besides those of the subjects it shows
//! (every write names its review's subject, and every review's and
//! catalog entry's item shows its subject).
//!
//! A write names `list` only when it moves a review (publish, retract, a
//! change of status, dates, rating, subject, language or author), with
//! the review's brand, kind, language and author before and after
//! (`reviews_writer::changed`). A list or catalog page filtered by one of
//! those carries that key instead of `list` ([`list_keys`],
//! [`catalog_keys`]): a review of another brand cannot enter it.
//!
//! A write that changes a text names the stemmed words it added or
//! removed; a search page names the words of its query, as each review
//! language's configuration stems them, so that a write sharing none of
//! them leaves it a hit. Words alone do not always decide: a query with an excluded word
//! (`-word`, or nothing but stop words) can gain a review that has none
//! of its words, so it carries `list` too (a write that moves a review);
//! a phrase can start matching when words move closer without any word
//! changing, so it carries `phrase` (a write that changes a text). Every
//! search carries `search`, which a write names instead of its words when
//! they are too many.

use deadpool_postgres::Transaction;
use platform::surrogate::{SurrogateKey, SurrogateKeys};

use crate::params::{ListFilters, SubjectFilter};

/// The key of a list of reviews that no search narrows: its most
/// selective filter that a write names, else `list`.
pub async fn list_keys(
    tx: &Transaction<'_>,
    f: &ListFilters,
) -> Result<SurrogateKeys, tokio_postgres::Error> {
    let key = match (&f.subject, f.editor, &f.brand, f.kind, f.language) {
        (Some(slug), ..) => SurrogateKey::Subject(slug.clone()),
        (None, Some(editor), ..) => SurrogateKey::Editor(editor),
        (None, None, Some(brand), ..) => brand_key(tx, brand).await?,
        (None, None, None, Some(kind), _) => SurrogateKey::Kind(kind),
        (None, None, None, None, Some(language)) => SurrogateKey::Language(language),
        (None, None, None, None, None) => SurrogateKey::List,
    };
    Ok(SurrogateKeys::from_iter([key]))
}

/// The key of a catalog page: its brand or kind, else `list`.
pub async fn catalog_keys(
    tx: &Transaction<'_>,
    f: &SubjectFilter,
) -> Result<SurrogateKeys, tokio_postgres::Error> {
    let key = match (&f.brand, f.kind) {
        (Some(brand), _) => brand_key(tx, brand).await?,
        (None, Some(kind)) => SurrogateKey::Kind(kind),
        (None, None) => SurrogateKey::List,
    };
    Ok(SurrogateKeys::from_iter([key]))
}

/// A brand's key, lowercased by PostgreSQL as the filter compares it.
async fn brand_key(
    tx: &Transaction<'_>,
    brand: &str,
) -> Result<SurrogateKey, tokio_postgres::Error> {
    let stmt = tx.prepare_cached("SELECT lower($1::text)").await?;
    let row = tx.query_one(&stmt, &[&brand]).await?;
    Ok(SurrogateKey::brand(row.try_get(0)?))
}

/// The query as each language's configuration parses it (the same
/// `websearch_to_tsquery` calls the search makes), as `tsquery` text.
const PARSED: &str = "SELECT websearch_to_tsquery('rcr_es', $1)::text,
        websearch_to_tsquery('rcr_pt', $1)::text,
        websearch_to_tsquery('rcr_en', $1)::text";

/// The keys of every page of the search for `q`, without the subjects
/// it shows.
pub async fn search_keys(
    tx: &Transaction<'_>,
    q: &str,
) -> Result<SurrogateKeys, tokio_postgres::Error> {
    let stmt = tx.prepare_cached(PARSED).await?;
    let row = tx.query_one(&stmt, &[&q]).await?;
    let mut keys = SurrogateKeys::from_iter([SurrogateKey::Searches]);
    for i in 0..3 {
        keys.extend(Parsed::of(row.try_get::<_, &str>(i)?).keys());
    }
    Ok(keys)
}

/// What one `tsquery` text says about the pages it finds.
#[derive(Debug, Default, PartialEq, Eq)]
struct Parsed {
    words: Vec<String>,
    excludes: bool,
    phrase: bool,
}

impl Parsed {
    /// Reads `'word'` operands (a quote inside doubled, a backslash
    /// escaping the next character) and the operators between them:
    /// `!` excludes, `<->` / `<N>` is a phrase; `&`, `|` and parentheses
    /// need nothing.
    fn of(text: &str) -> Self {
        let mut parsed = Self::default();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\'' => {
                    let mut word = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '\'' if chars.peek() == Some(&'\'') => {
                                chars.next();
                                word.push('\'');
                            }
                            '\'' => break,
                            '\\' => word.extend(chars.next()),
                            c => word.push(c),
                        }
                    }
                    parsed.words.push(word);
                }
                '!' => parsed.excludes = true,
                '<' => parsed.phrase = true,
                _ => {}
            }
        }
        parsed
    }

    fn keys(&self) -> SurrogateKeys {
        let mut keys: SurrogateKeys = self.words.iter().map(|w| SurrogateKey::word(w)).collect();
        if self.excludes || self.words.is_empty() {
            keys.insert(SurrogateKey::List);
        }
        if self.phrase {
            keys.insert(SurrogateKey::Phrases);
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(words: &[&str], excludes: bool, phrase: bool) -> Parsed {
        Parsed {
            words: words.iter().map(|w| (*w).to_owned()).collect(),
            excludes,
            phrase,
        }
    }

    #[test]
    fn operands_and_operators_are_read_from_tsquery_text() {
        for (text, expected) in [
            ("'sharp' & 'len'", parsed(&["sharp", "len"], false, false)),
            ("'a' | 'b' & !'c'", parsed(&["a", "b", "c"], true, false)),
            (
                "'wide' <-> 'angl' & 'x'",
                parsed(&["wide", "angl", "x"], false, true),
            ),
            ("( 'a' <2> 'b' )", parsed(&["a", "b"], false, true)),
            (
                "'o''brien' & 'a\\\\b'",
                parsed(&["o'brien", "a\\b"], false, false),
            ),
            (
                "'câmera' & '<x>!'",
                parsed(&["câmera", "<x>!"], false, false),
            ),
            ("", parsed(&[], false, false)),
        ] {
            assert_eq!(Parsed::of(text), expected, "{text}");
        }
    }

    #[test]
    fn exclusions_and_empty_queries_carry_list_and_phrases_carry_phrase() {
        let words = Parsed::of("'a' & 'b'").keys();
        assert_eq!(
            words,
            SurrogateKeys::from_iter([SurrogateKey::word("a"), SurrogateKey::word("b")])
        );
        assert!(Parsed::of("!'a'").keys().contains(&SurrogateKey::List));
        assert!(Parsed::of("").keys().contains(&SurrogateKey::List));
        let phrase = Parsed::of("'a' <-> 'b'").keys();
        assert!(phrase.contains(&SurrogateKey::Phrases));
        assert!(!phrase.contains(&SurrogateKey::List));
    }
}
