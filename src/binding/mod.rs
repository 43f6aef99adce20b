//! The N-API layer: argument conversion, promises and error codes, nothing else.
//!
//! Rules: no `async fn(&self)` (a use-after-free when a worker terminates mid-call): methods
//! are sync, clone the `Arc` and hand an owned future to `bridge`, which runs it on the I/O
//! thread and settles the promise; constructors do no I/O; results are copied into JS-owned
//! buffers (cheaper than external buffers and their finalizers).

mod admin;
mod bridge;
mod cache;
mod cdn;
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
