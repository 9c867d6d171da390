//! What the local stack's gateways meet at the edge (SPEC §10.1, §10.2):
//! their TLS material — a server certificate signed by the stack's local
//! certificate authority, made once under the state folder
//! (`servers::LocalCa`) — and the CORS origins, rate limits and trusted proxies rendered into
//! `deploy/nginx/gateway.conf.template`.
//!
//! Variables read by [`Edge::from_env`] (`make run` passes them through):
//! - `RCR_CORS_ORIGINS`: origins allowed to call `/auth`, `/reviews` and the
//!   JWKS from a browser, comma-separated; `:*` stands for any port
//!   (default `http://localhost:*,http://127.0.0.1:*`).
//! - `RCR_RATE_LOGIN`, `RCR_RATE_WRITE`, `RCR_RATE_SEARCH`: `RATE,BURST`
//!   per client address, RATE as nginx writes it (`1r/s`, `30r/m`)
//!   (defaults `1r/s,10`, `5r/s,20`, `20r/s,40`).
//! - `RCR_RATE_SEARCH_ALL`: `RATE,BURST` of all of a region's searches
//!   together (default `100r/s,50`): what its readers rank beside their
//!   cached reads; a flood from many addresses is refused at the gateway.
//! - `RCR_TRUSTED_PROXIES`: addresses or CIDR ranges whose
//!   `X-Forwarded-For` the gateway believes, comma-separated (default
//!   none: the peer is the client).

use std::path::{Path, PathBuf};

use crate::process::StackError;
use crate::servers::LocalCa;

/// The subject of the local stack's certificate authority.
pub const CA_NAME: &str = "RandomCameraReviews local CA";

/// A per-address request budget: nginx's `rate` and the `burst` it lets
/// through at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub rate: String,
    pub burst: u32,
}

impl Limit {
    /// `RATE,BURST`, e.g. `5r/s,20`.
    pub fn parse(text: &str) -> Result<Self, StackError> {
        let invalid = || {
            StackError::new(format!(
                "rate limit `{text}`: expected RATE,BURST such as 5r/s,20"
            ))
        };
        let (rate, burst) = text.split_once(',').ok_or_else(invalid)?;
        let rate = rate.trim();
        let valid_rate = rate
            .strip_suffix("r/s")
            .or_else(|| rate.strip_suffix("r/m"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && n != "0");
        if !valid_rate {
            return Err(invalid());
        }
        let burst = burst.trim().parse().map_err(|_| invalid())?;
        Ok(Self {
            rate: rate.to_owned(),
            burst,
        })
    }
}

/// The gateways' CORS, rate-limit and proxy settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// Origins echoed in `Access-Control-Allow-Origin` on `/auth`,
    /// `/reviews` and the JWKS; `:*` matches any port.
    pub cors_origins: Vec<String>,
    pub login: Limit,
    pub write: Limit,
    pub search: Limit,
    /// All searches of a region's gateway together.
    pub search_all: Limit,
    /// Whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
}

impl Default for Edge {
    /// What `make run` uses unless told otherwise.
    fn default() -> Self {
        Self {
            cors_origins: vec!["http://localhost:*".into(), "http://127.0.0.1:*".into()],
            login: Limit {
                rate: "1r/s".into(),
                burst: 10,
            },
            write: Limit {
                rate: "5r/s".into(),
                burst: 20,
            },
            search: Limit {
                rate: "20r/s".into(),
                burst: 40,
            },
            search_all: Limit {
                rate: "100r/s".into(),
                burst: 50,
            },
            trusted_proxies: Vec::new(),
        }
    }
}

impl Edge {
    /// The defaults with the variables in the module docs applied.
    pub fn from_env() -> Result<Self, StackError> {
        let mut edge = Self::default();
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let list = |text: String| -> Vec<String> {
            text.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        if let Some(origins) = var("RCR_CORS_ORIGINS") {
            edge.cors_origins = list(origins);
        }
        if let Some(text) = var("RCR_RATE_LOGIN") {
            edge.login = Limit::parse(&text)?;
        }
        if let Some(text) = var("RCR_RATE_WRITE") {
            edge.write = Limit::parse(&text)?;
        }
        if let Some(text) = var("RCR_RATE_SEARCH") {
            edge.search = Limit::parse(&text)?;
        }
        if let Some(text) = var("RCR_RATE_SEARCH_ALL") {
            edge.search_all = Limit::parse(&text)?;
        }
        if let Some(proxies) = var("RCR_TRUSTED_PROXIES") {
            edge.trusted_proxies = list(proxies);
        }
        for origin in &edge.cors_origins {
            origin_pattern(origin)?;
        }
        for proxy in &edge.trusted_proxies {
            if !proxy
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b":./".contains(&b))
            {
                return Err(StackError::new(format!(
                    "trusted proxy `{proxy}`: expected an address or a CIDR range"
                )));
            }
        }
        Ok(edge)
    }

