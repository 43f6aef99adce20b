//! The binary envelope stored under every entry key.
//!
//! Rust owns only what it needs to decide (lifetimes, tags); the payload is the JS codec's
//! opaque bytes. A CRC makes truncated, foreign or bit-flipped values a miss, never garbage.
//!
//! ```text
//! 0..4    magic "SISR"
//! 4       format version (1)
//! 5       flags (bit 0: payload is LZ4-compressed: u32 original length, then the LZ4 block)
//! 6       lifetime bits: 1 = revalidate is a number, 2 = revalidate is `false`, 4 = expire set
//! 7       reserved (0)
//! 8..16   write id, u64 (< 2^53): lets strict mode check an L1 copy with GETRANGE 8 15
//! 16..24  lastModified, f64 ms (float: 'use cache' timestamps are fractional)
//! 24..32  revalidate, f64 seconds
//! 32..40  expire, f64 seconds
//! 40..42  tag count, u16; then per tag: u16 length + UTF-8 bytes
//! u32     payload length, then the payload
//! u32     CRC-32 of everything before it
//! ```

use super::error::{Error, Result};
use std::ops::Range;

pub const MAGIC: &[u8; 4] = b"SISR";
pub const FORMAT_VERSION: u8 = 1;
const FIXED: usize = 42;
/// Where the write id sits, for `GETRANGE key 8 15`.
pub const WRITE_ID_RANGE: (usize, usize) = (8, 15);
const MAX_TAGS: usize = u16::MAX as usize;
const MAX_TAG_LEN: usize = u16::MAX as usize;

/// Payloads below this are stored as they are: compressing them saves little.
pub const COMPRESS_MIN: usize = 1024;
/// The most a compressed payload may expand beyond `FREE_EXPANSION` bytes (LZ4 reaches ~255x):
/// past this, bytes under our key are refused as a decompression bomb (a 131 KB entry must not
/// become 32 MiB of JSON to parse). Pages and data compress 4-20x; what would expand more is
/// stored uncompressed. Up to 1 MiB any ratio is fine: the work it can cause is bounded.
pub const MAX_EXPANSION: usize = 32;
pub const FREE_EXPANSION: usize = 1 << 20;

/// Whether `compressed` bytes may stand for `len` bytes (see `MAX_EXPANSION`).
fn expansion_allowed(compressed: usize, len: usize) -> bool {
    len <= FREE_EXPANSION.max(compressed.saturating_mul(MAX_EXPANSION))
}
const COMPRESSED: u8 = 1;

const HAS_REVALIDATE: u8 = 1;
const REVALIDATE_FALSE: u8 = 2;
const HAS_EXPIRE: u8 = 4;

/// `cacheControl.revalidate` as Next passes it: seconds, `false` (never), or not given.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Revalidate {
    #[default]
    Unknown,
    Never,
    Seconds(f64),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct EntryMeta {
    /// Unique per write (assigned by `Cache::encode`); 0 when unknown.
    pub write_id: u64,
    pub last_modified: f64,
    pub revalidate: Revalidate,
    pub expire: Option<f64>,
    pub tags: Vec<String>,
}

/// A fresh write id: a per-process random seed plus a counter, kept below 2^53 so JS
/// numbers hold it exactly.
pub fn new_write_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEED: LazyLock<u64> = LazyLock::new(|| std::collections::hash_map::RandomState::new().build_hasher().finish());
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    (SEED.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) & ((1 << 53) - 1)).max(1)
}

/// Serializes meta + payload into one buffer; payloads of `COMPRESS_MIN` bytes or more are
/// LZ4-compressed when that saves at least a tenth, and expands at most `MAX_EXPANSION` times.
pub fn encode(meta: &EntryMeta, payload: &[u8]) -> Result<Vec<u8>> {
    let compressed = (payload.len() >= COMPRESS_MIN)
        .then(|| lz4_flex::block::compress(payload))
        .filter(|c| c.len() + 4 < payload.len() - payload.len() / 10 && expansion_allowed(c.len(), payload.len()));
    match compressed {
        Some(c) => {
            let mut section = Vec::with_capacity(4 + c.len());
            section.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            section.extend_from_slice(&c);
            encode_section(meta, &section, COMPRESSED)
        }
        None => encode_section(meta, payload, 0),
    }
}

/// The payload of a decoded envelope: where it sits, and whether it must be decompressed.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub range: Range<usize>,
    pub compressed: bool,
}

/// Decompresses a compressed payload section, refusing to grow past `max` bytes.
pub fn decompress(section: &[u8], max: usize) -> Result<Vec<u8>> {
    let (len, block) = section.split_at_checked(4).ok_or_else(|| Error::Corrupt("compressed payload truncated".into()))?;
    let len = u32::from_le_bytes(len.try_into().unwrap_or_default()) as usize;
    if len > max {
        return Err(Error::TooLarge { what: "decompressed value", size: len, max });
    }
    if !expansion_allowed(block.len(), len) {
        return Err(Error::Corrupt(format!("compressed payload would expand {}x (at most {MAX_EXPANSION}x)", len / block.len().max(1))));
    }
    let mut out = vec![0u8; len];
    let n = lz4_flex::block::decompress_into(block, &mut out).map_err(|e| Error::Corrupt(format!("compressed payload: {e}")))?;
    if n != len {
        return Err(Error::Corrupt("compressed payload has the wrong length".into()));
    }
    Ok(out)
}

