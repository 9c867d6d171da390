//! What a write to one review changes (SPEC §10.5): the surrogate keys of
//! every public page it can make stale, and no more, from the review as
//! it was and as it is, both read inside the write's transaction.
//!
//! - Its own page and its subject's pages (`review:<id>`, `subject:<slug>`,
//!   both subjects when it moved): always.
//! - When the review moves — it becomes or stops being public or
//!   scheduled, or its status, dates, rating, subject, language or author
//!   change — `list`, its brand, kind, language and author before and
//!   after (the lists filtered by one of them carry that key instead of
//!   `list`), and every word of it before and after: it can enter or leave
//!   any list it matches, and any search one of its words finds.
//! - When only its text changes, the words it gained or lost in any of the
//!   vectors a search matches or ranks by (title, heading, opening, whole
//!   review), and `phrase`: a page that shows the review carries its
//!   subject's key, and a search that did not show it can only start
//!   showing it through a word that changed (or a phrase whose words
//!   moved).
//! - A draft that stays a draft shows nowhere but its own page.
//!
//! Past [`MAX_NAMED_WORDS`] changed words the write names `search`
//! instead, every search page.

use std::collections::BTreeSet;

use deadpool_postgres::GenericClient;
use platform::error::CommonError;
use platform::surrogate::{MAX_NAMED_WORDS, SurrogateKey, SurrogateKeys};

use crate::error::WriteError;

/// One review as the caches see it, at one moment of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Public, or scheduled to be: on public pages now or at its release.
    pub shown: bool,
    /// Everything lists filter or sort by, as one text: a change to it
    /// moves the review.
    pub placement: String,
    pub subject_slug: String,
    /// The keys of the lists filtered to it: brand, kind, language, author.
    pub filters: [SurrogateKey; 4],
    /// The stemmed words of its title, heading, opening and whole review.
    pub words: [Vec<String>; 4],
    /// Changes with the vectors' positions too: the text changed.
    pub text_digest: String,
}

/// The review's facts, whatever its status (a retracted review too).
const FACTS: &str = "\
    SELECT r.status IN ('published', 'scheduled') AND r.deleted_at IS NULL,
           ROW(r.status, r.publish_at, r.published_at, r.deleted_at, r.rating,
               r.subject_id, r.language, r.editor_id)::text,
           s.slug,
           tsvector_to_array(r.title_document), tsvector_to_array(r.heading_document),
           tsvector_to_array(r.rank_document), tsvector_to_array(r.search_document),
           md5(r.title_document::text || r.heading_document::text
               || r.rank_document::text || r.search_document::text),
           lower(s.brand), s.kind, r.language, r.editor_id
      FROM reviews r JOIN subjects s ON s.id = r.subject_id
     WHERE r.id = $1";

impl Facts {
    /// Reads review `id` as the transaction sees it.
    pub async fn load(client: &impl GenericClient, id: i64) -> Result<Self, WriteError> {
        let stmt = client.prepare_cached(FACTS).await?;
        let row = client
            .query_opt(&stmt, &[&id])
            .await?
            .ok_or(WriteError::NotFound)?;
        let text = |i: usize| -> Result<String, WriteError> { Ok(row.try_get(i)?) };
        let filters = [
            SurrogateKey::brand(&text(8)?),
            SurrogateKey::Kind(text(9)?.parse().map_err(CommonError::internal)?),
            SurrogateKey::Language(text(10)?.parse().map_err(CommonError::internal)?),
            SurrogateKey::Editor(row.try_get(11)?),
        ];
        Ok(Self {
            filters,
            shown: row.try_get(0)?,
            placement: row.try_get(1)?,
            subject_slug: row.try_get(2)?,
            words: [
                row.try_get(3)?,
                row.try_get(4)?,
                row.try_get(5)?,
                row.try_get(6)?,
            ],
            text_digest: row.try_get(7)?,
        })
    }
}

/// What a write that took review `id` from `before` (none: created) to
/// `after` (none: retracted) changed.
pub fn keys(id: i64, before: Option<&Facts>, after: Option<&Facts>) -> SurrogateKeys {
    let mut keys = SurrogateKeys::new();
    keys.insert(SurrogateKey::Review(id));
    for facts in before.iter().chain(after.iter()) {
        keys.insert(SurrogateKey::Subject(facts.subject_slug.clone()));
    }
    let (was, is) = (before.filter(|f| f.shown), after.filter(|f| f.shown));
    if was.is_none() && is.is_none() {
        return keys;
    }
    let words: BTreeSet<&str> = match (was, is) {
        (Some(was), Some(is)) if was.placement == is.placement => {
            if was.text_digest == is.text_digest {
                return keys;
            }
            keys.insert(SurrogateKey::Phrases);
            changed_words(was, is)
        }
        _ => {
            keys.insert(SurrogateKey::List);
            for facts in was.iter().chain(is.iter()) {
                keys.extend(facts.filters.iter().cloned());
            }
            was.iter()
                .chain(is.iter())
                .flat_map(|f| f.words.iter().flatten().map(String::as_str))
                .collect()
        }
    };
    if words.len() > MAX_NAMED_WORDS {
        keys.insert(SurrogateKey::Searches);
    } else {
        keys.extend(words.into_iter().map(SurrogateKey::word));
    }
    keys
}

