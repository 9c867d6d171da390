//! Login throttling in Redis: failed attempts are counted per email and per
//! client IP in a fixed window that starts at the first failure; past the
//! limit, logins answer 429 with `Retry-After` (the window's remaining
//! time) without touching the password hash. Failed password resets count
//! against the same per-IP counter: guessing a reset token is guessing a
//! way in, like guessing a password.
//!
//! When Redis is unreachable the throttle is skipped (logged and counted):
//! an outage of the cache must not lock every editor out, and the argon2
//! cost plus the hashing semaphore still bound guessing speed.

use std::net::IpAddr;

use platform::redis::RedisHandle;
use prometheus::IntCounter;
use sha2::{Digest, Sha256};

use crate::settings::ThrottleSettings;

#[derive(Debug, Clone)]
pub struct Throttle {
    redis: RedisHandle,
    settings: ThrottleSettings,
    /// Redis errors that let a login through unthrottled.
    pub skipped: IntCounter,
}

impl Throttle {
    pub fn new(redis: RedisHandle, settings: ThrottleSettings, skipped: IntCounter) -> Self {
        Self {
            redis,
            settings,
            skipped,
        }
    }

    /// Emails are hashed in keys: Redis needs no personal data.
    fn email_key(email: &str) -> String {
        let digest = Sha256::digest(email.to_lowercase().as_bytes());
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        format!("rcr:login:email:{hex}")
    }

    fn ip_key(ip: Option<IpAddr>) -> String {
        ip.map_or_else(
            || "rcr:login:ip:unknown".to_owned(),
            |ip| format!("rcr:login:ip:{ip}"),
        )
    }

    /// `Err(seconds)` when either counter is at its limit.
    pub async fn check(&self, email: &str, ip: Option<IpAddr>) -> Result<(), u64> {
        self.check_keys(&[
            (Self::email_key(email), self.settings.per_email),
            (Self::ip_key(ip), self.settings.per_ip),
        ])
        .await
    }

    /// `Err(seconds)` when the client address is at its limit: attempts
    /// that name no account (password reset tokens) count per address only.
    pub async fn check_ip(&self, ip: Option<IpAddr>) -> Result<(), u64> {
        self.check_keys(&[(Self::ip_key(ip), self.settings.per_ip)])
            .await
    }

    /// `Err(seconds to wait)` when any counter is at its limit.
    async fn check_keys(&self, limits: &[(String, u64)]) -> Result<(), u64> {
        let mut pipe = redis::pipe();
        for (key, _) in limits {
            pipe.get(key).ttl(key);
        }
        // Per key: its count (nil before the first failure) and its TTL.
        let answer: Result<Vec<Option<i64>>, _> = self.redis.pipeline(&pipe).await;
        match answer {
            Ok(values) => {
                let over = |pair: &[Option<i64>], limit: u64| match pair {
                    [count, ttl] => (u64::try_from(count.unwrap_or(0)).unwrap_or(0) >= limit)
                        .then(|| u64::try_from(ttl.unwrap_or(1)).unwrap_or(1).max(1)),
                    _ => None,
                };
                let waits = values
                    .chunks(2)
                    .zip(limits)
                    .filter_map(|(pair, (_, limit))| over(pair, *limit));
                waits.max().map_or(Ok(()), Err)
            }
            Err(err) => {
                self.skipped.inc();
                tracing::warn!(error = %err, "login throttle unavailable; not throttling");
                Ok(())
            }
        }
    }

    /// Counts one failure against the email and the IP.
    pub async fn record_failure(&self, email: &str, ip: Option<IpAddr>) {
        self.record_keys(&[Self::email_key(email), Self::ip_key(ip)])
            .await;
    }

    /// Counts one failure against the IP only.
    pub async fn record_ip_failure(&self, ip: Option<IpAddr>) {
        self.record_keys(&[Self::ip_key(ip)]).await;
    }

    async fn record_keys(&self, keys: &[String]) {
        let window = i64::try_from(self.settings.window_s).unwrap_or(i64::MAX);
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.incr(key, 1u64).ignore();
            // NX: the window starts at the first failure and is not
            // extended by later ones.
            pipe.cmd("EXPIRE").arg(key).arg(window).arg("NX").ignore();
        }
        if let Err(err) = self.redis.pipeline::<()>(&pipe).await {
            self.skipped.inc();
            tracing::warn!(error = %err, "login throttle unavailable; failure not counted");
        }
    }

    /// A successful login clears the email's counter (not the IP's).
    pub async fn record_success(&self, email: &str) {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(Self::email_key(email));
        let _ = self.redis.query::<i64>(&cmd).await;
    }
}
