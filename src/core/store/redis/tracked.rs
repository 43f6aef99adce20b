//! Tracked calls: every pipeline that arms client tracking is built here, and nowhere else.
//!
//! Redis tracks the keys a connection reads once `CLIENT TRACKING ON` was sent on it, and
//! pushes their names when someone else changes them (see coherence). So a tracked call sends
//! `CLIENT TRACKING ON NOLOOP` (`tracking_on`) in the same round trip as the read it covers,
//! on the connection the read runs on. The shapes, tracked (the L1 on):
//! - `read`: `CLIENT`, the read; on a Cluster `MULTI`, `CLIENT`, the read, `EXEC`;
//! - `read_with_epoch`: `CLIENT`, the read, `GET epoch`; on a Cluster two `read`s in
//!   parallel, the entry's and `GET epoch`;
//! - `set`: `MULTI`, `CLIENT`, `SET`, `STRLEN`, `EXEC`, whatever the topology.
//!
//! Untracked (the L1 off), `read` is the bare command, `read_with_epoch` the read and
//! `GET epoch` in one pipeline, and `set` a pipeline of the `SET` alone: all through the
//! plain connection, which redis-rs routes by their key.
//!
//! The contract with the Cluster routing (`topology`, `Conn::for_key`), which these shapes
//! keep and that routing relies on:
//! - A tracked pipeline that may run on a Cluster touches one key, and is sent through
//!   `Conn::for_key` with that key: redis-rs would route it by the word `TRACKING` (it takes an
//!   unknown command's first argument for a key) and refuse it as cross-slot, and tracking must
//!   be armed on the connection to the node that holds the key. Reads of two keys in different
//!   slots (an entry and the epoch) are two such pipelines.
//! - On a Cluster a tracked pipeline is a transaction (`MULTI` … `EXEC`): when its slot is
//!   being migrated, the `ASKING` redis-rs sends before a redirected pipeline then covers every
//!   command of it.
//! - Only the `read_with_epoch` pipeline of one server holds two keys; it never runs on a
//!   Cluster, and goes through the plain connection.

use crate::core::envelope::WRITE_ID_RANGE;
use crate::core::store::topology::Conn;
use redis::{FromRedisValue, Pipeline, RedisResult, Value};

/// Sent before reads when tracking is on: idempotent, and it re-arms tracking on a connection
/// the manager may have replaced since the last read.
fn tracking_on() -> redis::Cmd {
    let mut c = redis::cmd("CLIENT");
    c.arg("TRACKING").arg("ON").arg("NOLOOP");
    c
}

/// One command on one key, with that key: on a Cluster the key routes the tracked pipeline.
pub(super) struct Read<'a> {
    key: &'a str,
    cmd: redis::Cmd,
}

impl<'a> Read<'a> {
    /// `GET key`.
    pub(super) fn get(key: &'a str) -> Self {
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        Read { key, cmd }
    }

    /// `GETRANGE key` over the envelope's write id: 8 bytes, never the payload.
    pub(super) fn write_id(key: &'a str) -> Self {
        let mut cmd = redis::cmd("GETRANGE");
        cmd.arg(key).arg(WRITE_ID_RANGE.0).arg(WRITE_ID_RANGE.1);
        Read { key, cmd }
    }
}

/// The tracked pipeline of `read`: `CLIENT` then the read; on a Cluster, in a transaction.
fn read_pipe(cluster: bool, read: redis::Cmd) -> Pipeline {
    let mut p = redis::pipe();
    if cluster {
        p.cmd("MULTI").ignore().add_command(tracking_on()).ignore().add_command(read).ignore().cmd("EXEC");
    } else {
        p.add_command(tracking_on()).ignore().add_command(read);
    }
    p
}

/// `read` (one command on one key) with tracking armed on the connection it runs on, in the
/// same round trip. On a Cluster it is a transaction: the ASKING redis-rs sends before a
/// redirected pipeline then covers every command of it.
pub(super) async fn read<T: FromRedisValue>(mut c: Conn, tracked: bool, read: Read<'_>) -> RedisResult<T> {
    if !tracked {
        return read.cmd.query_async(&mut c).await;
    }
    let cluster = c.is_cluster();
    let p = read_pipe(cluster, read.cmd);
    let mut c = c.for_key(read.key);
    if cluster {
        let ((_, v),): ((Value, T),) = p.query_async(&mut c).await?;
        return Ok(v);
    }
    let (v,): (T,) = p.query_async(&mut c).await?;
    Ok(v)
}

