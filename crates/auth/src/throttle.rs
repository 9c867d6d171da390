//! Login throttling in Redis: failed attempts are counted per email and per
//! client IP in a fixed window that starts at the first failure; past the
//! limit, logins answer 429 with `Retry-After` (the window's remaining
//! time) without touching the password hash.
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
        let mut pipe = redis::pipe();
        pipe.get(Self::email_key(email))
            .ttl(Self::email_key(email))
            .get(Self::ip_key(ip))
            .ttl(Self::ip_key(ip));
        let answer: Result<(Option<u64>, i64, Option<u64>, i64), _> =
            self.redis.pipeline(&pipe).await;
        match answer {
            Ok((email_count, email_ttl, ip_count, ip_ttl)) => {
                let over = |count: Option<u64>, limit: u64, ttl: i64| {
                    (count.unwrap_or(0) >= limit).then(|| u64::try_from(ttl).unwrap_or(1).max(1))
                };
                match over(email_count, self.settings.per_email, email_ttl)
                    .into_iter()
                    .chain(over(ip_count, self.settings.per_ip, ip_ttl))
                    .max()
                {
                    Some(wait) => Err(wait),
                    None => Ok(()),
                }
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
        let window = i64::try_from(self.settings.window_s).unwrap_or(i64::MAX);
        let mut pipe = redis::pipe();
        for key in [Self::email_key(email), Self::ip_key(ip)] {
            pipe.incr(&key, 1u64).ignore();
            // NX: the window starts at the first failure and is not
            // extended by later ones.
            pipe.cmd("EXPIRE").arg(&key).arg(window).arg("NX").ignore();
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
