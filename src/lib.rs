//! shared-isr: a shared cache for self-hosted Next.js.
//!
//! `core` holds everything that can be tested with `cargo test` (no napi types);
//! `binding` only converts between JS values and the core.

mod binding;
pub mod core;
