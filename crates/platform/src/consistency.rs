//! The `X-Consistency-Token` behind read-your-writes (SPEC §4, §6).
//!
//! The writer answers every successful write with a token naming the
//! primary's timeline and the WAL position reached after commit; a reader in
//! any region then serves that client only from a replica that has replayed
//! past it (or from the primary). Clients carry the token around, so it must
//! be opaque to them and tamper-evident: a client that could forge a small
//! LSN would defeat read-your-writes for itself, and one that could forge a
//! huge LSN would make every reader wait out its bound and then hit the
//! primary, turning the header into a cheap amplification lever.
//!
//! The wire form is URL-safe base64 (no padding) of a fixed 37-byte layout:
//!
//! ```text
//! version (1) | timeline (4, BE) | lsn (8, BE) | issued_at (8, BE) | HMAC-SHA256 (first 16)
//! ```
//!
//! The MAC input starts with a domain-separation prefix so that a MAC made
//! for something else with the same secret (a pagination cursor, say) can
//! never be replayed as a token. Sixteen bytes of tag keep the header short
//! and still leave 2^128 guesses for a forger.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// The shortest secret accepted for a MAC key: HMAC-SHA256 gains nothing
/// from more than 32 bytes, and a shorter one is within reach of a search.
pub const MIN_SECRET_LEN: usize = 32;

/// Tokens longer than this are refused before decoding, so a hostile header
/// costs us no allocation. A valid token is 50 characters; the slack leaves
/// room for a later, larger version.
pub const MAX_TOKEN_LEN: usize = 200;

/// The only layout this code signs, and so the only one it accepts.
const VERSION: u8 = 1;

/// Keeps token MACs apart from every other MAC made with the same secret.
const DOMAIN: &[u8] = b"rcr-consistency-v1";

/// How many leading bytes of the HMAC-SHA256 output travel in the token.
const TAG_LEN: usize = 16;

/// version + timeline + lsn + issued_at.
const PAYLOAD_LEN: usize = 1 + 4 + 8 + 8;

const TOKEN_LEN: usize = PAYLOAD_LEN + TAG_LEN;

/// A position in PostgreSQL's write-ahead log (`pg_lsn`).
///
/// Printed and parsed the way PostgreSQL does (`16/B374D848`: high and low
/// 32 bits in hex), so values can be pasted between logs and `psql`. The
/// order is the order of the log, which is what read-your-writes compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// Why a text is not an LSN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a WAL position: expected two hexadecimal numbers like 16/B374D848")]
pub struct ParseLsnError;

impl FromStr for Lsn {
    type Err = ParseLsnError;

    /// Accepts what PostgreSQL's `pg_lsn` input accepts: one to eight hex
    /// digits, a slash, one to eight hex digits, either case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (hi, lo) = text.split_once('/').ok_or(ParseLsnError)?;
        Ok(Lsn((half(hi)? << 32) | half(lo)?))
    }
}

/// Parses one side of an LSN. The digit check comes first because
/// `from_str_radix` would also take a leading `+`, which PostgreSQL refuses.
fn half(digits: &str) -> Result<u64, ParseLsnError> {
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ParseLsnError);
    }
    u64::from_str_radix(digits, 16).map_err(|_| ParseLsnError)
}

/// Lets callers read `pg_current_wal_lsn()` / `pg_last_wal_replay_lsn()`
/// straight into a typed column instead of going through text.
impl From<tokio_postgres::types::PgLsn> for Lsn {
    fn from(lsn: tokio_postgres::types::PgLsn) -> Self {
        Lsn(u64::from(lsn))
    }
}

impl From<Lsn> for tokio_postgres::types::PgLsn {
    fn from(lsn: Lsn) -> Self {
        tokio_postgres::types::PgLsn::from(lsn.0)
    }
}

/// What a write tells readers: "my change is in the primary's log at `lsn`
/// on `timeline`". `issued_at` (unix seconds) lets a reader decide that a
/// token is old enough to be met by any replica within its lag bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsistencyToken {
    pub timeline: u32,
    pub lsn: Lsn,
    pub issued_at: i64,
}

