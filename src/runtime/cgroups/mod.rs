//! A container's cgroup: made before its init does anything, the init put in
//! it, the limits of `linux.resources` written, its usage read, and at
//! `delete` everything in it killed and the cgroup removed.
//!
//! On cgroup v2 (the unified layout of current distributions) there is one
//! tree, at /sys/fs/cgroup; a controller works in a cgroup only once every
//! ancestor lists it in `cgroup.subtree_control`. On v1 each controller
//! has a tree of its own (/sys/fs/cgroup/memory, .../pids...), and the
//! container has a cgroup of the same path in each. `linux.cgroupsPath`
//! names it from the top of the tree ("/ctr/ID"), as cgroupfs-style
//! engines (docker's cgroupfs driver, podman's) write it.

pub mod device_program;
pub mod plan;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

pub use plan::Version;

/// The controllers ctr limits with (and reads), v1's tree names.
const CONTROLLERS: [&str; 6] = ["memory", "cpu", "cpuacct", "pids", "cpuset", "devices"];

// ANCHOR: layout
/// Where the cgroup trees are mounted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// One tree, at this mount point.
    V2(PathBuf),
    /// A tree per controller: controller -> mount point (co-mounted ones,
    /// cpu and cpuacct, share one).
    V1(BTreeMap<String, PathBuf>),
}

