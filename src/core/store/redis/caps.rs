//! What the server lets this user do, learnt once per connection when it is made (a few
//! commands, never on the request path), and what the store does without it:
//! - `CLIENT TRACKING` refused (an ACL without `+client|tracking`, a service that does not
//!   offer it): reads and writes go without the tracking commands, and no L1 copy is kept, as
//!   none could be validated; every hit reads Redis. Optional: the cache works.
//! - Scripting refused (`EVALSHA`, `SCRIPT LOAD`): the tag manifest lives in scripts, so no
//!   entry can be judged and nothing is cached. Essential: said loudly, with the fix.
//!
//! The wording of both, and the ACL change that fixes them, are written here once; JS logs
//! them, `doctor` prints them.

use crate::core::store::topology::Conn;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo};
use redis::{Script, Value};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

// 0: unknown (not probed yet, or the probe was inconclusive).
const YES: u8 = 1;
const NO: u8 = 2;

/// What a probe of one capability found.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Found {
    Allowed,
    /// Refused by the server: NOPERM, or an unknown command or subcommand (the reply, redacted).
    Refused(String),
    /// Any other reply (busy, loading...): asked again on the next connection.
    Unknown,
}

/// Learnt capabilities: unknown until the first connection answered.
#[derive(Default)]
pub(super) struct Caps {
    tracking: AtomicU8,
    scripting: AtomicU8,
    /// The server's reply when refused (for the message).
    tracking_reply: Mutex<String>,
    scripting_reply: Mutex<String>,
}

/// What JS reads: `None` while unknown; the message only when refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Capabilities {
    pub tracking: Option<bool>,
    pub scripting: Option<bool>,
    pub tracking_note: Option<String>,
    pub scripting_note: Option<String>,
}

/// The message when `CLIENT TRACKING` is refused (logged once at start-up, printed by doctor).
pub fn tracking_note(reply: &str) -> String {
    format!(
        "CLIENT TRACKING is not allowed for this user/service ({reply}): the local copy (L1) is off; every hit reads Redis. \
         Grant +client|tracking to the Redis user (ACL SETUSER <user> +client|tracking) to turn it on."
    )
}

/// The message when scripting is refused: nothing can be cached.
pub fn scripting_note(reply: &str) -> String {
    format!(
        "Lua scripting is not allowed for this user/service ({reply}): shared-isr keeps its tag state in scripts, so NOTHING \
         IS CACHED and every request renders. Grant it to the Redis user: ACL SETUSER <user> +@scripting \
         (or at least +evalsha +eval +script|load)."
    )
}

fn flag(v: &AtomicU8) -> Option<bool> {
    match v.load(Ordering::Acquire) {
        YES => Some(true),
        NO => Some(false),
        _ => None,
    }
}

impl Caps {
    /// False only once the server refused it (unknown counts as allowed: the tracked
    /// pipelines then say so themselves).
    pub(super) fn tracking_refused(&self) -> bool {
        self.tracking.load(Ordering::Acquire) == NO
    }

    pub(super) fn scripting_refused(&self) -> bool {
        self.scripting.load(Ordering::Acquire) == NO
    }

    fn note(state: &AtomicU8, reply: &Mutex<String>, found: Found) {
        match found {
            Found::Allowed => state.store(YES, Ordering::Release),
            Found::Refused(r) => {
                *reply.lock().unwrap_or_else(|p| p.into_inner()) = r;
                state.store(NO, Ordering::Release);
            }
            Found::Unknown => {}
        }
    }

    pub(super) fn note_tracking(&self, found: Found) {
        Self::note(&self.tracking, &self.tracking_reply, found);
    }

    pub(super) fn note_scripting(&self, found: Found) {
        Self::note(&self.scripting, &self.scripting_reply, found);
    }

    pub(super) fn get(&self) -> Capabilities {
        let reply = |m: &Mutex<String>| m.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let tracking = flag(&self.tracking);
        let scripting = flag(&self.scripting);
        Capabilities {
            tracking,
            scripting,
            tracking_note: (tracking == Some(false)).then(|| tracking_note(&reply(&self.tracking_reply))),
            scripting_note: (scripting == Some(false)).then(|| scripting_note(&reply(&self.scripting_reply))),
        }
    }
}

