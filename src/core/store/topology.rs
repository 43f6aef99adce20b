//! Where the Redis is, read from the connection URL alone: one server (`redis://`,
//! `rediss://`), a Cluster (`redis+cluster://host:port,host:port`), or a primary managed by
//! Sentinel (`redis+sentinel://host:26379,host:26379/service`); and `Conn`, the one connection
//! type the store talks through whichever it is (`ForKey`: the same, for tracked pipelines).

use crate::core::error::{Error, Result, redact};
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, ProtocolVersion, RedisFuture, TlsCertificates, TlsMode, Value};

pub enum Topology {
    Single(Client),
    Cluster {
        nodes: Vec<ConnectionInfo>,
        certs: Option<TlsCertificates>,
    },
    /// Asked again for the primary whenever the one we have stops being it.
    Sentinel(tokio::sync::Mutex<SentinelClient>),
}

impl Topology {
    #[cfg(test)]
    pub fn name(&self) -> &'static str {
        match self {
            Topology::Single(_) => "single",
            Topology::Cluster { .. } => "cluster",
            Topology::Sentinel(_) => "sentinel",
        }
    }
}

fn config_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Config(format!("{what}: {}", redact(&e.to_string())))
}

/// `scheme://[userinfo@]host[:port][,host[:port]...][/path][?query][#fragment]`, split.
struct MultiHost<'a> {
    base: &'a str,
    userinfo: Option<&'a str>,
    hosts: Vec<&'a str>,
    path: &'a str,
    query: &'a str,
    fragment: &'a str,
}

fn split_multi_host<'a>(base: &'a str, rest: &'a str) -> Result<MultiHost<'a>> {
    let (rest, fragment) = rest.split_once('#').map_or((rest, ""), |(a, b)| (a, b));
    let (rest, query) = rest.split_once('?').map_or((rest, ""), |(a, b)| (a, b));
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| (&rest[..i], &rest[i..]));
    let (userinfo, hostlist) = authority.rsplit_once('@').map_or((None, authority), |(u, h)| (Some(u), h));
    let hosts: Vec<&str> = hostlist.split(',').map(str::trim).filter(|h| !h.is_empty()).collect();
    if hosts.is_empty() {
        return Err(Error::Config("redis URL: no host given".into()));
    }
    Ok(MultiHost { base, userinfo, hosts, path, query, fragment })
}

impl MultiHost<'_> {
    /// One node's URL, as redis-rs parses single-server URLs (credentials, TLS, `#insecure`).
    fn node_url(&self, host: &str, path: &str) -> String {
        let user = self.userinfo.map(|u| format!("{u}@")).unwrap_or_default();
        let fragment = if self.fragment.is_empty() { String::new() } else { format!("#{}", self.fragment) };
        format!("{}://{user}{host}{path}{fragment}", self.base)
    }

    fn param(&self, name: &str) -> Option<String> {
        self.query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| decode_component(v))
    }
}

