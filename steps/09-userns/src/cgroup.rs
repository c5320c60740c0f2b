//! A control group per container, and the limits the kernel holds it to.
//!
//! A cgroup is a directory of the cgroup filesystem, under /sys/fs/cgroup.
//! `mkdir` makes one; writing a PID into its `cgroup.procs` moves that
//! process in, and what the process forks from then on is born there;
//! writing into its other files sets limits that its processes share, and
//! the kernel enforces; `rmdir` removes it, once no process is left in it.
//!
//! There are two versions of that filesystem. cgroup v2 is one tree, in
//! which each cgroup holds the files of every controller its parent hands
//! down; current distributions mount it. cgroup v1 is one tree per
//! controller (memory, pids, cpu...), each a filesystem of its own under
//! /sys/fs/cgroup; older hosts mount it. The lesson speaks both.
//!
//! Lesson 8 adds the rules of which devices the container may use
//! (devices.rs): v1's devices controller, or v2's BPF program.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
use nix::unistd::Pid;

use crate::{devices, say};

/// Where the cgroup filesystem is.
const ROOT: &str = "/sys/fs/cgroup";
/// The cgroup the lesson's containers go in, at the top of the tree (as
/// docker's go in `docker`). Cgroups are not namespaced: the name is the
/// host's, seen by everything on it.
const PARENT: &str = "step-09";
/// The controllers the lesson uses. v1 mounts a tree for each (cpuacct
/// counts the CPU time that cpu limits); v2 hands them down its one tree
/// (where cpu counts the time itself, and a BPF program does what v1's
/// devices controller does).
const V1_CONTROLLERS: [&str; 5] = ["cpu", "cpuacct", "memory", "pids", "devices"];
const V2_CONTROLLERS: [&str; 3] = ["cpu", "memory", "pids"];
/// The period a CPU quota is counted in, in microseconds: the kernel's
/// default, 100 ms.
const CPU_PERIOD: u64 = 100_000;

// ANCHOR: limits
/// What the container may use. Each limit is off unless given.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Limits {
    /// The most memory its processes may use together, and no swap: bytes,
    /// or a number and k, m or g (32M is 32 MiB)
    #[arg(long, value_parser = parse_memory)]
    pub memory: Option<u64>,
    /// The most processes (threads included) it may have at once
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub pids: Option<u64>,
    /// How many CPUs' worth of time it may use: 0.5 is half of one
    #[arg(long, value_parser = parse_cpus)]
    pub cpus: Option<f64>,
}
// ANCHOR_END: limits

// ANCHOR: version
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Version {
    V1,
    V2,
}

/// With v2, /sys/fs/cgroup is itself a cgroup2 filesystem (statfs(2) says
/// so by its magic number). With v1 it is a tmpfs, and each controller's
/// tree is a cgroup filesystem mounted in a directory of it.
fn version() -> Result<Version> {
    let fs =
        statfs(ROOT).with_context(|| format!("looking at {ROOT}: is sysfs mounted on /sys?"))?;
    Ok(if fs.filesystem_type() == CGROUP2_SUPER_MAGIC {
        Version::V2
    } else {
        Version::V1
    })
}

/// The tree that holds CONTROLLER's files.
fn tree(version: Version, controller: &str) -> PathBuf {
    match version {
        Version::V2 => PathBuf::from(ROOT),
        Version::V1 => Path::new(ROOT).join(controller),
    }
}
// ANCHOR_END: version

// ANCHOR: settings
/// A value to write into a file of the container's cgroup.
#[derive(Debug, PartialEq)]
pub struct Setting {
    /// The controller whose file it is: with v1, the tree it is in.
    pub controller: &'static str,
    pub file: &'static str,
    pub value: String,
}

