//! Conversions between JS shapes and core types.

use crate::core::envelope::{EntryMeta, Revalidate};
use crate::core::tags::Freshness;
use crate::core::{Config, Error, Hit};
use napi::bindgen_prelude::{BufferSlice, Env, FromNapiValue};
use napi::{Either, sys};
use napi_derive::napi;

/// Errors reach JS as `Error` with `code`: async rejections cannot carry a custom status in
/// napi-rs, so the code leads the message and lib/native.js moves it to `err.code`.
pub fn to_napi(e: Error) -> napi::Error {
    napi::Error::new(napi::Status::GenericFailure, format!("{}: {}", e.code(), e))
}

#[napi(object)]
#[derive(Default)]
pub struct NativeOptions {
    /// `redis://` / `rediss://` URL; absent selects the in-memory store.
    pub redis_url: Option<String>,
    pub prefix: Option<String>,
    pub timeout_ms: Option<f64>,
    pub connect_timeout_ms: Option<f64>,
    pub memory_max_bytes: Option<f64>,
    pub max_value_bytes: Option<f64>,
    pub default_ttl_seconds: Option<f64>,
    pub tag_cache_max_bytes: Option<f64>,
    /// Byte budget of the local L1; 0 turns it (and client tracking) off.
    pub l1_max_bytes: Option<f64>,
    /// Longest time an L1 copy is served without hearing from Redis.
    pub max_staleness_ms: Option<f64>,
    /// Fleet heartbeat period (s; 0 off), regeneration lease and wait (ms; run by JS).
    pub heartbeat_seconds: Option<f64>,
    pub lease_ms: Option<f64>,
    pub lease_wait_ms: Option<f64>,
    /// `rediss://`: CA certificate (PEM file) to trust instead of the public roots.
    pub tls_ca_file: Option<String>,
    /// `rediss://`: client certificate and key (PEM files) for mutual TLS.
    pub tls_cert_file: Option<String>,
    pub tls_key_file: Option<String>,
}

/// A JS number as a whole count, saturating (never wrapping): the config's own checks then
/// refuse what is out of range. NaN and negatives become 0, fractions round up.
fn whole(v: f64) -> u64 {
    if v.is_nan() || v <= 0.0 { 0 } else { v.ceil() as u64 }
}

impl From<NativeOptions> for Config {
    fn from(o: NativeOptions) -> Config {
        let d = Config::default();
        let bytes = |v: Option<f64>, def: usize| v.map(|v| if v.is_finite() && v >= 0.0 { v as usize } else { 0 }).unwrap_or(def);
        Config {
            redis_url: o.redis_url.filter(|u| !u.is_empty()),
            prefix: o.prefix.unwrap_or(d.prefix),
            timeout_ms: o.timeout_ms.map_or(d.timeout_ms, whole),
            connect_timeout_ms: o.connect_timeout_ms.map_or(d.connect_timeout_ms, whole),
            memory_max_bytes: bytes(o.memory_max_bytes, d.memory_max_bytes),
            max_value_bytes: bytes(o.max_value_bytes, d.max_value_bytes),
            default_ttl_secs: o.default_ttl_seconds.unwrap_or(d.default_ttl_secs),
            tag_cache_max_bytes: bytes(o.tag_cache_max_bytes, d.tag_cache_max_bytes),
            l1_max_bytes: bytes(o.l1_max_bytes, d.l1_max_bytes),
            max_staleness_ms: o.max_staleness_ms.map_or(d.max_staleness_ms, whole),
            heartbeat_secs: o.heartbeat_seconds.map_or(d.heartbeat_secs, |v| if v.is_nan() { -1.0 } else { v }),
            lease_ms: o.lease_ms.map_or(d.lease_ms, whole),
            lease_wait_ms: o.lease_wait_ms.map_or(d.lease_wait_ms, whole),
            tls_ca_file: o.tls_ca_file.filter(|s| !s.is_empty()),
            tls_cert_file: o.tls_cert_file.filter(|s| !s.is_empty()),
            tls_key_file: o.tls_key_file.filter(|s| !s.is_empty()),
        }
    }
}

