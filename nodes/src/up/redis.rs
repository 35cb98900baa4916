//! The private `redis-server` of `kukka up` ([`start`]), and its password.
//!
//! The password is 256 random bits (64 hex digits), made on the first
//! `kukka up` in a data dir and kept in `<dir>/redis/password` (mode 0600),
//! so every later `kukka up` on the same dir opens the same Redis with it.
//! It never appears on a command line, which `ps` shows to every user:
//! redis-server reads it from its config file `<dir>/redis/redis.conf`
//! (mode 0600, rewritten at every start because the port changes), the
//! nodes get it inside `KUKKA_REDIS_URL` in their environment, and
//! `run/redis.json` (mode 0600) holds the full URL for tests and tools. It
//! is never logged.

use std::{
    fs::OpenOptions,
    io::{self, Read, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context;
use serde_json::json;

use super::{
    ports::PortPool,
    process::{Launcher, Managed},
};

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
        .unwrap_or(false)
}

/// Starts the private `redis-server` of data dir `data_dir` on a port from
/// `ports` and waits until it answers; returns it and its URL (with the
/// password).
pub async fn start(
    data_dir: &Path,
    ports: &mut PortPool,
    launcher: Arc<Launcher>,
) -> anyhow::Result<(Managed, String)> {
    if !on_path("redis-server") {
        anyhow::bail!(
            "redis-server is not on the PATH. Install it (Debian/Ubuntu: `sudo apt-get install -y redis-server`) or pass --redis-url"
        );
    }
    let port = ports.take()?;
    let redis_dir = dir(data_dir);
    std::fs::create_dir_all(&redis_dir)?;
    let password = password(&redis_dir)?;
    let config = write_config(&redis_dir, port, &password)?;
    let url = url(port, &password);
    let mut redis = Managed::new(
        "redis",
        0,
        "redis-server".into(),
        vec![config.to_string_lossy().into_owned()],
        Vec::new(),
        data_dir,
        json!({"role": "redis", "url": url}),
        launcher,
    );
    ports.release(port);
    redis.start().await?;
    super::probe::wait_for_redis(&url, Duration::from_secs(15)).await?;
    Ok((redis, url))
}

/// Random bytes in a password.
const PASSWORD_BYTES: usize = 32;

/// Where Redis keeps its data, password and config.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("redis")
}

/// Writes `contents` to `path` with mode 0600, replacing it atomically.
pub fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    // A leftover from a crash may have other permissions: start afresh.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The Redis password of this data dir, made on first use.
pub fn password(redis_dir: &Path) -> anyhow::Result<String> {
    let path = redis_dir.join("password");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let pw = text.trim().to_string();
            if pw.len() < 2 * 16 || !pw.bytes().all(|b| b.is_ascii_hexdigit()) {
                anyhow::bail!(
                    "{} does not hold a kukka Redis password (at least 32 hex digits); remove it to make a new one",
                    path.display()
                );
            }
            // Someone loosened the permissions: tighten them again.
            let mode = std::fs::metadata(&path)?.permissions().mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
                tracing::warn!(file = %path.display(), "the Redis password file was readable by others; made it 0600");
            }
            Ok(pw)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut bytes = [0u8; PASSWORD_BYTES];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut bytes))
                .context("cannot read /dev/urandom for the Redis password")?;
            let pw: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            write_private(&path, format!("{pw}\n").as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(pw)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// A string as a redis.conf argument: in double quotes, with `\` and `"`
/// and control characters escaped.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32 & 0xff)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// How much the AOF grows before Redis rewrites it (see [`config`]).
pub const AOF_REWRITE_MIN_SIZE: &str = "1gb";

/// The text of redis.conf: loopback only, AOF fsync'd on every write (an
/// event the outbox relay handed over and then deleted survives a crash),
/// no RDB snapshots, and the password.
///
/// The AOF is rewritten only once it has grown by [`AOF_REWRITE_MIN_SIZE`]
/// (Redis's default is 64 MB). Each rewrite forks Redis and serializes the
/// whole dataset. Under load on two cores, at the default, that came every
/// 5–9 s, and it took the views' lag p99 at 2 080 orders/s from 51–89 ms to
/// 219–255 ms (`benches/README.md`, "Fifth sitting"). Replaying the AOF
/// after a restart reads at most that much more.
pub fn config(port: u16, redis_dir: &Path, password: &str) -> String {
    format!(
        "# Written by kukka up at every start. It holds the Redis password: keep it private (mode 0600).\n\
         port {port}\n\
         bind 127.0.0.1\n\
         protected-mode yes\n\
         daemonize no\n\
         dir {dir}\n\
         appendonly yes\n\
         appendfsync always\n\
         save \"\"\n\
         auto-aof-rewrite-min-size {AOF_REWRITE_MIN_SIZE}\n\
         requirepass {pw}\n",
        dir = quoted(&redis_dir.to_string_lossy()),
        pw = quoted(password),
    )
}

/// Writes redis.conf for `port`; returns its path.
pub fn write_config(redis_dir: &Path, port: u16, password: &str) -> anyhow::Result<PathBuf> {
    let path = redis_dir.join("redis.conf");
    write_private(&path, config(port, redis_dir, password).as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// `redis://:<password>@127.0.0.1:<port>`.
pub fn url(port: u16, password: &str) -> String {
    format!("redis://:{password}@127.0.0.1:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_made_once_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = password(dir.path()).expect("make");
        assert_eq!(first.len(), 64, "256 bits in hex");
        let file = dir.path().join("password");
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(password(dir.path()).expect("reuse"), first);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(password(dir.path()).expect("reuse"), first);
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "tightened again");
        std::fs::write(&file, "short").expect("write");
        assert!(password(dir.path()).is_err(), "not a password");
        let other = tempfile::tempdir().expect("tempdir");
        assert_ne!(password(other.path()).expect("make"), first);
    }

    #[test]
    fn the_config_quotes_paths_and_is_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let weird = dir.path().join("a \"b\" \\c");
        let text = config(6400, &weird, "abc123");
        assert!(text.contains("port 6400\n"));
        assert!(text.contains("requirepass \"abc123\"\n"));
        assert!(text.contains("appendfsync always\n"));
        assert!(text.contains("auto-aof-rewrite-min-size 1gb\n"));
        assert!(text.contains(&format!(
            "dir \"{}/a \\\"b\\\" \\\\c\"\n",
            dir.path().display()
        )));
        let path = write_config(dir.path(), 6400, "abc123").expect("write");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
