//! The last step of every container: find the command in the container's
//! PATH and execve(2) it, or say why not with docker's status: 127 when it is
//! not in the image, 126 when it is there but cannot be run.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::unistd::execve;

use crate::exit;

/// Why the command could not start: a status and a message for the user.
#[derive(Debug, PartialEq, Eq)]
pub struct Failure {
    pub status: u8,
    pub message: String,
}

// ANCHOR: exec
/// Replaces this process with `argv`, looking `argv[0]` up in the PATH of
/// `env` (the container's, not ours: glibc's execvpe would use ours). It
/// returns only on failure.
pub fn exec(argv: &[String], env: &[String]) -> Failure {
    let name = &argv[0];
    let (c_argv, c_env) = match (c_strings(argv), c_strings(env)) {
        (Some(a), Some(e)) => (a, e),
        _ => {
            return fail(
                exit::FAILED,
                format!("{name}: an argument or variable contains a NUL byte"),
            )
        }
    };
    if name.contains('/') {
        return explain(name, try_exec(name, &c_argv, &c_env));
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("");
    // As execvp: a candidate that exists but cannot be run is remembered, and
    // reported if nothing later in PATH works.
    let mut denied = None;
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = format!("{}/{name}", dir.trim_end_matches('/'));
        match try_exec(&candidate, &c_argv, &c_env) {
            Errno::ENOENT | Errno::ENOTDIR => continue,
            err => {
                if denied.is_none() {
                    denied = Some((candidate, err));
                }
            }
        }
    }
    match denied {
        Some((candidate, err)) => explain(&candidate, err),
        None => fail(
            exit::NOT_FOUND,
            format!("{name}: command not found in the image's PATH ({path})"),
        ),
    }
}
// ANCHOR_END: exec

fn try_exec(path: &str, argv: &[CString], env: &[CString]) -> Errno {
    let Ok(c_path) = CString::new(Path::new(path).as_os_str().as_bytes()) else {
        return Errno::EINVAL;
    };
    execve(&c_path, argv, env).unwrap_err()
}

/// docker's mapping of the execve error to a status.
fn explain(path: &str, err: Errno) -> Failure {
    match err {
        Errno::ENOENT | Errno::ENOTDIR => fail(
            exit::NOT_FOUND,
            format!("{path}: command not found in the image"),
        ),
        Errno::EACCES | Errno::EPERM => fail(
            exit::CANNOT_INVOKE,
            format!("{path}: permission denied: it is not an executable file for this user"),
        ),
        Errno::ENOEXEC => fail(
            exit::CANNOT_INVOKE,
            format!("{path}: exec format error: not a program this machine can run"),
        ),
        err => fail(exit::CANNOT_INVOKE, format!("{path}: cannot run it: {err}")),
    }
}

fn fail(status: u8, message: String) -> Failure {
    Failure { status, message }
}

fn c_strings(words: &[String]) -> Option<Vec<CString>> {
    words
        .iter()
        .map(|w| CString::new(w.as_bytes()).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(path: &str) -> Vec<String> {
        vec![format!("PATH={path}")]
    }

    // Only failures can be tested in-process: success replaces the test.
    #[test]
    fn a_missing_command_is_127_and_named() {
        let f = exec(
            &["no-such-command-here".into()],
            &env("/nonexistent:/also/not"),
        );
        assert_eq!(f.status, 127);
        assert!(
            f.message
                .starts_with("no-such-command-here: command not found"),
            "{}",
            f.message
        );
        let f = exec(&["/nonexistent/x".into()], &env("/bin"));
        assert_eq!(f.status, 127);
        assert_eq!(f.message, "/nonexistent/x: command not found in the image");
    }

    #[test]
    fn a_file_that_cannot_run_is_126() {
        let dir = std::env::temp_dir().join(format!("ctr-exec-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("not-executable");
        std::fs::write(&file, "data").unwrap();
        let f = exec(&[file.display().to_string()], &env("/bin"));
        assert_eq!(f.status, 126, "{}", f.message);
        // Found through PATH, but not runnable: 126 too, not 127.
        let f = exec(&["not-executable".into()], &env(&dir.display().to_string()));
        assert_eq!(f.status, 126, "{}", f.message);
        // A directory.
        let f = exec(&[dir.display().to_string()], &env("/bin"));
        assert_eq!(f.status, 126, "{}", f.message);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_empty_path_finds_nothing() {
        let f = exec(&["sh".into()], &[]);
        assert_eq!(f.status, 127);
    }
}
