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

/// `text` (a message) with the secrets of any URL in it hidden: for anything printable.
#[napi_derive::napi(catch_unwind)]
#[allow(dead_code)] // called from JS only
pub fn redact_secrets(text: String) -> String {
    crate::core::redis_url::redact_text(&text)
}

/// A Redis URL as it may be shown, and whether it held a secret.
#[napi_derive::napi(object)]
pub struct NativeShownUrl {
    /// The URL with each secret replaced by `***`.
    pub text: String,
    pub secret: bool,
}

/// `url` (one Redis URL, in any form the store accepts) as it may be shown.
#[napi_derive::napi(catch_unwind)]
#[allow(dead_code)] // called from JS only
pub fn redact_redis_url(url: String) -> NativeShownUrl {
    let shown = crate::core::redis_url::redact_url(&url);
    NativeShownUrl { text: shown.text, secret: shown.secret }
}

#[napi_derive::module_init]
fn init() {
    // redis-rs pulls in rustls without a crypto provider; `rediss://` needs one.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