/// Why a secret was refused as a MAC key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the secret is {actual} bytes long; at least {MIN_SECRET_LEN} are required")]
pub struct KeyTooShort {
    pub actual: usize,
}

/// Why a consistency token was refused. The messages are safe to show the
/// client; none says which byte was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the consistency token is malformed")]
    Malformed,
    #[error("the consistency token's signature is invalid")]
    BadSignature,
    #[error("the consistency token's version is not supported")]
    UnsupportedVersion,
}

/// The secret shared by the writer and every reader. It keeps the keyed
/// HMAC state rather than the secret itself, so the raw bytes are not kept
/// around, and cloning it per use skips re-hashing the key.
#[derive(Clone)]
pub struct TokenKey(Hmac<Sha256>);

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

/// The keyed HMAC state of a secret of at least [`MIN_SECRET_LEN`] bytes
/// (shared by consistency tokens and cursors).
pub(crate) fn hmac_key(secret: &[u8]) -> Result<Hmac<Sha256>, KeyTooShort> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(KeyTooShort {
            actual: secret.len(),
        });
    }
    // HMAC takes keys of any length, so this cannot fail; mapping the
    // impossible error keeps the function free of panics.
    Hmac::<Sha256>::new_from_slice(secret).map_err(|_| KeyTooShort {
        actual: secret.len(),
    })
}

/// [`hmac_key`] of a secret setting; `name` is the setting's name for the
/// one error line a bad or short secret stops start-up with.
pub(crate) fn hmac_key_from_settings(
    settings: &crate::settings::SecretSettings,
    name: &str,
) -> Result<Hmac<Sha256>, crate::settings::SettingsError> {
    let secret = settings.load(name)?;
    hmac_key(secret.expose().as_bytes())
        .map_err(|e| crate::settings::SettingsError::new(format!("{name}: {e}")))
}

impl TokenKey {
    /// The key of a secret setting named `name`.
    pub fn from_settings(
        settings: &crate::settings::SecretSettings,
        name: &str,
    ) -> Result<Self, crate::settings::SettingsError> {
        hmac_key_from_settings(settings, name).map(TokenKey)
    }

    pub fn new(secret: &[u8]) -> Result<TokenKey, KeyTooShort> {
        hmac_key(secret).map(TokenKey)
    }

    /// The token text for the `X-Consistency-Token` header.
    pub fn sign(&self, token: &ConsistencyToken) -> String {
        let payload = payload(token);
        let tag = self.mac(&payload).finalize().into_bytes();
        let mut bytes = [0u8; TOKEN_LEN];
        bytes[..PAYLOAD_LEN].copy_from_slice(&payload);
        bytes[PAYLOAD_LEN..].copy_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Checks a token from a request header. The MAC is compared in
    /// constant time, and only a token that passes is believed.
    pub fn verify(&self, text: &str) -> Result<ConsistencyToken, TokenError> {
        if text.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        // The engine refuses padding and non-zero trailing bits, so each
        // token has exactly one spelling: changing any character either
        // changes the bytes (and the MAC fails) or fails decoding.
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| TokenError::Malformed)?;
        // The version decides the layout, so it is read before the length
        // is judged; it says nothing secret, so telling it apart is safe.
        match bytes.first() {
            None => return Err(TokenError::Malformed),
            Some(&VERSION) => {}
            Some(_) => return Err(TokenError::UnsupportedVersion),
        }
        if bytes.len() != TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let (payload, tag) = bytes.split_at(PAYLOAD_LEN);
        self.mac(payload)
            .verify_truncated_left(tag)
            .map_err(|_| TokenError::BadSignature)?;
        Ok(ConsistencyToken {
            timeline: u32::from_be_bytes(fixed(&payload[1..5])),
            lsn: Lsn(u64::from_be_bytes(fixed(&payload[5..13]))),
            issued_at: i64::from_be_bytes(fixed(&payload[13..21])),
        })
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(DOMAIN);
        mac.update(payload);
        mac
    }
}

