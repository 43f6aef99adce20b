//! The N-API layer: argument conversion, promises and error codes, nothing else.
//!
//! Rules from research/napi-redis.md: no `async fn(&self)` (use-after-free on worker
//! termination) — methods are sync, clone the `Arc` and return an owned future; constructors
//! do no I/O; results are copied into JS-owned buffers (faster than external buffers).

mod admin;
mod cache;
mod constants;
mod convert;
mod lease;

/// `text` without passwords (URL userinfo, `...password=` parameters): for anything printable.
#[napi_derive::napi(catch_unwind)]
#[allow(dead_code)] // called from JS only
pub fn redact_secrets(text: String) -> String {
    crate::core::error::redact(&text)
}

#[napi_derive::module_init]
fn init() {
    // redis-rs pulls in rustls without a crypto provider; `rediss://` needs one.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
