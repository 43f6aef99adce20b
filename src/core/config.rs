//! Validated configuration. JS reads the environment and passes the same fields, so
//! programmatic options and env vars share one set of checks.

use super::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `redis://` or `rediss://` URL; `None` selects the in-memory store.
    pub redis_url: Option<String>,
    /// Prepended to every key; lets several apps share one Redis.
    pub prefix: String,
    /// Upper bound for any single Redis operation.
    pub timeout_ms: u64,
    /// Upper bound for establishing a connection.
    pub connect_timeout_ms: u64,
    /// Byte budget of the in-memory store (when no Redis URL is given).
    pub memory_max_bytes: usize,
    /// Largest value accepted by `set`; larger ones are refused with `ERR_SHARED_ISR_TOO_LARGE`.
    pub max_value_bytes: usize,
    /// Redis TTL for entries whose `expire` Next did not give (14.2, fetch entries), and the
    /// longest any entry is served (the retention): tag stamps are kept as long.
    pub default_ttl_secs: f64,
    /// Byte budget of this process's cache of tag stamps (Redis store).
    pub tag_cache_max_bytes: usize,
    /// Byte budget of the local L1 (kept in JS); 0 turns it off and with it client tracking.
    pub l1_max_bytes: usize,
    /// Longest time an L1 copy is served without hearing from Redis; past it the L1 is bypassed.
    pub max_staleness_ms: u64,
    /// `rediss://` only: PEM file of the CA that signed the server certificate (instead of the
    /// public roots), and a client certificate and key for mutual TLS.
    pub tls_ca_file: Option<String>,
    pub tls_cert_file: Option<String>,
    pub tls_key_file: Option<String>,
    /// Run by JS, ruled here: how often a process registers itself in the fleet view (s; 0 off).
    pub heartbeat_secs: f64,
    /// Run by JS, ruled here: the regeneration lease's lifetime (ms; 0 off), and how long others
    /// wait for the holder's entry of an expired page.
    pub lease_ms: u64,
    pub lease_wait_ms: u64,
}

pub const DEFAULT_PREFIX: &str = "shared-isr:";
/// Upper bounds of settings whose larger values can only be mistakes.
pub const MAX_TIMEOUT_MS: u64 = 600_000;
pub const MAX_STALENESS_MS: u64 = 3_600_000;
pub const MAX_TTL_SECS: f64 = 3_153_600_000.0;
/// The largest byte budget (the in-memory store, the tag cache, the L1): more is a typo, not a machine.
pub const MAX_BUDGET_BYTES: usize = 1 << 40;
/// The longest heartbeat period (s); the fleet's longest instance TTL follows from it.
pub const MAX_HEARTBEAT_SECS: f64 = 3600.0;

impl Default for Config {
    fn default() -> Self {
        Config {
            redis_url: None,
            prefix: DEFAULT_PREFIX.into(),
            timeout_ms: 1_000,
            connect_timeout_ms: 1_000,
            memory_max_bytes: 256 * 1024 * 1024,
            max_value_bytes: 32 * 1024 * 1024,
            // Next's own default `expireTime`: one year.
            default_ttl_secs: 31_536_000.0,
            tag_cache_max_bytes: 16 * 1024 * 1024,
            l1_max_bytes: 64 * 1024 * 1024,
            max_staleness_ms: 1_000,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            heartbeat_secs: 5.0,
            // Longer than a slow render; a crashed holder blocks nobody longer than the wait.
            lease_ms: 15_000,
            // Counted from when the holder took the lease: what a waiter may lose when the
            // holder does not deliver and nothing says so (a render that throws, Next not
            // storing); longer than most renders, whose duplicates are the cost of a short one.
            lease_wait_ms: 1_000,
        }
    }
}

impl Config {
    /// The longest an entry is served, in ms: past it, an entry is expired whatever its tags say,
    /// and stamps older than it are pruned.
    pub fn retention_ms(&self) -> f64 {
        self.default_ttl_secs * 1000.0
    }

