//! The operations: entries (read, strict-mode check, write), the view of the manifest (epoch
//! refresh, sync, lookups) and revalidations (now, or later from the outbox). Each runs its
//! commands through `run`; the pipelines that arm tracking come from `tracked`.

use super::tracked::{self, Read};
use super::{Check, Inner};
use crate::core::coherence::Coherence;
use crate::core::error::{Error, Result};
use crate::core::store::manifest::{Applied, LOOKUP_BATCH, REVALIDATE_BATCH};
use crate::core::store::topology::Topology;
use crate::core::tags::{Durations, TagStamps};
use redis::Value;
use std::sync::Arc;
use std::sync::atomic::Ordering;

impl Inner {
    pub(super) async fn get(self: &Arc<Self>, key: &str) -> Result<Option<Vec<u8>>> {
        let epoch_key = self.keys.epoch.as_str();
        // On a Cluster the manifest is one slot on one node: while tracking pushes every epoch
        // change to us (trusted feed), reads leave that node alone and go only to the entry's
        // node, so read traffic spreads over the primaries. Visibility of a revalidation is
        // then what it is for L1 hits: the push's delay.
        if matches!(self.topology, Topology::Cluster { .. }) && self.feed().is_some_and(Coherence::trusted) {
            let raw: Option<Vec<u8>> = self.run("get", |c| tracked::read(c, true, Read::get(key))).await?;
            // Not `heard`: the feed's health is the manifest node's, kept by the background
            // check (and by reads that take the long way while it is not trusted).
            return Ok(raw);
        }
        let seq = self.feed().map_or(0, Coherence::dirty_seq);
        let (raw, epoch): (Option<Vec<u8>>, Option<i64>) =
            self.run("get", |c| tracked::read_with_epoch(c, self.tracked(), Read::get(key), epoch_key)).await?;
        self.heard();
        self.settle(seq, epoch).await?;
        Ok(raw)
    }

    /// After reading `epoch` (with tracking re-armed): sync the mirror if it moved, then
    /// account for every epoch push that arrived before the read began (`seq`).
    async fn settle(self: &Arc<Self>, seq: u64, epoch: Option<i64>) -> Result<()> {
        let epoch = epoch.unwrap_or(0);
        if epoch != self.mirror().epoch {
            // Reads in flight together all see a revalidation's epoch: one syncs, the others
            // find the view already there (one script per change, not one per read).
            let _one = self.syncing.lock().await;
            if epoch != self.mirror().epoch {
                self.sync().await?;
            }
        }
        if let Some(co) = self.feed() {
            co.synced(seq);
        }
        Ok(())
    }

    /// Whether a pipeline sent now arms tracking: asked per attempt, as the first attempt is
    /// what connects and learns whether the server allows it.
    fn tracked(&self) -> bool {
        self.feed().is_some()
    }

    fn heard(&self) {
        if let Some(co) = self.feed() {
            co.heard();
        }
    }

    /// Strict mode: is the L1 copy with `write_id` still what Redis holds? Reads 8 bytes of
    /// the envelope, never the payload, and brings the manifest mirror up to date.
    pub(super) async fn check(self: &Arc<Self>, key: &str, write_id: u64) -> Result<Check> {
        let epoch_key = self.keys.epoch.as_str();
        let seq = self.feed().map_or(0, Coherence::dirty_seq);
        let (id, epoch): (Vec<u8>, Option<i64>) =
            self.run("check", |c| tracked::read_with_epoch(c, self.tracked(), Read::write_id(key), epoch_key)).await?;
        self.heard();
        self.settle(seq, epoch).await?;
        let stored = <[u8; 8]>::try_from(id.as_slice()).map(u64::from_le_bytes).ok();
        Ok(if stored == Some(write_id) { Check::Same } else { Check::Changed })
    }

    /// Brings the mirror up to date with the store: one bounded script, whatever the history.
    async fn sync(self: &Arc<Self>) -> Result<()> {
        let seen = self.mirror().epoch;
        let from = seen.max(0);
        let now = crate::core::clock::now_ms();
        let keys = &self.keys;
        let out: Vec<String> = self
            .run("sync", |mut c| {
                let inv = keys.sync(from, now);
                async move { inv.invoke_async(&mut c).await }
            })
            .await?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        let applied = self.mirror().apply_sync(from, &out);
        if let Applied::Synced { reset } = applied? {
            if reset {
                *self.reset_at.lock().unwrap_or_else(|p| p.into_inner()) = now;
            } else if seen >= 0 {
                self.lags.note(seen, self.mirror().epoch, now);
            }
            if let Some(co) = self.feed() {
                co.bump();
            }
        }
        Ok(())
    }