impl Layout {
    /// Reads /proc/self/mountinfo: v2 when /sys/fs/cgroup itself is
    /// cgroup2, v1 otherwise (a "hybrid" host's v2 tree, holding no
    /// controller, is not used).
    pub fn detect() -> Result<Layout> {
        let mountinfo =
            fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
        let mut v1 = BTreeMap::new();
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let point = PathBuf::from(left.split(' ').nth(4).unwrap_or_default());
            let mut right = right.split(' ');
            let fstype = right.next().unwrap_or_default();
            let options = right.nth(1).unwrap_or_default();
            match fstype {
                "cgroup2" if point == Path::new("/sys/fs/cgroup") => return Ok(Layout::V2(point)),
                "cgroup" => {
                    for option in options.split(',') {
                        if CONTROLLERS.contains(&option) {
                            v1.insert(option.to_string(), point.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        if v1.is_empty() {
            bail!(
                "no cgroup filesystem is mounted on /sys/fs/cgroup (neither v2 nor v1's memory, \
                 cpu or pids): limits need one"
            );
        }
        Ok(Layout::V1(v1))
    }

    pub fn version(&self) -> Version {
        match self {
            Layout::V2(_) => Version::V2,
            Layout::V1(_) => Version::V1,
        }
    }
}
// ANCHOR_END: layout

/// A container's cgroup: its path from the top of the tree(s), and where.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cgroup {
    pub layout: Layout,
    /// `linux.cgroupsPath`, from the top: "/ctr/ID".
    pub path: PathBuf,
}

impl Cgroup {
    pub fn new(layout: Layout, path: &Path) -> Cgroup {
        let path = Path::new("/").join(path);
        Cgroup { layout, path }
    }

    /// The directory of the container's cgroup in the tree of `controller`
    /// (v2: the one tree); None when v1 has no tree for it.
    pub fn dir(&self, controller: &str) -> Option<PathBuf> {
        let rel = self.path.strip_prefix("/").unwrap_or(&self.path);
        match &self.layout {
            Layout::V2(point) => Some(point.join(rel)),
            Layout::V1(trees) => trees.get(controller).map(|p| p.join(rel)),
        }
    }

    /// Every directory of the container's cgroup, one per tree.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = match &self.layout {
            Layout::V2(_) => self.dir("").into_iter().collect(),
            Layout::V1(trees) => trees.keys().filter_map(|c| self.dir(c)).collect(),
        };
        dirs.sort();
        dirs.dedup();
        dirs
    }

    // ANCHOR: create
    /// Makes the cgroup (and its parents), with the controllers it needs
    /// handed down on v2, and writes `resources` into it.
    pub fn create(&self, resources: Option<&LinuxResources>) -> Result<()> {
        match &self.layout {
            Layout::V2(point) => self.create_v2(point)?,
            Layout::V1(_) => {
                for dir in self.dirs() {
                    make_dir(&dir)?;
                }
                // A new v1 cpuset cgroup starts with no CPU and no memory
                // node: nothing could run in it. Its parents' are copied.
                if let Some(dir) = self.dir("cpuset") {
                    copy_cpuset(&dir)?;
                }
            }
        }
        if let Some(resources) = resources {
            self.apply(resources)?;
        }
        Ok(())
    }
    // ANCHOR_END: create

    /// v2: each ancestor, from the top down, hands down the controllers
    /// ctr uses (those it has), then the leaf is made. A cgroup that holds
    /// processes cannot hand controllers down: v2's "no internal
    /// processes" rule.
    fn create_v2(&self, point: &Path) -> Result<()> {
        let mut dir = point.to_path_buf();
        let rel = self.path.strip_prefix("/").unwrap_or(&self.path);
        for part in rel.components() {
            let available = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
            let wanted: Vec<String> = available
                .split_whitespace()
                .filter(|c| ["memory", "cpu", "pids", "cpuset"].contains(c))
                .map(|c| format!("+{c}"))
                .collect();
            // Those handed down already are not written again: a user
            // given a subtree cannot write above it.
            let control = dir.join("cgroup.subtree_control");
            let given = fs::read_to_string(&control).unwrap_or_default();
            let wanted: Vec<String> = wanted
                .into_iter()
                .filter(|w| !given.split_whitespace().any(|g| g == &w[1..]))
                .collect();
            if !wanted.is_empty() {
                fs::write(&control, wanted.join(" ")).with_context(|| {
                    format!(
                        "handing {} down in {} (a cgroup that holds processes cannot: \
                         v2's no-internal-processes rule)",
                        wanted.join(" "),
                        control.display()
                    )
                })?;
            }
            dir = dir.join(part);
            make_dir(&dir)?;
        }
        Ok(())
    }

    /// Writes `resources` (see [`plan::plan`]); the device rules to v1's
    /// devices cgroup, or as v2's BPF program (see device_program.rs).
    pub fn apply(&self, resources: &LinuxResources) -> Result<()> {
        for w in plan::plan(resources, self.layout.version())? {
            let Some(dir) = self.dir(w.controller) else {
                bail!(
                    "{} asks for the {} controller, which has no cgroup tree here",
                    w.file,
                    w.controller
                );
            };
            let path = dir.join(w.file);
            fs::write(&path, &w.value)
                .with_context(|| format!("writing {} to {}", w.value, path.display()))?;
        }
        if let Some(devices) = resources.devices().as_ref().filter(|d| !d.is_empty()) {
            match &self.layout {
                Layout::V1(_) => {
                    let dir = self
                        .dir("devices")
                        .context("linux.resources.devices needs the v1 devices controller, which has no tree here")?;
                    for (file, rule) in plan::device_rules(devices) {
                        let path = dir.join(file);
                        fs::write(&path, &rule)
                            .with_context(|| format!("writing {rule} to {}", path.display()))?;
                    }
                }
                // bpf(2) loads a device program only for CAP_SYS_ADMIN (or
                // CAP_BPF) in the host's user namespace, which a runtime run
                // in a user namespace (rootless ctr, in a delegated cgroup)
                // never has: it goes without, as runc and crun do (runc's
                // canSkipEBPFError). Nothing is lost that a user had: in
                // its user namespace the container can make no device node,
                // and opens the nodes bound in its /dev with the user's
                // rights on the host.
                Layout::V2(_) if !in_host_user_namespace() => {}
                Layout::V2(_) => {
                    let dir = self.dir("").expect("v2 has one tree");
                    device_program::attach(&dir, devices)?;
                }
            }
        }
        Ok(())
    }

    /// Puts process `pid` in the cgroup, in every tree.
    pub fn add(&self, pid: i32) -> Result<()> {
        for dir in self.dirs() {
            let procs = dir.join("cgroup.procs");
            fs::write(&procs, pid.to_string())
                .with_context(|| format!("putting process {pid} in {}", procs.display()))?;
        }
        Ok(())
    }

    /// The processes in it.
    pub fn pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .dirs()
            .iter()
            .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
            .flat_map(|text| {
                text.lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect::<Vec<i32>>()
            })
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    // ANCHOR: remove
    /// Kills what is left in it (v2's `cgroup.kill` where the kernel has
    /// it, 5.14), and removes it, and its parent when that is left empty.
    pub fn remove(&self) -> Result<()> {
        let dirs: Vec<PathBuf> = self.dirs().into_iter().filter(|d| d.exists()).collect();
        if dirs.is_empty() {
            return Ok(());
        }
        for attempt in 0..200 {
            let kill_file = dirs[0].join("cgroup.kill");
            if kill_file.exists() {
                _ = fs::write(&kill_file, "1");
            }
            let left = self.pids();
            for pid in &left {
                _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            }
            let mut busy = Vec::new();
            for dir in &dirs {
                remove_tree(dir, &mut busy);
            }
            if busy.is_empty() {
                break;
            }
            if attempt == 199 {
                bail!(
                    "removing the cgroup {}: {} still busy (processes: {left:?})",
                    self.path.display(),
                    busy.join(", ")
                );
            }
            // A process killed a moment ago leaves its cgroup a moment later.
            std::thread::sleep(Duration::from_millis(5));
        }
        // The parent ("/ctr"), if no other container is in it: an empty
        // parent left behind is litter; a busy one is someone else's.
        if let Some(parent) = self.path.parent().filter(|p| *p != Path::new("/")) {
            let parent = Cgroup::new(self.layout.clone(), parent);
            for dir in parent.dirs() {
                _ = fs::remove_dir(dir);
            }
        }
        Ok(())
    }
    // ANCHOR_END: remove

    /// How many times the OOM killer killed a process of it.
    pub fn oom_kills(&self) -> u64 {
        let (file, key) = match self.layout {
            Layout::V2(_) => ("memory.events", "oom_kill"),
            Layout::V1(_) => ("memory.oom_control", "oom_kill"),
        };
        self.dir("memory")
            .and_then(|d| fs::read_to_string(d.join(file)).ok())
            .and_then(|text| {
                text.lines().find_map(|l| {
                    let (k, v) = l.split_once(' ')?;
                    (k == key).then(|| v.trim().parse().ok())?
                })
            })
            .unwrap_or(0)
    }

    /// What `ctr stats` shows.
    pub fn usage(&self) -> Usage {
        let read = |controller: &str, file: &str| -> Option<String> {
            fs::read_to_string(self.dir(controller)?.join(file))
                .ok()
                .map(|s| s.trim().to_string())
        };
        let number =
            |controller: &str, file: &str| -> Option<u64> { read(controller, file)?.parse().ok() };
        let keyed = |controller: &str, file: &str, key: &str| -> Option<u64> {
            read(controller, file)?.lines().find_map(|l| {
                let (k, v) = l.split_once(' ')?;
                (k == key).then(|| v.trim().parse().ok())?
            })
        };
        match self.layout {
            Layout::V2(_) => Usage {
                // As docker: the page cache that can be dropped is not "used".
                memory: number("memory", "memory.current").map(|m| {
                    m.saturating_sub(keyed("memory", "memory.stat", "inactive_file").unwrap_or(0))
                }),
                memory_limit: read("memory", "memory.max").and_then(|m| m.parse().ok()),
                cpu_nanos: keyed("cpu", "cpu.stat", "usage_usec").map(|u| u * 1000),
                pids: number("pids", "pids.current"),
            },
            Layout::V1(_) => Usage {
                memory: number("memory", "memory.usage_in_bytes").map(|m| {
                    m.saturating_sub(
                        keyed("memory", "memory.stat", "total_inactive_file").unwrap_or(0),
                    )
                }),
                // v1 says "no limit" with a huge number (PAGE_COUNTER_MAX pages).
                memory_limit: number("memory", "memory.limit_in_bytes").filter(|l| *l < 1 << 62),
                cpu_nanos: number("cpuacct", "cpuacct.usage"),
                pids: number("pids", "pids.current"),
            },
        }
    }
}

/// A cgroup's use of the machine, read from its files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub memory: Option<u64>,
    /// None when there is no limit.
    pub memory_limit: Option<u64>,
    /// CPU time used, all CPUs together.
    pub cpu_nanos: Option<u64>,
    pub pids: Option<u64>,
}

fn make_dir(dir: &Path) -> Result<()> {
    match fs::create_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(err) => Err(err).with_context(|| format!("creating the cgroup {}", dir.display())),
    }
}

