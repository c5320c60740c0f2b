//! The life of a container after `run`: `ps`, `logs`, `kill`, `stop` and
//! `rm`. A container is found by its record (CTR_ROOT/containers/ID/
//! container.json); it is live while its monitor (the ctr process that is
//! its parent) lives, and its PID is the runtime's to tell. `rm` undoes
//! everything `run` made, in any state, even half-made, and goes on past
//! failures to report them all at the end.

use std::fs;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill as send, Signal};
use nix::unistd::Pid;
use serde::Serialize;

use super::{containers_dir, records, runtime, Record, Status, STOPPED};
use crate::image::Store;

/// The container named `name`, or whose ID is or starts with `name` (docker's rule).
pub fn find(store: &Store, name: &str) -> Result<Record> {
    let all = records(store)?;
    if let Some(r) = all.iter().find(|r| r.name == name || r.id.as_str() == name) {
        return Ok(r.clone());
    }
    let by_prefix: Vec<&Record> = all
        .iter()
        .filter(|r| !name.is_empty() && r.id.as_str().starts_with(name))
        .collect();
    match by_prefix[..] {
        [one] => Ok(one.clone()),
        [] => bail!("no such container: {name}: see `ctr ps -a` for their names"),
        _ => bail!("{name} names several containers: give more of the ID"),
    }
}

/// Parses a signal as docker does: `KILL`, `SIGKILL` or `9`.
pub fn parse_signal(text: &str) -> Result<Signal> {
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).with_context(|| format!("{n} is not a signal number"));
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().with_context(|| {
        format!("unknown signal {text:?}: give a name (TERM, KILL...) or a number")
    })
}

/// Its PID 1 while it runs, as the runtime says.
fn running_pid(store: &Store, record: &Record) -> Option<Pid> {
    match record.status(&runtime(store)) {
        Status::Running { pid } if pid > 0 => Some(Pid::from_raw(pid)),
        _ => None,
    }
}

/// `ctr kill`: sends `signal` to the container's PID 1. As docker's, a
/// container killed on purpose is not restarted (`--restart`).
pub fn kill(store: &Store, name: &str, signal: Signal) -> Result<()> {
    let record = find(store, name)?;
    let Some(pid) = running_pid(store, &record) else {
        bail!("container {name} is not running: there is nothing to signal");
    };
    mark_stopped(store, &record)?;
    send(pid, signal).with_context(|| format!("sending {signal} to container {name} (pid {pid})"))
}

/// Tells its monitor not to start it again: it was stopped on purpose.
fn mark_stopped(store: &Store, record: &Record) -> Result<()> {
    let path = containers_dir(store).join(record.id.as_str()).join(STOPPED);
    fs::write(&path, b"").with_context(|| format!("writing {}", path.display()))
}

// ANCHOR: stop
/// `ctr stop`: its stop signal (`--stop-signal`, the image's StopSignal or
/// SIGTERM), then SIGKILL after `timeout` (`-t`, `--stop-timeout` or 10 s);
/// returns once the monitor has recorded the exit and released the
/// network. A stopped container is not restarted (`--restart`).
pub fn stop(store: &Store, name: &str, timeout: Option<Duration>) -> Result<()> {
    let record = find(store, name)?;
    if !record.monitor_alive() {
        return Ok(()); // docker's stop of a stopped container succeeds too
    }
    let timeout = timeout.unwrap_or(Duration::from_secs(record.stop_timeout.unwrap_or(10)));
    // Restarting: no process to signal, only a monitor to tell.
    mark_stopped(store, &record)?;
    let signal = match &record.stop_signal {
        Some(s) => parse_signal(s).with_context(|| format!("the image's StopSignal {s:?}"))?,
        None => Signal::SIGTERM,
    };
    // A PID 1 that installed no handler for it does not die of it (only
    // SIGKILL always works): hence the timeout.
    if let Some(pid) = running_pid(store, &record) {
        _ = send(pid, signal);
    }
    if wait_for_monitor(&record, timeout) {
        return Ok(());
    }
    if let Some(pid) = running_pid(store, &record) {
        _ = send(pid, Signal::SIGKILL);
    }
    if !wait_for_monitor(&record, Duration::from_secs(10)) {
        bail!(
            "stopping container {name}: its monitor (pid {}) did not finish within 10 s of SIGKILL: \
             look at that process",
            record.monitor
        );
    }
    Ok(())
}
// ANCHOR_END: stop

