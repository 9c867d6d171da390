//! Settings shared by every service, and the one loader that layers them.
//!
//! Order of precedence (later wins): defaults in code (serde defaults on the
//! settings structs) → a TOML file (`--config PATH` or `RCR_CONFIG`) →
//! environment variables `RCR__SECTION__KEY` (for example
//! `RCR__DATABASE__URL`, `RCR__HTTP__PORT`). A bad or missing setting stops
//! start-up with one line naming it.
//!
//! Every setting is a field of a settings struct, documented beside the
//! field; its environment variable is the field's path in capitals under
//! `RCR__` (`http.port` is `RCR__HTTP__PORT`). The sections defined here
//! are shared by the services, whose own settings modules add theirs:
//! - `RCR_CONFIG` — path of a TOML settings file (optional)
//! - `RCR__HTTP__*` — host, port, workers, body_limit_bytes,
//!   body_timeout_ms, trusted_proxies, shutdown_timeout_s, public_url
//! - `RCR__DATABASE__*` — url (secret) or url_file, pool_size,
//!   wait_timeout_ms, connect_timeout_ms, recycle_timeout_ms,
//!   statement_timeout_ms
//! - `RCR__REDIS__*` — url, timeout_ms
//! - `RCR__LOG__*` — format (`json` | `pretty`), level

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The environment variable prefix of every setting.
pub const ENV_PREFIX: &str = "RCR";
/// The environment variable naming a TOML settings file.
pub const CONFIG_FILE_VAR: &str = "RCR_CONFIG";

/// A setting that is invalid or missing; its `Display` is the one line
/// printed before the process exits.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct SettingsError(String);

impl SettingsError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Loads `T` from the layers described in the module docs. `file` is the
/// `--config` argument when given; it wins over `RCR_CONFIG`.
pub fn load<T: DeserializeOwned>(file: Option<&Path>) -> Result<T, SettingsError> {
    load_with(file, std::env::vars())
}

/// Like [`load`] with the environment given explicitly (tests use this to
/// avoid touching the process environment).
pub fn load_with<T: DeserializeOwned>(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, SettingsError> {
    let env: std::collections::HashMap<String, String> = env.into_iter().collect();
    let mut builder = config::Config::builder();
    let file = file
        .map(Path::to_path_buf)
        .or_else(|| env.get(CONFIG_FILE_VAR).map(PathBuf::from));
    if let Some(path) = file {
        if !path.is_file() {
            return Err(SettingsError::new(format!(
                "settings file {} does not exist",
                path.display()
            )));
        }
        builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
    }
    builder = builder.add_source(
        config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("http.trusted_proxies")
            .source(Some(env)),
    );
    let raw = builder
        .build()
        .map_err(|e| SettingsError::new(e.to_string()))?;
    raw.try_deserialize()
        .map_err(|e| SettingsError::new(e.to_string()))
}

/// Deserialises a list given either as a list (TOML) or as a map with
/// numeric keys, which is how `RCR__REPLICAS__0__NAME`-style environment
/// variables arrive. Map entries are ordered by their index.
pub fn list_or_indexed_map<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either<T> {
        List(Vec<T>),
        Map(std::collections::BTreeMap<String, T>),
    }
    match Either::deserialize(deserializer)? {
        Either::List(list) => Ok(list),
        Either::Map(map) => {
            let mut entries = map
                .into_iter()
                .map(|(k, v)| {
                    k.parse::<usize>()
                        .map(|i| (i, v))
                        .map_err(|_| serde::de::Error::custom(format!("`{k}` is not a list index")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            entries.sort_by_key(|(i, _)| *i);
            Ok(entries.into_iter().map(|(_, v)| v).collect())
        }
    }
}

/// A value that must never reach a log line: `Debug` and `Display` print
/// `***`.
#[derive(Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Reads a secret given either inline or as a file path (`*_file` settings,
/// as Kubernetes mounts Secrets). The file wins; trailing newlines are cut.
pub fn secret_from(
    inline: &Secret,
    file: Option<&Path>,
    name: &str,
) -> Result<Secret, SettingsError> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            SettingsError::new(format!("{name}_file: cannot read {}: {e}", path.display()))
        })?;
        return Ok(Secret(text.trim_end_matches(['\n', '\r']).to_owned()));
    }
    if inline.is_empty() {
        return Err(SettingsError::new(format!(
            "{name} is required (set it or {name}_file)"
        )));
    }
    Ok(inline.clone())
}

/// A secret setting given inline or as a file (the file wins), such as the
/// HMAC secrets of consistency tokens and cursors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretSettings {
    pub secret: Secret,
    pub secret_file: Option<PathBuf>,
}

impl SecretSettings {
    /// The secret; `name` is the setting's name for the error line.
    pub fn load(&self, name: &str) -> Result<Secret, SettingsError> {
        secret_from(&self.secret, self.secret_file.as_deref(), name)
    }
}

