//! What operators use, never the request path: the fleet's heartbeats and listing, single
//! commands for the ops CLI (INFO, CONFIG GET, TIME, ACL ...), and an incremental SCAN of the
//! store's keys with their sizes (`builds`, `purge`). Everything runs under the breaker and the
//! timeout like any operation, on the store's own connection (TLS, ACL, Sentinel, Cluster).

use super::RedisStore;
use crate::core::error::{Error, Result};
use crate::core::store::fleet::{FleetKeys, MAX_ID_BYTES, MAX_SUMMARY_BYTES};
use crate::core::store::topology::Conn;
use redis::cluster_routing::{MultipleNodeRoutingInfo, ResponsePolicy, Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{AsyncCommands, Value};
use serde_json::Value as Json;
use std::time::Duration;

/// One page of a SCAN over every primary: the keys, their sizes in bytes (STRLEN; -1 for a key
/// that is not a string), and the cursor to continue from (`None`: done).
pub struct ScanPage {
    pub keys: Vec<(String, i64)>,
    pub cursor: Option<String>,
}

/// The fleet as listed: Redis's time (ms), the summaries (JSON) of the live instances, and
/// whether every index entry that could be a live instance was examined (`false`: the index
/// holds more than the limit, so an instance may be missing); `index`: that index's key, for
/// an operator to clear.
pub struct FleetListing {
    pub now: f64,
    pub instances: Vec<String>,
    pub complete: bool,
    pub index: String,
}

impl RedisStore {
    /// Next to the manifest: `P{P}:` is its keys' common beginning.
    fn fleet_keys(&self) -> FleetKeys {
        let epoch = &self.inner.keys.epoch;
        FleetKeys::new(epoch.strip_suffix("epoch").unwrap_or(epoch))
    }

    /// Registers (or refreshes) this instance, beating every `period_ms` (its TTL follows from
    /// it: `fleet::ttl_ms`). Returns Redis's time (ms).
    pub async fn heartbeat(&self, id: &str, summary: &str, period_ms: u64) -> Result<f64> {
        check_id(id)?;
        if summary.is_empty() {
            // `''` is the mark of an instance that left.
            return Err(Error::Config("instance summary must not be empty".into()));
        }
        if summary.len() > MAX_SUMMARY_BYTES {
            return Err(Error::TooLarge { what: "instance summary", size: summary.len(), max: MAX_SUMMARY_BYTES });
        }
        let keys = self.fleet_keys();
        // The index entries to examine are read first: the script is given their summary keys.
        let cmd = &keys.prune_candidates();
        let candidates: Vec<String> = self.inner.run("heartbeat", |mut c| async move { cmd.query_async(&mut c).await }).await?;
        let candidates: Vec<String> = candidates.into_iter().filter(|c| c != id && c.len() <= MAX_ID_BYTES).collect();
        let inv = &keys.heartbeat(id, summary, period_ms, &candidates);
        self.inner.run("heartbeat", |mut c| async move { inv.invoke_async::<f64>(&mut c).await }).await
    }

    /// The live instances, examining at most `limit` ids of the index (see `FleetListing`).
    pub async fn fleet(&self, limit: usize) -> Result<FleetListing> {
        let keys = self.fleet_keys();
        let inv = &keys.list(limit);
        let out: Vec<String> = self.inner.run("fleet", |mut c| async move { inv.invoke_async(&mut c).await }).await?;
        let mut out = out.into_iter();
        let (Some(now), Some(complete)) = (out.next(), out.next()) else {
            return Err(Error::Redis("fleet listing returned nothing".into()));
        };
        let now = now.parse::<f64>().map_err(|_| Error::Redis("fleet listing: bad time".into()))?;
        let ids: Vec<String> = out.collect();
        let mut instances = Vec::new();
        if !ids.is_empty() {
            // An instance that expired since the listing is a nil, one that left is '': skipped.
            let cmd = &keys.summaries(&ids);
            let found: Vec<Option<String>> = self.inner.run("fleet", |mut c| async move { cmd.query_async(&mut c).await }).await?;
            instances = found.into_iter().flatten().filter(|s| !s.is_empty()).collect();
        }
        Ok(FleetListing { now, complete: complete == "1", instances, index: keys.index })
    }

    /// Unregisters an instance (it is closing) that was beating every `period_ms`;
    /// `beat_in_flight`: a heartbeat it sent may land after this (it must not register again).
    pub async fn leave(&self, id: &str, period_ms: u64, beat_in_flight: bool) -> Result<()> {
        check_id(id)?;
        let keys = self.fleet_keys();
        let inv = &keys.leave(id, period_ms, beat_in_flight);
        self.inner.run("leave", |mut c| async move { inv.invoke_async::<i64>(&mut c).await }).await.map(|_| ())
    }

    /// `leave`, blocking this thread at most `timeout`: a process closing or exiting has no
    /// event loop left to wait on. True when done; false when it did not finish in time or
    /// this store never connected (then it never registered either).
    pub fn leave_blocking(&self, id: &str, period_ms: u64, beat_in_flight: bool, timeout: Duration) -> Result<bool> {
        check_id(id)?;
        let store = RedisStore { inner: self.inner.clone() };
        let id = id.to_owned();
        Ok(self.block_on(timeout, async move { store.leave(&id, period_ms, beat_in_flight).await.is_ok() }).unwrap_or(false))
    }

    /// One command, on the node of `key` when given, else on the node of the manifest (a
    /// Cluster's nodes each answer for themselves). The reply as JSON (maps as objects).
    pub async fn command(&self, args: &[String], key: Option<&str>) -> Result<Json> {
        let Some((name, rest)) = args.split_first() else { return Err(Error::Config("no command given".into())) };
        let mut cmd = redis::cmd(name);
        for a in rest {
            cmd.arg(a);
        }
        let at = key.map_or_else(|| self.inner.keys.epoch.clone(), str::to_owned);
        let cmd = &cmd;
        let at = &at;
        let reply: Value = self
            .inner
            .run("command", |c| async move {
                match c {
                    Conn::Single(mut s) => cmd.query_async(&mut s).await,
                    Conn::Cluster(mut cl) => {
                        let route = SingleNodeRoutingInfo::SpecificNode(Route::with_key(at.as_bytes(), SlotAddr::Master));
                        cl.route_command(cmd.clone(), RoutingInfo::SingleNode(route)).await
                    }
                }
            })
            .await?;
        to_json(reply)
    }

    /// The primaries (`host:port`; one entry, `""`, for a single server).
    pub async fn primaries(&self) -> Result<Vec<String>> {
        let nodes: Vec<String> = self
            .inner
            .run("primaries", |c| async move {
                match c {
                    Conn::Single(_) => Ok(vec![String::new()]),
                    Conn::Cluster(mut cl) => {
                        let all = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, Some(ResponsePolicy::Special)));
                        let reply = cl.route_command(redis::cmd("PING"), all).await?;
                        let Value::Map(nodes) = reply else {
                            return Err(redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, "PING on every primary")));
                        };
                        let mut out: Vec<String> = nodes
                            .into_iter()
                            .filter_map(|(k, _)| match k {
                                Value::BulkString(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                                Value::SimpleString(s) => Some(s),
                                _ => None,
                            })
                            .collect();
                        out.sort();
                        Ok(out)
                    }
                }
            })
            .await?;
        Ok(nodes)
    }

    /// One page of `SCAN MATCH <pattern>` over every primary in turn, with each key's size.
    /// `cursor` is what the previous page returned (`None` to start). Never on the request path.
    pub async fn scan_page(&self, pattern: &str, cursor: Option<&str>, count: u32) -> Result<ScanPage> {
        let nodes = self.primaries().await?;
        let (mut node, mut at) = match cursor {
            None => (0usize, 0u64),
            Some(c) => {
                let (n, a) = c.split_once(':').ok_or_else(|| Error::Config(format!("bad scan cursor {c:?}")))?;
                let n = n.parse().map_err(|_| Error::Config(format!("bad scan cursor {c:?}")))?;
                (n, a.parse().map_err(|_| Error::Config(format!("bad scan cursor {c:?}")))?)
            }
        };
        loop {
            let Some(addr) = nodes.get(node) else { return Ok(ScanPage { keys: Vec::new(), cursor: None }) };
            let (next, keys) = self.scan_node(addr, pattern, at, count).await?;
            if next == 0 {
                node += 1;
                at = 0;
            } else {
                at = next;
            }
            let cursor = (node < nodes.len()).then(|| format!("{node}:{at}"));
            if !keys.is_empty() || cursor.is_none() {
                return Ok(ScanPage { keys, cursor });
            }
        }
    }

    async fn scan_node(&self, addr: &str, pattern: &str, cursor: u64, count: u32) -> Result<(u64, Vec<(String, i64)>)> {
        let route = node_route(addr)?;
        let route = &route;
        self.inner
            .run("scan", |c| async move {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(count);
                let reply = match c.clone() {
                    Conn::Single(mut s) => scan.query_async::<Value>(&mut s).await?,
                    Conn::Cluster(mut cl) => cl.route_command(scan, RoutingInfo::SingleNode(route.clone().expect("cluster node"))).await?,
                };
                let (next, keys): (String, Vec<String>) = redis::from_redis_value(reply)?;
                let next = next.parse::<u64>().unwrap_or(0);
                if keys.is_empty() {
                    return Ok((next, Vec::new()));
                }
                let mut sizes = redis::pipe();
                for k in &keys {
                    sizes.cmd("STRLEN").arg(k);
                }
                let sizes: Vec<Value> = match c {
                    Conn::Single(mut s) => sizes.query_async(&mut s).await?,
                    Conn::Cluster(mut cl) => cl.route_pipeline(sizes, 0, keys.len(), route.clone().expect("cluster node")).await?,
                };
                let sizes = sizes.into_iter().map(|v| if let Value::Int(n) = v { n } else { -1 });
                Ok((next, keys.into_iter().zip(sizes).collect()))
            })
            .await
    }

    /// Deletes `keys` (UNLINK, one node's keys per call on a Cluster); returns how many existed.
    pub async fn unlink(&self, keys: &[String]) -> Result<u64> {
        let mut removed = 0;
        for k in keys {
            // One key per command: on a Cluster each goes to its own slot's node.
            let k = k.clone();
            let n: u64 = self
                .inner
                .run("unlink", |mut c| {
                    let k = k.clone();
                    async move { c.unlink(k).await }
                })
                .await?;
            removed += n;
        }
        Ok(removed)
    }
}

