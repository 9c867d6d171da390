//! Content codings (SPEC §10.1): which one a request gets, and the
//! compressed variants a cache entry stores beside its identity body.
//!
//! An entry is compressed into a coding once, when a request first asks
//! for it (the miss, for the coding its request prefers); a later request
//! for the same coding only chooses among stored bytes. Choosing reads
//! `Accept-Encoding` as RFC 9110 §12.5.3 describes it:
//! - each coding the request names carries a weight (`q`, 0 to 1, three
//!   decimals at most; 1 when absent); `*` gives its weight to every coding
//!   not named; `x-gzip` is `gzip`; a coding named twice keeps its lower
//!   weight (a refusal anywhere holds); codings the reader does not serve
//!   are ignored;
//! - the highest positive weight among the codings the entry has wins,
//!   ties going to the smaller body (`br`, then `gzip`, then identity);
//! - identity, when not named (nor covered by `*`), is what is left when
//!   no compressed coding is acceptable, and so is identity refused
//!   (`identity;q=0`, `*;q=0`) with nothing else acceptable: the field is
//!   a preference (RFC 9110 §12.1), and a readable answer serves a client
//!   better than a 406;
//! - no `Accept-Encoding`, or one that breaks the grammar (a bad weight, a
//!   parameter other than `q`, a byte outside visible ASCII), is identity.

use std::io::Write as _;

use actix_web::http::header::{self, HeaderMap, HeaderValue};

/// The smallest body that is stored compressed too: below it, the
/// coding's own framing and the CPU spent outweigh the bytes saved.
pub const MIN_COMPRESSED_BYTES: usize = 1024;

/// Brotli quality for stored variants. A coding is compressed on the path
/// of the request that first asks for it (a search pays for a page that
/// may be read once), so the level is the cheapest that keeps nearly all
/// of brotli's gain. Measured
/// with callgrind on the bench's pages (instructions per compression,
/// bytes): the 16 KB first list page 2.0 M / 1,871 B at 4 against 3.4 M /
/// 1,778 B at 5; a 44 KB search page 2.9 M / 2,385 B against 6.4 M /
/// 2,093 B; 5 and 6 gave the same bytes on pages under 16 KB. Below 4 the
/// bytes grow faster than the cost falls on the larger pages.
const BROTLI_QUALITY: i32 = 4;

/// gzip (DEFLATE) level, for clients without brotli. Measured the same
/// way: the first list page 1.6 M / 2,121 B at 4 against 1.7 M / 2,096 B
/// at 6 and 0.8 M / 2,846 B at 1; the 44 KB search page 2.7 M / 3,081 B
/// against 3.1 M / 2,912 B at 6.
const GZIP_LEVEL: u32 = 4;

/// A content coding the reader serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coding {
    Br,
    Gzip,
    Identity,
}

impl Coding {
    /// Every coding, in the order a tie between equal weights is broken:
    /// the smaller body first.
    pub const PREFERENCE: [Coding; 3] = [Coding::Br, Coding::Gzip, Coding::Identity];

    /// Its `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Self::Br => "br",
            Self::Gzip => "gzip",
            Self::Identity => "identity",
        }
    }

    /// The `Content-Encoding` value of an answer in this coding; none for
    /// identity.
    pub fn content_encoding(self) -> Option<HeaderValue> {
        match self {
            Self::Br | Self::Gzip => Some(HeaderValue::from_static(self.token())),
            Self::Identity => None,
        }
    }

    /// `body` in this coding; `None` for identity, for a body under
    /// [`MIN_COMPRESSED_BYTES`], and where the coding would not make it
    /// smaller.
    pub fn encode(self, body: &[u8]) -> Option<Vec<u8>> {
        if body.len() < MIN_COMPRESSED_BYTES {
            return None;
        }
        let encoded = match self {
            Self::Br => brotli(body),
            Self::Gzip => gzip(body),
            Self::Identity => return None,
        };
        (encoded.len() < body.len()).then_some(encoded)
    }
}

/// `body` compressed with brotli, its window fitted to the body: a smaller
/// window allocates and clears less for the same result, since nothing
/// can refer further back than the body's start anyway.
fn brotli(body: &[u8]) -> Vec<u8> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: BROTLI_QUALITY,
        lgwin: window_bits(body.len()),
        size_hint: body.len(),
        mode: brotli::enc::backward_references::BrotliEncoderMode::BROTLI_MODE_TEXT,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(body.len() / 4);
    // Reading from a slice and writing to a Vec cannot fail.
    let _ = brotli::BrotliCompress(&mut &body[..], &mut out, &params);
    out
}

