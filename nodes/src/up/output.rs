//! Children's output: every line goes to `logs/<name>.log` and, unless
//! `--quiet`, to `kukka up`'s stdout behind the child's name, as foreman and
//! docker-compose show it:
//!
//! ```text
//! redis    | 4242:M 01 Jan 2025 ... Ready to accept connections tcp
//! order    | 2025-01-01T00:00:00Z  INFO kukka_nodes::node: node is ready
//! ```
//!
//! With `--quiet` a child writes to its log file itself and `kukka up` is
//! not in the way. Otherwise each child's stdout and stderr share one pipe
//! (so their relative order is kept), read by a thread of its own line by
//! line. A line is written to the log file with one `write` and handed to
//! the terminal thread whole, so lines of different children never mix. The name is coloured only when
//! stdout is a terminal (and `NO_COLOR` is unset or empty).
//!
//! The log file is the record: it gets every line, and a child that writes
//! faster than the disk takes it waits, as it would writing to the file
//! itself. The terminal is a view: when it falls behind (a slow terminal, a
//! paused one, a pipe nobody reads), lines for it are dropped and counted
//! rather than stalling the services, and a note says how many.

use std::{
    io::{self, BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc, Arc,
    },
};

/// Lines longer than this are passed on in pieces of this size.
pub const MAX_LINE: usize = 1 << 20;
/// Lines waiting for the terminal before new ones are dropped.
const TERMINAL_BACKLOG: usize = 4096;
/// ANSI colours given to children in turn (cyan, yellow, green, magenta,
/// blue, red, then their bright variants).
const COLOURS: [u8; 12] = [36, 33, 32, 35, 34, 31, 96, 93, 92, 95, 94, 91];

/// Where children's output goes.
#[derive(Debug, Clone)]
pub struct Output {
    terminal: Option<mpsc::SyncSender<Vec<u8>>>,
    dropped: Arc<AtomicU64>,
    width: usize,
    colour: bool,
    logs: PathBuf,
}

impl Output {
    /// Output for children with these names (the longest sets the prefix
    /// width), their logs in `logs`; `quiet` keeps it in the files only.
    pub fn new(logs: &Path, names: &[&str], quiet: bool) -> io::Result<Output> {
        use std::io::IsTerminal;
        let colour =
            io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Self::build(logs, names, quiet, colour)
    }

    fn build(logs: &Path, names: &[&str], quiet: bool, colour: bool) -> io::Result<Output> {
        let dropped = Arc::new(AtomicU64::new(0));
        let terminal = if quiet {
            None
        } else {
            let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(TERMINAL_BACKLOG);
            let counter = dropped.clone();
            let logs = logs.to_path_buf();
            std::thread::Builder::new()
                .name("kukka-up-output".into())
                .spawn(move || print_lines(rx, &counter, &logs))?;
            Some(tx)
        };
        Ok(Output {
            terminal,
            dropped,
            width: names.iter().map(|n| n.len()).max().unwrap_or(0),
            colour,
            logs: logs.to_path_buf(),
        })
    }

    /// `logs/<name>.log`.
    pub fn log_file(&self, name: &str) -> PathBuf {
        self.logs.join(format!("{name}.log"))
    }

    /// The prefix of child number `index` named `name`.
    pub fn prefix(&self, name: &str, index: usize) -> String {
        let padded = format!("{name:<width$} |", width = self.width);
        if self.colour {
            let colour = COLOURS[index % COLOURS.len()];
            format!("\x1b[{colour}m{padded}\x1b[0m ")
        } else {
            format!("{padded} ")
        }
    }

    /// Lines of `kukka up`'s own for stdout (even when quiet), e.g. the
    /// address it is ready at, written together and in order. Never dropped
    /// (tools wait for them), and never blocks the caller: a short-lived
    /// thread waits for room if the terminal is behind. They are rare (once
    /// per run).
    pub fn say(&self, lines: &[String]) {
        let mut bytes = Vec::new();
        for line in lines {
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
        }
        let terminal = self.terminal.clone();
        let spawned = std::thread::Builder::new()
            .name("kukka-up-say".into())
            .spawn(move || match terminal {
                Some(tx) => {
                    let _ = tx.send(bytes);
                }
                // Quiet: no terminal thread; nothing else writes to stdout.
                None => {
                    let mut out = io::stdout().lock();
                    let _ = out.write_all(&bytes).and_then(|()| out.flush());
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot print to stdout: {}", lines.join(" / "));
        }
    }

    /// Where child number `index` named `name` writes its stdout and
    /// stderr. Quiet: straight into its log file (opened for appending), so
    /// `kukka up` copies nothing and costs nothing per line. Otherwise: a
    /// pipe that a thread of `kukka up` copies to the file and the terminal.
    pub fn connect(&self, name: &str, index: usize) -> io::Result<(Stdio, Stdio)> {
        if self.terminal.is_none() {
            let log = self.open_log(name)?;
            return Ok((log.try_clone()?.into(), log.into()));
        }
        let (reader, writer) = io::pipe()?;
        self.pump(name, index, reader)?;
        Ok((writer.try_clone()?.into(), writer.into()))
    }

    fn open_log(&self, name: &str) -> io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file(name))
    }

