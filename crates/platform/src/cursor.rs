//! Opaque, tamper-evident keyset cursors for paginated lists (SPEC §4).
//!
//! Every list answers `{data, next_cursor}`; the cursor names the last row
//! of the page (its sort key and id), and the next page starts strictly
//! after it, which keeps paging stable under concurrent inserts. Clients
//! must not be able to edit a cursor: a hand-made position could reach
//! rows another filter hides or feed the query values it never validated.
//! So a cursor is the position as JSON plus a MAC, and the MAC also covers
//! a *scope* (list, sort and a hash of the filters) that is not stored in
//! the cursor: a cursor from one list, sort or filter set fails on another
//! instead of silently paging through the wrong rows.
//!
//! Wire form: `base64url(json) "." base64url(first 16 bytes of HMAC-SHA256)`
//! over `"rcr-cursor-v1" | len(scope) as u64 BE | scope | json`. The length
//! prefix keeps scope and JSON from sliding into each other (scope `ab` with
//! JSON `c…` must not sign the same bytes as scope `a` with JSON `bc…`); the
//! domain prefix keeps cursor MACs apart from consistency-token MACs even
//! when an operator gives both the same secret.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

pub use crate::consistency::{KeyTooShort, MIN_SECRET_LEN};
use crate::consistency::{hmac_key, hmac_key_from_settings};

/// Cursors longer than this are refused before decoding. The longest
/// position a service makes, a catalog page ending at a brand and a model
/// of 100 four-byte characters each, encodes to about 1,130 characters;
/// the rest is slack for lowercasing that lengthens a name.
pub const MAX_CURSOR_LEN: usize = 2048;

/// Keeps cursor MACs apart from every other MAC made with the same secret.
const DOMAIN: &[u8] = b"rcr-cursor-v1";

/// How many leading bytes of the HMAC-SHA256 output travel in the cursor.
const TAG_LEN: usize = 16;

/// Why a cursor was refused. The messages are safe to show the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("the cursor is malformed")]
    Malformed,
    #[error("the cursor is invalid or belongs to another list")]
    BadSignature,
}

/// The secret that signs cursors. Like `TokenKey`, it keeps the keyed HMAC
/// state, not the raw secret, and never prints it.
#[derive(Clone)]
pub struct CursorKey(Hmac<Sha256>);

impl fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

impl CursorKey {
    /// The key of a secret setting named `name`.
    pub fn from_settings(
        settings: &crate::settings::SecretSettings,
        name: &str,
    ) -> Result<Self, crate::settings::SettingsError> {
        hmac_key_from_settings(settings, name).map(CursorKey)
    }

    pub fn new(secret: &[u8]) -> Result<Self, KeyTooShort> {
        hmac_key(secret).map(CursorKey)
    }

    /// The `next_cursor` for a page ending at `position`, valid only for
    /// `scope`.
    ///
    /// # Panics
    ///
    /// If `position` cannot be written as JSON (a map with non-string keys,
    /// a `Serialize` impl that fails): positions are plain tuples or structs
    /// of the sort key and id, so that is a programming error, not input.
    pub fn encode<T: Serialize>(&self, scope: &str, position: &T) -> String {
        let json = serde_json::to_vec(position).expect("cursor positions are plain JSON values");
        let tag = self.mac(scope, &json).finalize().into_bytes();
        let mut text = URL_SAFE_NO_PAD.encode(&json);
        text.push('.');
        URL_SAFE_NO_PAD.encode_string(&tag[..TAG_LEN], &mut text);
        text
    }

    /// The position in a client's `cursor`, if this key signed it for
    /// `scope`. The MAC is checked (in constant time) before the JSON is
    /// parsed, so untrusted JSON never reaches serde.
    pub fn decode<T: DeserializeOwned>(&self, scope: &str, text: &str) -> Result<T, CursorError> {
        if text.len() > MAX_CURSOR_LEN {
            return Err(CursorError::Malformed);
        }
        let (json, tag) = text.split_once('.').ok_or(CursorError::Malformed)?;
        // The engine refuses padding and non-zero trailing bits, so each
        // cursor has one spelling; a second `.` fails here too, as it is not
        // in the alphabet.
        let json = URL_SAFE_NO_PAD
            .decode(json)
            .map_err(|_| CursorError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| CursorError::Malformed)?;
        if tag.len() != TAG_LEN {
            return Err(CursorError::Malformed);
        }
        self.mac(scope, &json)
            .verify_truncated_left(&tag)
            .map_err(|_| CursorError::BadSignature)?;
        // Only reachable with a cursor we signed whose position type has
        // since changed (a deploy between two pages): the client should
        // start over, which is what a 400 tells it.
        serde_json::from_slice(&json).map_err(|_| CursorError::Malformed)
    }