/// The brotli window (10 to 24 bits) that holds `len` bytes: a window of
/// `b` bits reaches back 2^b − 16 bytes.
fn window_bits(len: usize) -> i32 {
    let needed = usize::BITS - len.saturating_add(15).leading_zeros();
    i32::try_from(needed.clamp(10, 24)).unwrap_or(24)
}

/// `body` compressed as gzip. No file name and a zero modification time
/// in the header, so the same body always gives the same bytes.
fn gzip(body: &[u8]) -> Vec<u8> {
    let out = Vec::with_capacity(body.len() / 3);
    let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::new(GZIP_LEVEL));
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

/// A weight in thousandths (0 to 1000).
type Weight = u16;

/// What a request's `Accept-Encoding` says of the codings the reader
/// serves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AcceptEncoding {
    br: Option<Weight>,
    gzip: Option<Weight>,
    identity: Option<Weight>,
    /// `*`: every coding not named.
    any: Option<Weight>,
}

/// An `Accept-Encoding` that breaks RFC 9110's grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl AcceptEncoding {
    /// The coding of the answer to a request with `headers`, among those
    /// for which `stored` holds (identity always is).
    pub fn negotiate(headers: &HeaderMap, stored: impl Fn(Coding) -> bool) -> Coding {
        let mut lines = headers.get_all(header::ACCEPT_ENCODING).peekable();
        if lines.peek().is_none() {
            return Coding::Identity;
        }
        Self::parse(lines.map(HeaderValue::as_bytes))
            .map_or(Coding::Identity, |accepted| accepted.choose(stored))
    }

    /// Reads every `Accept-Encoding` line of a request as one list.
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Result<Self, Malformed> {
        let mut accepted = Self::default();
        for line in lines {
            for element in line.split(|&b| b == b',') {
                accepted.add(element)?;
            }
        }
        Ok(accepted)
    }

    /// One list element: `coding [ OWS ";" OWS "q=" qvalue ]`, or nothing.
    fn add(&mut self, element: &[u8]) -> Result<(), Malformed> {
        let element = trim_ows(element);
        if element.is_empty() {
            return Ok(());
        }
        let (coding, weight) = match element.iter().position(|&b| b == b';') {
            Some(at) => (
                trim_ows(&element[..at]),
                weight(trim_ows(&element[at + 1..]))?,
            ),
            None => (element, 1000),
        };
        if coding.is_empty() || !coding.iter().all(|&b| is_tchar(b)) {
            return Err(Malformed);
        }
        let slot = if coding == b"*" {
            &mut self.any
        } else if coding.eq_ignore_ascii_case(b"br") {
            &mut self.br
        } else if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip") {
            &mut self.gzip
        } else if coding.eq_ignore_ascii_case(b"identity") {
            &mut self.identity
        } else {
            return Ok(());
        };
        *slot = Some(slot.map_or(weight, |w| w.min(weight)));
        Ok(())
    }

    /// The weight the request gives `coding`: its own, else `*`'s, else 0.
    pub fn weight(&self, coding: Coding) -> Weight {
        let named = match coding {
            Coding::Br => self.br,
            Coding::Gzip => self.gzip,
            Coding::Identity => self.identity,
        };
        named.or(self.any).unwrap_or(0)
    }

    /// The stored coding with the highest positive weight (ties to the
    /// smaller body), else identity.
    pub fn choose(&self, stored: impl Fn(Coding) -> bool) -> Coding {
        let mut best = (Coding::Identity, 0);
        for coding in Coding::PREFERENCE {
            let weight = self.weight(coding);
            if weight > best.1 && (coding == Coding::Identity || stored(coding)) {
                best = (coding, weight);
            }
        }
        best.0
    }
}

/// `q=` and a qvalue (RFC 9110 §12.4.2: `0[.ddd]` or `1[.000]`), in
/// thousandths; `q` in either case.
fn weight(param: &[u8]) -> Result<Weight, Malformed> {
    let value = match param {
        [b'q' | b'Q', b'=', value @ ..] => value,
        _ => return Err(Malformed),
    };
    let (whole, decimals) = match value {
        [whole] => (*whole, &[][..]),
        [whole, b'.', decimals @ ..] if decimals.len() <= 3 => (*whole, decimals),
        _ => return Err(Malformed),
    };
    if !decimals.iter().all(u8::is_ascii_digit) {
        return Err(Malformed);
    }
    let mut thousandths: Weight = 0;
    for place in 0..3 {
        let digit = decimals.get(place).map_or(0, |d| d - b'0');
        thousandths = thousandths * 10 + Weight::from(digit);
    }
    match whole {
        b'0' => Ok(thousandths),
        b'1' if thousandths == 0 => Ok(1000),
        _ => Err(Malformed),
    }
}

