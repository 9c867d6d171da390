//! Finding the server binaries, with one clear message when one is missing.

use std::path::{Path, PathBuf};

/// Where Debian's postgresql-15 package puts its binaries, which are not on
/// PATH by default (only the version-switching wrappers are).
const DEBIAN_PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// The PostgreSQL programs, all from one installation so versions match.
#[derive(Debug)]
pub(crate) struct PgBinaries {
    pub(crate) initdb: PathBuf,
    pub(crate) postgres: PathBuf,
    pub(crate) pg_ctl: PathBuf,
    pub(crate) pg_basebackup: PathBuf,
}

impl PgBinaries {
    /// Finds `postgres`, then takes the other programs from the same folder
    /// (PATH may hold Debian's `pg_wrapper` scripts for a different version).
    pub(crate) fn locate() -> Self {
        let postgres = find("postgres", &[DEBIAN_PG_BIN]);
        let real = std::fs::canonicalize(&postgres).unwrap_or_else(|_| postgres.clone());
        let sibling_dir = real.parent().map(Path::to_path_buf);
        let dirs: Vec<&str> = sibling_dir
            .iter()
            .filter_map(|d| d.to_str())
            .chain([DEBIAN_PG_BIN])
            .collect();
        Self {
            initdb: find_preferring("initdb", &dirs),
            pg_ctl: find_preferring("pg_ctl", &dirs),
            pg_basebackup: find_preferring("pg_basebackup", &dirs),
            postgres: real,
        }
    }
}

/// Finds `redis-server`.
pub(crate) fn redis_server() -> PathBuf {
    find("redis-server", &[])
}

/// Looks in the `preferred` folders first, then on PATH.
fn find_preferring(name: &str, preferred: &[&str]) -> PathBuf {
    preferred
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| find(name, &[]))
}

/// Looks on PATH, then in the `fallback` folders; panics with the fix.
fn find(name: &str, fallback: &[&str]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(fallback.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            let also = if fallback.is_empty() {
                String::new()
            } else {
                format!(" nor in {}", fallback.join(", "))
            };
            panic!("{name} not found on PATH{also}: run `make test`, which installs it")
        })
}
