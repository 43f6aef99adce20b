//! A Redis URL as text, in every form `store::topology` accepts (`redis://`, `rediss://`,
//! `unix://`, `redis+cluster://`, `redis+sentinel://`, host lists, userinfo, query options): how
//! it splits, and where its secrets are. The parser reads a URL through [`split`] and
//! [`param`], and whatever shows a URL (logs, printed configs, the check of what next.config
//! may write into the build output) asks [`redact_url`], so what is read as a password and what
//! is hidden are found by one grammar.
//!
//! Messages: Rust never puts a URL into a message (a bad URL is described, never quoted), so no
//! message of ours carries one; [`redact_text`] is the net for text written by others (redis-rs
//! errors, anything JS prints), where a URL may sit amid words.

use percent_encoding::percent_decode_str;

/// What replaces a secret.
const HIDDEN: &str = "***";

/// `scheme://[userinfo@]hosts[/path][?query][#fragment]`.
#[derive(Debug, PartialEq)]
pub struct Parts<'a> {
    pub scheme: &'a str,
    pub userinfo: Option<&'a str>,
    /// One `host[:port]`, or a comma-separated list of them.
    pub hosts: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub fragment: Option<&'a str>,
}

/// Cuts `url` where WHATWG cuts a URL whose scheme is not special (which the `url` crate, hence
/// redis-rs, does for `redis://`): the fragment from the first `#`, the query from the first
/// `?` before it, the path from the first `/` before that; the userinfo is the authority
/// before its last `@`, so a password may hold `@`, `:` and spaces. Host lists are cut the same
/// way. `None` without `://`.
pub fn split(url: &str) -> Option<Parts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let (rest, fragment) = rest.split_once('#').map_or((rest, None), |(a, b)| (a, Some(b)));
    let (rest, query) = rest.split_once('?').map_or((rest, None), |(a, b)| (a, Some(b)));
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (userinfo, hosts) = authority.rsplit_once('@').map_or((None, authority), |(u, h)| (Some(u), h));
    Some(Parts { scheme, userinfo, hosts, path, query, fragment })
}

/// Percent-decoding of one URL component, by bytes: an escape that is not one (`%` before a
/// sign, a multi-byte character or the end) is kept as written.
fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The value of the query parameter `name` (names and values percent-decoded).
pub fn param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| decode(k) == name).map(|(_, v)| decode(v))
}

/// Query parameters that carry a password: `sentinelPassword` (the sentinels', read by
/// `topology`), `pass` (a `unix://` socket's, read by redis-rs), and any other name ending in
/// `password`: whatever reads it, a value so named is meant to stay secret. Names compared
/// decoded and without case, so no spelling a parser would read escapes.
fn is_secret_param(name: &str) -> bool {
    let name = decode(name).to_ascii_lowercase();
    name == "pass" || name.ends_with("password")
}

/// A userinfo holds a password when something follows its first `:` (redis-rs reads an empty
/// one as none). The user name alone is not a secret.
fn holds_password(userinfo: &str) -> bool {
    userinfo.split_once(':').is_some_and(|(_, pw)| !pw.is_empty())
}

/// What may be shown of a Redis URL.
#[derive(Debug, PartialEq)]
pub struct Shown {
    /// The URL with every secret replaced by `***`: the whole userinfo when it holds a password
    /// (`redis://***@host:6379`: the user goes with it), and the value of each password
    /// parameter. Everything else as written.
    pub text: String,
    /// Whether the URL held a secret.
    pub secret: bool,
}

/// `url` (the whole text is one URL, as a setting is) as it may be shown.
pub fn redact_url(url: &str) -> Shown {
    redact_parts(url).0
}

/// [`redact_url`], and whether the text ends inside a password parameter's value (free text
/// cannot tell where such a value ends).
fn redact_parts(url: &str) -> (Shown, bool) {
    let Some(p) = split(url) else { return (Shown { text: url.to_owned(), secret: false }, false) };
    let mut secret = false;
    let mut text = String::with_capacity(url.len());
    text.push_str(p.scheme);
    text.push_str("://");
    if let Some(userinfo) = p.userinfo {
        let hide = holds_password(userinfo);
        secret |= hide;
        text.push_str(if hide { HIDDEN } else { userinfo });
        text.push('@');
    }
    text.push_str(p.hosts);
    text.push_str(p.path);
    let mut open = false;
    if let Some(query) = p.query {
        text.push('?');
        for (i, kv) in query.split('&').enumerate() {
            if i > 0 {
                text.push('&');
            }
            open = false;
            match kv.split_once('=') {
                Some((k, v)) if is_secret_param(k) => {
                    secret |= !v.is_empty();
                    open = true;
                    text.push_str(k);
                    text.push('=');
                    text.push_str(if v.is_empty() { "" } else { HIDDEN });
                }
                _ => text.push_str(kv),
            }
        }
    }
    if let Some(fragment) = p.fragment {
        open = false;
        text.push('#');
        text.push_str(fragment);
    }
    (Shown { text, secret }, open)
}

