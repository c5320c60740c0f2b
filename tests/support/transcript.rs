//! Transcripts: what commands printed, for the book to include. A test runs
//! the commands for real and checks what they printed with insta, so the
//! book cannot drift from the code, and a change is reviewed before it is
//! kept (`cargo insta review`, see the README's "Contributing").
//!
//! Each transcript is two files:
//! - `book/src/transcripts/NAME.txt`, what the book includes: the output as
//!   it came, host PIDs, digests and times included, so a reader sees real
//!   numbers;
//! - `tests/snapshots/transcripts/NAME.snap`, the insta snapshot: the same
//!   text with what varies from run to run replaced by `filters` (`<pid>`,
//!   `<digest>`...), which is what the test asserts.
//!
//! The test rewrites NAME.txt when the output changed in more than what
//! varies (never in CI), then asserts the snapshot: a change fails the test
//! until it is accepted, and accepting the snapshot keeps the text that goes
//! with it. In CI nothing is written: a NAME.txt that is not what the
//! commands print fails, as a snapshot that does not match does.

use super::{binary, quote, sandbox, Outcome};
use regex::Regex;
use std::path::PathBuf;

/// Where the book's transcripts live.
pub fn dir() -> PathBuf {
    super::repo().join("book/src/transcripts")
}

/// Where their snapshots live.
pub fn snapshot_dir() -> PathBuf {
    super::repo().join("tests/snapshots/transcripts")
}

/// Checks `output` of `command` (shown as `$ command`) as the transcript
/// `name` (a file name, e.g. "step-01.txt"), each regex of `filters` replaced
/// by its replacement before comparing.
pub fn check(name: &str, command: &str, output: &str, filters: &[(&str, &str)]) {
    check_session(name, &format!("$ {command}\n{output}"), filters);
}

/// Shell lines that define how a session shows its commands, for
/// [`check_session`]. Each prints its command after a prompt, then runs it
/// (with `eval`, so `a && b`, `&` and `export` work), errors merged into its
/// output:
/// - `show CMD...`: the prompt `$ `, a command as you would type it;
/// - `root CMD...`: the prompt `# `, a command typed as root, in the sandbox;
/// - `user CMD...`: the prompt `$ `, and the command really runs as an
///   unprivileged user (nobody), to show what a lesson says when not root.
pub const SHOW: &str = "\
show() { printf '$ %s\\n' \"$*\"; eval \"$*\" 2>&1; }
root() { printf '# %s\\n' \"$*\"; eval \"$*\" 2>&1; }
user() { printf '$ %s\\n' \"$*\"; setpriv --reuid=65534 --regid=65534 --clear-groups sh -c \"$*\" 2>&1; }
";

/// Like [`check`], for a session of several commands: `actual` is already
/// prompt lines, each followed by what its command printed.
pub fn check_session(name: &str, actual: &str, filters: &[(&str, &str)]) {
    let stem = name
        .strip_suffix(".txt")
        .unwrap_or_else(|| panic!("a transcript's name ends in .txt: {name}"));
    let path = dir().join(name);
    let filter = |text: &str| {
        filters
            .iter()
            .fold(text.to_string(), |text, (pattern, with)| {
                let re = Regex::new(pattern).expect("a filter is a valid regex");
                re.replace_all(&text, *with).into_owned()
            })
    };
    let kept = std::fs::read_to_string(&path).ok();
    if kept.as_deref().map(filter) != Some(filter(actual)) {
        if in_ci() {
            panic!(
                "{} is not what the commands printed now; run this test where you can \
                 review the change (`cargo insta test --review`, see the README), then \
                 commit both the transcript and its snapshot:\n--- kept\n{}\n--- printed\n{actual}",
                path.display(),
                kept.unwrap_or_default()
            );
        }
        std::fs::create_dir_all(dir()).expect("creating the transcripts directory");
        std::fs::write(&path, actual).expect("writing the transcript");
        eprintln!(
            "transcript {} rewritten: review its snapshot",
            path.display()
        );
    }
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(snapshot_dir());
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_description(format!(
        "book/src/transcripts/{name}, with what varies from run to run filtered"
    ));
    for (pattern, with) in filters {
        settings.add_filter(pattern, *with);
    }
    settings.bind(|| insta::assert_snapshot!(stem, actual));
}

/// Whether we run in CI, where nothing may be written: as insta decides it
/// (`CI` set to anything but `false` or `0`), or `INSTA_UPDATE=no`.
pub fn in_ci() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    ci || std::env::var("INSTA_UPDATE").is_ok_and(|v| v == "no")
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
