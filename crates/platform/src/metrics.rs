//! Prometheus metrics: one registry per service, labelled with the service
//! and its region, and the HTTP metrics every service records.

use std::sync::{Arc, Mutex, OnceLock};

use actix_web::{HttpResponse, web};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// Work done just before each scrape (sampling gauges such as pool use).
type ScrapeHook = Box<dyn Fn() + Send + Sync>;

/// The registry and the per-request metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Run before every scrape.
    hooks: Arc<Mutex<Vec<ScrapeHook>>>,
    /// Created on first use, shared by every pool of the process.
    db_pool: Arc<OnceLock<prometheus::IntGaugeVec>>,
    /// Requests by route pattern, method and status.
    pub http_requests: IntCounterVec,
    /// Latency by route pattern, method and status.
    pub http_duration: HistogramVec,
}

impl Metrics {
    /// `service` and `region` become constant labels of every series.
    pub fn new(service: &str, region: &str) -> Self {
        let labels = [
            ("service".to_owned(), service.to_owned()),
            ("region".to_owned(), region.to_owned()),
        ]
        .into_iter()
        .collect();
        let registry =
            Registry::new_custom(Some("rcr".into()), Some(labels)).expect("valid registry labels");
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered"),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                    1.0, 2.5, 5.0,
                ],
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let metrics = Self {
            registry,
            hooks: Arc::default(),
            db_pool: Arc::default(),
            http_requests,
            http_duration,
        };
        metrics.register(Box::new(metrics.http_requests.clone()));
        metrics.register(Box::new(metrics.http_duration.clone()));
        metrics
    }

    /// Adds a service-specific collector. Names are fixed in code, so a
    /// duplicate is a programming error.
    pub fn register(&self, collector: Box<dyn prometheus::core::Collector>) {
        self.registry
            .register(collector)
            .expect("metric registered once");
    }

    /// Runs `hook` before every scrape, to sample values that are cheaper
    /// to read on demand than to track (pool sizes).
    pub fn on_scrape(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.hooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Box::new(hook));
    }

    /// `rcr_db_pool_connections{pool, state}`.
    pub fn db_pool_gauge(&self) -> prometheus::IntGaugeVec {
        self.db_pool
            .get_or_init(|| {
                let gauge = prometheus::IntGaugeVec::new(
                    Opts::new("db_pool_connections", "Database pool connections by state"),
                    &["pool", "state"],
                )
                .expect("valid metric");
                self.register(Box::new(gauge.clone()));
                gauge
            })
            .clone()
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn render(&self) -> Vec<u8> {
        for hook in self
            .hooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            hook();
        }
        let mut out = Vec::with_capacity(16 * 1024);
        // Text encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// `GET /metrics`.
pub async fn handler(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}