/// `text` with the secrets of every URL in it hidden, for text written by others. Where a URL
/// ends amid words cannot be known (a password may hold spaces: `redis://:my secret pw@host`
/// connects), so each is taken to run as far as it can: from its scheme to the next URL or the
/// end of its line. A space cannot then cut a password short, and at worst words after a URL are
/// hidden with it. A password parameter's value may even hold the next `://`: when a value
/// reaches the next URL, the rest of the line is dropped.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let starts = url_starts(body);
        out.push_str(&body[..starts.first().copied().unwrap_or(body.len())]);
        for (i, &start) in starts.iter().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(body.len());
            let (shown, open) = redact_parts(&body[start..end]);
            out.push_str(&shown.text);
            if open {
                // The value runs on past the next `://`: hidden to the end of the line.
                if end < body.len() && !shown.text.ends_with(HIDDEN) {
                    out.push_str(HIDDEN);
                }
                break;
            }
        }
        out.push_str(&line[body.len()..]);
    }
    out
}

/// Where each URL of `line` starts: the scheme before each `://` (letters, digits, `+`, `-`, `.`).
fn url_starts(line: &str) -> Vec<usize> {
    let is_scheme = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.');
    let bytes = line.as_bytes();
    let mut starts = Vec::new();
    let mut from = 0;
    while let Some(i) = line[from..].find("://").map(|i| from + i) {
        let mut s = i;
        while s > from && is_scheme(bytes[s - 1]) {
            s -= 1;
        }
        starts.push(s);
        from = i + 3;
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that `url` is shown as `shown`, holds a secret or not, and that no word of
    /// `secret` (split on spaces) survives.
    fn shown(url: &str, expected: &str, secret: Option<&str>) {
        let s = redact_url(url);
        assert_eq!(s.text, expected, "{url}");
        assert_eq!(s.secret, secret.is_some(), "{url}");
        for word in secret.unwrap_or("").split(' ').filter(|w| !w.is_empty()) {
            assert!(!s.text.contains(word), "{url}: {word} shown in {}", s.text);
        }
    }

    #[test]
    fn every_form_holding_a_password_is_shown_without_it() {
        shown("redis://u:secret@host:6379/0", "redis://***@host:6379/0", Some("secret"));
        shown("redis://:secret@host", "redis://***@host", Some("secret"));
        shown("rediss://app:s%40cr%3At@cache:6380/2#insecure", "rediss://***@cache:6380/2#insecure", Some("s%40cr%3At"));
        // Spaces are accepted (percent-encoded by `url`) and connect: every word hidden.
        shown("redis://:my secret pw@host", "redis://***@host", Some("my secret pw"));
        // `@` and `:` in a password: the userinfo ends at the last `@`.
        shown("redis://u:p@ss:w@rd@host:1", "redis://***@host:1", Some("p@ss:w@rd"));
        // Cluster: userinfo on the first host or on a later one.
        shown("redis+cluster://u:pw@h1:7000,h2:7001", "redis+cluster://***@h1:7000,h2:7001", Some("pw"));
        shown("redis+cluster://h1:7000,u:pw@h2:7001", "redis+cluster://***@h2:7001", Some("pw"));
        shown("rediss+cluster://a:b7@h1,c:d7@h2", "rediss+cluster://***@h2", Some("b7 d7"));
        // Sentinel: the data nodes' credentials and the sentinels' password.
        shown(
            "rediss+sentinel://s1:26379,s2:26379/m?sentinelUsername=adm&sentinelPassword=s3cr%C3%A9t",
            "rediss+sentinel://s1:26379,s2:26379/m?sentinelUsername=adm&sentinelPassword=***",
            Some("s3cr%C3%A9t"),
        );
        shown("redis+sentinel://s1:26379/m?sentinelPassword=secret", "redis+sentinel://s1:26379/m?sentinelPassword=***", Some("secret"));
        shown(
            "redis+sentinel://s1:26379/m/2?sentinelPassword=two words&x=1",
            "redis+sentinel://s1:26379/m/2?sentinelPassword=***&x=1",
            Some("two words"),
        );
        shown(
            "redis+sentinel://u:pw@s1:26379/m?sentinelPassword=x%26y#insecure",
            "redis+sentinel://***@s1:26379/m?sentinelPassword=***#insecure",
            Some("pw x%26y"),
        );
        // A name spelled with escapes or in another case is still a password parameter.
        shown("redis+sentinel://s/m?sentinel%50assword=abc", "redis+sentinel://s/m?sentinel%50assword=***", Some("abc"));
        shown("redis+sentinel://s/m?SENTINELPASSWORD=abc", "redis+sentinel://s/m?SENTINELPASSWORD=***", Some("abc"));
        // Unix sockets: redis-rs reads `pass`.
        shown("unix:///run/redis.sock?db=1&pass=secret&user=u", "unix:///run/redis.sock?db=1&pass=***&user=u", Some("secret"));
        shown("redis+unix:///run/redis.sock?pa%73s=secret", "redis+unix:///run/redis.sock?pa%73s=***", Some("secret"));
        shown("rediss://h:1/?password=x", "rediss://h:1/?password=***", Some("x"));
    }

    #[test]
    fn urls_without_a_password_are_shown_as_written() {
        for url in [
            "redis://127.0.0.1:6379",
            "rediss://app@cache:6380/2",
            "redis://u:@h",
            "redis+cluster://h1:7000,h2:7001",
            "redis+sentinel://s1:26379,s2:26379/m?sentinelUsername=adm",
            "redis+sentinel://s1/m?sentinelPassword=",
            "unix:///run/redis.sock?db=2",
            "redis://h/?protocol=resp3#frag",
            "not a url",
        ] {
            shown(url, url, None);
        }
    }

    #[test]
    fn urls_split_as_whatwg_splits_them() {
        let p = split("redis+sentinel://u:p@w@a:1,b:2/m/1?x=1&y#f?g").unwrap();
        assert_eq!(
            p,
            Parts {
                scheme: "redis+sentinel",
                userinfo: Some("u:p@w"),
                hosts: "a:1,b:2",
                path: "/m/1",
                query: Some("x=1&y"),
                fragment: Some("f?g")
            }
        );
        // A `#` or `?` ends the authority: what follows is no userinfo (and redis-rs refuses it).
        assert_eq!(split("redis://:pa#ss@h").unwrap().userinfo, None);
        assert_eq!(split("redis://h").unwrap().query, None);
        assert!(split("redis:h").is_none());
    }

    #[test]
    fn query_values_are_percent_decoded_by_bytes() {
        assert_eq!(param(Some("a=1&sentinelPassword=x%26y%3d"), "sentinelPassword").as_deref(), Some("x&y="));
        assert_eq!(param(Some("sentinel%50assword=caf%C3%A9"), "sentinelPassword").as_deref(), Some("café"));
        assert_eq!(param(Some("a=1"), "b"), None);
        assert_eq!(param(None, "b"), None);
        // A `%` before a multi-byte character, a sign, or the end: kept as written, no panic.
        for s in ["%aé", "%é1", "%+5", "50%", "%4", "100%"] {
            assert_eq!(decode(s), s);
        }
    }

    #[test]
    fn free_text_hides_each_url_secret_even_with_spaces() {
        let cases = [
            ("failed to connect redis://u:secret@host:6379/0 now", "failed to connect redis://***@host:6379/0 now", "secret"),
            ("at redis://:my secret pw@host: refused", "at redis://***@host: refused", "my secret pw"),
            (
                "redis+sentinel://a:26379/m?sentinelPassword=s3cr%C3%A9t&db=2 failed",
                "redis+sentinel://a:26379/m?sentinelPassword=***&db=2 failed",
                "s3cr%C3%A9t",
            ),
            // A value with spaces runs to the end of its line: every word hidden.
            (
                "sentinel redis+sentinel://s/m?sentinelPassword=two words\nnext",
                "sentinel redis+sentinel://s/m?sentinelPassword=***\nnext",
                "two words",
            ),
            // Two URLs on a line: each its own.
            ("redis://a:1 then redis://u:pw@b:2 down", "redis://a:1 then redis://***@b:2 down", "pw"),
            ("rediss://h:1/?password=x", "rediss://h:1/?password=***", "x"),
            // A value holding `://`: the rest of the line goes.
            ("x redis+sentinel://s/m?sentinelPassword=q9://zz@kk d\ny", "x redis+sentinel://s/m?sentinelPassword=***\ny", "q9 zz kk"),
            ("plain message, é", "plain message, é", ""),
        ];
        for (text, expected, secret) in cases {
            let out = redact_text(text);
            assert_eq!(out, expected, "{text}");
            for word in secret.split(' ').filter(|w| !w.is_empty()) {
                assert!(!out.contains(word), "{text}: {word} in {out}");
            }
        }
    }

    #[test]
    fn redacts_query_passwords_and_keeps_the_rest() {
        assert_eq!(
            redact_text("redis+sentinel://a:26379/m?sentinelPassword=s3cr%C3%A9t&db=2 failed"),
            "redis+sentinel://a:26379/m?sentinelPassword=***&db=2 failed"
        );
        assert_eq!(redact_text("rediss://u:p@h:1/?password=x"), "rediss://***@h:1/?password=***");
        assert_eq!(redact_text("no secrets here, é"), "no secrets here, é");
    }

    #[test]
    fn redacts_credentials() {
        assert_eq!(redact_text("failed to connect redis://u:secret@host:6379/0 now"), "failed to connect redis://***@host:6379/0 now");
        assert_eq!(redact_text("plain message"), "plain message");
    }
}