fn payload(token: &ConsistencyToken) -> [u8; PAYLOAD_LEN] {
    let mut out = [0u8; PAYLOAD_LEN];
    out[0] = VERSION;
    out[1..5].copy_from_slice(&token.timeline.to_be_bytes());
    out[5..13].copy_from_slice(&token.lsn.0.to_be_bytes());
    out[13..21].copy_from_slice(&token.issued_at.to_be_bytes());
    out
}

/// Copies a slice whose length the fixed layout already guarantees.
fn fixed<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn key() -> TokenKey {
        TokenKey::new(SECRET).expect("32 bytes is long enough")
    }

    fn sample() -> ConsistencyToken {
        ConsistencyToken {
            timeline: 3,
            lsn: Lsn(0x16_B374_D848),
            issued_at: 1_700_000_000,
        }
    }

    #[test]
    fn an_lsn_prints_like_postgresql() {
        assert_eq!(Lsn(0x16_B374_D848).to_string(), "16/B374D848");
        assert_eq!(Lsn(0).to_string(), "0/0");
        assert_eq!(Lsn(u64::MAX).to_string(), "FFFFFFFF/FFFFFFFF");
    }

    #[test]
    fn an_lsn_parses_what_postgresql_prints_in_either_case() {
        assert_eq!("16/B374D848".parse(), Ok(Lsn(0x16_B374_D848)));
        assert_eq!("16/b374d848".parse(), Ok(Lsn(0x16_B374_D848)));
        assert_eq!("00000000/00000001".parse(), Ok(Lsn(1)));
    }

    #[test]
    fn an_lsn_refuses_garbage() {
        for text in [
            "",
            "/",
            "16",
            "16/",
            "/1",
            "+1/1",
            "1/+1",
            "-1/1",
            "1/1/1",
            " 1/1",
            "1/1 ",
            "123456789/1",
            "1/123456789",
            "g/1",
            "1/0x1",
        ] {
            assert_eq!(text.parse::<Lsn>(), Err(ParseLsnError), "{text:?}");
        }
    }

    #[test]
    fn lsns_order_as_the_log_does() {
        let earlier: Lsn = "0/FFFFFFFF".parse().expect("valid");
        let later: Lsn = "1/0".parse().expect("valid");
        assert!(earlier < later);
    }

    #[test]
    fn a_secret_shorter_than_32_bytes_is_refused() {
        assert_eq!(
            TokenKey::new(&SECRET[..31]).map(|_| ()),
            Err(KeyTooShort { actual: 31 })
        );
    }

    #[test]
    fn the_key_does_not_print_its_secret() {
        let printed = format!("{:?}", key());
        assert!(!printed.contains("0123"), "{printed}");
    }

    #[test]
    fn a_signed_token_is_short_url_safe_and_verifies() {
        let text = key().sign(&sample());
        assert_eq!(text.len(), 50);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(key().verify(&text), Ok(sample()));
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let other = TokenKey::new(b"another secret, also 32 bytes!!!").expect("long enough");
        assert_eq!(
            key().verify(&other.sign(&sample())),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_truncated_or_extended_token_is_refused() {
        let text = key().sign(&sample());
        assert!(key().verify(&text[..text.len() - 1]).is_err());
        assert!(key().verify(&text[..text.len() - 4]).is_err());
        assert!(key().verify(&format!("{text}A")).is_err());
        assert!(key().verify(&format!("{text}AAAA")).is_err());
        assert_eq!(key().verify(""), Err(TokenError::Malformed));
    }

    #[test]
    fn a_token_with_another_version_is_refused_as_unsupported() {
        let mut bytes = URL_SAFE_NO_PAD
            .decode(key().sign(&sample()))
            .expect("our own token decodes");
        bytes[0] = 2;
        assert_eq!(
            key().verify(&URL_SAFE_NO_PAD.encode(&bytes)),
            Err(TokenError::UnsupportedVersion)
        );
    }

    #[test]
    fn a_forged_payload_with_the_old_tag_is_refused() {
        let mut bytes = URL_SAFE_NO_PAD
            .decode(key().sign(&sample()))
            .expect("our own token decodes");
        // Push the LSN far ahead, as a client wanting to stall readers would.
        bytes[5] = 0xFF;
        assert_eq!(
            key().verify(&URL_SAFE_NO_PAD.encode(&bytes)),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn padded_standard_or_overlong_text_is_malformed() {
        let text = key().sign(&sample());
        assert_eq!(
            key().verify(&format!("{text}==")),
            Err(TokenError::Malformed)
        );
        assert_eq!(key().verify("ab+/"), Err(TokenError::Malformed));
        assert_eq!(key().verify(&"A".repeat(201)), Err(TokenError::Malformed));
    }

    #[test]
    fn a_mac_made_for_another_purpose_with_the_same_secret_does_not_verify() {
        // The same payload MACed without our prefix, as another feature
        // sharing the secret might do.
        let payload = payload(&sample());
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).expect("any length");
        mac.update(&payload);
        let tag = mac.finalize().into_bytes();
        let mut bytes = payload.to_vec();
        bytes.extend_from_slice(&tag[..TAG_LEN]);
        assert_eq!(
            key().verify(&URL_SAFE_NO_PAD.encode(&bytes)),
            Err(TokenError::BadSignature)
        );
    }

    fn any_token() -> impl Strategy<Value = ConsistencyToken> {
        (any::<u32>(), any::<u64>(), any::<i64>()).prop_map(|(timeline, lsn, issued_at)| {
            ConsistencyToken {
                timeline,
                lsn: Lsn(lsn),
                issued_at,
            }
        })
    }

    proptest! {
        #[test]
        fn any_token_survives_sign_then_verify(
            token in any_token(),
            at in any::<usize>(),
            byte in any::<u8>(),
        ) {
            // Also: refused once damaged or signed with another key.
            crate::fuzzing::check_token_round_trip(token, crate::fuzzing::Damage { at, byte });
        }

        #[test]
        fn any_lsn_survives_display_then_parse(raw in any::<u64>()) {
            prop_assert_eq!(Lsn(raw).to_string().parse::<Lsn>(), Ok(Lsn(raw)));
        }

        #[test]
        fn flipping_any_bit_of_a_token_makes_it_fail(
            token in any_token(),
            index in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let mut bytes = key().sign(&token).into_bytes();
            let at = index.index(bytes.len());
            bytes[at] ^= 1 << bit;
            // A flipped high bit is not UTF-8 any more; a header that is not
            // text never reaches `verify`, so there is nothing to check.
            if let Ok(text) = String::from_utf8(bytes) {
                prop_assert!(key().verify(&text).is_err(), "{} verified", text);
            }
        }

        #[test]
        fn replacing_any_character_of_a_token_makes_it_fail(
            token in any_token(),
            index in any::<prop::sample::Index>(),
            replacement in prop::char::any(),
        ) {
            let text = key().sign(&token);
            let at = index.index(text.len());
            let original = char::from(text.as_bytes()[at]);
            prop_assume!(replacement != original);
            let mut changed = text[..at].to_owned();
            changed.push(replacement);
            changed.push_str(&text[at + 1..]);
            prop_assert!(key().verify(&changed).is_err(), "{} verified", changed);
        }

        #[test]
        fn random_text_never_panics_and_never_verifies(
            text in ".{0,300}|[A-Za-z0-9_-]{50}|[0-9a-fA-F+ -]{0,9}/[0-9a-fA-F+ -]{0,9}"
        ) {
            // Also: the text as an LSN parses only to what prints back to it.
            crate::fuzzing::check_token_text(&text);
        }

        #[test]
        fn random_url_safe_text_never_verifies(text in "[A-Za-z0-9_-]{0,80}") {
            prop_assert!(key().verify(&text).is_err());
        }

        #[test]
        fn random_bytes_of_the_right_length_never_verify(bytes in prop::collection::vec(any::<u8>(), TOKEN_LEN)) {
            prop_assert!(key().verify(&URL_SAFE_NO_PAD.encode(&bytes)).is_err());
        }
    }
}
