//! A local certificate authority and the server certificates it signs, made
//! with the `openssl` program: the local stack's (gateways' HTTPS,
//! PostgreSQL's TLS, one CA under the state folder) and each test cluster's
//! (a CA of its own in its temporary folder).
//!
//! Keys are EC P-256, which `openssl` makes in milliseconds (an RSA key
//! takes a noticeable part of a test cluster's start). Every server
//! certificate names `localhost`, `127.0.0.1` and `::1`, the names a client
//! on this machine verifies (`sslmode=verify-full`, `curl --cacert`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::path_str;
use crate::process::{self, StackError};

/// A server certificate's validity: what browsers accept.
const SERVER_DAYS: &str = "825";
/// The CA's validity.
const CA_DAYS: &str = "3650";

/// The extensions of a server certificate.
const SERVER_EXTENSIONS: &str = "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n\
     basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n\
     extendedKeyUsage=serverAuth\n";

/// `openssl req` arguments for a new EC P-256 key.
const EC_KEY: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

/// A certificate authority of this machine: `ca.pem` (what clients trust)
/// and `ca-key.pem` in one folder, beside the certificates it signed.
#[derive(Debug, Clone)]
pub struct LocalCa {
    dir: PathBuf,
}

/// A certificate and its private key (mode 0600), PEM files.
#[derive(Debug, Clone)]
pub struct ServerCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl LocalCa {
    /// The CA of `dir`, made when missing (valid ten years). Making it
    /// removes the certificates an earlier CA signed there, so that each is
    /// made again, by this one.
    pub fn ensure(dir: &Path, common_name: &str) -> Result<Self, StackError> {
        let ca = Self {
            dir: dir.to_path_buf(),
        };
        if ca.cert().exists() && ca.key().exists() {
            return Ok(ca);
        }
        std::fs::create_dir_all(dir).map_err(|e| StackError::io(dir, e))?;
        for entry in std::fs::read_dir(dir)
            .map_err(|e| StackError::io(dir, e))?
            .flatten()
        {
            if entry.path().extension().is_some_and(|e| e == "pem") {
                std::fs::remove_file(entry.path()).map_err(|e| StackError::io(&entry.path(), e))?;
            }
        }
        openssl(
            &[
                &["req", "-x509", "-nodes", "-days", CA_DAYS][..],
                &EC_KEY,
                &["-subj", &format!("/CN={common_name}")],
                &[
                    "-keyout",
                    &path_str(&ca.key()),
                    "-out",
                    &path_str(&ca.cert()),
                ],
            ]
            .concat(),
        )?;
        process::restrict(&ca.key())?;
        Ok(ca)
    }

    /// The CA's certificate: what clients trust.
    pub fn cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.join("ca-key.pem")
    }

    /// `NAME.pem` and `NAME-key.pem` beside the CA, for this machine's
    /// names (valid 825 days); made when missing.
    pub fn server_cert(&self, name: &str) -> Result<ServerCert, StackError> {
        let files = ServerCert {
            cert: self.dir.join(format!("{name}.pem")),
            key: self.dir.join(format!("{name}-key.pem")),
        };
        if files.cert.exists() && files.key.exists() {
            return Ok(files);
        }
        let csr = self.dir.join(format!("{name}.csr"));
        let ext = self.dir.join(format!("{name}.ext"));
        std::fs::write(&ext, SERVER_EXTENSIONS).map_err(|e| StackError::io(&ext, e))?;
        openssl(
            &[
                &["req", "-new", "-nodes"][..],
                &EC_KEY,
                &["-subj", "/CN=localhost"],
                &["-keyout", &path_str(&files.key), "-out", &path_str(&csr)],
            ]
            .concat(),
        )?;
        process::restrict(&files.key)?;
        openssl(&[
            "x509",
            "-req",
            "-days",
            SERVER_DAYS,
            "-in",
            &path_str(&csr),
            "-CA",
            &path_str(&self.cert()),
            "-CAkey",
            &path_str(&self.key()),
            "-CAcreateserial",
            "-extfile",
            &path_str(&ext),
            "-out",
            &path_str(&files.cert),
        ])?;
        for leftover in [&csr, &ext] {
            let _ = std::fs::remove_file(leftover);
        }
        Ok(files)
    }
}

fn openssl(args: &[&str]) -> Result<(), StackError> {
    process::run(Command::new("openssl").args(args), "openssl").map(|_| ())
}

/// `path` as a URL query value (`sslrootcert=`): percent-encoded but for
/// the characters a path needs none for.
pub fn url_encode_path(path: &Path) -> String {
    let mut out = String::new();
    for byte in path_str(path).bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `value` as a libpq connection-string value: single-quoted, with `\` and
/// `'` escaped.
pub fn conninfo_value(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_in_a_url_keeps_its_slashes_and_encodes_the_rest() {
        assert_eq!(
            url_encode_path(Path::new("/work/my stack/.local/tls/ca.pem")),
            "/work/my%20stack/.local/tls/ca.pem"
        );
        assert_eq!(url_encode_path(Path::new("/a&b#c%")), "/a%26b%23c%25");
    }

    #[test]
    fn a_conninfo_value_is_quoted_and_escaped() {
        assert_eq!(conninfo_value("/tmp/ca.pem"), "'/tmp/ca.pem'");
        assert_eq!(conninfo_value(r"/it's\x"), r"'/it\'s\\x'");
    }

    #[test]
    fn a_new_ca_signs_a_certificate_for_this_machine() {
        let dir = std::env::temp_dir().join(format!("rcr-ca-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ca = LocalCa::ensure(&dir, "test CA").unwrap();
        let server = ca.server_cert("server").unwrap();
        let verified = process::run(
            Command::new("openssl").args([
                "verify",
                "-CAfile",
                &path_str(&ca.cert()),
                "-verify_hostname",
                "localhost",
                "-verify_ip",
                "127.0.0.1",
                &path_str(&server.cert),
            ]),
            "openssl verify",
        );
        let mode = std::fs::metadata(&server.key).map(|m| {
            use std::os::unix::fs::PermissionsExt as _;
            m.permissions().mode() & 0o777
        });
        let _ = std::fs::remove_dir_all(&dir);
        assert!(verified.is_ok(), "{verified:?}");
        assert_eq!(mode.unwrap(), 0o600);
    }
}