    /// Checks every setting. A refusal is `Error::Config` whose message starts with the name
    /// of the setting it is about, as JS spells the option (`prefix must not ...`): JS swaps in
    /// the environment variable when the value came from one.
    pub fn validate(&self) -> Result<()> {
        if let Some(url) = &self.redis_url {
            const SCHEMES: [&str; 6] =
                ["redis://", "rediss://", "redis+cluster://", "rediss+cluster://", "redis+sentinel://", "rediss+sentinel://"];
            // Bytes, not str slices: a scheme-length cut may fall inside a multi-byte character.
            if !SCHEMES.iter().any(|s| url.as_bytes().get(..s.len()).is_some_and(|head| head.eq_ignore_ascii_case(s.as_bytes()))) {
                return Err(invalid("redisUrl", format!("must start with {}", SCHEMES.join(", "))));
            }
            // Parsed in full (every node of a Cluster or Sentinel list); nothing is contacted.
            crate::core::store::check_url(url).map_err(|e| {
                let detail = e.detail();
                invalid("redisUrl", format!("is not a usable redis URL ({})", detail.strip_prefix("redis URL: ").unwrap_or(&detail)))
            })?;
        }
        if self.prefix.is_empty() || self.prefix.len() > 256 {
            return Err(invalid("prefix", "must be 1 to 256 bytes"));
        }
        if self.prefix.contains(['{', '}']) {
            // Braces would change the Redis Cluster hash slot of our metadata keys.
            return Err(invalid("prefix", "must not contain '{' or '}'"));
        }
        if self.prefix.contains(['*', '?', '[', ']', '\\']) {
            // Glob characters: the ACL key pattern `~<prefix>*` would match other apps' keys
            // (`app?:` reads `app1:`) or refuse ours (`app[12]:`).
            return Err(invalid("prefix", "must not contain the glob characters * ? [ ] \\"));
        }
        for (name, ms) in [("timeoutMs", self.timeout_ms), ("connectTimeoutMs", self.connect_timeout_ms)] {
            if !(1..=MAX_TIMEOUT_MS).contains(&ms) {
                return Err(invalid(name, format!("must be between 1 and {MAX_TIMEOUT_MS} ms, got {ms}")));
            }
        }
        for (name, bytes) in
            [("memoryMaxBytes", self.memory_max_bytes), ("tagCacheMaxBytes", self.tag_cache_max_bytes), ("l1MaxBytes", self.l1_max_bytes)]
        {
            if bytes > MAX_BUDGET_BYTES {
                return Err(invalid(name, format!("must be at most 1 TiB ({MAX_BUDGET_BYTES} bytes), got {bytes}")));
            }
        }
        if self.max_value_bytes == 0 || self.max_value_bytes > 512 * 1024 * 1024 {
            return Err(invalid("maxValueBytes", "must be between 1 byte and 512 MiB"));
        }
        let tls_file = [("tlsCaFile", &self.tls_ca_file), ("tlsCertFile", &self.tls_cert_file), ("tlsKeyFile", &self.tls_key_file)]
            .into_iter()
            .find_map(|(name, f)| f.is_some().then_some(name));
        if let Some(name) = tls_file
            && !self.redis_url.as_deref().is_some_and(|u| u.to_ascii_lowercase().starts_with("rediss"))
        {
            return Err(invalid(name, "is set but the redis URL is not rediss:// (or rediss+cluster://, rediss+sentinel://)"));
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            let (name, other) = if self.tls_cert_file.is_some() { ("tlsCertFile", "tlsKeyFile") } else { ("tlsKeyFile", "tlsCertFile") };
            return Err(invalid(name, format!("is set without {other}: they go together (mutual TLS)")));
        }
        if !(50..=MAX_STALENESS_MS).contains(&self.max_staleness_ms) {
            return Err(invalid("maxStalenessMs", format!("must be between 50 and {MAX_STALENESS_MS}, got {}", self.max_staleness_ms)));
        }
        if !(self.heartbeat_secs == 0.0 || (0.1..=MAX_HEARTBEAT_SECS).contains(&self.heartbeat_secs)) {
            return Err(invalid(
                "heartbeatSeconds",
                format!("must be 0 (off) or between 0.1 and {MAX_HEARTBEAT_SECS}, got {}", self.heartbeat_secs),
            ));
        }
        for (name, ms) in [("leaseMs", self.lease_ms), ("leaseWaitMs", self.lease_wait_ms)] {
            if ms > MAX_TIMEOUT_MS {
                return Err(invalid(name, format!("must be between 0 and {MAX_TIMEOUT_MS} ms, got {ms}")));
            }
        }
        if !(self.default_ttl_secs >= 1.0 && self.default_ttl_secs <= MAX_TTL_SECS) {
            // Redis refuses a TTL past 2^63 ms; a century is beyond any use.
            return Err(invalid("defaultTtlSeconds", format!("must be between 1 and {MAX_TTL_SECS} (100 years)")));
        }
        Ok(())
    }
}

