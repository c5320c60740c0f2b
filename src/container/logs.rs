//! A detached container's log, in docker's json-file format: one JSON object
//! per line, `{"log":"hello\n","stream":"stdout","time":"2024-05-01T12:00:00.123456789Z"}`,
//! so that `ctr logs` can give each line to the stream it came from, with
//! `--timestamps`, and `--tail` counts lines.
//!
//! The writer is a process of its own, forked by the monitor before it
//! starts anything (a thread in the monitor would be in the way of the
//! runtime's forks): it reads the two pipes the container writes to, and
//! ends when both are closed, once the container and its monitor are gone.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde::{Deserialize, Serialize};

/// docker splits a line longer than this into entries of this size.
const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

// ANCHOR: writer
/// The log writer's life: copies what comes on `out` and `err` to `log`,
/// line by line, until both are closed.
pub fn write(out: OwnedFd, err: OwnedFd, mut log: File) -> Result<()> {
    let mut streams = [
        (Some(File::from(out)), "stdout", Vec::new()),
        (Some(File::from(err)), "stderr", Vec::new()),
    ];
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let open: Vec<usize> = (0..2).filter(|&i| streams[i].0.is_some()).collect();
        if open.is_empty() {
            return Ok(());
        }
        let mut fds: Vec<PollFd> = open
            .iter()
            .map(|&i| PollFd::new(streams[i].0.as_ref().unwrap().as_fd(), PollFlags::POLLIN))
            .collect();
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => other.context("waiting for the container's output")?,
        };
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        for (&i, ready) in open.iter().zip(ready) {
            if !ready {
                continue;
            }
            let (file, stream, pending) = &mut streams[i];
            let n = match file.as_mut().unwrap().read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => other.context("reading the container's output")?,
            };
            if n == 0 {
                // Closed: what is left of a last line without a newline.
                if !pending.is_empty() {
                    log.write_all(&line(stream, pending))?;
                    pending.clear();
                }
                *file = None;
                continue;
            }
            pending.extend_from_slice(&buf[..n]);
            for entry in split(pending) {
                log.write_all(&line(stream, &entry))?;
            }
        }
    }
}
// ANCHOR_END: writer

/// The whole lines (and pieces of MAX_LINE) at the start of `pending`,
/// taken out of it.
fn split(pending: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = match pending.iter().position(|&b| b == b'\n') {
            Some(i) if i < MAX_LINE => i + 1,
            _ if pending.len() >= MAX_LINE => MAX_LINE,
            _ => return out,
        };
        out.push(pending.drain(..end).collect());
    }
}

/// One entry, as a line of the log.
fn line(stream: &str, bytes: &[u8]) -> Vec<u8> {
    let entry = Entry {
        log: String::from_utf8_lossy(bytes).into_owned(),
        stream: stream.to_string(),
        time: crate::show::now_rfc3339(),
    };
    let mut json = serde_json::to_vec(&entry).expect("an entry is JSON");
    json.push(b'\n');
    json
}

/// What `ctr logs` is asked.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub follow: bool,
    /// Only the last N lines.
    pub tail: Option<usize>,
    pub timestamps: bool,
}

// ANCHOR: reader
/// Prints the log at `path` to `out` and `err` as asked; with `follow`, goes
/// on while `alive` says the container may still write.
pub fn read(
    path: &Path,
    options: Options,
    alive: &dyn Fn() -> bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let mut first: Vec<String> = Vec::new();
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 && line.ends_with('\n') {
        first.push(std::mem::take(&mut line));
    }
    let skip = options.tail.map_or(0, |n| first.len().saturating_sub(n));
    for l in &first[skip..] {
        show(l, options.timestamps, out, err)?;
    }
    if !options.follow {
        return Ok(());
    }
    loop {
        // Read once more after it ended: its last words count.
        let ended = !alive();
        let n = reader.read_line(&mut line)?;
        if n > 0 && line.ends_with('\n') {
            show(&std::mem::take(&mut line), options.timestamps, out, err)?;
            continue;
        }
        if ended {
            return Ok(());
        }
        // A line half written: read again from its start.
        let back = line.len() as i64;
        line.clear();
        reader.seek(SeekFrom::Current(-back))?;
        std::thread::sleep(Duration::from_millis(50));
    }
}
// ANCHOR_END: reader

/// One line of the log, to the stream it came from. A line that is no
/// entry (a log of an older ctr, which wrote the output as it came) is
/// shown as it is.
fn show(line: &str, timestamps: bool, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    let Ok(entry) = serde_json::from_str::<Entry>(line) else {
        out.write_all(line.as_bytes())?;
        return Ok(());
    };
    let to: &mut dyn Write = if entry.stream == "stderr" { err } else { out };
    if timestamps {
        write!(to, "{} ", entry.time)?;
    }
    to.write_all(entry.log.as_bytes())?;
    to.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_and_long_ones_cut() {
        let mut pending = b"one\ntwo\nthr".to_vec();
        assert_eq!(split(&mut pending), [b"one\n".to_vec(), b"two\n".to_vec()]);
        assert_eq!(pending, b"thr");
        let mut long = vec![b'x'; MAX_LINE + 10];
        long.push(b'\n');
        let pieces = split(&mut long);
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0].len(), MAX_LINE);
        assert_eq!(pieces[1].len(), 11);
        assert!(long.is_empty());
    }

    #[test]
    fn the_reader_sorts_streams_tails_and_stamps() {
        let dir = std::env::temp_dir().join(format!("ctr-logs-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let mut text = Vec::new();
        for (s, l) in [("stdout", "a\n"), ("stderr", "b\n"), ("stdout", "c\n")] {
            text.extend(line(s, l.as_bytes()));
        }
        text.extend(b"plain old line\n");
        std::fs::write(&path, text).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        read(&path, Options::default(), &|| false, &mut out, &mut err).unwrap();
        assert_eq!(String::from_utf8_lossy(&out), "a\nc\nplain old line\n");
        assert_eq!(String::from_utf8_lossy(&err), "b\n");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let tail = Options {
            tail: Some(2),
            timestamps: true,
            ..Options::default()
        };
        read(&path, tail, &|| false, &mut out, &mut err).unwrap();
        let out = String::from_utf8_lossy(&out);
        assert!(out.starts_with("20") && out.contains("Z c\n"), "{out}");
        assert!(out.ends_with("plain old line\n"), "{out}");
        assert!(err.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
