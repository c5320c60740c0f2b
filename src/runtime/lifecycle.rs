//! `start`, `kill`, `delete` and the queries (`state`, `list`, `ps`): the
//! runtime-spec's operations after `create`, with its rules on which status
//! allows which (an operation that is not allowed is an error, and changes
//! nothing).

use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill as send, Signal};
use nix::unistd::Pid;

use super::create::FIFO;
use super::state::{Saved, State, Status};
use super::{hooks, ContainerId};

// ANCHOR: start
/// Lets a created container's PID 1 go on to execve: opens the fifo it is
/// blocked on for reading, and reads the byte it writes once through.
pub fn start(root: &Path, id: &ContainerId) -> Result<()> {
    let saved = Saved::load(root, id)?;
    let status = saved.status(root);
    if status != Status::Created {
        bail!("container {id} is {status}: only a created container can be started");
    }
    let path = Saved::dir(root, id).join(FIFO);
    // Non-blocking: a PID 1 that died before it opened the fifo would
    // leave a blocking open(2) waiting forever.
    let fifo = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
        let ready = poll(&mut fds, PollTimeout::from(100u16)).context("waiting on exec.fifo")?;
        if ready > 0 {
            break;
        }
        if !saved.alive() {
            bail!("container {id} ended before it could start");
        }
        if Instant::now() >= deadline {
            bail!("container {id} did not take its start within 30 s");
        }
    }
    let mut byte = [0u8; 1];
    let n = std::io::Read::read(&mut &fifo, &mut byte).context("reading exec.fifo")?;
    if n != 1 {
        bail!("container {id} ended before it could start");
    }
    fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    if let Some(list) = saved.hooks.as_ref().and_then(|h| h.poststart().clone()) {
        if let Err(err) = hooks::run(&list, &saved.state(root)) {
            eprintln!("ctr-runtime: warning: poststart hooks of {id}: {err:#}");
        }
    }
    Ok(())
}
// ANCHOR_END: start

/// The container's state, as runtime-spec's `state` operation reports it.
pub fn state(root: &Path, id: &ContainerId) -> Result<State> {
    Ok(Saved::load(root, id)?.state(root))
}

/// Every container under `root`.
pub fn list(root: &Path) -> Result<Vec<State>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(err) => return Err(err).with_context(|| format!("reading {}", root.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", root.display()))?;
        let Some(id) = entry
            .file_name()
            .to_str()
            .and_then(|n| ContainerId::parse(n).ok())
        else {
            continue;
        };
        // A container being created has no state yet.
        if let Ok(saved) = Saved::load(root, &id) {
            out.push(saved.state(root));
        }
    }
    out.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
    Ok(out)
}

// ANCHOR: kill
/// Sends `signal` to PID 1, or with `all` to every process of the
/// container. containerd reads "container not running" in the error.
pub fn kill(root: &Path, id: &ContainerId, signal: Signal, all: bool) -> Result<()> {
    let saved = Saved::load(root, id)?;
    if saved.status(root) == Status::Stopped {
        if all {
            return Ok(()); // as runc: nothing left to signal is no failure
        }
        bail!("cannot signal {id}: container not running");
    }
    if all {
        for pid in pids(&saved)? {
            _ = send(Pid::from_raw(pid), signal);
        }
        return Ok(());
    }
    send(Pid::from_raw(saved.pid), signal)
        .with_context(|| format!("sending {signal} to {id} (pid {})", saved.pid))
}
// ANCHOR_END: kill