    fn mac(&self, scope: &str, json: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(DOMAIN);
        mac.update(&(scope.len() as u64).to_be_bytes());
        mac.update(scope.as_bytes());
        mac.update(json);
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing::Damage;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const SCOPE: &str = "content:newest:5f2c";

    fn key() -> CursorKey {
        CursorKey::new(SECRET).expect("32 bytes is long enough")
    }

    fn sample() -> (i64, String) {
        (1_700_000_000, "2d1b0c5e".to_owned())
    }

    #[test]
    fn a_cursor_decodes_to_the_position_it_was_made_from() {
        let text = key().encode(SCOPE, &sample());
        assert_eq!(key().decode(SCOPE, &text), Ok(sample()));
    }

    #[test]
    fn a_cursor_is_url_safe() {
        let text = key().encode(SCOPE, &(i64::MIN, "ü/?&=+ spaces".to_owned()));
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        );
    }

    #[test]
    fn a_secret_shorter_than_32_bytes_is_refused() {
        assert_eq!(
            CursorKey::new(b"short").map(|_| ()),
            Err(KeyTooShort { actual: 5 })
        );
    }

    #[test]
    fn the_key_does_not_print_its_secret() {
        let printed = format!("{:?}", key());
        assert!(!printed.contains("0123"), "{printed}");
    }

    #[test]
    fn a_cursor_from_another_list_or_filter_set_is_refused() {
        let text = key().encode(SCOPE, &sample());
        assert_eq!(
            key().decode::<(i64, String)>("content:oldest:5f2c", &text),
            Err(CursorError::BadSignature)
        );
        assert_eq!(
            key().decode::<(i64, String)>("content:newest:9a01", &text),
            Err(CursorError::BadSignature)
        );
    }

    #[test]
    fn a_cursor_signed_with_another_key_is_refused() {
        let other = CursorKey::new(b"another secret, also 32 bytes!!!").expect("long enough");
        let text = other.encode(SCOPE, &sample());
        assert_eq!(
            key().decode::<(i64, String)>(SCOPE, &text),
            Err(CursorError::BadSignature)
        );
    }

    #[test]
    fn an_edited_position_with_the_old_tag_is_refused() {
        let text = key().encode(SCOPE, &sample());
        let (_, tag) = text.split_once('.').expect("our own cursor has a dot");
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(br#"[0,"2d1b0c5e"]"#));
        assert_eq!(
            key().decode::<(i64, String)>(SCOPE, &forged),
            Err(CursorError::BadSignature)
        );
    }

    #[test]
    fn scope_and_position_cannot_trade_bytes() {
        // Same bytes after the domain prefix if the scope were not
        // length-prefixed: "ab" + `1` versus "a" + `b1`.
        let text = key().encode("ab", &1);
        let (_, tag) = text.split_once('.').expect("our own cursor has a dot");
        let shifted = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(b"b1"));
        assert_eq!(
            key().decode::<serde_json::Value>("a", &shifted),
            Err(CursorError::BadSignature)
        );
    }

    #[test]
    fn a_signed_cursor_of_another_shape_is_malformed_not_a_panic() {
        let text = key().encode(SCOPE, &"just a string");
        assert_eq!(
            key().decode::<(i64, String)>(SCOPE, &text),
            Err(CursorError::Malformed)
        );
    }

    #[test]
    fn broken_cursors_are_malformed() {
        let text = key().encode(SCOPE, &sample());
        let (json, tag) = text.split_once('.').expect("our own cursor has a dot");
        for broken in [
            String::new(),
            ".".to_owned(),
            json.to_owned(),
            format!("{json}."),
            format!("{json}.{tag}."),
            format!("{json}.{tag}.{tag}"),
            format!("{json}.{}", &tag[..tag.len() - 2]),
            format!("{json}.{tag}AA"),
            format!("{json}=.{tag}"),
            "A".repeat(MAX_CURSOR_LEN + 1),
        ] {
            assert_eq!(
                key().decode::<(i64, String)>(SCOPE, &broken),
                Err(CursorError::Malformed),
                "{broken:?}"
            );
        }
    }

    #[test]
    fn a_relevance_sort_key_decodes_to_the_very_same_float() {
        // Written as 1.3797401265946974e-7 and once read back one unit in
        // the last place higher, which made the next page repeat an item.
        let position = (f64::from(1.379_740_1e-7_f32), 42_i64);
        let text = key().encode(SCOPE, &position);
        let decoded: (f64, i64) = key().decode(SCOPE, &text).expect("our own cursor");
        assert_eq!(decoded.0.to_bits(), position.0.to_bits());
        // `newest`/`oldest` keys are microseconds since the epoch: from
        // 1 February 2027 on (1801440075578765 µs) some came back 0.25 off.
        for sort_key in [
            1.3797401265946974e-7,
            6.162599865641032e196,
            -1.490143767845386e129,
            1_801_440_075_578_765.0,
            1_888_134_320_921_865.0,
        ] {
            let text = key().encode(SCOPE, &(sort_key, 1_i64));
            assert_eq!(key().decode(SCOPE, &text), Ok((sort_key, 1_i64)));
        }
    }