    /// Copies `pipe` (a child's stdout and stderr) to its log file and the
    /// terminal, line by line, on a thread of its own that ends when the
    /// child (and anything it spawned) has closed the pipe.
    fn pump(&self, name: &str, index: usize, pipe: io::PipeReader) -> io::Result<()> {
        let log = self.open_log(name)?;
        let prefix = self.prefix(name, index).into_bytes();
        let terminal = self.terminal.clone();
        let dropped = self.dropped.clone();
        let name = name.to_string();
        std::thread::Builder::new()
            .name(format!("kukka-up-log-{name}"))
            .spawn(move || {
                if let Err(e) = copy_lines(&name, pipe, log, &prefix, terminal.as_ref(), &dropped) {
                    tracing::warn!(child = %name, error = %e, "cannot copy the child's output");
                }
            })?;
        Ok(())
    }
}

/// The pump: reads whole lines (at most [`MAX_LINE`] bytes each) and passes
/// them on in batches: every whole line already read from the pipe goes to
/// `log` in one call and to the terminal in one message, so a busy child
/// costs a write per pipe read, not per line.
fn copy_lines(
    name: &str,
    pipe: impl io::Read,
    mut log: impl Write,
    prefix: &[u8],
    terminal: Option<&mpsc::SyncSender<Vec<u8>>>,
    dropped: &AtomicU64,
) -> io::Result<()> {
    let mut reader = BufReader::with_capacity(64 * 1024, pipe);
    let mut line = Vec::new();
    let mut batch = Vec::new();
    let mut shown = Vec::new();
    let mut lines = 0u64;
    let mut log_failed = false;
    loop {
        line.clear();
        let n = io::Read::take(&mut reader, MAX_LINE as u64).read_until(b'\n', &mut line)?;
        if n > 0 {
            if line.last() != Some(&b'\n') {
                line.push(b'\n');
            }
            batch.extend_from_slice(&line);
            if terminal.is_some() {
                shown.extend_from_slice(prefix);
                shown.extend_from_slice(&line);
            }
            lines += 1;
            // More whole lines already here: take them first (never wait for
            // the rest of a partial one while holding whole ones back).
            if reader.buffer().contains(&b'\n') && batch.len() < MAX_LINE {
                continue;
            }
        }
        if !batch.is_empty() {
            // A log that cannot be written (disk full) must not stop the
            // child: keep draining its pipe, say so once.
            if let Err(e) = log.write_all(&batch) {
                if !log_failed {
                    log_failed = true;
                    tracing::error!(child = name, error = %e, "cannot write the child's log; its lines are lost while this lasts");
                }
            }
            batch.clear();
        }
        if let Some(tx) = terminal.filter(|_| !shown.is_empty()) {
            match tx.try_send(std::mem::take(&mut shown)) {
                Ok(()) => {}
                Err(mpsc::TrySendError::Full(_)) => {
                    dropped.fetch_add(lines, Ordering::Relaxed);
                }
                // The terminal is gone (stdout closed): the file goes on.
                Err(mpsc::TrySendError::Disconnected(_)) => {}
            }
        }
        lines = 0;
        if n == 0 {
            return Ok(());
        }
    }
}

