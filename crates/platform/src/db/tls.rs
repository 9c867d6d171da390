//! TLS to PostgreSQL, asked for in the database URL as libpq asks for it:
//! `sslmode=verify-full&sslrootcert=/etc/rcr/db-ca/ca.crt`.
//!
//! tokio-postgres parses only `sslmode=disable|prefer|require` and knows no
//! `sslrootcert`, so both are taken out of the URL here before the rest goes
//! to `tokio_postgres::Config`, which is then told to require TLS. The
//! handshake is rustls' (pure Rust, the ring provider), trusting only the
//! certificates of the `sslrootcert` file — never the system's roots.
//!
//! | `sslmode` | here |
//! | --- | --- |
//! | absent, `disable`, `prefer` | plain text, as before TLS existed here (loopback and tests) |
//! | `verify-full` | TLS; the chain must lead to `sslrootcert` and the certificate must name the host (DNS or IP) |
//! | `verify-ca` | TLS; the chain must lead to `sslrootcert`, any host name |
//! | `require` | as libpq with a root file: `verify-ca`; without `sslrootcert` refused |
//!
//! libpq's `require` without a root file encrypts without checking who
//! answers, which no active attacker is stopped by: we refuse it rather than
//! offer that comfort. A connection that asked for TLS never falls back to
//! plain text: a server that refuses TLS or fails verification is an error
//! (the pool's "unavailable").

use std::path::{Path, PathBuf};
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::settings::SettingsError;

/// What the server's certificate must prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// A chain to the root file, and the host's name (`verify-full`).
    Full,
    /// A chain to the root file only (`verify-ca`, `require` with a root).
    Chain,
}

/// How a database URL asks to be protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub verify: Verify,
    /// The PEM file of the certificates to trust (`sslrootcert`).
    pub root_cert: PathBuf,
}

/// A database URL with `sslmode` and `sslrootcert` taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitUrl {
    /// The URL for `tokio_postgres::Config`, every other parameter kept as
    /// written.
    pub rest: String,
    /// `None`: plain text (no `sslmode`, or one tokio-postgres handles).
    pub tls: Option<TlsSettings>,
}

/// Takes the TLS parameters out of `url`. A key-value connection string
/// (`host=… port=…`), which carries no `postgres://`, is left whole to
/// tokio-postgres, which refuses `verify-full` there.
pub fn split_url(url: &str) -> Result<SplitUrl, SettingsError> {
    let Some((head, query)) = split_query(url) else {
        return Ok(SplitUrl {
            rest: url.to_owned(),
            tls: None,
        });
    };
    let mut kept = Vec::new();
    let (mut mode, mut root) = (None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match decode(key)?.as_str() {
            "sslmode" => {
                let value = decode(value)?;
                if matches!(value.as_str(), "disable" | "prefer") {
                    // tokio-postgres reads these two itself.
                    kept.push(pair);
                }
                mode = Some(value);
            }
            "sslrootcert" => root = Some(PathBuf::from(decode(value)?)),
            _ => kept.push(pair),
        }
    }
    let tls = tls_settings(mode.as_deref(), root)?;
    let mut rest = head.to_owned();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Ok(SplitUrl { rest, tls })
}

/// The URL before its query and the query, found as tokio-postgres finds
/// them: after the prefix, credentials run to the first `@`, and the query
/// starts at the first `?` after them. `None` when there is no query or
/// the text is not a URL.
fn split_query(url: &str) -> Option<(&str, &str)> {
    let prefix = ["postgres://", "postgresql://"]
        .iter()
        .find(|p| url.starts_with(*p))?
        .len();
    let after_credentials = url[prefix..].find('@').map_or(prefix, |at| prefix + at + 1);
    let question = after_credentials + url[after_credentials..].find('?')?;
    Some((&url[..question], &url[question + 1..]))
}

fn decode(text: &str) -> Result<String, SettingsError> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| SettingsError::new("database.url: a parameter is not valid UTF-8"))
}

/// The protection `sslmode` and `sslrootcert` ask for together.
fn tls_settings(
    mode: Option<&str>,
    root: Option<PathBuf>,
) -> Result<Option<TlsSettings>, SettingsError> {
    let verify = match mode {
        None | Some("disable" | "prefer") => {
            return match root {
                None => Ok(None),
                Some(_) => Err(SettingsError::new(
                    "database.url: sslrootcert is only read with sslmode=verify-full \
                     (or verify-ca); without it the connection is plain text",
                )),
            };
        }
        Some("verify-full") => Verify::Full,
        Some("verify-ca" | "require") => Verify::Chain,
        Some(other) => {
            return Err(SettingsError::new(format!(
                "database.url: sslmode={other} is not supported \
                 (verify-full, verify-ca, require, prefer or disable)"
            )));
        }
    };
    let mode = mode.unwrap_or_default();
    match root {
        None => Err(SettingsError::new(format!(
            "database.url: sslmode={mode} needs sslrootcert=<the CA's PEM file>: \
             without it nothing would verify the server"
        ))),
        Some(path) if path.as_os_str() == "system" => Err(SettingsError::new(
            "database.url: sslrootcert=system (the system's roots) is not supported: \
             name the database CA's PEM file",
        )),
        Some(root_cert) => Ok(Some(TlsSettings { verify, root_cert })),
    }
}