    #[test]
    fn a_cursor_after_the_longest_catalog_names_decodes() {
        // A brand and a model of 100 four-byte characters each, as the
        // catalog allows: the cursor is over 1,100 characters long.
        let name = "\u{1d538}".repeat(100);
        let position = (name.clone(), name, i64::MAX);
        let text = key().encode("content:subjects:v1:5f2c", &position);
        assert!(text.len() > 1100);
        assert_eq!(
            key().decode("content:subjects:v1:5f2c", &text),
            Ok(position)
        );
    }

    #[test]
    fn a_consistency_token_mac_is_not_a_cursor_mac() {
        // Same secret, same bytes: the domain prefixes keep them apart.
        let json = br#"[1,"x"]"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).expect("any length");
        mac.update(b"rcr-consistency-v1");
        mac.update(json);
        let tag = mac.finalize().into_bytes();
        let text = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(json),
            URL_SAFE_NO_PAD.encode(&tag[..TAG_LEN])
        );
        assert_eq!(
            key().decode::<(i64, String)>("", &text),
            Err(CursorError::BadSignature)
        );
    }

    /// Sort keys of `/content`: microseconds since the epoch, ratings, and
    /// `ts_rank` relevance (a `real` widened to `float8`).
    fn sort_key() -> impl Strategy<Value = f64> {
        prop_oneof![
            (0i64..4_000_000_000_000_000).prop_map(|us| us as f64),
            (-2i8..=20).prop_map(|h| f64::from(h) / 2.0),
            (0.0f32..1.0).prop_map(f64::from),
            any::<f32>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(f64::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()),
        ]
    }

    proptest! {
        #[test]
        fn any_position_survives_encode_then_decode(
            position in (any::<i64>(), ".{0,40}"),
            scope in ".{0,40}",
            at in any::<usize>(),
            byte in any::<u8>(),
        ) {
            // Also: refused once damaged, under another scope or key.
            crate::fuzzing::check_cursor_round_trip(&scope, &position, Damage { at, byte });
        }

        #[test]
        fn every_position_the_services_make_survives_encode_then_decode(
            sort_key in sort_key(),
            id in any::<i64>(),
            brand in "\\PC{1,100}",
            model in "\\PC{1,100}",
            at in any::<usize>(),
            byte in any::<u8>(),
        ) {
            let damage = Damage { at, byte };
            let subject = (brand.to_lowercase(), model.to_lowercase(), id);
            crate::fuzzing::check_cursor_round_trip("content:list:v1:5f2c", &(sort_key, id), damage);
            crate::fuzzing::check_cursor_round_trip("content:subjects:v1:5f2c", &subject, damage);
            crate::fuzzing::check_cursor_round_trip("reviews:7:own:v1", &id, damage);
        }

        #[test]
        fn a_cursor_decoded_under_another_scope_fails(
            position in (any::<i64>(), ".{0,40}"),
            scope in ".{0,40}",
            other in ".{0,40}",
        ) {
            prop_assume!(scope != other);
            let text = key().encode(&scope, &position);
            prop_assert_eq!(
                key().decode::<(i64, String)>(&other, &text),
                Err(CursorError::BadSignature)
            );
        }

        #[test]
        fn replacing_any_character_of_a_cursor_makes_it_fail(
            position in (any::<i64>(), "[a-z0-9]{0,40}"),
            index in any::<prop::sample::Index>(),
            replacement in prop::char::any(),
        ) {
            let text = key().encode(SCOPE, &position);
            let at = index.index(text.len());
            let original = char::from(text.as_bytes()[at]);
            prop_assume!(replacement != original);
            let mut changed = text[..at].to_owned();
            changed.push(replacement);
            changed.push_str(&text[at + 1..]);
            prop_assert!(
                key().decode::<(i64, String)>(SCOPE, &changed).is_err(),
                "{} decoded", changed
            );
        }

        #[test]
        fn flipping_any_bit_of_a_cursor_makes_it_fail(
            position in (any::<i64>(), ".{0,40}"),
            index in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let mut bytes = key().encode(SCOPE, &position).into_bytes();
            let at = index.index(bytes.len());
            bytes[at] ^= 1 << bit;
            // A query string that is not UTF-8 never reaches `decode`.
            if let Ok(text) = String::from_utf8(bytes) {
                prop_assert!(
                    key().decode::<(i64, String)>(SCOPE, &text).is_err(),
                    "{} decoded", text
                );
            }
        }

        #[test]
        fn random_text_never_panics_and_never_decodes(text in ".{0,1100}|[A-Za-z0-9_.-]{2000,2100}") {
            crate::fuzzing::check_cursor_text(SCOPE, &text);
        }

        #[test]
        fn random_cursor_shaped_text_never_decodes(
            json in "[A-Za-z0-9_-]{0,60}",
            tag in "[A-Za-z0-9_-]{0,30}",
        ) {
            let text = format!("{json}.{tag}");
            prop_assert!(key().decode::<serde_json::Value>(SCOPE, &text).is_err());
        }
    }
}