/// Whether `e` says the server refuses the command (as opposed to failing to run it).
pub(super) fn refusal(e: &redis::RedisError) -> Option<String> {
    let text = crate::core::redis_url::redact_text(&e.to_string());
    let lower = text.to_ascii_lowercase();
    let refused = matches!(e.kind(), redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm))
        || lower.contains("noperm")
        || lower.contains("unknown command")
        || lower.contains("unknown subcommand");
    refused.then_some(text)
}

/// Runs `cmd` on the server, or on every primary of a Cluster (ACLs and the commands a
/// service offers are per node); a refusal on any of them is a refusal.
async fn everywhere(conn: &mut Conn, cmd: redis::Cmd) -> redis::RedisResult<()> {
    match conn {
        Conn::Single(c) => cmd.query_async::<Value>(c).await.map(|_| ()),
        Conn::Cluster(c) => {
            let reply = c.route_command(cmd, RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None))).await?;
            let errors: Vec<redis::RedisError> = match reply {
                Value::Map(nodes) => {
                    nodes.into_iter().filter_map(|(_, v)| if let Value::ServerError(e) = v { Some(e.into()) } else { None }).collect()
                }
                Value::ServerError(e) => vec![e.into()],
                _ => Vec::new(),
            };
            errors.into_iter().next().map_or(Ok(()), Err)
        }
    }
}

fn classify(r: redis::RedisResult<()>) -> redis::RedisResult<Found> {
    match r {
        Ok(()) => Ok(Found::Allowed),
        Err(e) if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() || e.is_timeout() => Err(e),
        Err(e) => Ok(refusal(&e).map_or(Found::Unknown, Found::Refused)),
    }
}

/// A script that touches no key: what `SCRIPT LOAD` and `EVALSHA` (how redis-rs runs every
/// script) are probed with.
const PROBE_SCRIPT: &str = "return 1";

/// Probes a new connection. `arm`: the L1 is on, so tracking is switched on (what every tracked
/// pipeline re-sends anyway); otherwise it is switched off, which changes nothing but is
/// refused the same way. A connectivity failure is the connection's failure.
pub(super) async fn probe(conn: &mut Conn, arm: bool) -> redis::RedisResult<(Found, Found)> {
    let mut tracking = redis::cmd("CLIENT");
    tracking.arg("TRACKING");
    if arm {
        tracking.arg("ON").arg("NOLOOP");
    } else {
        tracking.arg("OFF");
    }
    let tracking = classify(everywhere(conn, tracking).await)?;
    let mut load = redis::cmd("SCRIPT");
    load.arg("LOAD").arg(PROBE_SCRIPT);
    let mut scripting = classify(everywhere(conn, load).await)?;
    if scripting == Found::Allowed {
        let mut eval = redis::cmd("EVALSHA");
        eval.arg(Script::new(PROBE_SCRIPT).get_hash()).arg(0);
        scripting = classify(everywhere(conn, eval).await)?;
    }
    Ok((tracking, scripting))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_told_from_failures() {
        let noperm = redis::RedisError::from((
            redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm),
            "no permission",
            "User u has no permissions to run the 'client|tracking' command".to_owned(),
        ));
        assert!(refusal(&noperm).is_some());
        let unknown = redis::RedisError::from((
            redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError),
            "ERR",
            "unknown command 'EVALSHA'".to_owned(),
        ));
        assert!(refusal(&unknown).is_some());
        let busy =
            redis::RedisError::from((redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError), "BUSY", "script running".to_owned()));
        assert_eq!(refusal(&busy), None);
    }

    #[test]
    fn unknown_until_probed_then_the_note_names_the_fix() {
        let c = Caps::default();
        assert_eq!(c.get(), Capabilities { tracking: None, scripting: None, tracking_note: None, scripting_note: None });
        c.note_tracking(Found::Refused("NOPERM x".into()));
        c.note_scripting(Found::Allowed);
        let got = c.get();
        assert_eq!((got.tracking, got.scripting), (Some(false), Some(true)));
        assert!(got.tracking_note.unwrap().contains("+client|tracking"));
        assert!(c.tracking_refused() && !c.scripting_refused());
        c.note_scripting(Found::Refused("NOPERM y".into()));
        assert!(c.get().scripting_note.unwrap().contains("+@scripting"));
    }
}
