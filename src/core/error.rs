//! Errors with stable codes: the code is what reaches JS as `err.code`.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Bad configuration (URL, prefix, sizes). Thrown synchronously at construction.
    Config(String),
    /// Redis could not be reached, or the circuit breaker is open after recent failures.
    Unavailable(String),
    /// Redis did not answer within the operation timeout.
    Timeout { op: &'static str, ms: u64 },
    /// Redis answered with an error (ACL denied, OOM, wrong type...).
    Redis(String),
    /// A value larger than `maxValueBytes`, or a tag list the envelope cannot hold.
    TooLarge { what: &'static str, size: usize, max: usize },
    /// Bytes under our key that are not a valid shared-isr envelope.
    Corrupt(String),
    /// The cache was closed.
    Closed,
}

pub type Result<T> = std::result::Result<T, Error>;

/// How far a failure reaches, by its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Redis cannot be reached or does not answer: the breaker opens, a revalidation is kept.
    Connectivity,
    /// Redis answers, with an error: the store itself is unwell (one log line per outage).
    Store,
    /// About one call and one key (a value too large, a corrupt entry, a bad setting, closed).
    Call,
}

impl Reach {
    /// As JS names it.
    pub fn name(self) -> &'static str {
        match self {
            Reach::Connectivity => "connectivity",
            Reach::Store => "store",
            Reach::Call => "call",
        }
    }
}

/// Every code with its reach: the one list JS builds its sets from (`constants()`).
pub const CODES: [(&str, Reach); 7] = [
    ("ERR_SHARED_ISR_CONFIG", Reach::Call),
    ("ERR_SHARED_ISR_UNAVAILABLE", Reach::Connectivity),
    ("ERR_SHARED_ISR_TIMEOUT", Reach::Connectivity),
    ("ERR_SHARED_ISR_REDIS", Reach::Store),
    ("ERR_SHARED_ISR_TOO_LARGE", Reach::Call),
    ("ERR_SHARED_ISR_CORRUPT", Reach::Call),
    ("ERR_SHARED_ISR_CLOSED", Reach::Call),
];

impl Error {
    /// Stable, documented code (also listed in README and index.d.ts), from [`CODES`].
    pub fn code(&self) -> &'static str {
        CODES[self.index()].0
    }

    /// How far this failure reaches (see [`Reach`]).
    pub fn reach(&self) -> Reach {
        CODES[self.index()].1
    }

    /// This variant's row in [`CODES`].
    fn index(&self) -> usize {
        match self {
            Error::Config(_) => 0,
            Error::Unavailable(_) => 1,
            Error::Timeout { .. } => 2,
            Error::Redis(_) => 3,
            Error::TooLarge { .. } => 4,
            Error::Corrupt(_) => 5,
            Error::Closed => 6,
        }
    }

    /// The message without the category prefix that `Display` adds.
    pub fn detail(&self) -> String {
        match self {
            Error::Config(m) | Error::Unavailable(m) | Error::Redis(m) | Error::Corrupt(m) => m.clone(),
            other => other.to_string(),
        }
    }

    /// Errors that say Redis cannot be reached (they open the circuit breaker).
    pub fn is_connectivity(&self) -> bool {
        self.reach() == Reach::Connectivity
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(m) => write!(f, "invalid configuration: {m}"),
            Error::Unavailable(m) => write!(f, "redis unavailable: {m}"),
            Error::Timeout { op, ms } => write!(f, "redis {op} timed out after {ms} ms"),
            Error::Redis(m) => write!(f, "redis error: {m}"),
            Error::TooLarge { what, size, max } => {
                write!(f, "{what} is {size} bytes, over the limit of {max} bytes")
            }
            Error::Corrupt(m) => write!(f, "corrupt cache entry: {m}"),
            Error::Closed => write!(f, "cache is closed"),
        }
    }
}

impl std::error::Error for Error {}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        // Never echo the URL: redis-rs errors can carry connection details.
        let msg = crate::core::redis_url::redact_text(&e.to_string());
        if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() || e.is_timeout() {
            Error::Unavailable(msg)
        } else {
            Error::Redis(msg)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(Error::Closed.code(), "ERR_SHARED_ISR_CLOSED");
        assert_eq!(Error::Timeout { op: "get", ms: 5 }.code(), "ERR_SHARED_ISR_TIMEOUT");
        assert!(Error::Unavailable("x".into()).is_connectivity());
        assert!(!Error::Corrupt("x".into()).is_connectivity());
        assert_eq!(Error::Redis("x".into()).reach(), Reach::Store);
        assert_eq!(Error::Config("x".into()).code(), "ERR_SHARED_ISR_CONFIG");
        assert_eq!(Error::Corrupt("x".into()).code(), "ERR_SHARED_ISR_CORRUPT");
        assert_eq!(Error::TooLarge { what: "value", size: 2, max: 1 }.code(), "ERR_SHARED_ISR_TOO_LARGE");
        assert_eq!(Error::Unavailable("x".into()).code(), "ERR_SHARED_ISR_UNAVAILABLE");
        assert_eq!(Error::Redis("x".into()).code(), "ERR_SHARED_ISR_REDIS");
    }
}