/// What to write for LIMITS, in this order. Pure: the tests check it, and
/// `Cgroup::create` does it.
pub fn settings(version: Version, limits: &Limits) -> Vec<Setting> {
    let mut settings = Vec::new();
    let mut set = |controller, file, value: String| {
        settings.push(Setting {
            controller,
            file,
            value,
        })
    };
    if let Some(bytes) = limits.memory {
        // Without a limit on swap too, a host with swap pushes the
        // container's memory out to disk instead of holding it to the limit.
        match version {
            Version::V2 => {
                set("memory", "memory.max", bytes.to_string());
                set("memory", "memory.swap.max", "0".into());
            }
            Version::V1 => {
                // memsw is memory and swap together: the same figure, no swap.
                // It may only be set at or above limit_in_bytes: that first.
                set("memory", "memory.limit_in_bytes", bytes.to_string());
                set("memory", "memory.memsw.limit_in_bytes", bytes.to_string());
            }
        }
    }
    if let Some(max) = limits.pids {
        set("pids", "pids.max", max.to_string());
    }
    if let Some(cpus) = limits.cpus {
        // A quota of CPU time in each period: 50 ms in every 100 ms is half
        // a CPU; 200 ms in every 100 ms, two CPUs busy at once.
        let quota = (cpus * CPU_PERIOD as f64).round() as u64;
        match version {
            Version::V2 => set("cpu", "cpu.max", format!("{quota} {CPU_PERIOD}")),
            Version::V1 => {
                set("cpu", "cpu.cfs_period_us", CPU_PERIOD.to_string());
                set("cpu", "cpu.cfs_quota_us", quota.to_string());
            }
        }
    }
    settings
}

/// The swap limits exist only where the kernel accounts for swap.
fn is_swap(file: &str) -> bool {
    file.contains("swap") || file.contains("memsw")
}
// ANCHOR_END: settings

// ANCHOR: create
/// The container's cgroup: one directory with v2, one in each controller's
/// tree with v1. Dropping it removes it.
pub struct Cgroup {
    dirs: Vec<PathBuf>,
}

impl Cgroup {
    /// Makes the cgroup `step-09/NAME`, writes LIMITS into it, and lets
    /// it open only the harmless devices.
    pub fn create(name: &str, limits: &Limits) -> Result<Cgroup> {
        let version = version()?;
        say(match version {
            Version::V2 => "/sys/fs/cgroup is cgroup v2: one tree, for every controller",
            Version::V1 => "/sys/fs/cgroup is cgroup v1: a tree for each controller",
        });
        let mut cgroup = Cgroup { dirs: Vec::new() };
        for tree in trees(version)? {
            let parent = tree.join(PARENT);
            if version == Version::V2 {
                // v2 hands a controller down one level at a time: the top
                // to step-09, step-09 to the container.
                enable_controllers(&tree)?;
            }
            make_dir(&parent, true)?;
            if version == Version::V2 {
                enable_controllers(&parent)?;
            }
            let dir = parent.join(name);
            make_dir(&dir, false)?;
            cgroup.dirs.push(dir);
        }
        for setting in settings(version, limits) {
            let file = tree(version, setting.controller)
                .join(PARENT)
                .join(name)
                .join(setting.file);
            if is_swap(setting.file) && !file.exists() {
                say(&format!(
                    "no {} here (swap accounting is off): the container may swap beyond --memory",
                    setting.file
                ));
                continue;
            }
            write(&file, &setting.value)?;
        }
        let devices = tree(version, "devices").join(PARENT).join(name);
        devices::allow_only_harmless(version, &devices)?;
        Ok(cgroup)
    }
}

/// The trees to make the cgroup in, each once: with v2, the one; with v1,
/// the tree of each controller (cpu and cpuacct are often one, mounted at
/// `cpu,cpuacct`, with `cpu` and `cpuacct` links to it).
fn trees(version: Version) -> Result<Vec<PathBuf>> {
    let mut trees: Vec<PathBuf> = Vec::new();
    for controller in V1_CONTROLLERS {
        let tree = tree(version, controller);
        if !tree.join("cgroup.procs").exists() {
            bail!(
                "there is no cgroup tree for {controller} at {}: mount one \
                 (mount -t cgroup -o {controller} cgroup {0})",
                tree.display()
            );
        }
        let tree = tree.canonicalize().context("resolving a cgroup tree")?;
        if !trees.contains(&tree) {
            trees.push(tree);
        }
    }
    Ok(trees)
}

