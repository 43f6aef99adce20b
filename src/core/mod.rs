//! The cache core: envelope format, tag manifest, stores and configuration.

pub mod clock;
pub mod coherence;
pub mod config;
pub mod envelope;
pub mod error;
pub mod redis_url;
pub mod stats;
pub mod store;
pub mod tag_cache;
pub mod tags;

pub use config::Config;
pub use error::{Error, Result};
pub use store::{Cache, Capabilities, CdnBatch, Hit, Lease, RedisStore};
