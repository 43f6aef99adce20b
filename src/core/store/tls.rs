//! The TLS material named in the configuration (CA, client certificate and key), read from
//! PEM files for redis-rs.

use crate::core::config::Config;
use crate::core::error::{Error, Result};

/// Reads the configured PEM files (once, when the store is created). Errors name the setting
/// and the path, never the contents.
pub(super) fn tls_certificates(config: &Config) -> Result<Option<redis::TlsCertificates>> {
    if config.tls_ca_file.is_none() && config.tls_cert_file.is_none() {
        return Ok(None);
    }
    let read = |what: &str, path: &str| read_pem(path).map_err(|e| Error::Config(format!("{what} {path:?}: {e}")));
    let root_cert = config.tls_ca_file.as_deref().map(|p| read("tlsCaFile", p)).transpose()?;
    let client_tls = match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(cert), Some(key)) => {
            Some(redis::ClientTlsConfig { client_cert: read("tlsCertFile", cert)?, client_key: read("tlsKeyFile", key)? })
        }
        _ => None,
    };
    Ok(Some(redis::TlsCertificates { client_tls, root_cert }))
}

/// PEM files are a few KB: anything larger is not one.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// Reads a regular file of at most `MAX_PEM_BYTES`: a FIFO would hang start-up and
/// `/dev/zero` would allocate until the process is killed.
fn read_pem(path: &str) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    // Checked before opening: opening a FIFO for reading blocks until a writer comes.
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let file = std::fs::File::open(path)?;
    let mut out = Vec::with_capacity(meta.len().min(MAX_PEM_BYTES) as usize);
    file.take(MAX_PEM_BYTES + 1).read_to_end(&mut out)?;
    if out.len() as u64 > MAX_PEM_BYTES {
        return Err(std::io::Error::other(format!("larger than {MAX_PEM_BYTES} bytes")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::read_pem;

    #[test]
    fn only_small_regular_files_are_read() {
        assert!(read_pem("/dev/zero").unwrap_err().to_string().contains("not a regular file"));
        let dir = std::env::temp_dir().join(format!("shared-isr-pem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big.pem");
        std::fs::write(&big, vec![b'a'; (2 << 20) as usize]).unwrap();
        assert!(read_pem(big.to_str().unwrap()).unwrap_err().to_string().contains("larger"));
        let ok = dir.join("ok.pem");
        std::fs::write(&ok, b"-----BEGIN CERTIFICATE-----").unwrap();
        assert_eq!(read_pem(ok.to_str().unwrap()).unwrap().len(), 27);
        let fifo = dir.join("fifo");
        if std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
            assert!(read_pem(fifo.to_str().unwrap()).is_err(), "a FIFO is refused, not waited on");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
