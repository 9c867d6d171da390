//! Every write and every auth event goes to the append-only `audit_log`,
//! in the same transaction as the change it records where there is one.

use std::net::IpAddr;

use deadpool_postgres::GenericClient;

/// One audit row.
#[derive(Debug)]
pub struct Event<'a> {
    pub actor_id: Option<i64>,
    pub action: &'static str,
    pub entity: &'static str,
    pub entity_id: Option<String>,
    pub request_id: &'a str,
    pub client_ip: Option<IpAddr>,
    pub details: serde_json::Value,
}

pub async fn record(
    client: &impl GenericClient,
    event: Event<'_>,
) -> Result<(), tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO audit_log (actor_id, action, entity, entity_id, request_id, client_ip, details)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    client
        .execute(
            &stmt,
            &[
                &event.actor_id,
                &event.action,
                &event.entity,
                &event.entity_id,
                &event.request_id,
                &event.client_ip,
                &event.details,
            ],
        )
        .await?;
    Ok(())
}