    /// The stamps of `tags` from the store (cached where this view allows). A manifest that
    /// lost a key is healed by a sync first.
    pub(super) async fn lookup(self: &Arc<Self>, tags: &[&str]) -> Result<Vec<(String, TagStamps)>> {
        let mut found = Vec::with_capacity(tags.len());
        for chunk in tags.chunks(LOOKUP_BATCH) {
            let chunk: Vec<String> = chunk.iter().map(|t| t.to_string()).collect();
            let mut healed = false;
            let stamps = loop {
                let keys = &self.keys;
                let chunk = &chunk;
                let out: Vec<String> = self
                    .run("lookup", |mut c| {
                        let inv = keys.lookup(chunk);
                        async move { inv.invoke_async(&mut c).await }
                    })
                    .await?;
                let applied = self.mirror().apply_lookup(chunk, &out)?;
                match applied {
                    Some(s) => break s,
                    None if !healed => {
                        healed = true;
                        self.sync().await?;
                    }
                    None => return Err(Error::Redis("tag manifest keeps losing keys".into())),
                }
            };
            found.extend(chunk.into_iter().zip(stamps));
        }
        Ok(found)
    }

    pub(super) async fn put(self: &Arc<Self>, key: &str, envelope: Vec<u8>, ttl_ms: u64, if_absent: bool) -> Result<()> {
        let envelope = &envelope;
        let reply: Value = self.run("set", |c| tracked::set(c, self.tracked(), key, envelope, ttl_ms, if_absent)).await?;
        // Inside a transaction, a failed command (OOM, ACL) comes back as an element of EXEC's
        // reply. NX answers nil when the key exists: that is success too.
        let failed = match reply {
            Value::Array(items) => items.into_iter().find(|v| matches!(v, Value::ServerError(_))),
            v @ Value::ServerError(_) => Some(v),
            _ => None,
        };
        match failed {
            Some(Value::ServerError(e)) => Err(Error::from(redis::RedisError::from(e))),
            _ => Ok(()),
        }
    }

    pub(super) async fn revalidate(self: &Arc<Self>, tags: &[String], now: f64, durations: Option<Durations>) -> Result<()> {
        // Local first: the process that took the webhook serves fresh content at once.
        self.mirror().revalidate_locally(tags, now, durations);
        if let Some(co) = self.feed() {
            co.bump();
        }
        let keys = &self.keys;
        let retention = self.retention_ms;
        // One script per batch, one after the other: others' commands run in between, so a
        // bulk revalidation never holds Redis for long.
        for (i, batch) in tags.chunks(REVALIDATE_BATCH).enumerate() {
            let (prev, epoch): (i64, i64) = match self
                .run("revalidate", |mut c| {
                    let inv = keys.revalidate(batch, now, durations, retention, now);
                    async move { inv.invoke_async(&mut c).await }
                })
                .await
            {
                Ok(e) => e,
                Err(e) if e.is_connectivity() => {
                    // Kept with its time and recorded once Redis answers (the caller still
                    // hears of the failure: a webhook can answer 5xx, and a retry is harmless).
                    // Not once the store is closed: its caller is told what was given up.
                    if self.outbox().push(tags[i * REVALIDATE_BATCH..].to_vec(), now, durations) {
                        // A store that never connected has no runtime yet for the exit flush.
                        let mut rt = self.runtime.lock().unwrap_or_else(|p| p.into_inner());
                        if rt.is_none() {
                            *rt = tokio::runtime::Handle::try_current().ok();
                        }
                        drop(rt);
                        self.recover();
                    }
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            let mut m = self.mirror();
            if m.epoch == prev {
                // Nobody else wrote in between: the view already holds this state.
                m.epoch = epoch;
            }
        }
        Ok(())
    }

    /// Records pending revalidations, oldest first, at their original time (in any order they
    /// leave the stamps of recording them on time: see `revalidate.lua`). Stops at the first
    /// failure (they stay queued). One drain at a time.
    pub(super) async fn drain(self: &Arc<Self>) -> Result<()> {
        let _one = self.draining.lock().await;
        let keys = &self.keys;
        let retention = self.retention_ms;
        loop {
            let Some(p) = self.outbox().front() else { return Ok(()) };
            let now = crate::core::clock::now_ms();
            for batch in p.tags.chunks(REVALIDATE_BATCH) {
                let _: (i64, i64) = self
                    .run("revalidate", |mut c| {
                        let inv = keys.revalidate(batch, p.at, p.durations, retention, now);
                        async move { inv.invoke_async(&mut c).await }
                    })
                    .await?;
            }
            self.outbox().done(&p);
        }
    }

    /// One `GET epoch` (re-arming tracking), and a sync when it moved.
    pub(super) async fn refresh(self: &Arc<Self>) -> Result<()> {
        let epoch_key = self.keys.epoch.as_str();
        let seq = self.feed().map_or(0, Coherence::dirty_seq);
        let epoch: Option<i64> = self.run("refresh", |c| tracked::read(c, self.tracked(), Read::get(epoch_key))).await?;
        self.heard();
        self.settle(seq, epoch).await?;
        Ok(())
    }
}
