//! `/healthz` (the process is alive) and `/readyz` (it can serve: its
//! dependencies answer). Both live on the service's own port only.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use domain::ErrorCode;
use futures_util::future::BoxFuture;

use crate::problem::Problem;

/// One named readiness check: `Err` carries a reason for the log.
pub type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// The checks `/readyz` runs, registered by each service at start-up.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(&'static str, Check)>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.checks.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Readiness").field("checks", &names).finish()
    }
}

impl Readiness {
    pub fn with(mut self, name: &'static str, check: Check) -> Self {
        self.checks.push((name, check));
        self
    }

    /// Runs every check; the names of the failing ones.
    pub async fn failing(&self) -> Vec<&'static str> {
        let mut failing = Vec::new();
        for (name, check) in &self.checks {
            if let Err(reason) = check().await {
                tracing::warn!(check = name, reason = %reason, "not ready");
                failing.push(*name);
            }
        }
        failing
    }
}

/// The readiness check of a PostgreSQL pool: a connection answers `SELECT 1`.
pub fn database(pool: deadpool_postgres::Pool) -> Check {
    Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move {
            let client = pool.get().await.map_err(|e| e.to_string())?;
            client
                .simple_query("SELECT 1")
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        })
    })
}

/// `GET /healthz`.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 when every check passes, else 503 (the reasons are in
/// the log, never in the answer).
pub async fn readyz(readiness: web::Data<Readiness>) -> Result<HttpResponse, Problem> {
    let failing = readiness.failing().await;
    if failing.is_empty() {
        Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
    } else {
        Err(Problem::new(ErrorCode::ServiceUnavailable).retry_after(1))
    }
}

/// Mounts `/healthz`, `/readyz` and `/metrics`; any other method on them
/// is a 405 with `Allow` (SPEC §4), not the 404 of an unknown path.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use crate::server::get_or_head;
    cfg.service(get_only("/healthz").route(get_or_head().to(healthz)))
        .service(get_only("/readyz").route(get_or_head().to(readyz)))
        .service(get_only("/metrics").route(get_or_head().to(crate::metrics::handler)));
}

/// A read-only resource: methods other than GET and HEAD get a 405 with
/// `Allow`.
pub fn get_only(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|| async {
        crate::http::method_not_allowed("GET, HEAD")
    }))
}