/// Percent-decoding of one query value (credentials may hold reserved characters). Works on
/// bytes: a `%` before a multi-byte character must not slice inside it.
fn decode_component(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn resp3(info: ConnectionInfo) -> ConnectionInfo {
    let redis = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
    info.set_redis_settings(redis)
}

fn parse_node(url: &str) -> Result<ConnectionInfo> {
    let info = url.into_connection_info().map(resp3).map_err(|e| config_error("redis URL", e))?;
    if let redis::ConnectionAddr::Tcp(_, 0) | redis::ConnectionAddr::TcpTls { port: 0, .. } = info.addr() {
        return Err(Error::Config("redis URL: port 0 is not a port to connect to".into()));
    }
    Ok(info)
}

/// Reads the topology from `url`. TLS certificates (CA, client pair) apply to every node.
pub fn parse(url: &str, certs: Option<TlsCertificates>) -> Result<Topology> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| Error::Config("redis URL: missing scheme (redis://, rediss://, redis+cluster://, redis+sentinel://)".into()))?;
    match scheme.to_ascii_lowercase().as_str() {
        "redis+cluster" | "rediss+cluster" => {
            let base = if scheme.starts_with("rediss") { "rediss" } else { "redis" };
            let m = split_multi_host(base, rest)?;
            if !matches!(m.path, "" | "/" | "/0") {
                return Err(Error::Config("redis URL: Redis Cluster has only database 0".into()));
            }
            let nodes = m.hosts.iter().map(|h| parse_node(&m.node_url(h, ""))).collect::<Result<Vec<_>>>()?;
            Ok(Topology::Cluster { nodes, certs })
        }
        "redis+sentinel" | "rediss+sentinel" => {
            let tls = scheme.starts_with("rediss");
            let base = if tls { "rediss" } else { "redis" };
            let m = split_multi_host(base, rest)?;
            let mut segments = m.path.split('/').filter(|s| !s.is_empty());
            let service = segments.next().ok_or_else(|| {
                Error::Config("redis URL: Sentinel needs the service name: redis+sentinel://host:26379,host:26379/<service>".into())
            })?;
            let db: i64 = match segments.next() {
                Some(d) => {
                    d.parse().map_err(|_| Error::Config("redis URL: the database after the service name must be a number".into()))?
                }
                None => 0,
            };
            // Credentials and TLS of the data nodes, parsed as redis-rs parses them.
            let node = parse_node(&m.node_url(m.hosts[0], ""))?;
            let sentinels = m
                .hosts
                .iter()
                .map(|h| {
                    let fragment = if m.fragment.is_empty() { String::new() } else { format!("#{}", m.fragment) };
                    parse_node(&format!("{base}://{h}{fragment}")).map(|i| i.addr().clone())
                })
                .collect::<Result<Vec<_>>>()?;
            let insecure = matches!(node.addr(), ConnectionAddr::TcpTls { insecure: true, .. });
            let mut b = SentinelClientBuilder::new(sentinels, service, SentinelServerType::Master)
                .map_err(|e| config_error("sentinel", e))?
                .set_client_to_redis_protocol(ProtocolVersion::RESP3)
                .set_client_to_redis_db(db);
            let settings = node.redis_settings();
            if let Some(u) = settings.username() {
                b = b.set_client_to_redis_username(u);
            }
            if let Some(p) = settings.password() {
                b = b.set_client_to_redis_password(p);
            }
            if let Some(u) = m.param("sentinelUsername") {
                b = b.set_client_to_sentinel_username(u);
            }
            if let Some(p) = m.param("sentinelPassword") {
                b = b.set_client_to_sentinel_password(p);
            }
            if tls {
                let mode = if insecure { TlsMode::Insecure } else { TlsMode::Secure };
                b = b.set_client_to_redis_tls_mode(mode).set_client_to_sentinel_tls_mode(mode);
                if let Some(c) = certs {
                    b = b.set_client_to_redis_certificates(c.clone()).set_client_to_sentinel_certificates(c);
                }
            }
            let client = b.build().map_err(|e| config_error("sentinel", e))?;
            Ok(Topology::Sentinel(tokio::sync::Mutex::new(client)))
        }
        _ => {
            let info = parse_node(url)?;
            let client = match certs {
                Some(certs) => Client::build_with_tls(info, certs),
                None => Client::open(info),
            }
            .map_err(|e| config_error("redis client", e))?;
            Ok(Topology::Single(client))
        }
    }
}

/// The store's connection: one server (or Sentinel's current primary) through a reconnecting
/// manager, or a Cluster through redis-rs's cluster connection (slot map, MOVED/ASK, per-node
/// reconnects).
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Conn {
    pub fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    /// Cluster: `(node, connection id)` of our connection to every primary, sorted; empty for
    /// one server. redis-rs may replace a node's connection without telling us (a slot refresh
    /// that found it slow, a node that left), and the server forgets our tracking with the old
    /// one: a changed id says so. `HELLO` without arguments only reports (and every ACL that
    /// lets the client connect allows it).
    pub async fn primary_connection_ids(&mut self) -> redis::RedisResult<Vec<(String, i64)>> {
        let Conn::Cluster(c) = self else { return Ok(Vec::new()) };
        let reply = c.route_command(redis::cmd("HELLO"), RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None))).await?;
        let bad = |what: &str| redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, "HELLO on every primary", what.to_owned()));
        let Value::Map(nodes) = reply else { return Err(bad("not a map of nodes")) };
        let mut ids = Vec::with_capacity(nodes.len());
        for (node, hello) in nodes {
            let node = match node {
                Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
                Value::SimpleString(s) => s,
                _ => return Err(bad("node name")),
            };
            let id = match hello {
                Value::Map(fields) => fields.into_iter().find_map(|(k, v)| match (k, v) {
                    (Value::BulkString(k), Value::Int(id)) if k == b"id" => Some(id),
                    (Value::SimpleString(k), Value::Int(id)) if k == "id" => Some(id),
                    _ => None,
                }),
                Value::ServerError(e) => return Err(e.into()),
                _ => None,
            };
            ids.push((node, id.ok_or_else(|| bad("no id"))?));
        }
        ids.sort();
        Ok(ids)
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, redis::Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// `Conn` for a pipeline that arms `CLIENT TRACKING`: on a Cluster, sent to the node of `key`,
/// the one key it then reads or writes, so that tracking is armed on that node's connection.
/// redis-rs would route it by the word `TRACKING` (an unknown command's first argument is taken
/// for a key) and refuse the pipeline as cross-slot. Redirections (MOVED, ASK) are followed by
/// redis-rs; such pipelines are transactions, so the ASKING it sends first holds for all of
/// them. Those pipelines, and what they keep to for this routing, are in `redis::tracked`.
pub struct ForKey<'a> {
    conn: Conn,
    key: &'a str,
}