/// The HTTP listener and the request conventions around it.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// The address to listen on (`0.0.0.0` in containers).
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Largest accepted request body (SPEC §4: 1 MiB).
    pub body_limit_bytes: usize,
    /// How long reading a whole request body may take: a client trickling
    /// one byte a second must not hold a worker.
    pub body_timeout_ms: u64,
    /// Proxies whose `X-Forwarded-For` is believed (the gateway).
    pub trusted_proxies: Vec<IpAddr>,
    /// Grace period for in-flight requests on SIGTERM.
    pub shutdown_timeout_s: u64,
    /// This service's externally visible base URL.
    pub public_url: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8080,
            workers: 0,
            body_limit_bytes: 1024 * 1024,
            body_timeout_ms: 10_000,
            trusted_proxies: vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1]),
            ],
            shutdown_timeout_s: 30,
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

/// A PostgreSQL pool. Every wait is bounded: deadpool and tokio-postgres
/// have no timeouts of their own.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://user:password@host:port/db`; several `host:port`s with
    /// `?target_session_attrs=read-write` find the primary among them.
    /// `&sslmode=verify-full&sslrootcert=/path/ca.crt` connects over TLS
    /// that trusts only that CA and checks the host's name (`verify-ca`:
    /// the CA only); without `sslmode`, plain text. See `platform::db::tls`.
    pub url: Secret,
    /// A file holding the URL (wins over `url`).
    pub url_file: Option<PathBuf>,
    /// Connections in the pool.
    pub pool_size: usize,
    /// How long a request waits for a free connection before 503.
    pub wait_timeout_ms: u64,
    /// How long opening a connection may take.
    pub connect_timeout_ms: u64,
    /// How long checking a pooled connection before reuse may take.
    pub recycle_timeout_ms: u64,
    /// Server-side bound on every statement.
    pub statement_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: Secret::default(),
            url_file: None,
            pool_size: 16,
            wait_timeout_ms: 2_000,
            connect_timeout_ms: 2_000,
            recycle_timeout_ms: 1_000,
            statement_timeout_ms: 5_000,
        }
    }
}

/// A Redis server, reached with short timeouts: Redis is an optimisation,
/// never a reason to fail a request.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://host:port[/db]`.
    pub url: Secret,
    /// Bound on connecting and on every command; past it the request goes
    /// on without Redis.
    pub timeout_ms: u64,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: Secret::new("redis://127.0.0.1:6379"),
            timeout_ms: 250,
        }
    }
}

/// Log output.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `json` (production) or `pretty` (local).
    pub format: LogFormat,
    /// An `EnvFilter` directive, e.g. `info` or `info,auth=debug`.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object a line (production).
    Json,
    /// Readable lines (local).
    Pretty,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[serde(default)]
        http: HttpSettings,
        #[serde(default)]
        database: DatabaseSettings,
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn environment_variables_override_defaults() {
        let s: Sample = load_with(
            None,
            env(&[
                ("RCR__HTTP__PORT", "9999"),
                ("RCR__DATABASE__URL", "postgres://x"),
                ("RCR__HTTP__TRUSTED_PROXIES", "10.0.0.1,10.0.0.2"),
            ]),
        )
        .expect("valid settings");
        assert_eq!(s.http.port, 9999);
        assert_eq!(s.database.url.expose(), "postgres://x");
        assert_eq!(s.http.trusted_proxies.len(), 2);
        assert_eq!(s.database.pool_size, 16);
    }

    #[test]
    fn a_bad_value_names_the_setting() {
        let err = load_with::<Sample>(None, env(&[("RCR__HTTP__PORT", "not-a-port")]))
            .expect_err("invalid port");
        assert!(err.to_string().contains("port"), "{err}");
    }

    #[test]
    fn an_unknown_setting_is_refused() {
        let err = load_with::<Sample>(None, env(&[("RCR__HTTP__PROT", "1")]))
            .expect_err("typo in a setting");
        assert!(err.to_string().contains("prot"), "{err}");
    }

    #[test]
    fn a_missing_settings_file_is_named() {
        let err = load_with::<Sample>(Some(Path::new("/nonexistent/rcr.toml")), env(&[]))
            .expect_err("missing file");
        assert!(err.to_string().contains("/nonexistent/rcr.toml"), "{err}");
    }

    #[derive(Debug, Deserialize)]
    struct Nodes {
        #[serde(default, deserialize_with = "list_or_indexed_map")]
        nodes: Vec<Node>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Node {
        name: String,
    }

    #[test]
    fn a_list_can_come_from_indexed_environment_variables() {
        let n: Nodes = load_with(
            None,
            env(&[("RCR__NODES__1__NAME", "b"), ("RCR__NODES__0__NAME", "a")]),
        )
        .expect("valid");
        assert_eq!(
            n.nodes,
            vec![Node { name: "a".into() }, Node { name: "b".into() }]
        );
        let empty: Nodes = load_with(None, env(&[])).expect("valid");
        assert!(empty.nodes.is_empty());
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
    }
}
