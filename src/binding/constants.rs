//! What JS shares with Rust, from one source: the defaults of every setting, how far each
//! error code reaches, and the configuration's rules (checked without creating a store).

use super::convert::NativeOptions;
use crate::core::Config;
use crate::core::error::CODES;
use crate::core::store::outbox;
use napi_derive::napi;
use std::collections::HashMap;

/// `Config::default()`, as JS spells the options.
#[napi(object)]
pub struct NativeDefaults {
    pub prefix: String,
    pub timeout_ms: f64,
    pub connect_timeout_ms: f64,
    pub memory_max_bytes: f64,
    pub max_value_bytes: f64,
    pub default_ttl_seconds: f64,
    pub tag_cache_max_bytes: f64,
    pub l1_max_bytes: f64,
    pub max_staleness_ms: f64,
    pub heartbeat_seconds: f64,
    pub lease_ms: f64,
    pub lease_wait_ms: f64,
}

#[napi(object)]
pub struct NativeConstants {
    pub defaults: NativeDefaults,
    /// Every `err.code` with how far the failure reaches: `connectivity` (Redis cannot be
    /// reached), `store` (Redis answers with an error), `call` (one call, one key).
    #[napi(ts_type = "Record<string, 'connectivity' | 'store' | 'call'>")]
    pub error_codes: HashMap<String, String>,
    /// The bound of the revalidations a process keeps while Redis fails (oldest dropped past it).
    pub outbox_max_tags: f64,
    pub outbox_max_bytes: f64,
}

#[napi(catch_unwind)]
#[allow(dead_code)] // called from JS only
pub fn constants() -> NativeConstants {
    let d = Config::default();
    NativeConstants {
        defaults: NativeDefaults {
            prefix: d.prefix,
            timeout_ms: d.timeout_ms as f64,
            connect_timeout_ms: d.connect_timeout_ms as f64,
            memory_max_bytes: d.memory_max_bytes as f64,
            max_value_bytes: d.max_value_bytes as f64,
            default_ttl_seconds: d.default_ttl_secs,
            tag_cache_max_bytes: d.tag_cache_max_bytes as f64,
            l1_max_bytes: d.l1_max_bytes as f64,
            max_staleness_ms: d.max_staleness_ms as f64,
            heartbeat_seconds: d.heartbeat_secs,
            lease_ms: d.lease_ms as f64,
            lease_wait_ms: d.lease_wait_ms as f64,
        },
        error_codes: CODES.iter().map(|(code, reach)| ((*code).to_owned(), reach.name().to_owned())).collect(),
        outbox_max_tags: outbox::MAX_TAGS as f64,
        outbox_max_bytes: outbox::MAX_BYTES as f64,
    }
}

/// Runs the configuration's checks without creating a store; throws `ERR_SHARED_ISR_CONFIG`
/// like the constructor, its message starting with the option it is about (`prefix must ...`).
#[napi(catch_unwind)]
#[allow(dead_code)] // called from JS only
pub fn check_config(options: NativeOptions) -> napi::Result<()> {
    Config::from(options).validate().map_err(|e| napi::Error::new(napi::Status::GenericFailure, format!("{}: {}", e.code(), e.detail())))
}