// ANCHOR: wait
/// `ctr wait`: blocks until the container has ended and will not be
/// started again (its monitor is gone), then returns its exit status.
pub fn wait(store: &Store, name: &str) -> Result<u8> {
    let record = find(store, name)?;
    super::gone::wait(record.monitor as i32, || record.monitor_alive(), None);
    let now = find(store, record.id.as_str())?;
    // A monitor that died before it could record the end: the kernel
    // killed the container with it (Record::status).
    Ok(now.exit.map_or(137, |e| e.code))
}
// ANCHOR_END: wait

/// Waits until the container's monitor has ended (it records the exit and
/// tears down the network first). True if it did within `timeout`.
fn wait_for_monitor(record: &Record, timeout: Duration) -> bool {
    super::gone::wait(
        record.monitor as i32,
        || record.monitor_alive(),
        Some(timeout),
    )
}

// ANCHOR: rm
/// `ctr rm`: removes a stopped container (`force`: kills a running one
/// first): its network (veth, rules, lease, and the bridge with the last
/// one), its files, and last its record, so that a failed `rm` can be run
/// again.
pub fn rm(store: &Store, name: &str, force: bool) -> Result<()> {
    let record = find(store, name)?;
    if record.monitor_alive() {
        if !force {
            bail!("container {name} is running: stop it first (`ctr stop {name}`), or use `ctr rm -f`");
        }
        mark_stopped(store, &record)?;
        if let Some(pid) = running_pid(store, &record) {
            _ = send(pid, Signal::SIGKILL);
        } else {
            // Created, not started: the runtime kills it.
            _ = runtime(store).delete(&record.id, true);
        }
        if !wait_for_monitor(&record, Duration::from_secs(10)) {
            bail!(
                "removing container {name}: its monitor (pid {}) did not finish within 10 s: \
                 look at that process",
                record.monitor
            );
        }
    }
    let dir = containers_dir(store).join(record.id.as_str());
    // The monitor tore it all down, unless it was killed: it is idempotent.
    let mut errors: Vec<String> = super::teardown(store, &record, &dir)
        .into_iter()
        .map(|e| format!("{e:#}"))
        .collect();
    if let Err(err) = remove_files(&dir) {
        errors.push(format!("{err:#}"));
    }
    if !errors.is_empty() {
        bail!(
            "removing container {name}: {}: run `ctr rm {name}` again once fixed",
            errors.join("; ")
        );
    }
    Ok(())
}

/// Removes a container's directory, the record last. Its rootfs must be
/// unmounted already ([`super::teardown`]): a mount point is not removed,
/// and nothing is removed through it.
pub fn remove_files(dir: &Path) -> Result<()> {
    let mut errors = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name() == "container.json" {
                continue;
            }
            let result = if path.is_dir() && !path.is_symlink() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            if let Err(err) = result {
                errors.push(format!("removing {}: {err}", path.display()));
            }
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    match fs::remove_dir_all(dir) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("removing {}", dir.display()))
        }
        _ => Ok(()),
    }
}
// ANCHOR_END: rm

