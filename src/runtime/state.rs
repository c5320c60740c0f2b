//! What the runtime keeps of a container between commands, and the state it
//! reports (runtime-spec's "state", as `ctr-runtime state ID` prints it).
//!
//! `ROOT/ID/state.json` is written once the container is created; the status
//! is not stored but read off the system each time, as runc does: stopped
//! once PID 1 is gone (or a zombie, or its PID now names another process),
//! created while the `exec.fifo` that holds it back exists, running
//! otherwise. So a state never says "running" of a container that died
//! while nobody was watching.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Hooks;
use serde::{Deserialize, Serialize};

use super::ContainerId;

/// runtime-spec's statuses (`creating` is never seen from outside: the
/// state is written once creation is done).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        })
    }
}

/// ROOT/ID/state.json.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Saved {
    pub id: ContainerId,
    /// PID 1 of the container, as the runtime's PID namespace sees it.
    pub pid: i32,
    /// Its start time (field 22 of /proc/PID/stat): a PID can be reused.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339, with nanoseconds.
    pub created: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The hooks still to run: poststart at `start`, poststop at `delete`
    /// (config.json may be gone by then: containerd removes bundles).
    #[serde(default)]
    pub hooks: Option<Hooks>,
    /// Its cgroup, if it has one: `delete` removes it, `exec` joins it.
    #[serde(default)]
    pub cgroup: Option<super::cgroups::Cgroup>,
    /// `linux.seccomp`, which binds `exec`'d processes too.
    #[serde(default)]
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
}

/// runtime-spec's state, with runc's extra fields (`rootfs`, `created`,
/// `owner`), which podman and containerd read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub annotations: BTreeMap<String, String>,
}

// ANCHOR: status
/// The status of a container whose PID 1 is `alive` (or not), held back
/// by its fifo (or not).
pub fn status(alive: bool, fifo_exists: bool) -> Status {
    match (alive, fifo_exists) {
        (false, _) => Status::Stopped,
        (true, true) => Status::Created,
        (true, false) => Status::Running,
    }
}
// ANCHOR_END: status

impl Saved {
    pub fn dir(root: &Path, id: &ContainerId) -> PathBuf {
        root.join(id)
    }

    pub fn load(root: &Path, id: &ContainerId) -> Result<Saved> {
        let path = Saved::dir(root, id).join("state.json");
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                bail!("container {id} does not exist (no {})", path.display())
            }
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        };
        serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn save(&self, root: &Path) -> Result<()> {
        let dir = Saved::dir(root, &self.id);
        let tmp = dir.join("state.json.tmp");
        let path = dir.join("state.json");
        fs::write(&tmp, serde_json::to_vec(self)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
    }

    // ANCHOR: alive
    /// Whether PID 1 still runs: it exists, is not a zombie, and is the
    /// process that was started (same start time).
    pub fn alive(&self) -> bool {
        self.pid > 0
            && proc_stat(self.pid).is_some_and(|(state, start)| {
                state != 'Z' && state != 'X' && start == self.pid_start
            })
    }
    // ANCHOR_END: alive

    pub fn status(&self, root: &Path) -> Status {
        let fifo = Saved::dir(root, &self.id).join(super::create::FIFO);
        status(self.alive(), fifo.exists())
    }

    /// The state as runtime-spec (and runc) print it.
    pub fn state(&self, root: &Path) -> State {
        let status = self.status(root);
        State {
            oci_version: oci_spec::runtime::VERSION.to_string(),
            id: self.id.to_string(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            owner: String::new(),
            annotations: self.annotations.clone(),
        }
    }
}

/// The state letter (R, S, Z...) and start time of process `pid`, from
/// /proc/PID/stat; None when there is no such process.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold anything.
    let after = &stat[stat.rfind(')')? + 2..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 22 overall is the 20th after the state.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_follows_the_process_and_the_fifo() {
        assert_eq!(status(true, true), Status::Created);
        assert_eq!(status(true, false), Status::Running);
        assert_eq!(status(false, true), Status::Stopped);
        assert_eq!(status(false, false), Status::Stopped);
    }

    #[test]
    fn our_own_stat_is_read() {
        let me = std::process::id() as i32;
        let (state, start) = proc_stat(me).unwrap();
        assert!("RS".contains(state), "{state}");
        assert!(start > 0);
        assert_eq!(proc_stat(me), Some((proc_stat(me).unwrap().0, start)));
        assert_eq!(proc_stat(-1), None);
    }

    #[test]
    fn a_reused_pid_is_not_alive() {
        let me = std::process::id() as i32;
        let (_, start) = proc_stat(me).unwrap();
        let saved = |pid_start| Saved {
            id: ContainerId::parse("c").unwrap(),
            pid: me,
            pid_start,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: String::new(),
            annotations: BTreeMap::new(),
            hooks: None,
            cgroup: None,
            seccomp: None,
        };
        assert!(saved(start).alive());
        assert!(!saved(start + 1).alive());
    }

    #[test]
    fn the_state_has_runtime_specs_shape() {
        let state = State {
            oci_version: "1.1.0".into(),
            id: "c".into(),
            pid: 42,
            status: Status::Running,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2024-05-01T12:30:15.123456789Z".into(),
            owner: String::new(),
            annotations: BTreeMap::new(),
        };
        let json: serde_json::Value = serde_json::to_value(&state).unwrap();
        assert_eq!(json["ociVersion"], "1.1.0");
        assert_eq!(json["status"], "running");
        assert_eq!(json["pid"], 42);
        assert!(json.get("annotations").is_none());
    }
}
