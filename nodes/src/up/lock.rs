//! One `kukka up` per data dir: an exclusive `flock(2)` on `<dir>/up.lock`,
//! held for the life of the process.
//!
//! The kernel drops the lock when the process ends, however it ends (even
//! SIGKILL), so a stale file never blocks the next `kukka up`. The file is
//! opened close-on-exec (Rust's default), so children never inherit it and
//! cannot keep the lock after `kukka up` is gone. It holds the owner's pid,
//! for the message a second `kukka up` prints and for `kukka status`.

use std::{
    fs::File,
    io::{self, Read, Seek, Write},
    path::{Path, PathBuf},
};

use rustix::fs::{flock, FlockOperation};

/// The lock file of a data dir.
pub fn path(dir: &Path) -> PathBuf {
    dir.join("up.lock")
}

/// The held lock; released when dropped or when the process ends.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error("{} is in use by another kukka up{}", .dir.display(), .pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Held {
        /// The data dir.
        dir: PathBuf,
        /// The holder's pid, if it wrote it yet.
        pid: Option<u32>,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot lock {}: {source}", .path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// Takes the lock of `dir` without waiting, and writes this process's pid
/// into it.
pub fn acquire(dir: &Path) -> Result<DataDirLock, LockError> {
    let path = path(dir);
    let io_error = |source: io::Error| LockError::Io {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_error)?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            return Err(LockError::Held {
                dir: dir.to_path_buf(),
                pid: read_pid(&mut file),
            })
        }
        Err(e) => return Err(io_error(e.into())),
    }
    file.set_len(0).map_err(io_error)?;
    file.rewind().map_err(io_error)?;
    writeln!(file, "{}", std::process::id()).map_err(io_error)?;
    Ok(DataDirLock { _file: file })
}

/// The pid in a lock file (whether or not it is held).
pub fn holder(dir: &Path) -> Option<u32> {
    read_pid(&mut File::open(path(dir)).ok()?)
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_holders_pid_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = acquire(dir.path()).expect("first");
        // flock locks belong to an open file, so a second open in the same
        // process conflicts like another process would.
        match acquire(dir.path()) {
            Err(LockError::Held { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Held, got {other:?}"),
        }
        assert_eq!(holder(dir.path()), Some(std::process::id()));
        drop(first);
        acquire(dir.path()).expect("free again");
    }
}