/// Removes `dir` and the cgroups below it, deepest first; those still
/// busy are named in `busy`.
fn remove_tree(dir: &Path, busy: &mut Vec<String>) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path(), busy);
            }
        }
    }
    match fs::remove_dir(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) => busy.push(dir.display().to_string()),
    }
}

/// v1 cpuset: an empty cpus or mems is taken from the nearest ancestor
/// that has one, from the top down.
fn copy_cpuset(dir: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mut chain = Vec::new();
        let mut at = dir.to_path_buf();
        while at.join(file).exists() {
            chain.push(at.clone());
            if !at.pop() {
                break;
            }
        }
        chain.reverse();
        let mut value = String::new();
        for cgroup in chain {
            let path = cgroup.join(file);
            let current = fs::read_to_string(&path)
                .unwrap_or_default()
                .trim()
                .to_string();
            if current.is_empty() {
                fs::write(&path, &value)
                    .with_context(|| format!("copying {value} into {}", path.display()))?;
            } else {
                value = current;
            }
        }
    }
    Ok(())
}

/// Whether this process runs in the host's user namespace (see
/// [`plan::host_user_namespace`]); when /proc cannot tell, it is taken to.
fn in_host_user_namespace() -> bool {
    fs::read_to_string("/proc/self/uid_map").map_or(true, |map| plan::host_user_namespace(&map))
}
