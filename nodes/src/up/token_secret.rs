//! The customer-token secret of `kukka up`'s edges: 256 random bits (64
//! hex digits), made on the first `kukka up` in a data dir and kept in
//! `<dir>/token-secret` (mode 0600), so customer tokens survive every
//! restart of the system, as the Redis password does ([`super::redis`]).
//! `KUKKA_TOKEN_SECRET` overrides it. The edges get it in their
//! environment, never on a command line; it is never logged.

use std::{
    io::{self, Read},
    os::unix::fs::PermissionsExt,
    path::Path,
};

use anyhow::Context;

use super::redis::write_private;

/// Random bytes in a secret.
const SECRET_BYTES: usize = 32;

/// The token secret of data dir `data_dir`, made on first use.
pub fn token_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("token-secret");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let secret = text.trim().to_string();
            if secret.len() < 2 * 16 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
                anyhow::bail!(
                    "{} does not hold a kukka token secret (at least 32 hex digits); remove it to make a new one (every customer token then stops working)",
                    path.display()
                );
            }
            let mode = std::fs::metadata(&path)?.permissions().mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
                tracing::warn!(file = %path.display(), "the token secret file was readable by others; made it 0600");
            }
            Ok(secret)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut bytes = [0u8; SECRET_BYTES];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut bytes))
                .context("cannot read /dev/urandom for the token secret")?;
            let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            write_private(&path, format!("{secret}\n").as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(secret)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_made_once_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = token_secret(dir.path()).expect("make");
        assert_eq!(first.len(), 64, "256 bits in hex");
        let file = dir.path().join("token-secret");
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(token_secret(dir.path()).expect("reuse"), first);
        std::fs::write(&file, "short").expect("write");
        assert!(token_secret(dir.path()).is_err());
        let other = tempfile::tempdir().expect("tempdir");
        assert_ne!(token_secret(other.path()).expect("make"), first);
    }
}