/// What Rust needs to know about an entry; the payload itself stays opaque.
#[napi(object)]
pub struct NativeEntryMeta {
    pub last_modified: f64,
    /// Seconds, or `false` for "never"; absent when Next did not say.
    #[napi(ts_type = "number | false")]
    pub revalidate: Option<Either<f64, bool>>,
    pub expire: Option<f64>,
    pub tags: Option<Vec<String>>,
    /// Store only when no entry exists (seeding from the build output).
    pub if_absent: Option<bool>,
}

impl From<NativeEntryMeta> for EntryMeta {
    fn from(m: NativeEntryMeta) -> EntryMeta {
        EntryMeta {
            write_id: 0,
            last_modified: m.last_modified,
            revalidate: match m.revalidate {
                Some(Either::A(s)) => Revalidate::Seconds(s),
                Some(Either::B(false)) => Revalidate::Never,
                _ => Revalidate::Unknown,
            },
            expire: m.expire.filter(|e| e.is_finite()),
            tags: m.tags.unwrap_or_default(),
        }
    }
}

#[napi(object)]
pub struct NativeDurations {
    pub expire: Option<f64>,
}

pub fn freshness_str(f: Freshness) -> &'static str {
    match f {
        Freshness::Fresh => "fresh",
        Freshness::Stale => "stale",
        Freshness::Expired => "expired",
    }
}

/// Numbers in front of a packed hit, each a little-endian f64.
const HIT_NUMBERS: usize = 9;

/// A hit as one JS buffer, read by `readHit` in lib/native.js: one allocation and one copy,
/// where an object would cost a property definition per field and a string per tag.
///
/// Layout: 9 little-endian f64 (freshness 0 fresh / 1 stale / 2 expired; lastModified;
/// revalidate kind 0 absent / 1 `false` / 2 seconds; revalidate seconds; expire, NaN when
/// absent; writeId; until; deadline; the number of tags), then each tag as a u32 LE byte length
/// and its UTF-8, then the payload.
pub fn hit_to_js<'env>(env: &'env Env, hit: &Hit) -> napi::Result<BufferSlice<'env>> {
    let m = &hit.meta;
    let (kind, seconds) = match m.revalidate {
        Revalidate::Unknown => (0.0, 0.0),
        Revalidate::Never => (1.0, 0.0),
        Revalidate::Seconds(s) => (2.0, s),
    };
    let freshness = match hit.freshness {
        Freshness::Fresh => 0.0,
        Freshness::Stale => 1.0,
        Freshness::Expired => 2.0,
    };
    let numbers: [f64; HIT_NUMBERS] = [
        freshness,
        m.last_modified,
        kind,
        seconds,
        m.expire.unwrap_or(f64::NAN),
        m.write_id as f64,
        hit.until,
        hit.deadline,
        m.tags.len() as f64,
    ];
    let payload = hit.payload();
    let tags_len: usize = m.tags.iter().map(|t| 4 + t.len()).sum();
    let len = HIT_NUMBERS * 8 + tags_len + payload.len();
    let (mut data, mut value) = (std::ptr::null_mut(), std::ptr::null_mut());
    let status = unsafe { sys::napi_create_buffer(env.raw(), len, &mut data, &mut value) };
    if status != sys::Status::napi_ok {
        return Err(napi::Error::new(napi::Status::from(status), "napi_create_buffer failed".to_owned()));
    }
    // SAFETY: Node just allocated `len` bytes at `data` for this buffer.
    let out = unsafe { std::slice::from_raw_parts_mut(data as *mut u8, len) };
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        out[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    for n in numbers {
        put(&n.to_le_bytes());
    }
    for t in &m.tags {
        put(&(t.len() as u32).to_le_bytes());
        put(t.as_bytes());
    }
    put(payload);
    unsafe { BufferSlice::from_napi_value(env.raw(), value) }
}