fn encode_section(meta: &EntryMeta, payload: &[u8], flags: u8) -> Result<Vec<u8>> {
    if meta.tags.len() > MAX_TAGS {
        return Err(Error::TooLarge { what: "tag list", size: meta.tags.len(), max: MAX_TAGS });
    }
    let payload_len =
        u32::try_from(payload.len()).map_err(|_| Error::TooLarge { what: "value", size: payload.len(), max: u32::MAX as usize })?;
    let tags_len: usize = meta.tags.iter().map(|t| 2 + t.len()).sum();
    let mut out = Vec::with_capacity(FIXED + tags_len + 4 + payload.len() + 4);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
    out.push(flags);
    let (bits, revalidate) = match meta.revalidate {
        Revalidate::Unknown => (0, 0.0),
        Revalidate::Never => (REVALIDATE_FALSE, 0.0),
        Revalidate::Seconds(s) => (HAS_REVALIDATE, s),
    };
    out.push(bits | if meta.expire.is_some() { HAS_EXPIRE } else { 0 });
    out.push(0);
    out.extend_from_slice(&meta.write_id.to_le_bytes());
    out.extend_from_slice(&meta.last_modified.to_le_bytes());
    out.extend_from_slice(&revalidate.to_le_bytes());
    out.extend_from_slice(&meta.expire.unwrap_or(0.0).to_le_bytes());
    out.extend_from_slice(&(meta.tags.len() as u16).to_le_bytes());
    for tag in &meta.tags {
        if tag.len() > MAX_TAG_LEN {
            return Err(Error::TooLarge { what: "tag", size: tag.len(), max: MAX_TAG_LEN });
        }
        out.extend_from_slice(&(tag.len() as u16).to_le_bytes());
        out.extend_from_slice(tag.as_bytes());
    }
    out.extend_from_slice(&payload_len.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Parses an envelope; returns the meta and where the payload sits in `bytes`.
/// Never panics: every read is bounds-checked, and the CRC is checked first.
pub fn decode(bytes: &[u8]) -> Result<(EntryMeta, Payload)> {
    if bytes.len() < FIXED + 8 {
        return Err(Error::Corrupt(format!("{} bytes is too short", bytes.len())));
    }
    if &bytes[..4] != MAGIC {
        return Err(Error::Corrupt("not written by shared-isr (bad magic)".into()));
    }
    if bytes[4] != FORMAT_VERSION {
        return Err(Error::Corrupt(format!("format version {} (this build reads {FORMAT_VERSION})", bytes[4])));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().unwrap_or_default()) {
        return Err(Error::Corrupt("checksum mismatch".into()));
    }
    if bytes[5] & !COMPRESSED != 0 {
        return Err(Error::Corrupt(format!("unknown flags {:#x}", bytes[5])));
    }
    let compressed = bytes[5] & COMPRESSED != 0;
    let bits = bytes[6];
    let f64_at = |at: usize| f64::from_le_bytes(body[at..at + 8].try_into().unwrap_or_default());
    let revalidate = if bits & REVALIDATE_FALSE != 0 {
        Revalidate::Never
    } else if bits & HAS_REVALIDATE != 0 {
        Revalidate::Seconds(f64_at(24))
    } else {
        Revalidate::Unknown
    };
    let expire = (bits & HAS_EXPIRE != 0).then(|| f64_at(32));
    let last_modified = f64_at(16);
    let write_id = u64::from_le_bytes(body[8..16].try_into().unwrap_or_default());

    let mut r = Reader { buf: body, at: 40 };
    let count = r.u16()? as usize;
    let mut tags = Vec::with_capacity(count.min(256));
    for _ in 0..count {
        let len = r.u16()? as usize;
        let raw = r.take(len)?;
        let tag = std::str::from_utf8(raw).map_err(|_| Error::Corrupt("tag is not UTF-8".into()))?;
        tags.push(tag.to_owned());
    }
    let payload_len = r.u32()? as usize;
    let start = r.at;
    r.take(payload_len)?;
    if r.at != body.len() {
        return Err(Error::Corrupt("trailing bytes after payload".into()));
    }
    let payload = Payload { range: start..start + payload_len, compressed };
    Ok((EntryMeta { write_id, last_modified, revalidate, expire, tags }, payload))
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| Error::Corrupt("truncated".into()))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap_or_default()))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> EntryMeta {
        EntryMeta {
            write_id: 0x1F_FFFF_FFFF_FFFF,
            last_modified: 1795694337444.496,
            revalidate: Revalidate::Seconds(60.0),
            expire: Some(31536000.0),
            tags: vec!["_N_T_/layout".into(), "posts".into(), "ünï/[slug]".into(), String::new()],
        }
    }

    #[test]
    fn roundtrips_meta_and_payload() {
        let payload = b"\x00\x01binary\xff".to_vec();
        let bytes = encode(&meta(), &payload).unwrap();
        let (m, p) = decode(&bytes).unwrap();
        assert_eq!(m, meta());
        assert!(!p.compressed, "small payloads stay as they are");
        assert_eq!(&bytes[p.range], &payload[..]);
    }

    #[test]
    fn roundtrips_every_revalidate_form_and_empty_payload() {
        for revalidate in [Revalidate::Unknown, Revalidate::Never, Revalidate::Seconds(0.0)] {
            let m = EntryMeta { revalidate, expire: None, tags: vec![], ..meta() };
            let (back, p) = decode(&encode(&m, b"").unwrap()).unwrap();
            assert_eq!(back, m);
            assert!(p.range.is_empty());
        }
    }

    #[test]
    fn large_payloads_are_compressed_and_come_back_identical() {
        let page: Vec<u8> = (0..50_000).flat_map(|i| format!("<li>item {}</li>", i % 300).into_bytes()).collect();
        let bytes = encode(&meta(), &page).unwrap();
        assert!(bytes.len() < page.len() / 3, "{} -> {}", page.len(), bytes.len());
        let (m, p) = decode(&bytes).unwrap();
        assert_eq!(m, meta());
        assert!(p.compressed);
        assert_eq!(decompress(&bytes[p.range.clone()], usize::MAX).unwrap(), page);
        assert!(matches!(decompress(&bytes[p.range], 10), Err(Error::TooLarge { .. })), "bomb guard");
        // Incompressible bytes are stored as they are.
        let mut x: u32 = 1;
        let noise: Vec<u8> = (0..10_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        assert!(!decode(&encode(&meta(), &noise).unwrap()).unwrap().1.compressed);
    }

    #[test]
    fn a_decompression_bomb_is_refused_and_our_own_writes_never_look_like_one() {
        // What an attacker writes: valid LZ4 of 4 MiB of `[],`, about 16 KB on the wire.
        let bomb: Vec<u8> = b"[],".repeat((4 << 20) / 3);
        let block = lz4_flex::block::compress(&bomb);
        assert!(bomb.len() > block.len() * MAX_EXPANSION);
        let mut section = (bomb.len() as u32).to_le_bytes().to_vec();
        section.extend_from_slice(&block);
        assert!(matches!(decompress(&section, usize::MAX), Err(Error::Corrupt(m)) if m.contains("expand")));
        // The same bytes given to `set` are stored as they are, so they read back.
        let bytes = encode(&meta(), &bomb).unwrap();
        let (_, p) = decode(&bytes).unwrap();
        assert!(!p.compressed);
        assert_eq!(&bytes[p.range], &bomb[..]);
    }

    #[test]
    fn corrupt_compressed_sections_are_errors_not_panics() {
        let page = b"<p>hello hello hello hello</p>".repeat(200);
        let bytes = encode(&meta(), &page).unwrap();
        let (_, p) = decode(&bytes).unwrap();
        let section = &bytes[p.range];
        for cut in 0..section.len() {
            let _ = decompress(&section[..cut], 1 << 20);
        }
        let mut bad = section.to_vec();
        for i in 4..bad.len() {
            bad[i] ^= 0x5a;
            let _ = decompress(&bad, 1 << 20);
            bad[i] ^= 0x5a;
        }
    }

    #[test]
    fn every_truncation_and_every_bit_flip_is_an_error() {
        let bytes = encode(&meta(), b"some payload bytes").unwrap();
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "truncated to {len}");
        }
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert!(decode(&b).is_err(), "flip byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn foreign_and_other_version_bytes_are_errors() {
        assert!(matches!(decode(br#"{"value":{"kind":"FETCH"}}"#), Err(Error::Corrupt(m)) if m.contains("magic") || m.contains("short")));
        let mut bytes = encode(&meta(), b"x").unwrap();
        bytes[4] = 2;
        assert!(matches!(decode(&bytes), Err(Error::Corrupt(m)) if m.contains("version 2")));
    }

    #[test]
    fn pseudo_random_input_never_panics() {
        // xorshift: deterministic, no extra dev-dependency.
        let mut x: u64 = 0x9E3779B97F4A7C15;
        let good = encode(&meta(), &[7u8; 300]).unwrap();
        for round in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 400) as usize;
            let mut buf: Vec<u8> = (0..len).map(|i| (x >> (i % 56)) as u8).collect();
            if round % 2 == 0 && len >= 4 {
                // Keep a valid header so the parser goes deeper than the magic check.
                let n = len.min(good.len()).min(48);
                buf[..n].copy_from_slice(&good[..n]);
            }
            let _ = decode(&buf);
        }
    }

    #[test]
    fn rejects_oversized_tags() {
        let m = EntryMeta { tags: vec!["x".repeat(70_000)], ..meta() };
        assert!(matches!(encode(&m, b""), Err(Error::TooLarge { what: "tag", .. })));
    }
}