/// One server: the read and `GET epoch` in one pipeline, `CLIENT` first when tracked.
fn with_epoch_pipe(tracked: bool, read: redis::Cmd, epoch: redis::Cmd) -> Pipeline {
    let mut p = redis::pipe();
    if tracked {
        p.add_command(tracking_on()).ignore();
    }
    p.add_command(read).add_command(epoch);
    p
}

/// `read` (of one entry key) and `GET epoch`, tracking armed wherever they go: one pipeline on
/// one server; on a Cluster two in parallel, as the two keys live in different slots.
pub(super) async fn read_with_epoch<T: FromRedisValue>(
    mut c: Conn,
    tracked: bool,
    entry: Read<'_>,
    epoch_key: &str,
) -> RedisResult<(T, Option<i64>)> {
    let epoch = Read::get(epoch_key);
    if c.is_cluster() {
        let (value, epoch) = tokio::join!(read::<T>(c.clone(), tracked, entry), read::<Option<i64>>(c, tracked, epoch));
        return Ok((value?, epoch?));
    }
    with_epoch_pipe(tracked, entry.cmd, epoch.cmd).query_async(&mut c).await
}

/// `SET key envelope PX ttl_ms [NX]`; tracked, in a transaction with `CLIENT` and `STRLEN`.
fn set_pipe(tracked: bool, key: &str, envelope: &[u8], ttl_ms: u64, if_absent: bool) -> Pipeline {
    let mut p = redis::pipe();
    if tracked {
        // Tracking follows reads only, and any write (ours too, NOLOOP or not) drops
        // the key's tracking table: read the key (not its bytes) right after our SET,
        // in one transaction, so that no other write can land between the two
        // unseen. Every later write by someone else is then pushed to us.
        p.cmd("MULTI").ignore().add_command(tracking_on()).ignore();
    }
    let set = p.cmd("SET").arg(key).arg(envelope).arg("PX").arg(ttl_ms);
    if if_absent {
        set.arg("NX");
    }
    if tracked {
        set.ignore();
        p.cmd("STRLEN").arg(key).ignore();
        p.cmd("EXEC");
    }
    p
}

/// Writes an entry; tracked, so that later writes by others are pushed to us. The reply is
/// `SET`'s, or `EXEC`'s array when tracked (a failed command is one of its elements).
pub(super) async fn set(mut c: Conn, tracked: bool, key: &str, envelope: &[u8], ttl_ms: u64, if_absent: bool) -> RedisResult<Value> {
    let p = set_pipe(tracked, key, envelope, ttl_ms, if_absent);
    let (v,): (Value,) = if tracked { p.query_async(&mut c.for_key(key)).await? } else { p.query_async(&mut c).await? };
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(p: &Pipeline) -> Vec<String> {
        let arg = |a: redis::Arg<&[u8]>| match a {
            redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
            _ => "<cursor>".to_owned(),
        };
        p.cmd_iter().map(|c| c.args_iter().map(arg).collect::<Vec<_>>().join(" ")).collect()
    }

    #[test]
    fn tracked_reads_arm_tracking_first_and_are_transactions_on_a_cluster() {
        assert_eq!(shape(&read_pipe(false, Read::get("e:k").cmd)), ["CLIENT TRACKING ON NOLOOP", "GET e:k"]);
        assert_eq!(
            shape(&read_pipe(true, Read::write_id("e:k").cmd)),
            ["MULTI", "CLIENT TRACKING ON NOLOOP", &format!("GETRANGE e:k {} {}", WRITE_ID_RANGE.0, WRITE_ID_RANGE.1), "EXEC"]
        );
        assert_eq!(
            shape(&with_epoch_pipe(true, Read::get("e:k").cmd, Read::get("m:epoch").cmd)),
            ["CLIENT TRACKING ON NOLOOP", "GET e:k", "GET m:epoch"]
        );
        assert_eq!(shape(&with_epoch_pipe(false, Read::get("e:k").cmd, Read::get("m:epoch").cmd)), ["GET e:k", "GET m:epoch"]);
    }

    #[test]
    fn tracked_writes_read_their_key_back_in_the_same_transaction() {
        assert_eq!(
            shape(&set_pipe(true, "e:k", b"v", 5, true)),
            ["MULTI", "CLIENT TRACKING ON NOLOOP", "SET e:k v PX 5 NX", "STRLEN e:k", "EXEC"]
        );
        assert_eq!(shape(&set_pipe(false, "e:k", b"v", 5, false)), ["SET e:k v PX 5"]);
    }
}