    /// Limits no test load reaches, for stacks that measure something else
    /// (the system tests' own loads all come from one address).
    pub fn unlimited() -> Self {
        let high = || Limit {
            rate: "10000r/s".into(),
            burst: 10_000,
        };
        Self {
            login: high(),
            write: high(),
            search: high(),
            search_all: high(),
            ..Self::default()
        }
    }

    /// The `map $http_origin` lines of the allowed origins.
    pub(crate) fn cors_map_lines(&self) -> String {
        self.cors_origins
            .iter()
            .filter_map(|origin| origin_pattern(origin).ok())
            .map(|pattern| format!("\"~^{pattern}$\" $http_origin;"))
            .collect::<Vec<_>>()
            .join("\n        ")
    }

    /// The `set_real_ip_from` lines (a comment when there are none).
    pub(crate) fn real_ip_lines(&self) -> String {
        if self.trusted_proxies.is_empty() {
            return "# no trusted proxies: the peer address is the client".to_owned();
        }
        self.trusted_proxies
            .iter()
            .map(|proxy| format!("set_real_ip_from {proxy};"))
            .collect::<Vec<_>>()
            .join("\n    ")
    }
}

/// An origin as a regular expression: literal but for a `:*` port, which
/// matches any port or none.
fn origin_pattern(origin: &str) -> Result<String, StackError> {
    let (base, any_port) = match origin.strip_suffix(":*") {
        Some(base) => (base, true),
        None => (origin, false),
    };
    let valid = (base.starts_with("http://") || base.starts_with("https://"))
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:/[]".contains(&b));
    if !valid {
        return Err(StackError::new(format!(
            "CORS origin `{origin}`: expected scheme://host[:port] or scheme://host:*"
        )));
    }
    let mut pattern = String::new();
    for c in base.chars() {
        if ".[]".contains(c) {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    if any_port {
        pattern.push_str("(:[0-9]+)?");
    }
    Ok(pattern)
}

/// The files of the local certificate authority and the gateways' server
/// certificate.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// What a client trusts (`curl --cacert`).
    pub ca_cert: PathBuf,
    /// The gateways' certificate (for `localhost` and `127.0.0.1`), and its
    /// key.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl TlsFiles {
    /// The files under `dir`, made when missing: the stack's CA (also
    /// PostgreSQL's, see `servers::LocalCa`) and the gateways' certificate.
    pub fn ensure(dir: &Path) -> Result<Self, StackError> {
        let ca = LocalCa::ensure(dir, CA_NAME)?;
        let gateway = ca.server_cert("gateway")?;
        Ok(Self {
            ca_cert: ca.cert(),
            server_cert: gateway.cert,
            server_key: gateway.key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_with_any_port_becomes_an_anchored_pattern() {
        assert_eq!(
            origin_pattern("http://127.0.0.1:*").unwrap(),
            "http://127\\.0\\.0\\.1(:[0-9]+)?"
        );
        assert_eq!(
            origin_pattern("https://portal.example.com").unwrap(),
            "https://portal\\.example\\.com"
        );
        for bad in [
            "portal.example.com",
            "http://a b",
            "http://x/$(rm)",
            "ftp://x",
        ] {
            assert!(origin_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_read_rate_and_burst() {
        assert_eq!(
            Limit::parse("30r/m, 5").unwrap(),
            Limit {
                rate: "30r/m".into(),
                burst: 5
            }
        );
        for bad in ["5r/s", "0r/s,1", "5/s,1", "5r/s,-1", "r/s,1"] {
            assert!(Limit::parse(bad).is_err(), "{bad}");
        }
    }
}