/// A refused setting: its (JS) name first, then the rule.
fn invalid(setting: &str, rule: impl std::fmt::Display) -> Error {
    Error::Config(format!("{setting} {rule}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn rejects_bad_values_without_leaking_secrets() {
        let bad = |c: Config| c.validate().unwrap_err();
        let e = bad(Config { redis_url: Some("http://u:pw@h".into()), ..Default::default() });
        assert_eq!(e.code(), "ERR_SHARED_ISR_CONFIG");
        assert!(!e.to_string().contains("pw"));
        let e = bad(Config { redis_url: Some("redis://u:pw@h:notaport".into()), ..Default::default() });
        assert!(!e.to_string().contains("pw"), "{e}");
        bad(Config { prefix: String::new(), ..Default::default() });
        bad(Config { prefix: "a{b}".into(), ..Default::default() });
        bad(Config { timeout_ms: 0, ..Default::default() });
        for prefix in ["app[12]:", "app?:", "a*", "a\\b"] {
            bad(Config { prefix: prefix.into(), ..Default::default() });
        }
        bad(Config { timeout_ms: (1u64 << 32) + 5, ..Default::default() });
        bad(Config { connect_timeout_ms: 1 << 32, ..Default::default() });
        bad(Config { max_staleness_ms: 1 << 40, ..Default::default() });
        bad(Config { default_ttl_secs: 1e17, ..Default::default() });
        bad(Config { default_ttl_secs: f64::NAN, ..Default::default() });
        bad(Config { max_value_bytes: 0, ..Default::default() });
        Config { redis_url: Some("rediss://user:pw@host:6380/2".into()), ..Default::default() }.validate().unwrap();
    }

    #[test]
    fn a_refusal_starts_with_the_setting_it_is_about() {
        let named = |c: Config, setting: &str| {
            let e = c.validate().unwrap_err();
            assert!(e.detail().starts_with(&format!("{setting} ")), "{e}");
        };
        named(Config { redis_url: Some("http://h".into()), ..Default::default() }, "redisUrl");
        named(Config { redis_url: Some("redis://h:notaport".into()), ..Default::default() }, "redisUrl");
        named(Config { prefix: "a{".into(), ..Default::default() }, "prefix");
        named(Config { connect_timeout_ms: 0, ..Default::default() }, "connectTimeoutMs");
        named(Config { max_value_bytes: 0, ..Default::default() }, "maxValueBytes");
        named(Config { memory_max_bytes: usize::MAX, ..Default::default() }, "memoryMaxBytes");
        named(Config { tag_cache_max_bytes: MAX_BUDGET_BYTES + 1, ..Default::default() }, "tagCacheMaxBytes");
        named(Config { l1_max_bytes: MAX_BUDGET_BYTES + 1, ..Default::default() }, "l1MaxBytes");
        Config { memory_max_bytes: MAX_BUDGET_BYTES, ..Default::default() }.validate().unwrap();
        named(Config { tls_key_file: Some("k".into()), ..Default::default() }, "tlsKeyFile");
        let rediss = Some("rediss://h".to_owned());
        named(Config { redis_url: rediss.clone(), tls_key_file: Some("k".into()), ..Default::default() }, "tlsKeyFile");
        named(Config { redis_url: rediss, tls_cert_file: Some("c".into()), ..Default::default() }, "tlsCertFile");
        named(Config { max_staleness_ms: 1, ..Default::default() }, "maxStalenessMs");
        named(Config { default_ttl_secs: 0.5, ..Default::default() }, "defaultTtlSeconds");
    }
}
