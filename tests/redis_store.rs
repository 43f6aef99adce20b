//! The core against real redis-server processes started by the tests (never the machine's
//! own Redis). Two `Cache` values stand for two processes: each has its own manifest mirror.

use shared_isr::core::envelope::{EntryMeta, Revalidate};
use shared_isr::core::tags::{Durations, Freshness};
use shared_isr::core::{Cache, Config, Error};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    fn start() -> Server {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        let s = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
    fn cmd(&self, args: &[&[u8]]) -> redis::Value {
        let mut c = redis::Client::open(self.url()).unwrap().get_connection().unwrap();
        let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut c).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cache(url: &str, prefix: &str) -> Cache {
    Cache::new(Config { redis_url: Some(url.into()), prefix: prefix.into(), timeout_ms: 300, connect_timeout_ms: 300, ..Config::default() })
        .unwrap()
}

fn meta(tags: &[&str]) -> EntryMeta {
    EntryMeta {
        write_id: 0,
        last_modified: shared_isr::core::clock::now_ms(),
        revalidate: Revalidate::Seconds(60.0),
        expire: Some(3600.0),
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

#[test]
fn two_processes_share_entries_and_revalidations_without_delay() {
    let server = Server::start();
    rt().block_on(async {
        let (a, b) = (cache(&server.url(), "t1:"), cache(&server.url(), "t1:"));
        a.set("page", &meta(&["posts"]), b"<html>").await.unwrap();
        let hit = b.get("page", &[]).await.unwrap().expect("b sees a's entry");
        assert_eq!((hit.payload(), hit.freshness), (&b"<html>"[..], Freshness::Fresh));

        b.revalidate_tags(&["posts".into()], None).await.unwrap();
        let hit = a.get("page", &[]).await.unwrap().unwrap();
        assert_eq!(hit.freshness, Freshness::Expired, "a sees b's revalidation on its next read");

        // Soft tags given at read time count too.
        a.set("data", &meta(&[]), b"{}").await.unwrap();
        b.revalidate_tags(&["_N_T_/blog".into()], None).await.unwrap();
        let hit = a.get("data", &["_N_T_/blog".into()]).await.unwrap().unwrap();
        assert_eq!(hit.freshness, Freshness::Expired);
        let hit = a.get("data", &["_N_T_/other".into()]).await.unwrap().unwrap();
        assert_eq!(hit.freshness, Freshness::Fresh, "only matching tags invalidate");
    });
}

#[test]
fn stale_then_expired_with_durations_and_fresh_after_rewrite() {
    let server = Server::start();
    rt().block_on(async {
        let (a, b) = (cache(&server.url(), "t2:"), cache(&server.url(), "t2:"));
        a.set("k", &meta(&["t"]), b"v1").await.unwrap();
        b.revalidate_tags(&["t".into()], Some(Durations { expire: Some(0.3) })).await.unwrap();
        assert_eq!(a.get("k", &[]).await.unwrap().unwrap().freshness, Freshness::Stale);
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(a.get("k", &[]).await.unwrap().unwrap().freshness, Freshness::Expired);
        a.set("k", &meta(&["t"]), b"v2").await.unwrap();
        let hit = b.get("k", &[]).await.unwrap().unwrap();
        assert_eq!((hit.payload(), hit.freshness), (&b"v2"[..], Freshness::Fresh));
    });
}

#[test]
fn prefixes_isolate_apps_sharing_one_redis() {
    let server = Server::start();
    rt().block_on(async {
        let (a, b) = (cache(&server.url(), "app-a:"), cache(&server.url(), "app-b:"));
        a.set("k", &meta(&["t"]), b"a").await.unwrap();
        b.set("k", &meta(&["t"]), b"b").await.unwrap();
        b.revalidate_tags(&["t".into()], None).await.unwrap();
        let hit = a.get("k", &[]).await.unwrap().unwrap();
        assert_eq!((hit.payload(), hit.freshness), (&b"a"[..], Freshness::Fresh));
        assert_eq!(b.get("k", &[]).await.unwrap().unwrap().freshness, Freshness::Expired);
    });
}

#[test]
fn ttl_comes_from_expire_and_defaults_to_a_year() {
    let server = Server::start();
    rt().block_on(async {
        let c = cache(&server.url(), "t3:");
        c.set("with", &EntryMeta { expire: Some(120.0), revalidate: Revalidate::Seconds(1.0), ..meta(&[]) }, b"x").await.unwrap();
        c.set("without", &EntryMeta { expire: None, revalidate: Revalidate::Seconds(1.0), ..meta(&[]) }, b"x").await.unwrap();
    });
    let ttl = |k: &str| match server.cmd(&[b"PTTL", k.as_bytes()]) {
        redis::Value::Int(n) => n,
        v => panic!("{v:?}"),
    };
    assert!((119_000..=120_000).contains(&ttl("t3:e:with")), "{}", ttl("t3:e:with"));
    assert!(ttl("t3:e:without") > 31_535_000_000);
}

#[test]
fn corrupt_and_foreign_bytes_are_errors_not_hits() {
    let server = Server::start();
    server.cmd(&[b"SET", b"t4:e:json", br#"{"value":{"kind":"FETCH"},"lastModified":1}"#]);
    server.cmd(&[b"SET", b"t4:e:bin", b"SISR\x01\x00\x00"]);
    rt().block_on(async {
        let c = cache(&server.url(), "t4:");
        for key in ["json", "bin"] {
            assert!(matches!(c.get(key, &[]).await, Err(Error::Corrupt(_))), "{key}");
        }
        assert_eq!(c.stats().corrupt, 2);
        assert!(c.get("absent", &[]).await.unwrap().is_none());
    });
}

#[test]
fn a_reset_store_still_delivers_every_later_revalidation() {
    let server = Server::start();
    rt().block_on(async {
        let (a, b) = (cache(&server.url(), "t5:"), cache(&server.url(), "t5:"));
        for i in 0..5 {
            b.revalidate_tags(&[format!("old{i}")], None).await.unwrap();
        }
        a.set("k", &meta(&["fresh-tag"]), b"v").await.unwrap();
        a.get("k", &[]).await.unwrap(); // a's mirror is at b's epoch now
        server.cmd(&[b"FLUSHALL"]);
        tokio::time::sleep(Duration::from_millis(5)).await;
        a.set("k", &meta(&["fresh-tag"]), b"v").await.unwrap();
        b.revalidate_tags(&["fresh-tag".into()], None).await.unwrap();
        let hit = a.get("k", &[]).await.unwrap().unwrap();
        assert_eq!(hit.freshness, Freshness::Expired, "the first revalidation after the reset is seen");
    });
}

#[test]
fn oversized_values_are_refused_before_any_io() {
    let c = Cache::new(Config { redis_url: Some("redis://127.0.0.1:1".into()), max_value_bytes: 10, ..Config::default() }).unwrap();
    assert!(matches!(c.encode(&meta(&[]), &[0u8; 11]), Err(Error::TooLarge { size: 11, max: 10, .. })));
}

#[test]
fn down_redis_fails_fast_and_the_breaker_spares_later_calls() {
    let port = free_port(); // nothing listens here
    rt().block_on(async {
        let c = cache(&format!("redis://127.0.0.1:{port}"), "t6:");
        let t = Instant::now();
        assert!(c.get("k", &[]).await.unwrap_err().is_connectivity());
        assert!(t.elapsed() < Duration::from_millis(800), "{:?}", t.elapsed());
        let t = Instant::now();
        let e = c.revalidate_tags(&["t".into()], None).await.unwrap_err();
        assert_eq!(e.code(), "ERR_SHARED_ISR_UNAVAILABLE");
        assert!(t.elapsed() < Duration::from_millis(50), "breaker open: {:?}", t.elapsed());
        assert!(c.stats().circuit_open);
    });
}

#[test]
fn a_server_that_never_answers_times_out_within_the_bound() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept and hold connections without ever replying.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    rt().block_on(async {
        let c = cache(&format!("redis://127.0.0.1:{port}"), "t7:");
        let t = Instant::now();
        let e = c.get("k", &[]).await.unwrap_err();
        assert!(e.is_connectivity(), "{e}");
        assert!(t.elapsed() < Duration::from_millis(1_000), "{:?}", t.elapsed());
    });
}

#[test]
fn recovers_after_redis_restarts() {
    let mut server = Server::start();
    let port = server.port;
    let url = server.url();
    let runtime = rt();
    runtime.block_on(async {
        let c = cache(&url, "t8:");
        c.set("k", &meta(&[]), b"v").await.unwrap();
        let _ = server.child.kill();
        let _ = server.child.wait();
        assert!(c.get("k", &[]).await.is_err());
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        server.child = child;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if c.set("k", &meta(&[]), b"v2").await.is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "did not recover");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(c.get("k", &[]).await.unwrap().unwrap().payload(), b"v2");
    });
}

#[test]
fn if_absent_never_replaces_an_existing_entry() {
    let server = Server::start();
    rt().block_on(async {
        let c = cache(&server.url(), "t9:");
        c.set("k", &meta(&[]), b"regenerated").await.unwrap();
        let (env, _) = c.encode(&meta(&[]), b"from build").unwrap();
        c.put("k", env, None, true).await.unwrap();
        assert_eq!(c.get("k", &[]).await.unwrap().unwrap().payload(), b"regenerated");
        let (env, _) = c.encode(&meta(&[]), b"from build").unwrap();
        c.put("new", env, None, true).await.unwrap();
        assert_eq!(c.get("new", &[]).await.unwrap().unwrap().payload(), b"from build");
    });
}

#[test]
fn client_tracking_tells_a_reader_when_another_process_changes_what_it_read() {
    let server = Server::start();
    rt().block_on(async {
        let (a, b) = (cache(&server.url(), "t10:"), cache(&server.url(), "t10:"));
        b.set("k", &meta(&["t"]), b"v1").await.unwrap();
        // a's first call connects, and a new connection invalidates every earlier copy.
        let (g0, _) = a.coherence().unwrap();
        assert!(a.get("warm-up", &[]).await.unwrap().is_none());
        assert!(!a.is_valid("k", g0), "copies from before the connection are not trusted");
        let (g, _) = a.coherence().unwrap();
        a.get("k", &[]).await.unwrap().unwrap();
        let (g_now, trusted) = a.coherence().unwrap();
        assert!(trusted, "a tracked read makes local copies trustworthy");
        assert!(a.is_valid("k", g));

        b.set("k", &meta(&["t"]), b"v2").await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while a.is_valid("k", g_now) {
            assert!(Instant::now() < deadline, "no invalidation push arrived");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(a.is_valid("other", g_now), "only the changed key");

        // A revalidation elsewhere moves the epoch: copies are untrusted until a's mirror
        // has caught up, then the tag verdict says expired.
        let before = a.coherence().unwrap().0;
        let written = shared_isr::core::clock::now_ms() - 1.0;
        b.revalidate_tags(&["t".into()], None).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let (g, trusted) = a.coherence().unwrap();
            // Caught up: the stamp a cached is dropped (or already the new one), never the old.
            if trusted && g > before && a.judge(&["t".into()], written).is_none_or(|j| j.0 == Freshness::Expired) {
                assert_eq!(a.judge_fetching(&["t"], written).await.0, Freshness::Expired);
                break;
            }
            assert!(Instant::now() < deadline, "mirror never caught up");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
}

#[test]
fn a_disconnect_flushes_and_suspends_trust_until_a_read_succeeds() {
    let server = Server::start();
    rt().block_on(async {
        let a = cache(&server.url(), "t11:");
        a.set("k", &meta(&[]), b"v").await.unwrap();
        a.get("k", &[]).await.unwrap();
        let (g, trusted) = a.coherence().unwrap();
        assert!(trusted);
        server.cmd(&[b"CLIENT", b"KILL", b"TYPE", b"normal"]);
        let deadline = Instant::now() + Duration::from_secs(2);
        while a.is_valid("k", g) {
            assert!(Instant::now() < deadline, "the disconnect was not noticed");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while !a.coherence().unwrap().1 {
            let _ = a.get("k", &[]).await;
            assert!(Instant::now() < deadline, "never trusted again");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

fn cache_with(url: &str, prefix: &str, f: impl FnOnce(&mut Config)) -> Cache {
    let mut c =
        Config { redis_url: Some(url.into()), prefix: prefix.into(), timeout_ms: 300, connect_timeout_ms: 300, ..Config::default() };
    f(&mut c);
    Cache::new(c).unwrap()
}

fn exists(server: &Server, key: &str) -> bool {
    server.cmd(&[b"EXISTS", key.as_bytes()]) == redis::Value::Int(1)
}

/// Retention 1 s: a stamp older than that is pruned by a later revalidation, and the entry it
/// had invalidated (kept in Redis past its TTL here, as by an earlier, longer setting) is still
/// not served as fresh: the age rule expires it.
#[test]
fn stamps_past_the_retention_are_pruned_and_what_they_invalidated_stays_invalid() {
    let server = Server::start();
    rt().block_on(async {
        let a = cache_with(&server.url(), "p1:", |c| c.default_ttl_secs = 1.0);
        a.set("old", &meta(&["t"]), b"v").await.unwrap();
        server.cmd(&[b"PERSIST", b"p1:e:old"]);
        tokio::time::sleep(Duration::from_millis(5)).await;
        a.revalidate_tags(&["t".into()], None).await.unwrap();
        assert_eq!(a.get("old", &[]).await.unwrap().unwrap().freshness, Freshness::Expired);
        assert!(server.cmd(&[b"HGET", b"p1:{p1:}:expired", b"t"]) != redis::Value::Nil, "stamped");

        tokio::time::sleep(Duration::from_millis(1_100)).await;
        a.revalidate_tags(&["later".into()], None).await.unwrap();
        assert_eq!(server.cmd(&[b"HGET", b"p1:{p1:}:expired", b"t"]), redis::Value::Nil, "pruned from the stamps");
        assert_eq!(server.cmd(&[b"ZSCORE", b"p1:{p1:}:log", b"t"]), redis::Value::Nil, "and from the log");
        assert!(server.cmd(&[b"HGET", b"p1:{p1:}:expired", b"later"]) != redis::Value::Nil, "a recent stamp stays");

        // A process that never saw the stamp judges the entry as expired all the same.
        let joiner = cache_with(&server.url(), "p1:", |c| c.default_ttl_secs = 1.0);
        assert_eq!(joiner.get("old", &[]).await.unwrap().unwrap().freshness, Freshness::Expired);
        assert_eq!(a.get("old", &[]).await.unwrap().unwrap().freshness, Freshness::Expired);
    });
}

/// `maxmemory` with `allkeys-lru` evicts a manifest key while entries remain. The next
/// script starts a new era: every process, a new one included, expires what was written
/// before it, so the entry whose stamp was lost is never served as fresh.
#[test]
fn an_evicted_manifest_key_expires_entries_written_before_the_loss() {
    let server = Server::start();
    rt().block_on(async {
        let (a, b) = (cache(&server.url(), "ev:"), cache(&server.url(), "ev:"));
        for i in 0..20 {
            a.revalidate_tags(&[format!("other-{i}")], None).await.unwrap();
        }
        a.set("y", &meta(&["y"]), b"old y").await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        a.revalidate_tags(&["y".into()], None).await.unwrap();
        assert_eq!(b.get("y", &[]).await.unwrap().unwrap().freshness, Freshness::Expired);
        let dump = server.cmd(&[b"DUMP", b"ev:e:y"]);
        let redis::Value::BulkString(dump) = dump else { panic!("no dump of the entry") };

        // Real eviction: fill Redis past a small maxmemory until the `expired` hash (the one with
        // y's stamp) is gone. The other manifest keys are kept warm, as reads keep the epoch in
        // production, so the LRU takes the cold one.
        let manifest = ["stale", "expired", "log", "epoch", "born"].map(|k| format!("ev:{{ev:}}:{k}"));
        let present = || manifest.iter().filter(|k| exists(&server, k)).count();
        assert_eq!(present(), 5);
        server.cmd(&[b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lru"]);
        let used = match server.cmd(&[b"INFO", b"memory"]) {
            redis::Value::BulkString(info) => String::from_utf8_lossy(&info)
                .lines()
                .find_map(|l| l.strip_prefix("used_memory:").and_then(|v| v.trim().parse::<u64>().ok())),
            redis::Value::VerbatimString { text, .. } => {
                text.lines().find_map(|l| l.strip_prefix("used_memory:").and_then(|v| v.trim().parse::<u64>().ok()))
            }
            _ => None,
        }
        .expect("used_memory");
        server.cmd(&[b"CONFIG", b"SET", b"maxmemory", (used + 200_000).to_string().as_bytes()]);
        let mut conn = redis::Client::open(server.url()).unwrap().get_connection().unwrap();
        let mut n = 0;
        while exists(&server, &manifest[1]) {
            assert!(n < 1_000_000, "the manifest key was never evicted");
            let _: () = redis::pipe()
                .cmd("HGET")
                .arg(&manifest[0])
                .arg("")
                .ignore()
                .cmd("ZSCORE")
                .arg(&manifest[2])
                .arg("")
                .ignore()
                .cmd("GET")
                .arg(&manifest[3])
                .ignore()
                .cmd("GET")
                .arg(&manifest[4])
                .ignore()
                .query(&mut conn)
                .unwrap();
            let mut p = redis::pipe();
            for i in n..n + 10 {
                p.cmd("SET").arg(format!("junk:{i}")).arg(vec![b'x'; 1000]).ignore();
            }
            let _: () = p.query(&mut conn).unwrap();
            n += 10;
        }
        server.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"0"]);
        assert!(present() > 0, "every manifest key went at once (indistinguishable from a new store)");
        // The entry survived the eviction (restored as it was).
        server.cmd(&[b"RESTORE", b"ev:e:y", b"0", &dump, b"REPLACE"]);

        // A new process, then the ones that saw the stamp: none serves the old entry as fresh.
        let joiner = cache(&server.url(), "ev:");
        assert_ne!(joiner.get("y", &[]).await.unwrap().unwrap().freshness, Freshness::Fresh, "a joining process");
        assert_ne!(b.get("y", &[]).await.unwrap().unwrap().freshness, Freshness::Fresh);
        assert_ne!(a.get("y", &[]).await.unwrap().unwrap().freshness, Freshness::Fresh);
        let born = server.cmd(&[b"GET", b"ev:{ev:}:born"]);
        assert!(matches!(&born, redis::Value::BulkString(b) if b.starts_with(b"l:")), "a new era after a loss: {born:?}");
        // Written after the loss: fresh again.
        a.set("y", &meta(&["y"]), b"new y").await.unwrap();
        assert_eq!(joiner.get("y", &[]).await.unwrap().unwrap().freshness, Freshness::Fresh);
    });
}

fn stamps(server: &Server, prefix: &str, tag: &str) -> (Option<f64>, Option<f64>) {
    let get = |h: &str| match server.cmd(&[b"HGET", format!("{prefix}{{{prefix}}}:{h}").as_bytes(), tag.as_bytes()]) {
        redis::Value::BulkString(b) => String::from_utf8_lossy(&b).parse().ok(),
        _ => None,
    };
    (get("stale"), get("expired"))
}

/// A revalidation recorded late (after a failure) never undoes a later one, and a later one
/// recorded first is not undone by it: the stamps are those of recording them on time.
#[test]
fn a_late_revalidation_never_undoes_a_later_one() {
    use shared_isr::core::store::manifest::Keys;
    let server = Server::start();
    rt().block_on(async {
        let mut conn = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
        let keys = Keys::new("lt:");
        const YEAR: f64 = 31_536_000_000.0;
        let now = shared_isr::core::clock::now_ms();
        let record = |tag: &str, at: f64, d: Option<Durations>, late: bool| {
            keys.revalidate(&[tag.to_string()], at, d, YEAR, if late { now } else { at })
        };
        let profile = Some(Durations { expire: Some(100.0) });

        // A later hard revalidation is in the store: the late one (earlier) changes nothing.
        let _: (i64, i64) = record("a", now - 1_000.0, None, false).invoke_async(&mut conn).await.unwrap();
        let _: (i64, i64) = record("a", now - 5_000.0, None, true).invoke_async(&mut conn).await.unwrap();
        assert_eq!(stamps(&server, "lt:", "a"), (None, Some(now - 1_000.0)));
        // An earlier one is in the store: the late one is newer and is recorded.
        let _: (i64, i64) = record("a", now - 500.0, None, true).invoke_async(&mut conn).await.unwrap();
        assert_eq!(stamps(&server, "lt:", "a"), (None, Some(now - 500.0)));

        // A later profile (stale now, deadline in 100 s): kept; the late hard one cannot undo it.
        let _: (i64, i64) = record("b", now - 1_000.0, profile, false).invoke_async(&mut conn).await.unwrap();
        let _: (i64, i64) = record("b", now - 5_000.0, None, true).invoke_async(&mut conn).await.unwrap();
        assert_eq!(stamps(&server, "lt:", "b"), (Some(now - 1_000.0), Some(now - 1_000.0 + 100_000.0)));

        // An earlier profile's deadline still in the future: the late hard revalidation came
        // after it, so it expires the tag from its time, as it would have on time.
        let _: (i64, i64) = record("c", now - 9_000.0, profile, false).invoke_async(&mut conn).await.unwrap();
        let _: (i64, i64) = record("c", now - 5_000.0, None, true).invoke_async(&mut conn).await.unwrap();
        assert_eq!(stamps(&server, "lt:", "c"), (Some(now - 9_000.0), Some(now - 5_000.0)));

        // On time, later again: the plain rule, as Next's own cache applies it.
        let _: (i64, i64) = record("c", now - 4_000.0, None, false).invoke_async(&mut conn).await.unwrap();
        assert_eq!(stamps(&server, "lt:", "c"), (Some(now - 9_000.0), Some(now - 4_000.0)));

        // A deadline an older version wrote (no record of when it was set): taken as set no
        // later than the tag's stale stamp, so a later hard revalidation recorded late wins.
        let _: (i64, i64) = record("d", now - 9_000.0, profile, false).invoke_async(&mut conn).await.unwrap();
        server.cmd(&[b"DEL", b"lt:{lt:}:deadlines"]);
        let _: (i64, i64) = record("d", now - 5_000.0, None, true).invoke_async(&mut conn).await.unwrap();
        assert_eq!(stamps(&server, "lt:", "d"), (Some(now - 9_000.0), Some(now - 5_000.0)));
    });
}

/// Every order of recording the same revalidations of one tag (late from an outbox, another
/// instance's on time in between, one recorded twice) leaves the stamps of recording each on
/// time, in the order of their times: Next's own rule (`TagStamps::revalidated`) folded in
/// that order is the oracle.
#[test]
fn the_stamps_do_not_depend_on_the_order_revalidations_are_recorded_in() {
    use shared_isr::core::store::manifest::Keys;
    use shared_isr::core::tags::TagStamps;
    let server = Server::start();
    rt().block_on(async {
        let mut conn = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
        let keys = Keys::new("po:");
        const YEAR: f64 = 31_536_000_000.0;
        let now = shared_isr::core::clock::now_ms();
        let max = Some(Durations { expire: Some(31_536_000.0) }); // 'max': expires in a year
        let short = Some(Durations { expire: Some(2.0) }); // a deadline that has passed by now
        let bare = Some(Durations { expire: None }); // a profile without `expire`
        let hard = None; // expire now
        let cases: Vec<(&str, Vec<Rev>)> = vec![
            ("a profile, then expire now", vec![(now - 3_000.0, max), (now - 2_000.0, hard)]),
            ("expire now, then a profile", vec![(now - 3_000.0, hard), (now - 2_000.0, max)]),
            ("a passed deadline, expire now, a bare profile", vec![(now - 5_000.0, short), (now - 3_000.0, hard), (now - 1_000.0, bare)]),
            (
                "profiles and expiries interleaved",
                vec![(now - 4_000.0, max), (now - 3_000.0, hard), (now - 2_500.0, short), (now - 2_000.0, bare), (now - 1_000.0, max)],
            ),
            ("made at the same time", vec![(now - 2_000.0, hard), (now - 2_000.0, max)]),
        ];
        // Recording them on time, in the order of their times (at equal times, the one setting
        // the later expiry first).
        let sets = |d: &Option<Durations>, at: f64| match d {
            None => Some(at),
            Some(d) => d.expire.map(|e| at + e * 1000.0),
        };
        let on_time = |revs: &[Rev]| {
            let mut sorted = revs.to_vec();
            sorted.sort_by(|a, b| {
                a.0.total_cmp(&b.0).then(sets(&b.1, b.0).unwrap_or(f64::INFINITY).total_cmp(&sets(&a.1, a.0).unwrap_or(f64::INFINITY)))
            });
            sorted.iter().fold(TagStamps::default(), |s, (at, d)| s.revalidated(*at, *d))
        };
        let mut n = 0;
        for (what, revs) in &cases {
            let expected = on_time(revs);
            for order in permutations(revs.len()) {
                n += 1;
                let tag = format!("t{n}");
                for &i in &order {
                    // The first recorded is on time; the others come from an outbox, late.
                    let (at, d) = revs[i];
                    let recorded_at = if i == order[0] { at } else { now };
                    let _: (i64, i64) =
                        keys.revalidate(std::slice::from_ref(&tag), at, d, YEAR, recorded_at).invoke_async(&mut conn).await.unwrap();
                }
                let got = stamps(&server, "po:", &tag);
                assert_eq!(got, (expected.stale, expected.expired), "{what}, recorded in the order {order:?}");
                // Recorded again (a drain cut short records a batch twice): nothing changes.
                let (at, d) = revs[order[0]];
                let _: (i64, i64) = keys.revalidate(std::slice::from_ref(&tag), at, d, YEAR, now).invoke_async(&mut conn).await.unwrap();
                assert_eq!(stamps(&server, "po:", &tag), got, "{what}: {order:?}, then the first again");
            }
        }
        assert_eq!(n, 2 + 2 + 6 + 120 + 2);
    });
}

/// A revalidation of one tag: when it was made, and its profile (`None`: expire now).
type Rev = (f64, Option<Durations>);

/// Every order of `0..n`.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}

/// During a stall: a profile ('max'), then "expire now", on the same tag. Recorded on time,
/// another instance would get a miss for an entry written before; recorded late, it must too
/// (not the old page served as stale until the profile's deadline a year out).
#[test]
fn a_profile_then_expire_now_made_during_a_stall_expire_the_tag_for_other_instances() {
    let server = Server::start();
    rt().block_on(async {
        let (a, b) = (cache(&server.url(), "pe:"), cache(&server.url(), "pe:"));
        b.set("page", &meta(&["T"]), b"old").await.unwrap();
        a.get("page", &[]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        signal(&server, "-STOP");
        assert!(a.revalidate_tags(&["T".into()], Some(Durations { expire: Some(31_536_000.0) })).await.is_err());
        assert!(a.revalidate_tags(&["T".into()], None).await.is_err());
        assert_eq!(a.stats().revalidations_pending, 2, "two revalidations of one tag each");
        signal(&server, "-CONT");
        let resumed = Instant::now();
        while a.stats().revalidations_pending > 0 {
            assert!(resumed.elapsed() < Duration::from_secs(3), "never recorded");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let hit = loop {
            match b.get("page", &[]).await {
                Ok(hit) => break hit.unwrap(),
                Err(e) => assert!(resumed.elapsed() < Duration::from_secs(3), "b never recovered: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(hit.freshness, Freshness::Expired, "stamps {:?}", stamps(&server, "pe:", "T"));
    });
}

/// At exit, the flush gets its grace even while the breaker is still open after a failure
/// (Redis back, or about to be): it tries until the time is up, not once.
#[test]
fn the_exit_flush_uses_its_grace_past_an_open_breaker() {
    let server = Server::start();
    rt().block_on(async {
        let a = cache(&server.url(), "gr:");
        a.get("warm", &[]).await.unwrap();
        signal(&server, "-STOP");
        for t in ["x", "y", "z"] {
            assert!(a.revalidate_tags(&[t.into()], None).await.is_err());
        }
        assert!(a.stats().circuit_open);
        let pid = server.child.id().to_string();
        let resume = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            Command::new("kill").args(["-CONT", &pid]).status().unwrap();
        });
        let t0 = Instant::now();
        let flushed = tokio::task::block_in_place(|| a.flush_pending_blocking(Duration::from_secs(3)));
        resume.join().unwrap();
        assert!(flushed, "recorded within the grace ({} ms)", t0.elapsed().as_millis());
        for t in ["x", "y", "z"] {
            assert!(stamps(&server, "gr:", t).1.is_some(), "{t} recorded");
        }
        // Stalled throughout: the flush takes its whole grace, then says what is left.
        signal(&server, "-STOP");
        assert!(a.revalidate_tags(&["w".into()], None).await.is_err());
        let t0 = Instant::now();
        let flushed = tokio::task::block_in_place(|| a.flush_pending_blocking(Duration::from_millis(800)));
        let took = t0.elapsed();
        signal(&server, "-CONT");
        assert!(!flushed);
        assert!(took >= Duration::from_millis(700), "gave up after {} ms", took.as_millis());
        let left = a.close(5);
        assert_eq!((left.revalidations, left.tags, left.first), (1, 1, vec!["w".to_string()]));
    });
}

fn signal(server: &Server, sig: &str) {
    let ok = Command::new("kill").args([sig, &server.child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill {sig}");
}

/// Redis stops answering (SIGSTOP, data kept) while a revalidation is made: the call fails
/// (the caller hears of it), the revalidation is kept with its time and recorded by the
/// process itself once Redis answers again, with no further call; another process then sees it.
#[test]
fn a_revalidation_made_while_redis_stalls_is_recorded_once_it_answers() {
    let server = Server::start();
    rt().block_on(async {
        let (a, b) = (cache(&server.url(), "ob:"), cache(&server.url(), "ob:"));
        b.set("page", &meta(&["posts"]), b"old").await.unwrap();
        a.get("page", &[]).await.unwrap();
        signal(&server, "-STOP");
        let made = shared_isr::core::clock::now_ms();
        let err = a.revalidate_tags(&["posts".into()], None).await.unwrap_err();
        assert!(err.is_connectivity(), "{err}");
        assert_eq!(a.stats().revalidations_pending, 1);
        tokio::time::sleep(Duration::from_millis(300)).await;
        signal(&server, "-CONT");
        let resumed = Instant::now();
        // No call from `a`: its own recovery records the revalidation.
        loop {
            if a.stats().revalidations_pending == 0 {
                break;
            }
            assert!(resumed.elapsed() < Duration::from_secs(3), "never recorded");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        eprintln!("recorded {} ms after Redis resumed", resumed.elapsed().as_millis());
        assert_eq!(a.stats().revalidations_late, 1);
        let (_, expired) = stamps(&server, "ob:", "posts");
        let expired = expired.expect("stamped");
        assert!((made..made + 300.0).contains(&expired), "recorded with the time it was made ({made}), not later: {expired}");
        // `b` failed during the stall too (its background check): it recovers by itself.
        let hit = loop {
            match b.get("page", &[]).await {
                Ok(hit) => break hit.unwrap(),
                Err(e) => assert!(resumed.elapsed() < Duration::from_secs(3), "b never recovered: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(hit.freshness, Freshness::Expired);
    });
}

/// A store that failed is probed in the background: the breaker closes within a few probe
/// periods of Redis coming back, without waiting for a call to get past the back-off.
#[test]
fn a_failed_store_learns_that_redis_is_back_without_a_call() {
    let mut server = Server::start();
    let port = server.port;
    rt().block_on(async {
        let c = cache(&server.url(), "rp:");
        c.set("k", &meta(&[]), b"v").await.unwrap();
        let _ = server.child.kill();
        let _ = server.child.wait();
        for _ in 0..3 {
            assert!(c.get("k", &[]).await.is_err());
        }
        assert!(c.stats().circuit_open);
        tokio::time::sleep(Duration::from_millis(1_500)).await; // past any back-off
        assert!(c.stats().circuit_open, "still failing while Redis is down");
        server.child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let up = Instant::now();
        while c.stats().circuit_open {
            assert!(up.elapsed() < Duration::from_secs(3), "the breaker never closed by itself");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        eprintln!("breaker closed {} ms after Redis accepted connections", up.elapsed().as_millis());
    });
}

#[test]
fn the_cdn_feed_hands_out_each_change_once_per_fleet_and_never_loses_one() {
    use shared_isr::core::CdnBatch;
    let server = Server::start();
    rt().block_on(async {
        let (a, b) = (cache(&server.url(), "cdn:"), cache(&server.url(), "cdn:"));
        let (fa, fb) = (a.redis().unwrap(), b.redis().unwrap());
        let some = |batch: CdnBatch| match batch {
            CdnBatch::Some { cursor, tags, paths, .. } => (cursor, tags, paths),
            other => panic!("expected a batch, got {other:?}"),
        };
        // The revalidation that comes before any deliverer (a new instance's first call) is
        // owed; history older than a minute is not.
        server.cmd(&[b"ZADD", b"cdn:{cdn:}:log", b"1000", b"ancient"]);
        b.revalidate_tags(&["first".into()], None).await.unwrap();
        let (cursor, tags, paths) = some(fa.cdn_take("A", 1000, 100, 10_000).await.unwrap());
        assert_eq!((tags, paths.len()), (vec!["first".to_string()], 0));
        assert!(fa.cdn_done("A", &cursor, None, &[]).await.unwrap());
        let (_, tags, paths) = some(fa.cdn_take("A", 1000, 100, 10_000).await.unwrap());
        assert!(tags.is_empty() && paths.is_empty());
        // Nothing owed keeps no lock: the next poll of another instance is not turned away.
        assert_ne!(fb.cdn_take("B", 1000, 100, 10_000).await.unwrap(), CdnBatch::Busy);

        b.revalidate_tags(&["posts".into(), "_N_T_/a".into()], None).await.unwrap();
        assert_eq!(fa.cdn_pending().await.unwrap(), (2, false));
        let CdnBatch::Some { backlog, .. } = fb.cdn_take("B", 1000, 100, 10_000).await.unwrap() else { panic!("expected a batch") };
        assert_eq!(backlog, 2, "a batch says how much was owed");
        let (cursor, mut tags, _) = some(fb.cdn_take("B", 1000, 100, 10_000).await.unwrap());
        tags.sort();
        assert_eq!(tags, ["_N_T_/a", "posts"]);
        // One deliverer at a time, fleet-wide.
        assert_eq!(fa.cdn_take("A", 1000, 100, 10_000).await.unwrap(), CdnBatch::Busy);
        // B dies without confirming: once its lock lapses, A gets the same batch.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (cursor_a, mut again, _) = some(fa.cdn_take("A", 1000, 100, 10_000).await.unwrap());
        again.sort();
        assert_eq!((again, &cursor_a), (tags, &cursor));
        assert!(!fb.cdn_done("B", &cursor, None, &[]).await.unwrap(), "a lapsed holder cannot confirm");
        assert!(fa.cdn_done("A", &cursor_a, None, &[]).await.unwrap());
        assert_eq!(fa.cdn_pending().await.unwrap(), (0, false));

        // Paths: deduplicated, and one enqueued again during delivery stays queued.
        assert!(fa.cdn_enqueue(&["_N_T_/p".into(), "_N_T_/q".into(), "_N_T_/p".into()], 10_000).await.unwrap());
        let (cursor, tags, paths) = some(fa.cdn_take("A", 1000, 100, 10_000).await.unwrap());
        assert!(tags.is_empty());
        assert_eq!(paths.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), ["_N_T_/p", "_N_T_/q"]);
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(fb.cdn_enqueue(&["_N_T_/q".into()], 10_000).await.unwrap());
        assert!(fa.cdn_done("A", &cursor, None, &paths).await.unwrap());
        let (cursor, _, paths) = some(fa.cdn_take("A", 1000, 100, 10_000).await.unwrap());
        assert_eq!(paths.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), ["_N_T_/q"]);
        assert!(fa.cdn_done("A", &cursor, None, &paths).await.unwrap());

        // A full batch never confirms past a revalidation it holds only in part (50 tags per
        // script run share an epoch): 120 tags come out whole over two batches.
        let many: Vec<String> = (0..120).map(|i| format!("t{i}")).collect();
        b.revalidate_tags(&many, None).await.unwrap();
        let mut seen = std::collections::BTreeSet::new();
        let mut batches = 0;
        loop {
            let (cursor, tags, _) = some(fa.cdn_take("A", 1000, 100, 10_000).await.unwrap());
            if tags.is_empty() {
                break;
            }
            assert!(tags.len() <= 100);
            seen.extend(tags);
            batches += 1;
            assert!(batches <= 3, "the feed must drain");
            assert!(fa.cdn_done("A", &cursor, None, &[]).await.unwrap());
        }
        assert_eq!(seen, many.iter().cloned().collect());
        assert_eq!(batches, 2);

        // Past its bound the backlog becomes one purge of everything.
        b.revalidate_tags(&["x1".into(), "x2".into(), "x3".into(), "x4".into()], None).await.unwrap();
        let CdnBatch::All { epoch, now } = fa.cdn_take("A", 1000, 100, 3).await.unwrap() else { panic!("expected a purge of everything") };
        assert!(fa.cdn_done("A", &epoch, Some(&now), &[]).await.unwrap());
        assert_eq!(fa.cdn_pending().await.unwrap(), (0, false));
        assert!(!fa.cdn_enqueue(&["_N_T_/1".into(), "_N_T_/2".into()], 1).await.unwrap(), "a full queue refuses");
        assert!(fa.cdn_pending().await.unwrap().1, "a purge of everything is owed");
        let CdnBatch::All { epoch, now } = fa.cdn_take("A", 1000, 100, 10_000).await.unwrap() else {
            panic!("the refusal is owed as a purge of everything")
        };
        assert!(fa.cdn_done("A", &epoch, Some(&now), &[]).await.unwrap());
        let (_, tags, paths) = some(fa.cdn_take("A", 1000, 100, 10_000).await.unwrap());
        assert!(tags.is_empty() && paths.is_empty());

        // A wiped store (epoch behind the cursor): what changed is unknown, so everything.
        server.cmd(&[b"FLUSHALL"]);
        b.revalidate_tags(&["after-wipe".into()], None).await.unwrap();
        server.cmd(&[b"SET", b"cdn:{cdn:}:cdn:cursor", b"99999999999999999"]);
        assert!(
            matches!(fa.cdn_take("B2", 1000, 100, 10_000).await.unwrap(), CdnBatch::All { .. }),
            "after a wipe the CDN is purged whole"
        );
    });
}

/// The ids of a fleet listing's summaries, in its order.
fn fleet_ids(instances: &[String]) -> Vec<String> {
    instances.iter().map(|s| serde_json::from_str::<serde_json::Value>(s).unwrap()["id"].as_str().unwrap().to_owned()).collect()
}

/// Each instance is alive by its own TTL: one beating fast never prunes one beating slowly;
/// an older version's entry (scored by its last heartbeat) is listed while its summary lives;
/// scores no TTL can give are never listed and get pruned; a leave is at once and final.
#[test]
fn fleet_liveness_is_each_instances_own() {
    let server = Server::start();
    let rt = rt();
    let c = cache(&server.url(), "fl:");
    let (index, summary) = ("fl:{fl:}:fleet", |id: &str| format!("fl:{{fl:}}:i:{id}"));
    let score = |id: &str| server.cmd(&[b"ZSCORE", index.as_bytes(), id.as_bytes()]);
    rt.block_on(async {
        let r = c.redis().unwrap();
        // slow: every 4 s (alive 12 s); fast: every 0.1 s (alive 1 s), 1.5 s of its heartbeats.
        r.heartbeat("slow", r#"{"id":"slow"}"#, 4000).await.unwrap();
        for _ in 0..15 {
            r.heartbeat("fast", r#"{"id":"fast"}"#, 100).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let l = r.fleet(100).await.unwrap();
        assert!(l.complete);
        assert_eq!(fleet_ids(&l.instances), ["fast", "slow"], "the fast one's pruning spared the slow one");

        // A version before deadlines: scored by its last heartbeat, 2 s ago; alive 10 s more.
        let now = l.now as i64;
        server.cmd(&[b"ZADD", index.as_bytes(), (now - 2000).to_string().as_bytes(), b"old"]);
        server.cmd(&[b"SET", summary("old").as_bytes(), br#"{"id":"old"}"#, b"PX", b"10000"]);
        r.heartbeat("fast", r#"{"id":"fast"}"#, 100).await.unwrap();
        assert_eq!(fleet_ids(&r.fleet(100).await.unwrap().instances), ["fast", "slow", "old"]);
        server.cmd(&[b"DEL", summary("old").as_bytes()]);
        r.heartbeat("fast", r#"{"id":"fast"}"#, 100).await.unwrap();
        assert_eq!(score("old"), redis::Value::Nil, "pruned once its summary is gone");

        // Garbage far ahead, with a summary: not listed, and pruned.
        server.cmd(&[b"ZADD", index.as_bytes(), (now + 10_000_000_000).to_string().as_bytes(), b"junk"]);
        server.cmd(&[b"SET", summary("junk").as_bytes(), br#"{"id":"junk"}"#]);
        assert_eq!(fleet_ids(&r.fleet(100).await.unwrap().instances), ["fast", "slow"]);
        r.heartbeat("fast", r#"{"id":"fast"}"#, 100).await.unwrap();
        assert_eq!(score("junk"), redis::Value::Nil, "pruned by a heartbeat");

        // The listing's limit: more candidates than it examines → not complete; the instance
        // whose deadline is nearest still comes first, ahead of entries parked an hour ahead.
        for g in ["g1", "g2", "g3"] {
            server.cmd(&[b"ZADD", index.as_bytes(), (now + 3_600_000).to_string().as_bytes(), g.as_bytes()]);
        }
        let cut = r.fleet(3).await.unwrap();
        assert!(!cut.complete);
        assert_eq!(fleet_ids(&cut.instances), ["fast", "slow"]);
        assert!(r.fleet(5).await.unwrap().complete);

        // Leaving: gone at once; a heartbeat sent before the leave but landing after it does
        // not bring the instance back.
        r.leave("slow", 4000, true).await.unwrap();
        r.heartbeat("slow", r#"{"id":"slow"}"#, 4000).await.unwrap();
        assert_eq!(fleet_ids(&r.fleet(100).await.unwrap().instances), ["fast"]);
        assert_eq!(score("slow"), redis::Value::Nil);
    });
    // Blocking, as at process exit (no runtime on this thread); with no heartbeat in flight it
    // leaves nothing behind.
    assert!(c.redis().unwrap().leave_blocking("fast", 100, false, Duration::from_secs(2)).unwrap());
    assert!(rt.block_on(c.redis().unwrap().fleet(100)).unwrap().instances.is_empty());
    assert_eq!(server.cmd(&[b"EXISTS", summary("fast").as_bytes()]), redis::Value::Int(0));
}

#[test]
fn a_lease_taken_after_the_entry_read_was_replaced_is_given_back_as_newer() {
    // The race: a waiter reads the old entry and judges it expired; the holder stores its
    // render and releases its lease; only then does the waiter's take land. It must not become
    // a second holder: it is told the entry is newer than what it read, and holds nothing.
    let server = Server::start();
    rt().block_on(async {
        use shared_isr::core::Lease;
        let (holder, waiter) = (cache(&server.url(), "tl:"), cache(&server.url(), "tl:"));
        holder.set("k", &meta(&["t"]), b"o1").await.unwrap();
        let read = waiter.get("k", &[]).await.unwrap().unwrap().meta.write_id;
        let took = holder.lease("k", "h:1", "h:", 10_000, false, Some(read)).await.unwrap();
        assert_eq!(took, Lease::Held);
        match waiter.lease("k", "w:1", "w:", 10_000, false, Some(read)).await.unwrap() {
            Lease::Busy { left_ms } => assert!(left_ms > 9_000 && left_ms <= 10_000, "left {left_ms}"),
            other => panic!("busy expected, got {other:?}"),
        }
        holder.set("k", &meta(&["t"]), b"o2").await.unwrap();
        assert!(holder.release("k", "h:").await.unwrap());
        // The late take: free lease, but the entry is no longer the one read.
        assert_eq!(waiter.lease("k", "w:2", "w:", 10_000, false, Some(read)).await.unwrap(), Lease::Newer);
        assert_eq!(server.cmd(&[b"EXISTS", b"tl:l:k"]), redis::Value::Int(0), "nothing is held");
        // A takeover is checked the same way; with the write id now stored, the take holds.
        assert_eq!(waiter.lease("k", "w:3", "w:", 10_000, true, Some(read)).await.unwrap(), Lease::Newer);
        let now = waiter.get("k", &[]).await.unwrap().unwrap().meta.write_id;
        assert_eq!(waiter.lease("k", "w:4", "w:", 10_000, false, Some(now)).await.unwrap(), Lease::Held);
        // Gone entries count as replaced too.
        server.cmd(&[b"DEL", b"tl:e:k"]);
        assert!(waiter.release("k", "w:").await.unwrap());
        assert_eq!(waiter.lease("k", "w:5", "w:", 10_000, false, Some(now)).await.unwrap(), Lease::Newer);
    });
}

#[test]
fn leases_held_at_exit_are_released_by_the_blocking_call() {
    let server = Server::start();
    let c = cache(&server.url(), "tx:");
    let rt = rt(); // kept: the store's connection lives on it, as on the addon's I/O thread
    rt.block_on(async {
        for k in ["a", "b"] {
            assert_eq!(c.lease(k, "me:1", "me:", 10_000, false, None).await.unwrap(), shared_isr::core::Lease::Held);
        }
        let other = cache(&server.url(), "tx:");
        assert_eq!(other.lease("c", "them:1", "them:", 10_000, false, None).await.unwrap(), shared_isr::core::Lease::Held);
    });
    // Called from outside the runtime, as at process exit (the store's runtime runs it).
    assert!(c.release_blocking(&["a".into(), "b".into(), "c".into()], "me:", Duration::from_secs(2)));
    assert_eq!(server.cmd(&[b"EXISTS", b"tx:l:a", b"tx:l:b"]), redis::Value::Int(0));
    assert_eq!(server.cmd(&[b"EXISTS", b"tx:l:c"]), redis::Value::Int(1), "another process's lease is kept");
}
