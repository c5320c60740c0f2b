//! The last step of every container: find the command in the container's
//! PATH and execve(2) it, or say why not with docker's status: 127 when it is
//! not in the image, 126 when it is there but cannot be run. [`find`] looks
//! it up without running it, for a runtime that must fail `create` when the
//! command is missing, as runc does.

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
    let path = path_of(env);
    // As execvp: a candidate that exists but cannot be run is remembered, and
    // reported if nothing later in PATH works.
    let mut denied = None;
    for candidate in candidates(name, path) {
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

// ANCHOR: find
/// Where `exec` will find `name`, looked up the same way without running
/// it: an error when nothing there can be run. runc looks the command up
/// before `create` returns, and engines written for runc count on it: a
/// command missing from the image fails `create`, which podman reports with
/// 127 (it matches "executable file not found in" and "no such file or
/// directory") or 126 ("permission denied"), and containerd as a failed task
/// create. Run as the container's user, in its root.
pub fn find(name: &str, env: &[String]) -> Result<String, Failure> {
    if name.contains('/') {
        return match runnable(name) {
            Ok(()) => Ok(name.to_string()),
            Err(err) => Err(explain_early(name, err)),
        };
    }
    let path = path_of(env);
    let mut denied = None;
    for candidate in candidates(name, path) {
        match runnable(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(Errno::ENOENT | Errno::ENOTDIR) => continue,
            Err(err) => {
                denied.get_or_insert((candidate, err));
            }
        }
    }
    match denied {
        Some((candidate, err)) => Err(explain_early(&candidate, err)),
        None => Err(fail(
            exit::NOT_FOUND,
            format!("{name}: executable file not found in $PATH ({path}) of the image"),
        )),
    }
}
// ANCHOR_END: find

/// What execve(2) would say of `path`, short of running it: ENOENT when it
/// is not there, EACCES when it is not a regular file this user may execute.
/// (ENOEXEC, a file the kernel cannot run, shows only when it is run.)
fn runnable(path: &str) -> Result<(), Errno> {
    let stat = nix::sys::stat::stat(path)?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Errno::EACCES);
    }
    nix::unistd::access(path, nix::unistd::AccessFlags::X_OK)
}

/// `explain`, in the words engines written for runc look for.
fn explain_early(path: &str, err: Errno) -> Failure {
    match err {
        Errno::ENOENT | Errno::ENOTDIR => fail(
            exit::NOT_FOUND,
            format!("{path}: no such file or directory in the image"),
        ),
        err => explain(path, err),
    }
}

/// The container's PATH, from its environment.
fn path_of(env: &[String]) -> &str {
    env.iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("")
}

/// `name` in each directory of `path`, in order.
fn candidates<'a>(name: &'a str, path: &'a str) -> impl Iterator<Item = String> + 'a {
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(move |dir| format!("{}/{name}", dir.trim_end_matches('/')))
}

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
    fn find_says_what_exec_would_without_running() {
        let dir = std::env::temp_dir().join(format!("ctr-find-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let data = dir.join("data");
        std::fs::write(&data, "data").unwrap();
        let path = format!("{}:/bin", dir.display());
        // sh is found in the second directory, as exec would find it.
        assert_eq!(find("sh", &env(&path)), Ok("/bin/sh".to_string()));
        let f = find("no-such-command-here", &env(&path)).unwrap_err();
        assert_eq!(f.status, 127);
        assert_eq!(
            f.message,
            format!(
                "no-such-command-here: executable file not found in $PATH ({path}) of the image"
            )
        );
        let f = find("/nonexistent/x", &env(&path)).unwrap_err();
        assert_eq!(
            (f.status, f.message.as_str()),
            (
                127,
                "/nonexistent/x: no such file or directory in the image"
            )
        );
        // Not executable, through PATH or by path; a directory.
        for name in [
            "data",
            &data.display().to_string(),
            &dir.display().to_string(),
        ] {
            let f = find(name, &env(&path)).unwrap_err();
            assert_eq!(f.status, 126, "{name}: {}", f.message);
            assert!(f.message.contains("permission denied"), "{}", f.message);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_empty_path_finds_nothing() {
        let f = exec(&["sh".into()], &[]);
        assert_eq!(f.status, 127);
    }
}