/// The terminal thread: writes each line with one call on locked stdout.
fn print_lines(lines: mpsc::Receiver<Vec<u8>>, dropped: &AtomicU64, logs: &Path) {
    let stdout = io::stdout();
    while let Ok(line) = lines.recv() {
        let mut out = stdout.lock();
        if out.write_all(&line).is_err() {
            // Nobody reads stdout any more; the log files still get it all.
            return;
        }
        let missed = dropped.swap(0, Ordering::Relaxed);
        if missed > 0 {
            let note = format!(
                "kukka up: {missed} line(s) not shown (the terminal fell behind); every line is in {}\n",
                logs.display()
            );
            if out.write_all(note.as_bytes()).is_err() {
                return;
            }
        }
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipe whose every read returns at most one line, as a child that
    /// writes slowly looks.
    struct LineAtATime<'a>(&'a [u8]);

    impl io::Read for LineAtATime<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let end = self
                .0
                .iter()
                .position(|&b| b == b'\n')
                .map_or(self.0.len(), |i| i + 1)
                .min(buf.len());
            buf[..end].copy_from_slice(&self.0[..end]);
            self.0 = &self.0[end..];
            Ok(end)
        }
    }

    /// Counts the write calls it gets.
    #[derive(Default)]
    struct Calls {
        bytes: Vec<u8>,
        calls: usize,
    }

    impl Write for Calls {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_reach_the_log_whole_and_the_terminal_prefixed() {
        let input = b"first\nsecond line\nno newline at the end";
        let mut log = Vec::new();
        let (tx, rx) = mpsc::sync_channel(16);
        let dropped = AtomicU64::new(0);
        let pipe = LineAtATime(input);
        copy_lines("t", pipe, &mut log, b"order    | ", Some(&tx), &dropped).expect("copy");
        assert_eq!(log, b"first\nsecond line\nno newline at the end\n");
        let shown: Vec<String> = rx
            .try_iter()
            .map(|l| String::from_utf8(l).expect("utf8"))
            .collect();
        assert_eq!(
            shown,
            [
                "order    | first\n",
                "order    | second line\n",
                "order    | no newline at the end\n"
            ]
        );
        assert_eq!(dropped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn lines_already_in_the_pipe_go_on_together() {
        let input = "one\ntwo\nthree\n".repeat(100);
        let mut log = Calls::default();
        let (tx, rx) = mpsc::sync_channel(16);
        let dropped = AtomicU64::new(0);
        copy_lines(
            "t",
            input.as_bytes(),
            &mut log,
            b"p | ",
            Some(&tx),
            &dropped,
        )
        .expect("copy");
        assert_eq!(log.bytes, input.as_bytes());
        assert_eq!(log.calls, 1, "one write for everything read at once");
        let shown: Vec<Vec<u8>> = rx.try_iter().collect();
        assert_eq!(shown.len(), 1, "and one message for the terminal");
        let expected: String = input.lines().map(|l| format!("p | {l}\n")).collect();
        assert_eq!(shown[0], expected.as_bytes(), "every line prefixed, whole");
    }

    #[test]
    fn a_full_terminal_drops_lines_but_the_log_keeps_them() {
        let input = "x\n".repeat(10);
        let mut log = Vec::new();
        let (tx, rx) = mpsc::sync_channel(3);
        let dropped = AtomicU64::new(0);
        let pipe = LineAtATime(input.as_bytes());
        copy_lines("t", pipe, &mut log, b"p | ", Some(&tx), &dropped).expect("copy");
        assert_eq!(log, input.as_bytes());
        assert_eq!(rx.try_iter().count(), 3);
        assert_eq!(dropped.load(Ordering::Relaxed), 7);
    }

    #[test]
    fn a_log_that_cannot_be_written_does_not_stop_the_pump() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (tx, rx) = mpsc::sync_channel(16);
        let pipe = LineAtATime(b"a\nb\n");
        copy_lines("t", pipe, Full, b"", Some(&tx), &AtomicU64::new(0))
            .expect("the pipe is drained");
        assert_eq!(rx.try_iter().count(), 2, "the terminal still gets them");
    }

    #[test]
    fn an_overlong_line_is_passed_on_in_pieces() {
        let input = vec![b'a'; MAX_LINE + 10];
        let mut log = Vec::new();
        copy_lines(
            "t",
            input.as_slice(),
            &mut log,
            b"",
            None,
            &AtomicU64::new(0),
        )
        .expect("copy");
        assert_eq!(log.len(), MAX_LINE + 10 + 2, "two pieces, each ended");
    }

    #[test]
    fn prefixes_are_padded_to_the_longest_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let names = ["redis", "delivery-1"];
        let plain = Output::build(dir.path(), &names, true, false).expect("output");
        assert_eq!(plain.prefix("order", 2), "order      | ");
        assert_eq!(plain.prefix("delivery-1", 0), "delivery-1 | ");
        let coloured = Output::build(dir.path(), &names, true, true).expect("output");
        assert_eq!(coloured.prefix("order", 2), "\x1b[32morder      |\x1b[0m ");
    }
}