/// The connector for `settings`: reads and parses the root file now, so
/// that a missing or broken file stops start-up with one line although the
/// pool connects later.
pub fn connector(settings: &TlsSettings) -> Result<MakeRustlsConnect, SettingsError> {
    let roots = Arc::new(read_roots(&settings.root_cert)?);
    let provider = Arc::new(ring_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| SettingsError::new(format!("database TLS: {e}")))?;
    let config = match settings.verify {
        Verify::Full => builder.with_root_certificates(roots),
        Verify::Chain => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly { roots, provider })),
    }
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// rustls' ring provider. rustls 0.23.48 deprecated it for lacking
/// post-quantum key exchange, which only its aws-lc-rs provider offers; that
/// one builds AWS-LC with cmake and a C compiler, minutes of every cold
/// build on two cores, so we keep ring (classical X25519/P-256 key
/// exchange) until ring or a pure-Rust provider has a hybrid group.
#[expect(
    deprecated,
    reason = "ring over aws-lc-rs for cold builds; see the doc comment"
)]
fn ring_provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Every certificate of a PEM file, as trust anchors.
fn read_roots(path: &Path) -> Result<RootCertStore, SettingsError> {
    let fail = |why: String| {
        SettingsError::new(format!(
            "database.url: sslrootcert={}: {why}",
            path.display()
        ))
    };
    let pem = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| fail(format!("not a PEM certificate file: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| fail(format!("a certificate cannot be trusted: {e}")))?;
    }
    if roots.is_empty() {
        return Err(fail("holds no certificate".into()));
    }
    Ok(roots)
}

/// `verify-ca`: the chain must lead to one of `roots`, whatever host name
/// the certificate carries (a cluster reached through an address its
/// certificate does not list). The handshake's signatures are checked as
/// usual.
#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(verify: Verify, root: &str) -> Option<TlsSettings> {
        Some(TlsSettings {
            verify,
            root_cert: PathBuf::from(root),
        })
    }

    #[test]
    fn verify_full_and_its_root_file_are_taken_out_and_the_rest_is_kept() {
        let split = split_url(
            "postgres://rcr:pw@rcr-db-rw:5432/rcr?sslmode=verify-full&sslrootcert=/etc/rcr/db-ca/ca.crt",
        )
        .unwrap();
        assert_eq!(split.rest, "postgres://rcr:pw@rcr-db-rw:5432/rcr");
        assert_eq!(split.tls, tls(Verify::Full, "/etc/rcr/db-ca/ca.crt"));
    }

    #[test]
    fn other_parameters_and_every_host_of_a_multi_host_url_are_kept_in_order() {
        let split = split_url(
            "postgresql://u@a:5432,b:5433/db?connect_timeout=3&sslrootcert=%2Ftmp%2Fmy%20ca.pem\
             &target_session_attrs=read-write&sslmode=verify-ca&application_name=x",
        )
        .unwrap();
        assert_eq!(
            split.rest,
            "postgresql://u@a:5432,b:5433/db?connect_timeout=3&target_session_attrs=read-write&application_name=x"
        );
        assert_eq!(split.tls, tls(Verify::Chain, "/tmp/my ca.pem"));
    }

    #[test]
    fn a_url_without_sslmode_stays_plain_text_and_untouched() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/rcr",
            "postgres://postgres@127.0.0.1:5432/rcr?target_session_attrs=read-write",
            "host=127.0.0.1 port=5432 user=postgres",
            "postgres://u:p%3Fw@h/db",
        ] {
            let split = split_url(url).unwrap();
            assert_eq!(split.rest, url);
            assert_eq!(split.tls, None);
        }
    }

    #[test]
    fn disable_and_prefer_are_left_to_tokio_postgres() {
        let split = split_url("postgres://h/db?sslmode=disable&x=1").unwrap();
        assert_eq!(split.rest, "postgres://h/db?sslmode=disable&x=1");
        assert_eq!(split.tls, None);
    }

    #[test]
    fn a_question_mark_in_the_password_does_not_start_the_query() {
        let split =
            split_url("postgres://u:a?b@h:1/db?sslmode=verify-full&sslrootcert=/ca.pem").unwrap();
        assert_eq!(split.rest, "postgres://u:a?b@h:1/db");
        assert_eq!(split.tls, tls(Verify::Full, "/ca.pem"));
    }

    #[test]
    fn require_with_a_root_file_verifies_the_chain_as_libpq_does() {
        let split = split_url("postgres://h/db?sslmode=require&sslrootcert=/ca.pem").unwrap();
        assert_eq!(split.tls, tls(Verify::Chain, "/ca.pem"));
    }

    #[test]
    fn modes_that_would_not_verify_the_server_are_refused_with_the_reason() {
        for (url, says) in [
            ("postgres://h/db?sslmode=verify-full", "needs sslrootcert"),
            ("postgres://h/db?sslmode=require", "needs sslrootcert"),
            (
                "postgres://h/db?sslrootcert=/ca.pem",
                "only read with sslmode",
            ),
            (
                "postgres://h/db?sslmode=verify-full&sslrootcert=system",
                "sslrootcert=system",
            ),
            (
                "postgres://h/db?sslmode=allow",
                "sslmode=allow is not supported",
            ),
        ] {
            let err = split_url(url).expect_err(url).to_string();
            assert!(err.contains(says), "{url}: {err}");
        }
    }

    #[test]
    fn a_missing_or_empty_root_file_is_named() {
        let missing = TlsSettings {
            verify: Verify::Full,
            root_cert: PathBuf::from("/nonexistent/ca.pem"),
        };
        let err = connector(&missing).err().expect("missing file").to_string();
        assert!(
            err.contains("/nonexistent/ca.pem") && err.contains("cannot read"),
            "{err}"
        );

        let empty = std::env::temp_dir().join(format!("rcr-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = connector(&TlsSettings {
            verify: Verify::Chain,
            root_cert: empty.clone(),
        })
        .err()
        .expect("no certificate")
        .to_string();
        let _ = std::fs::remove_file(&empty);
        assert!(err.contains("holds no certificate"), "{err}");
    }
}