fn node_route(addr: &str) -> Result<Option<SingleNodeRoutingInfo>> {
    if addr.is_empty() {
        return Ok(None);
    }
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| Error::Redis(format!("bad node address {addr:?}")))?;
    let port = port.parse().map_err(|_| Error::Redis(format!("bad node address {addr:?}")))?;
    Ok(Some(SingleNodeRoutingInfo::ByAddress { host: host.to_owned(), port }))
}

fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_ID_BYTES || id.contains(['{', '}']) {
        return Err(Error::Config(format!("instance id must be 1 to {MAX_ID_BYTES} bytes without braces")));
    }
    Ok(())
}

/// A reply as JSON: strings as UTF-8 (lossy), maps as objects with string keys.
fn to_json(v: Value) -> Result<Json> {
    Ok(match v {
        Value::Nil => Json::Null,
        Value::Int(n) => Json::from(n),
        Value::BulkString(b) => Json::String(String::from_utf8_lossy(&b).into_owned()),
        Value::SimpleString(s) => Json::String(s),
        Value::Okay => Json::String("OK".into()),
        Value::Double(d) => serde_json::Number::from_f64(d).map_or(Json::Null, Json::Number),
        Value::Boolean(b) => Json::Bool(b),
        Value::VerbatimString { text, .. } => Json::String(text),
        Value::Array(a) | Value::Set(a) => Json::Array(a.into_iter().map(to_json).collect::<Result<_>>()?),
        Value::Attribute { data, .. } => to_json(*data)?,
        Value::Map(m) => {
            let mut o = serde_json::Map::new();
            for (k, v) in m {
                let k = match to_json(k)? {
                    Json::String(s) => s,
                    other => other.to_string(),
                };
                o.insert(k, to_json(v)?);
            }
            Json::Object(o)
        }
        Value::ServerError(e) => return Err(Error::Redis(e.to_string())),
        other => Json::String(format!("{other:?}")),
    })
}
