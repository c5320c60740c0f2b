//! The OCI runtime: what runc is to docker, this is to `ctr`. It runs a
//! *bundle* (a directory with config.json and a root filesystem) through the
//! runtime-spec's operations: `create` (namespaces, root, identity; the
//! program held back), `start` (the program runs), `state`, `kill`,
//! `delete`, and `exec` into a running container. The engine calls it as
//! a library; `ctr-runtime` (src/bin/ctr-runtime.rs) is its command line,
//! runc's, so that podman and containerd can drive it too.
//!
//! Its state lives under a root directory (`--root`), one directory per
//! container: `ROOT/ID/state.json` and, while created, `ROOT/ID/exec.fifo`.
//!
//! - [`bundle`]: loading config.json, refusing what is not implemented
//!   ([`supported`]) or makes no sense;
//! - [`create`], the runtime's side, and [`init`], the container's: clone,
//!   the root filesystem ([`rootfs`], [`in_root`], [`mount_options`]), the
//!   terminal ([`console`]), the identity ([`identity`]), the system call
//!   filter ([`seccomp`]), the wait for
//!   `start`, execve ([`command`]), or an init that stays PID 1 ([`reaper`]);
//! - [`cgroups`]: the container's cgroup and `linux.resources`, v1 and v2;
//! - [`lifecycle`]: start, kill, delete, state, list, ps;
//! - [`exec`]: a process joining a running container;
//! - [`hooks`], [`features`], and [`state`], what is kept between commands.

pub mod bind;
pub mod bundle;
pub mod cgroups;
pub mod command;
pub mod console;
pub mod create;
pub mod exec;
pub mod fds;
pub mod features;
pub mod hooks;
pub mod id;
pub mod identity;
pub mod in_root;
pub mod init;
pub mod lifecycle;
pub mod mount_options;
pub mod reaper;
pub mod rootfs;
pub mod seccomp;
pub mod state;
pub mod supported;

use std::path::{Path, PathBuf};

use anyhow::Result;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use oci_spec::runtime::Process;

pub use create::{CreateOptions, Created};
pub use exec::ExecOptions;
pub use id::ContainerId;
pub use state::{State, Status};

/// ctr-runtime's state root when `--root` is not given (runc's is /run/runc).
pub const DEFAULT_ROOT: &str = "/run/ctr-runtime";

/// A runtime whose containers' state lives under `root`.
#[derive(Clone, Debug)]
pub struct Runtime {
    root: PathBuf,
}

impl Runtime {
    pub fn new(root: impl Into<PathBuf>) -> Runtime {
        Runtime { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn create(
        &self,
        id: &ContainerId,
        bundle: &Path,
        options: CreateOptions,
    ) -> Result<Created> {
        create::create(&self.root, id, bundle, options)
    }

    pub fn start(&self, id: &ContainerId) -> Result<()> {
        lifecycle::start(&self.root, id)
    }

    pub fn state(&self, id: &ContainerId) -> Result<State> {
        lifecycle::state(&self.root, id)
    }

    pub fn list(&self) -> Result<Vec<State>> {
        lifecycle::list(&self.root)
    }

    pub fn kill(&self, id: &ContainerId, signal: Signal, all: bool) -> Result<()> {
        lifecycle::kill(&self.root, id, signal, all)
    }

    pub fn delete(&self, id: &ContainerId, force: bool) -> Result<()> {
        lifecycle::delete(&self.root, id, force)
    }

    pub fn ps(&self, id: &ContainerId) -> Result<Vec<i32>> {
        lifecycle::ps(&self.root, id)
    }

    pub fn exec(&self, id: &ContainerId, process: &Process, options: ExecOptions) -> Result<Pid> {
        exec::exec(&self.root, id, process, options)
    }

    /// Whether the OOM killer killed a process of the container (read
    /// before `delete`, which removes the cgroup that counts it).
    pub fn oom_killed(&self, id: &ContainerId) -> bool {
        state::Saved::load(&self.root, id)
            .ok()
            .and_then(|s| s.cgroup)
            .is_some_and(|c| c.oom_kills() > 0)
    }

    /// The container's use of memory, CPU and PIDs, from its cgroup.
    pub fn usage(&self, id: &ContainerId) -> Result<Option<cgroups::Usage>> {
        Ok(state::Saved::load(&self.root, id)?
            .cgroup
            .map(|c| c.usage()))
    }
}

/// Whether this host has cgroup v2 alone mounted on /sys/fs/cgroup (the
/// unified layout of current distributions), rather than v1 hierarchies.
pub fn cgroup_v2_only() -> bool {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type().0 == CGROUP2_SUPER_MAGIC)
}
