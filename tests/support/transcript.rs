//! Transcripts: what a command printed, kept in book/src/transcripts/ for the
//! book to include. A test runs the command for real and compares; so the
//! book cannot drift from the code. `BLESS=1` rewrites a transcript that no
//! longer matches (then read the diff before committing it).
//!
//! Values that differ from run to run (host PIDs, digests, times) are written
//! as they came, and compared after `redactions` replace them on both sides:
//! the book shows real output, and the test ignores only what must vary.

use super::{binary, quote, sandbox, Outcome};
use regex::Regex;
use std::path::PathBuf;

/// Where transcripts live.
pub fn dir() -> PathBuf {
    super::repo().join("book/src/transcripts")
}

/// Compares `output` of `command` (shown as `$ command`) with the transcript
/// `name` (a file name, e.g. "step-01.txt"), after replacing each regex of
/// `redactions` with its replacement on both sides.
pub fn check(name: &str, command: &str, output: &str, redactions: &[(&str, &str)]) {
    check_session(name, &format!("$ {command}\n{output}"), redactions);
}

/// Shell lines that define `show CMD...`: prints `$ CMD` and runs it (with
/// `eval`, so `a && b` and `export` work), its errors merged into its output.
/// A script made of `show` lines prints a session, for [`check_session`].
pub const SHOW: &str = "show() { printf '$ %s\\n' \"$*\"; eval \"$*\" 2>&1; }\n";

/// Like [`check`], for a session of several commands: `actual` is already
/// `$ command` lines, each followed by what it printed.
pub fn check_session(name: &str, actual: &str, redactions: &[(&str, &str)]) {
    let path = dir().join(name);
    let redact = |text: &str| {
        redactions
            .iter()
            .fold(text.to_string(), |text, (pattern, with)| {
                let re = Regex::new(pattern).expect("a redaction is a valid regex");
                re.replace_all(&text, *with).into_owned()
            })
    };
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if redact(&expected) == redact(actual) {
        return;
    }
    if std::env::var_os("BLESS").is_some() {
        std::fs::create_dir_all(dir()).expect("creating the transcripts directory");
        std::fs::write(&path, actual).expect("writing the transcript");
        eprintln!("transcript {} rewritten", path.display());
        return;
    }
    panic!(
        "transcript {} does not match what the program printed now \
         (run with BLESS=1 to rewrite it, then read the diff):\n\
         --- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

/// Runs SCRIPT in a sandbox as a reader would run lesson CRATE: the lesson on
/// PATH, its store at the default place, /var/lib/ctr, on a tmpfs over the
/// sandbox's /var/lib (the real host's is hidden, not touched); PRELUDE (a
/// registry, say) first.
pub fn as_a_reader(crate_name: &str, prelude: &str, script: &str) -> Outcome {
    let bin = binary(crate_name);
    let dir = bin.parent().unwrap().display().to_string();
    sandbox(&format!(
        "mount -t tmpfs reader-var-lib /var/lib; export PATH={}:$PATH\n{prelude}{script}",
        quote(&dir)
    ))
}