/// v2: lets the children of DIR use the lesson's controllers, by writing
/// them into its `cgroup.subtree_control`, unless they are there already.
fn enable_controllers(dir: &Path) -> Result<()> {
    let file = dir.join("cgroup.subtree_control");
    let enabled =
        fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let missing: Vec<String> = V2_CONTROLLERS
        .iter()
        .filter(|c| !enabled.split_whitespace().any(|e| e == **c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let value = missing.join(" ");
    echo(&file, &value).map_err(|err| {
        let why = if is(&err, Errno::EBUSY) {
            // "No internal processes": a cgroup other than the root cannot
            // both hold processes and hand controllers down.
            format!(
                "{} holds processes, so it cannot hand controllers to children \
                 (cgroup v2's \"no internal processes\" rule): move them into a child cgroup",
                dir.display()
            )
        } else {
            format!(
                "{}/cgroup.controllers lists the controllers it has: its parent must hand down the others",
                dir.display()
            )
        };
        anyhow::Error::new(err).context(format!("writing '{value}' to {}: {why}", file.display()))
    })
}
// ANCHOR_END: create

// ANCHOR: add
impl Cgroup {
    /// Moves process PID into the cgroup. Its children will be born in it.
    pub fn add(&self, pid: Pid) -> Result<()> {
        for dir in &self.dirs {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }
}
// ANCHOR_END: add

// ANCHOR: remove
impl Drop for Cgroup {
    /// Removes the container's cgroup, then step-09 if no other container
    /// of the lesson is in it.
    fn drop(&mut self) {
        for dir in &self.dirs {
            if let Err(err) = remove(dir) {
                say(&format!("{err:#}"));
            }
        }
        for parent in self.dirs.iter().filter_map(|dir| dir.parent()) {
            match fs::remove_dir(parent) {
                Ok(()) => say(&format!("+ rmdir {}", parent.display())),
                // Another container of the lesson is in it (EBUSY), or it is gone.
                Err(err) if is(&err, Errno::EBUSY) || err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => say(&format!("removing {}: {err}", parent.display())),
            }
        }
    }
}

/// Removes the cgroup DIR. The container's PID 1 has exited, and the kernel
/// killed the rest of its PID namespace with it; but a process can be put
/// into a cgroup from outside too, and an exiting one may linger a moment.
fn remove(dir: &Path) -> Result<()> {
    for _ in 0..100 {
        match fs::remove_dir(dir) {
            Ok(()) => {
                say(&format!("+ rmdir {}", dir.display()));
                return Ok(());
            }
            Err(err) if is(&err, Errno::EBUSY) => kill_all(dir)?,
            Err(err) => return Err(err).with_context(|| format!("removing {}", dir.display())),
        }
        sleep(Duration::from_millis(10));
    }
    bail!(
        "{} still has processes after 1 s: kill those its cgroup.procs lists, then rmdir it",
        dir.display()
    )
}

/// Kills the processes left in the cgroup DIR.
fn kill_all(dir: &Path) -> Result<()> {
    let procs = fs::read_to_string(dir.join("cgroup.procs"))
        .with_context(|| format!("listing the processes of {}", dir.display()))?;
    let pids: Vec<i32> = procs.lines().filter_map(|l| l.parse().ok()).collect();
    if pids.is_empty() {
        return Ok(()); // exiting: wait
    }
    say(&format!(
        "{} processes left in {}: killing them",
        pids.len(),
        dir.display()
    ));
    // v2's cgroup.kill (Linux 5.14) kills them all at once, even those
    // forking while we read the list.
    let kill_file = dir.join("cgroup.kill");
    if kill_file.exists() {
        return write(&kill_file, "1");
    }
    for pid in pids {
        _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    Ok(())
}
// ANCHOR_END: remove

/// mkdir DIR; with `exist_ok`, a DIR there already is fine.
fn make_dir(dir: &Path, exist_ok: bool) -> Result<()> {
    match fs::create_dir(dir) {
        Ok(()) => {
            say(&format!("+ mkdir {}", dir.display()));
            Ok(())
        }
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists && exist_ok => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => bail!(
            "the cgroup {} exists already: a run of the lesson that was killed left it; \
             `rmdir` it",
            dir.display()
        ),
        Err(err) => Err(err).with_context(|| format!("creating the cgroup {}", dir.display())),
    }
}

/// Writes VALUE into FILE, saying so as the shell command that does the same.
pub fn write(file: &Path, value: &str) -> Result<()> {
    echo(file, value).with_context(|| format!("writing {value:?} to {}", file.display()))
}

fn echo(file: &Path, value: &str) -> io::Result<()> {
    let shown = if value.contains(' ') {
        format!("'{value}'")
    } else {
        value.to_string()
    };
    say(&format!("+ echo {shown} > {}", file.display()));
    fs::write(file, value)
}

fn is(err: &io::Error, errno: Errno) -> bool {
    err.raw_os_error() == Some(errno as i32)
}

// ANCHOR: parse
/// A size as docker's `--memory` takes it: bytes, or a number and k, m or g
/// (either case), each 1024 times the one before.
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a size: give bytes, or a number and k, m or g (32M)");
    let lower = text.to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit());
    let (digits, unit) = lower.split_at(split.unwrap_or(lower.len()));
    let shift = match unit {
        "" | "b" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        _ => return Err(bad()),
    };
    let number: u64 = digits.parse().map_err(|_| bad())?;
    match number.checked_mul(1 << shift) {
        Some(0) => Err("a limit of 0 bytes leaves nothing to run with".into()),
        Some(bytes) => Ok(bytes),
        None => Err(format!("{text:?} is more bytes than there can be")),
    }
}

/// A number of CPUs: 0.5, 2.
pub fn parse_cpus(text: &str) -> Result<f64, String> {
    let cpus: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of CPUs (0.5, 2)"))?;
    // The kernel takes no quota under 1 ms: 1% of a 100 ms period.
    if !(cpus.is_finite() && cpus >= 0.01) {
        return Err(format!(
            "{text}: give at least 0.01 (the kernel's smallest quota is 1 ms in 100)"
        ));
    }
    Ok(cpus)
}
// ANCHOR_END: parse

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(memory: Option<u64>, pids: Option<u64>, cpus: Option<f64>) -> Limits {
        Limits { memory, pids, cpus }
    }

    fn written(version: Version, limits: &Limits) -> Vec<String> {
        settings(version, limits)
            .iter()
            .map(|s| format!("{}/{}={}", s.controller, s.file, s.value))
            .collect::<Vec<_>>()
    }

    #[test]
    fn v2_writes_one_file_per_limit_and_no_swap() {
        let all = limits(Some(32 << 20), Some(20), Some(0.5));
        assert_eq!(
            written(Version::V2, &all),
            [
                "memory/memory.max=33554432",
                "memory/memory.swap.max=0",
                "pids/pids.max=20",
                "cpu/cpu.max=50000 100000",
            ]
        );
    }

    #[test]
    fn v1_writes_each_controllers_tree_and_memsw_after_the_limit() {
        let all = limits(Some(32 << 20), Some(20), Some(1.5));
        assert_eq!(
            written(Version::V1, &all),
            [
                "memory/memory.limit_in_bytes=33554432",
                "memory/memory.memsw.limit_in_bytes=33554432",
                "pids/pids.max=20",
                "cpu/cpu.cfs_period_us=100000",
                "cpu/cpu.cfs_quota_us=150000",
            ]
        );
    }

    #[test]
    fn no_limits_write_nothing() {
        assert!(settings(Version::V2, &Limits::default()).is_empty());
        assert!(settings(Version::V1, &Limits::default()).is_empty());
        assert_eq!(
            written(Version::V1, &limits(None, Some(1), None)),
            ["pids/pids.max=1"]
        );
    }

    #[test]
    fn sizes_are_read_as_docker_reads_them() {
        assert_eq!(parse_memory("33554432"), Ok(33554432));
        assert_eq!(parse_memory("32M"), Ok(32 << 20));
        assert_eq!(parse_memory("32m"), Ok(32 << 20));
        assert_eq!(parse_memory("512k"), Ok(512 << 10));
        assert_eq!(parse_memory("1G"), Ok(1 << 30));
        assert_eq!(parse_memory("100b"), Ok(100));
        for bad in [
            "",
            "M",
            "32 M",
            "32MB",
            "-1",
            "1.5G",
            "0",
            "0m",
            "99999999999g",
        ] {
            assert!(parse_memory(bad).is_err(), "{bad:?} was taken");
        }
    }

    #[test]
    fn cpus_start_at_the_kernels_smallest_quota() {
        assert_eq!(parse_cpus("0.5"), Ok(0.5));
        assert_eq!(parse_cpus("2"), Ok(2.0));
        assert_eq!(parse_cpus("0.01"), Ok(0.01));
        for bad in ["0", "0.001", "-1", "half", "NaN", "inf", ""] {
            assert!(parse_cpus(bad).is_err(), "{bad:?} was taken");
        }
    }
}
