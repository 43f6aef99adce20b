//! Where the Redis is, read from the connection URL alone: one server (`redis://`,
//! `rediss://`), a Cluster (`redis+cluster://host:port,host:port`), or a primary managed by
//! Sentinel (`redis+sentinel://host:26379,host:26379/service`); and `Conn`, the one connection
//! type the store talks through whichever it is (`ForKey`: the same, for tracked pipelines).

use crate::core::error::{Error, Result};
use crate::core::redis_url::{self, Parts, redact_text};
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
    Error::Config(format!("{what}: {}", redact_text(&e.to_string())))
}

/// A host-list URL (`redis+cluster://`, `redis+sentinel://`), split by the one URL grammar.
struct MultiHost<'a> {
    /// `redis` or `rediss`: the scheme of each node.
    base: &'a str,
    parts: Parts<'a>,
    hosts: Vec<&'a str>,
}

fn split_multi_host<'a>(base: &'a str, parts: Parts<'a>) -> Result<MultiHost<'a>> {
    let hosts: Vec<&str> = parts.hosts.split(',').map(str::trim).filter(|h| !h.is_empty()).collect();
    if hosts.is_empty() {
        return Err(Error::Config("redis URL: no host given".into()));
    }
    Ok(MultiHost { base, parts, hosts })
}

impl MultiHost<'_> {
    /// One node's URL, as redis-rs parses single-server URLs (credentials, TLS, `#insecure`).
    fn node_url(&self, host: &str, path: &str) -> String {
        let user = self.parts.userinfo.map(|u| format!("{u}@")).unwrap_or_default();
        let fragment = self.fragment();
        format!("{}://{user}{host}{path}{fragment}", self.base)
    }

    /// `#<fragment>` for each node (`#insecure`), none when empty: redis-rs refuses `rediss://h#`.
    fn fragment(&self) -> String {
        self.parts.fragment.filter(|f| !f.is_empty()).map(|f| format!("#{f}")).unwrap_or_default()
    }

    fn param(&self, name: &str) -> Option<String> {
        redis_url::param(self.parts.query, name)
    }
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
    let parts = redis_url::split(url)
        .ok_or_else(|| Error::Config("redis URL: missing scheme (redis://, rediss://, redis+cluster://, redis+sentinel://)".into()))?;
    let scheme = parts.scheme;
    match scheme.to_ascii_lowercase().as_str() {
        "redis+cluster" | "rediss+cluster" => {
            let base = if scheme.starts_with("rediss") { "rediss" } else { "redis" };
            let m = split_multi_host(base, parts)?;
            if !matches!(m.parts.path, "" | "/" | "/0") {
                return Err(Error::Config("redis URL: Redis Cluster has only database 0".into()));
            }
            let nodes = m.hosts.iter().map(|h| parse_node(&m.node_url(h, ""))).collect::<Result<Vec<_>>>()?;
            Ok(Topology::Cluster { nodes, certs })
        }
        "redis+sentinel" | "rediss+sentinel" => {
            let tls = scheme.starts_with("rediss");
            let base = if tls { "rediss" } else { "redis" };
            let m = split_multi_host(base, parts)?;
            let mut segments = m.parts.path.split('/').filter(|s| !s.is_empty());
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
                .map(|h| parse_node(&format!("{base}://{h}{}", m.fragment())).map(|i| i.addr().clone()))
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
        // An empty fragment is no fragment, as before the one URL grammar.
        assert_eq!(parse("rediss+cluster://a:1,b:2#", None).unwrap().name(), "cluster");
        assert_eq!(parse("rediss+sentinel://a:1,b:2/m#", None).unwrap().name(), "sentinel");
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
    fn sentinel_query_values_are_percent_decoded() {
        // A `%` before a multi-byte character: kept as written, no panic.
        assert_eq!(parse("redis+sentinel://h:26379/m?sentinelPassword=%a\u{e9}", None).unwrap().name(), "sentinel");
    }

    #[test]
    fn errors_never_echo_credentials() {
        let e = parse("redis+cluster://user:hunter2@:notaport", None).err().unwrap();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        for url in [
            "redis://:my hunter2 pw@host:notaport",
            "redis+sentinel://u:hunter2@h:x/m",
            "redis+sentinel://h:26379/m/x?sentinelPassword=two hunter2",
            "redis+cluster://h1:7000,u:hunter2@h2:x",
        ] {
            let e = parse(url, None).err().unwrap();
            assert!(!e.to_string().contains("hunter2"), "{url}: {e}");
        }
    }

    /// The password each node is given, read back from what `parse` built.
    fn passwords(url: &str) -> Vec<String> {
        let password = |i: &ConnectionInfo| i.redis_settings().password().map(str::to_owned);
        match parse(url, None).unwrap() {
            Topology::Single(c) => password(c.get_connection_info()).into_iter().collect(),
            Topology::Cluster { nodes, .. } => nodes.iter().filter_map(password).collect(),
            Topology::Sentinel(_) => unreachable!("read through redis_url::param"),
        }
    }

    #[test]
    fn what_the_parser_reads_as_a_password_is_what_redaction_hides() {
        for (url, password) in [
            ("redis://:my secret pw@host", "my secret pw"),
            ("rediss://u:s%40cr%3At@host:6380/2", "s@cr:t"),
            ("redis://u:p@ss@host", "p@ss"),
            ("redis+cluster://u:pw@h1:7000,h2:7001", "pw"),
            // Userinfo before a later host: the whole list before the last `@` is the userinfo.
            ("redis+cluster://h1:7000,u:pw@h2:7001", "7000,u:pw"),
        ] {
            assert!(passwords(url).iter().all(|p| p == password), "{url}: {:?}", passwords(url));
            assert!(!passwords(url).is_empty(), "{url}");
            let shown = redis_url::redact_url(url);
            assert!(shown.secret, "{url}");
            for word in password.split([' ', '@', ':', ',']).filter(|w| w.len() > 1) {
                assert!(!shown.text.contains(word), "{url}: {word} in {}", shown.text);
            }
        }
        // No password read, none found.
        for url in ["redis://app@host", "redis://u:@host", "redis+cluster://h1:7000,h2:7001"] {
            assert!(passwords(url).is_empty(), "{url}");
            assert!(!redis_url::redact_url(url).secret, "{url}");
        }
    }
}
