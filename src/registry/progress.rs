//! What a pull shows: a bar per layer on a terminal (as docker's), and
//! quiet lines, one per event, when stderr is a file or a pipe (logs, CI).

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::digest::Digest;
use crate::show;

pub struct Progress {
    /// The bars, on a terminal; None for quiet lines.
    bars: Option<MultiProgress>,
}

impl Progress {
    /// Bars when stderr is a terminal, lines otherwise.
    pub fn for_stderr() -> Progress {
        let bars = std::io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { bars }
    }

    /// A line, above the bars when there are some.
    pub fn line(&self, text: &str) {
        match &self.bars {
            Some(bars) => _ = bars.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// A layer's bar (or its first line), as it starts to download.
    pub fn layer(&self, digest: &Digest, size: u64) -> Layer {
        let name = format!("{}…", short(digest));
        match &self.bars {
            Some(bars) => {
                let bar = bars.add(ProgressBar::new(size));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix} {bar:30.cyan/blue} {bytes:>10}/{total_bytes:<10} {msg}",
                    )
                    .expect("a valid template")
                    .progress_chars("=> "),
                );
                bar.set_prefix(name.clone());
                bar.set_message("downloading");
                Layer {
                    bar: Some(bar),
                    name,
                }
            }
            None => {
                eprintln!("pulling layer {name} ({})", show::size(size));
                Layer { bar: None, name }
            }
        }
    }

    /// A layer that is already in the store.
    pub fn exists(&self, digest: &Digest) {
        self.line(&format!("layer {}… already exists", short(digest)));
    }
}

/// `sha256:` and the first 12 hex digits, as docker shows a layer.
fn short(digest: &Digest) -> String {
    format!("sha256:{}", digest.short())
}

/// One layer's progress.
pub struct Layer {
    bar: Option<ProgressBar>,
    name: String,
}

impl Layer {
    pub fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    /// The download broke off at byte `at` and goes on from there, as
    /// try `attempt` of `of`: said above the bars, and on the bar.
    pub fn resuming(&self, at: u64, attempt: u32, of: u32, why: &str) {
        let line = format!(
            "layer {}: the download broke off at {} ({why}): resuming (try {attempt} of {of})",
            self.name,
            show::size(at)
        );
        match &self.bar {
            Some(bar) => {
                bar.println(line);
                bar.set_message(format!("resuming (try {attempt} of {of})"));
            }
            None => eprintln!("{line}"),
        }
    }

    pub fn finish(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_with_message(message.to_string());
        }
    }
}

/// A reader that reports the bytes passing through it to a layer's bar.
pub struct Counting<'a, R> {
    pub inner: R,
    pub layer: &'a Layer,
}

impl<R: std::io::Read> std::io::Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.layer.advance(n as u64);
        Ok(n)
    }
}