// ANCHOR: delete
/// Removes what the runtime keeps of a stopped container and runs its
/// poststop hooks. A created one is killed first (nothing of it ran), a
/// running one only with `force`.
pub fn delete(root: &Path, id: &ContainerId, force: bool) -> Result<()> {
    let saved = match Saved::load(root, id) {
        Ok(saved) => saved,
        Err(_) if force && !Saved::dir(root, id).exists() => return Ok(()),
        Err(err) => {
            if force {
                // A state never written (a create killed halfway): remove what is.
                return remove_dir(root, id);
            }
            return Err(err);
        }
    };
    match saved.status(root) {
        Status::Running if !force => {
            bail!("container {id} is running: stop it first, or delete it with --force")
        }
        Status::Running | Status::Created => {
            for pid in pids(&saved).unwrap_or_default() {
                _ = send(Pid::from_raw(pid), Signal::SIGKILL);
            }
            _ = send(Pid::from_raw(saved.pid), Signal::SIGKILL);
            let deadline = Instant::now() + Duration::from_secs(10);
            while saved.alive() {
                if Instant::now() >= deadline {
                    bail!("container {id} did not die within 10 s of SIGKILL");
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Status::Stopped => {}
    }
    if let Some(cgroup) = &saved.cgroup {
        cgroup.remove()?;
    }
    if let Some(list) = saved.hooks.as_ref().and_then(|h| h.poststop().clone()) {
        let mut state = saved.state(root);
        state.status = Status::Stopped;
        state.pid = 0;
        if let Err(err) = hooks::run(&list, &state) {
            eprintln!("ctr-runtime: warning: poststop hooks of {id}: {err:#}");
        }
    }
    remove_dir(root, id)
}
// ANCHOR_END: delete

fn remove_dir(root: &Path, id: &ContainerId) -> Result<()> {
    let dir = Saved::dir(root, id);
    fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))
}

/// The processes of the container: those in PID 1's PID namespace.
pub fn ps(root: &Path, id: &ContainerId) -> Result<Vec<i32>> {
    let saved = Saved::load(root, id)?;
    if saved.status(root) == Status::Stopped {
        return Ok(Vec::new());
    }
    pids(&saved)
}

/// `ps`'s output (run with the user's options, as runc does) kept to the
/// header and the lines of `pids`, found by the column titled PID.
pub fn ps_table(output: &str, pids: &[i32]) -> Result<String> {
    let mut lines = output.lines();
    let header = lines.next().context("ps printed nothing")?;
    let column = header
        .split_whitespace()
        .position(|title| title == "PID")
        .context("ps printed no PID column: give it options that print one (-ef, -o pid,...)")?;
    let mut table = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(column)
            .and_then(|p| p.parse().ok());
        if pid.is_some_and(|pid| pids.contains(&pid)) {
            table.push_str(line);
            table.push('\n');
        }
    }
    Ok(table)
}

fn pids(saved: &Saved) -> Result<Vec<i32>> {
    // Its cgroup says exactly; without one, its PID namespace does.
    if let Some(cgroup) = &saved.cgroup {
        return Ok(cgroup.pids());
    }
    let ns = |pid: i32| {
        fs::metadata(format!("/proc/{pid}/ns/pid"))
            .ok()
            .map(|m| (m.dev(), m.ino()))
    };
    let Some(theirs) = ns(saved.pid) else {
        return Ok(Vec::new());
    };
    // A container in the runtime's own PID namespace: its processes cannot
    // be told from the host's by namespace; only PID 1 is known to be its.
    if ns(std::process::id() as i32) == Some(theirs) {
        return Ok(vec![saved.pid]);
    }
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").context("reading /proc")? {
        let Some(pid) = entry
            .ok()
            .and_then(|e| e.file_name().to_str()?.parse::<i32>().ok())
        else {
            continue;
        };
        if ns(pid) == Some(theirs) {
            found.push(pid);
        }
    }
    found.sort_unstable();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_keeps_the_header_and_the_containers_lines() {
        let output = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                      root           1       0  0 09:00 ?        00:00:01 /sbin/init\n\
                      root         412     400  0 09:01 ?        00:00:00 sleep 600\n\
                      root        4120     400  0 09:01 ?        00:00:00 sh\n";
        let table = ps_table(output, &[412]).unwrap();
        assert_eq!(table.lines().count(), 2, "{table}");
        assert!(table.ends_with("sleep 600\n"), "{table}");
        let err = ps_table("COMMAND\nsh\n", &[1]).unwrap_err();
        assert!(err.to_string().contains("no PID column"), "{err}");
    }
}