/// Without the optional white space (spaces and tabs) around it.
fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

/// A token character (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use proptest::prelude::*;

    use super::*;

    fn chosen(header: &str) -> Coding {
        AcceptEncoding::parse([header.as_bytes()]).map_or(Coding::Identity, |a| a.choose(|_| true))
    }

    #[test]
    fn the_highest_weight_wins_and_ties_go_to_the_smaller_body() {
        for (header, coding) in [
            ("br", Coding::Br),
            ("gzip", Coding::Gzip),
            ("gzip, deflate, br, zstd", Coding::Br),
            ("br;q=0.5, gzip", Coding::Gzip),
            ("gzip;q=0.8, br;q=0.9", Coding::Br),
            ("BR;Q=1.000", Coding::Br),
            ("x-gzip", Coding::Gzip),
            ("identity, gzip", Coding::Gzip),
            ("identity;q=0.6, gzip;q=0.5", Coding::Identity),
            ("*", Coding::Br),
            ("*;q=0.5, br;q=0.1", Coding::Gzip),
            ("  gzip ;  q=0.3 ,, ", Coding::Gzip),
            ("gzip;q=0.2", Coding::Gzip),
        ] {
            assert_eq!(chosen(header), coding, "{header}");
        }
    }

    #[test]
    fn unknown_codings_refusals_and_broken_fields_leave_identity() {
        for header in [
            "",
            "deflate, zstd, compress",
            "br;q=0, gzip;q=0",
            "*;q=0",
            "br;q=0, gzip;q=0, identity;q=0",
            "gzip;q=0.2, gzip;q=0",
            // Broken: identity whatever else the field names.
            "br;q=2",
            "br;q=0.1234",
            "br;q=1.5",
            "br;q=",
            "br;level=3",
            "br; q = 1",
            "br;q=abc",
            ";q=1",
            "b r",
            "gzip, ;",
        ] {
            assert_eq!(chosen(header), Coding::Identity, "{header:?}");
        }
        assert_eq!(chosen("br;q=1."), Coding::Br, "a bare point is a qvalue");
    }

    #[test]
    fn a_coding_the_entry_does_not_store_is_never_chosen() {
        let accepted = AcceptEncoding::parse([&b"br"[..], b"gzip;q=0.5"]).expect("valid");
        assert_eq!(accepted.choose(|c| c != Coding::Br), Coding::Gzip);
        assert_eq!(accepted.choose(|_| false), Coding::Identity);
    }

    #[test]
    fn several_header_lines_read_as_one_list() {
        let mut headers = HeaderMap::new();
        headers.append(header::ACCEPT_ENCODING, HeaderValue::from_static("br;q=0"));
        headers.append(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(AcceptEncoding::negotiate(&headers, |_| true), Coding::Gzip);
        assert_eq!(
            AcceptEncoding::negotiate(&HeaderMap::new(), |_| true),
            Coding::Identity
        );
        let mut broken = HeaderMap::new();
        broken.append(
            header::ACCEPT_ENCODING,
            HeaderValue::from_bytes("gzip, bró".as_bytes()).expect("a header value"),
        );
        assert_eq!(
            AcceptEncoding::negotiate(&broken, |_| true),
            Coding::Identity
        );
    }

    fn decode(coding: Coding, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match coding {
            Coding::Br => brotli::Decompressor::new(bytes, 4096)
                .read_to_end(&mut out)
                .expect("brotli"),
            Coding::Gzip => flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut out)
                .expect("gzip"),
            Coding::Identity => return bytes.to_vec(),
        };
        out
    }

    #[test]
    fn compressed_variants_decode_to_the_body_and_are_the_same_every_time() {
        let body = serde_json::to_vec(&serde_json::json!({
            "data": (0..40).map(|i| serde_json::json!({
                "id": i, "title": format!("Review number {i}"), "summary": "A camera, reviewed at length."
            })).collect::<Vec<_>>()
        }))
        .expect("json");
        for coding in [Coding::Br, Coding::Gzip] {
            let encoded = coding.encode(&body).expect("smaller");
            assert!(
                encoded.len() * 4 < body.len(),
                "{coding:?}: {}",
                encoded.len()
            );
            assert_eq!(decode(coding, &encoded), body, "{coding:?}");
            assert_eq!(coding.encode(&body), Some(encoded), "{coding:?}");
        }
        assert_eq!(Coding::Identity.encode(&body), None);
        // Small bodies, and what compression cannot shrink, are not
        // stored compressed.
        assert_eq!(Coding::Br.encode(&body[..MIN_COMPRESSED_BYTES - 1]), None);
        let mut state = 1u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                state.to_be_bytes()[0]
            })
            .collect();
        assert_eq!(Coding::Gzip.encode(&noise), None);
    }

    #[test]
    fn the_brotli_window_holds_the_whole_body() {
        assert_eq!(window_bits(0), 10);
        assert_eq!(window_bits(1024), 11);
        assert_eq!(window_bits(16_368), 14);
        assert_eq!(window_bits(16_369), 15);
        assert_eq!(window_bits(usize::MAX / 2), 24);
    }

    /// A well-formed element: a coding and maybe a weight.
    fn element() -> impl Strategy<Value = (String, Option<Weight>)> {
        let coding = prop::sample::select(vec![
            "br", "BR", "gzip", "x-gzip", "identity", "*", "deflate", "zstd",
        ]);
        (coding, prop::option::of(0..=1000u16)).prop_map(|(c, w)| (c.to_owned(), w))
    }

    fn written(elements: &[(String, Option<Weight>)]) -> String {
        elements
            .iter()
            .map(|(coding, weight)| match weight {
                Some(w) => format!("{coding};q={}.{:03}", w / 1000, w % 1000),
                None => coding.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The rules of the module docs, written the slow way.
    fn model(elements: &[(String, Option<Weight>)], stored: &[Coding]) -> Coding {
        let weight_of = |names: &[&str]| -> Option<Weight> {
            elements
                .iter()
                .filter(|(c, _)| names.iter().any(|n| c.eq_ignore_ascii_case(n)))
                .map(|(_, w)| w.unwrap_or(1000))
                .min()
        };
        let any = weight_of(&["*"]);
        let mut best = (Coding::Identity, 0);
        for coding in Coding::PREFERENCE {
            let names: &[&str] = match coding {
                Coding::Br => &["br"],
                Coding::Gzip => &["gzip", "x-gzip"],
                Coding::Identity => &["identity"],
            };
            let weight = weight_of(names).or(any).unwrap_or(0);
            let available = coding == Coding::Identity || stored.contains(&coding);
            if available && weight > best.1 {
                best = (coding, weight);
            }
        }
        best.0
    }

    proptest! {
        #[test]
        fn any_header_bytes_choose_a_stored_coding_without_panicking(
            bytes in prop::collection::vec(any::<u8>(), 0..64),
            br in any::<bool>(),
        ) {
            let stored = |c: Coding| c != Coding::Br || br;
            let coding = AcceptEncoding::parse([&bytes[..]])
                .map_or(Coding::Identity, |a| a.choose(stored));
            prop_assert!(stored(coding));
        }

        #[test]
        fn well_formed_headers_choose_as_the_rules_say_in_any_order(
            mut elements in prop::collection::vec(element(), 0..6),
            stored in prop::sample::subsequence(vec![Coding::Br, Coding::Gzip], 0..=2),
            rotate in 0usize..6,
        ) {
            let expected = model(&elements, &stored);
            let accepted = AcceptEncoding::parse([written(&elements).as_bytes()])
                .expect("well-formed");
            prop_assert_eq!(accepted.choose(|c| stored.contains(&c)), expected);
            if !elements.is_empty() {
                let by = rotate % elements.len();
                elements.rotate_left(by);
                let again = AcceptEncoding::parse([written(&elements).as_bytes()])
                    .expect("well-formed");
                prop_assert_eq!(again.choose(|c| stored.contains(&c)), expected);
            }
        }

        #[test]
        fn a_chosen_compressed_coding_was_accepted_with_a_positive_weight(
            elements in prop::collection::vec(element(), 0..6),
        ) {
            let accepted = AcceptEncoding::parse([written(&elements).as_bytes()])
                .expect("well-formed");
            let coding = accepted.choose(|_| true);
            if coding != Coding::Identity {
                prop_assert!(accepted.weight(coding) > 0);
                prop_assert!(accepted.weight(coding) >= accepted.weight(Coding::Identity));
            }
        }
    }
}