/// `ctr logs`: what the container wrote (detached containers only), each
/// line to the stream it came from; `follow` goes on until it ends.
pub fn logs(store: &Store, name: &str, options: super::logs::Options) -> Result<()> {
    let record = find(store, name)?;
    let path = containers_dir(store).join(&record.id).join("container.log");
    if !path.exists() {
        bail!("container {name} has no log: only detached containers (`run -d`) have one");
    }
    let alive = || find(store, record.id.as_str()).is_ok_and(|r| r.monitor_alive());
    super::logs::read(
        &path,
        options,
        &alive,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

/// `ctr ps --format json`: one object per line, docker's field names.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PsLine {
    #[serde(rename = "ID")]
    pub id: String,
    pub image: String,
    pub command: String,
    pub created_at: u64,
    pub state: String,
    pub status: String,
    pub ports: String,
    pub names: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    pub networks: String,
    /// The kernel's OOM killer killed a process of it (docker inspect's
    /// State.OOMKilled).
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
}

pub fn ps_lines(store: &Store, all: bool, now: u64) -> Result<Vec<PsLine>> {
    let runtime = runtime(store);
    let mut records = records(store)?;
    records.sort_by(|a, b| b.created.cmp(&a.created).then(a.name.cmp(&b.name)));
    Ok(records
        .into_iter()
        .map(|r| (r.status(&runtime), r))
        .filter(|(status, _)| all || !matches!(status, Status::Exited(_)))
        .map(|(status, r)| {
            let since = |t: u64| crate::show::age(now.saturating_sub(t));
            let oom = r.exit.as_ref().is_some_and(|e| e.oom_killed);
            let (state_word, status_text) = match status {
                Status::Created => ("created", "Created".to_string()),
                Status::Running { .. } => (
                    "running",
                    format!("Up {}", since(r.created).trim_end_matches(" ago")),
                ),
                Status::Restarting(code) => (
                    "restarting",
                    format!(
                        "Restarting ({code}) {}",
                        since(r.exit.as_ref().map_or(r.created, |e| e.finished))
                    ),
                ),
                Status::Exited(code) => (
                    "exited",
                    format!(
                        "Exited ({code}) {}{}",
                        since(r.exit.as_ref().map_or(r.created, |e| e.finished)),
                        if oom { " (OOM killed)" } else { "" }
                    ),
                ),
            };
            let ports = if matches!(status, Status::Running { .. }) {
                r.ports
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                String::new()
            };
            PsLine {
                id: r.short_id().to_string(),
                image: r.image.clone(),
                command: format!("{:?}", r.argv.join(" ")),
                created_at: r.created,
                state: state_word.to_string(),
                status: status_text,
                ports,
                names: r.name.clone(),
                ip_address: r.address.map(|a| a.to_string()).unwrap_or_default(),
                networks: r.network.to_string(),
                oom_killed: oom,
            }
        })
        .collect())
}

/// docker ps's table.
pub fn ps_table(lines: &[PsLine]) -> String {
    let mut rows = vec![[
        "CONTAINER ID".to_string(),
        "IMAGE".into(),
        "COMMAND".into(),
        "STATUS".into(),
        "PORTS".into(),
        "NAMES".into(),
    ]];
    for l in lines {
        let mut command = l.command.clone();
        if command.chars().count() > 22 {
            command = command.chars().take(20).collect::<String>() + "…\"";
        }
        rows.push([
            l.id.clone(),
            l.image.clone(),
            command,
            l.status.clone(),
            l.ports.clone(),
            l.names.clone(),
        ]);
    }
    crate::show::table(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("SIGQUIT").unwrap(), Signal::SIGQUIT);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("NOPE")
            .unwrap_err()
            .to_string()
            .contains("unknown signal"));
    }

    #[test]
    fn the_table_lines_up() {
        let line = |id: &str, name: &str| PsLine {
            id: id.into(),
            image: "redis".into(),
            command: "\"redis-server\"".into(),
            created_at: 0,
            state: "running".into(),
            status: "Up 3 seconds".into(),
            ports: "0.0.0.0:6379->6379/tcp".into(),
            names: name.into(),
            ip_address: String::new(),
            networks: "bridge".into(),
            oom_killed: false,
        };
        let table = ps_table(&[line("0123456789ab", "r")]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].find("IMAGE"), lines[1].find("redis"));
        assert_eq!(lines[0].find("NAMES"), lines[1].rfind(" r").map(|i| i + 1));
    }
}