/// The words in one of the four vectors before or after but not both.
fn changed_words<'a>(was: &'a Facts, is: &'a Facts) -> BTreeSet<&'a str> {
    was.words
        .iter()
        .zip(&is.words)
        .flat_map(|(old, new)| {
            let old: BTreeSet<&str> = old.iter().map(String::as_str).collect();
            let new: BTreeSet<&str> = new.iter().map(String::as_str).collect();
            old.symmetric_difference(&new).copied().collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(shown: bool, placement: &str, words: [&[&str]; 4]) -> Facts {
        let words = words.map(|w| w.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        Facts {
            shown,
            filters: [
                SurrogateKey::brand("fujifilm"),
                SurrogateKey::Kind(domain::SubjectKind::Camera),
                SurrogateKey::Language(domain::Language::En),
                SurrogateKey::Editor(3),
            ],
            placement: placement.to_owned(),
            subject_slug: "x-t5".to_owned(),
            text_digest: format!("{words:?}"),
            words,
        }
    }

    fn named(keys: &SurrogateKeys) -> String {
        keys.header_value()
    }

    fn with_words(base: &str, words: &[&str]) -> String {
        let mut keys: SurrogateKeys = base.split(' ').map(|k| k.parse().unwrap()).collect();
        keys.extend(words.iter().map(|w| SurrogateKey::word(w)));
        keys.header_value()
    }

    /// The filter keys of every review here, as sent.
    const FILTERS: &str = "brand:dfdfc00e7d37 kind:camera language:en editor:3";

    const BEFORE: [&[&str]; 4] = [
        &["sharp"],
        &["fuji", "sharp"],
        &["fuji", "grip", "sharp"],
        &["fuji", "grip", "sharp", "video"],
    ];

    #[test]
    fn a_text_edit_names_the_words_it_changed_and_phrases_but_not_the_lists() {
        let was = facts(true, "p", BEFORE);
        let mut is = was.clone();
        is.words[2] = vec!["fuji".into(), "sharp".into(), "weight".into()];
        is.text_digest = "other".into();
        assert_eq!(
            named(&keys(7, Some(&was), Some(&is))),
            with_words("review:7 subject:x-t5 phrase", &["grip", "weight"])
        );
    }

    #[test]
    fn an_edit_that_moves_no_word_names_only_the_review_or_phrases() {
        let was = facts(true, "p", BEFORE);
        assert_eq!(
            named(&keys(7, Some(&was), Some(&was))),
            "review:7 subject:x-t5"
        );
        let mut reworded = was.clone();
        reworded.text_digest = "positions moved".into();
        assert_eq!(
            named(&keys(7, Some(&was), Some(&reworded))),
            "review:7 subject:x-t5 phrase"
        );
    }

    #[test]
    fn publishing_moving_or_retracting_names_the_lists_and_every_word() {
        let draft = facts(false, "draft", BEFORE);
        let public = facts(true, "published", BEFORE);
        let every = ["sharp", "fuji", "grip", "video"];
        let moved = with_words(&format!("review:7 subject:x-t5 {FILTERS} list"), &every);
        assert_eq!(named(&keys(7, Some(&draft), Some(&public))), moved);
        assert_eq!(named(&keys(7, None, Some(&public))), moved);
        assert_eq!(named(&keys(7, Some(&public), None)), moved);
        let rated = facts(true, "rated", BEFORE);
        assert_eq!(named(&keys(7, Some(&public), Some(&rated))), moved);
    }

    #[test]
    fn a_draft_shows_nowhere_but_its_own_page() {
        let draft = facts(false, "draft", BEFORE);
        let mut edited = facts(false, "draft rated", [&["new"], &[], &[], &[]]);
        edited.subject_slug = "a7-iv".into();
        assert_eq!(
            named(&keys(7, Some(&draft), Some(&edited))),
            "review:7 subject:a7-iv subject:x-t5"
        );
        assert_eq!(named(&keys(7, None, Some(&draft))), "review:7 subject:x-t5");
    }

    #[test]
    fn past_the_cap_a_write_names_every_search_instead_of_its_words() {
        let long: Vec<String> = (0..=MAX_NAMED_WORDS).map(|i| format!("w{i}")).collect();
        let mut public = facts(true, "published", [&[], &[], &[], &[]]);
        public.words[3] = long;
        assert_eq!(
            named(&keys(7, None, Some(&public))),
            format!("review:7 subject:x-t5 {FILTERS} list search")
        );
    }
}