impl Conn {
    /// This connection, sending pipelines to the node of `key` on a Cluster (see `ForKey`).
    pub fn for_key(self, key: &str) -> ForKey<'_> {
        ForKey { conn: self, key }
    }
}

impl ConnectionLike for ForKey<'_> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, redis::Value> {
        self.conn.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<redis::Value>> {
        match &mut self.conn {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => Box::pin(tracked_on_cluster(c, pipeline, self.key.as_bytes(), offset, count)),
        }
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}

async fn tracked_on_cluster(
    c: &mut ClusterConnection,
    pipeline: &redis::Pipeline,
    key: &[u8],
    offset: usize,
    count: usize,
) -> redis::RedisResult<Vec<redis::Value>> {
    let route = SingleNodeRoutingInfo::SpecificNode(Route::with_slot(Slot::for_key(key), SlotAddr::Master));
    c.route_pipeline(pipeline.clone(), offset, count, route).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_urls_are_one_server() {
        assert_eq!(parse("redis://127.0.0.1:6379", None).unwrap().name(), "single");
        assert_eq!(parse("rediss://u:p@example.com:6380/2", None).unwrap().name(), "single");
    }

    #[test]
    fn cluster_urls_list_their_seed_nodes() {
        match parse("redis+cluster://user:s%40cret@10.0.0.1:7000,10.0.0.2:7001", None).unwrap() {
            Topology::Cluster { nodes, .. } => {
                assert_eq!(nodes.len(), 2);
                assert_eq!(nodes[1].addr(), &ConnectionAddr::Tcp("10.0.0.2".into(), 7001));
                assert_eq!(nodes[0].redis_settings().username(), Some("user"));
                assert_eq!(nodes[0].redis_settings().password(), Some("s@cret"));
                assert_eq!(nodes[0].redis_settings().protocol(), ProtocolVersion::RESP3);
            }
            _ => panic!("not a cluster"),
        }
        assert!(matches!(parse("redis+cluster://a:1/3", None), Err(Error::Config(_))));
        assert!(matches!(parse("redis+cluster://", None), Err(Error::Config(_))));
    }

    #[test]
    fn sentinel_urls_need_a_service_name() {
        assert_eq!(parse("redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster", None).unwrap().name(), "sentinel");
        assert_eq!(parse("redis+sentinel://u:p@h:26379/mymaster/1?sentinelPassword=x%26y", None).unwrap().name(), "sentinel");
        let e = parse("redis+sentinel://10.0.0.1:26379", None).err().unwrap();
        assert!(e.to_string().contains("service name"), "{e}");
        assert!(matches!(parse("redis+sentinel://h:1/m/x", None), Err(Error::Config(_))));
    }

    #[test]
    fn query_values_are_percent_decoded_by_bytes() {
        assert_eq!(decode_component("x%26y%3d"), "x&y=");
        assert_eq!(decode_component("caf%C3%A9"), "café");
        // A `%` before a multi-byte character, a sign, or the end: kept as written, no panic.
        assert_eq!(decode_component("%aé"), "%aé");
        assert_eq!(decode_component("%é1"), "%é1");
        assert_eq!(decode_component("%+5"), "%+5");
        assert_eq!(decode_component("50%"), "50%");
        assert_eq!(decode_component("%4"), "%4");
        assert_eq!(parse("redis+sentinel://h:26379/m?sentinelPassword=%a\u{e9}", None).unwrap().name(), "sentinel");
    }

    #[test]
    fn errors_never_echo_credentials() {
        let e = parse("redis+cluster://user:hunter2@:notaport", None).err().unwrap();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(decode_component("a%26b%3D"), "a&b=");
        assert_eq!(decode_component("100%"), "100%");
    }
}
