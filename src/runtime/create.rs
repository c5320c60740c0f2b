//! `create`: makes a container from a bundle and leaves it waiting. The
//! runtime clones the container's init into its new namespaces; the init
//! makes the root filesystem and takes the process's identity, then blocks
//! opening `ROOT/ID/exec.fifo` for writing, which succeeds only once
//! `start` opens it for reading. Between the two the container is
//! *created*: its namespaces exist (an engine sets up its network then),
//! none of its program has run.
//!
//! The runtime and the init talk over a socket pair: the runtime says "go"
//! (once it has done what must come first, such as a cgroup), the init
//! asks for the createRuntime hooks at their point, and says "ready" or why
//! it failed.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::sched::{clone, setns, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{mkfifo, Pid};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::bundle::Bundle;
use super::cgroups::{Cgroup, Layout};
use super::init::{self, Init};
use super::state::{Saved, State, Status};
use super::supported::asks_nothing;
use super::{hooks, ContainerId};

/// The fifo that holds a created container back until `start`.
pub const FIFO: &str = "exec.fifo";

/// The annotation that asks for the runtime's own init as PID 1 (docker's
/// `--init`): it runs the process as its child, forwards signals to it and
/// reaps orphans.
pub const INIT_ANNOTATION: &str = "org.ctr.init";

/// What the caller of `create` adds to config.json.
#[derive(Default)]
pub struct CreateOptions {
    /// The socket the pty's master is sent over, for `process.terminal`.
    pub console: Option<OwnedFd>,
    /// Where to write PID 1's PID (`--pid-file`).
    pub pid_file: Option<PathBuf>,
    /// The signal PID 1 gets when the thread that created it ends (the
    /// engine's: a container dies with its monitor). None for a runtime
    /// that exits after create, as ctr-runtime does.
    pub parent_death_signal: Option<Signal>,
    /// What the init prefixes the error with when the program cannot be
    /// executed after `start` (its stderr is the container's).
    pub exec_error_prefix: String,
    /// Descriptors 3 to 3+N-1 of the caller's go on to the container
    /// (`--preserve-fds`); every other one is closed.
    pub preserve_fds: i32,
    /// Look the command up before `create` returns, as runc does, so that a
    /// command missing from the image fails `create` (see
    /// `command::find`): for a caller that is gone before the program runs.
    /// Otherwise the program's status says it (127, 126), docker's way.
    pub check_command: bool,
}

/// A container made, waiting for `start`: its PID 1 is a child of the
/// caller, who reaps it.
pub struct Created {
    pub pid: Pid,
}

// ANCHOR: create
pub fn create(
    root: &Path,
    id: &ContainerId,
    bundle_dir: &Path,
    options: CreateOptions,
) -> Result<Created> {
    let bundle = Bundle::load(bundle_dir)?;
    let spec = &bundle.spec;
    let terminal = spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    match (terminal, &options.console) {
        (true, None) => {
            bail!("process.terminal is true but no console socket was given (--console-socket)")
        }
        (false, Some(_)) => {
            bail!("a console socket was given but process.terminal is not true")
        }
        _ => {}
    }
    fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let dir = Saved::dir(root, id);
    match fs::create_dir(&dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("container {id} already exists: delete it first, or choose another ID")
        }
        Err(err) => return Err(err).with_context(|| format!("creating {}", dir.display())),
    }
    let made = (|| {
        let created = spawn(root, id, &bundle, &options)?;
        if let Some(path) = &options.pid_file {
            write_pid_file(path, created.pid)?;
        }
        Ok(created)
    })();
    if made.is_err() {
        _ = fs::remove_dir_all(&dir);
    }
    made
}
// ANCHOR_END: create

fn spawn(
    root: &Path,
    id: &ContainerId,
    bundle: &Bundle,
    options: &CreateOptions,
) -> Result<Created> {
    let dir = Saved::dir(root, id);
    let fifo_path = dir.join(FIFO);
    // 0622, as runc: PID 1 may no longer be root when it opens it.
    mkfifo(&fifo_path, Mode::from_bits_truncate(0o622))
        .with_context(|| format!("making {}", fifo_path.display()))?;
    // mkfifo's mode went through our umask.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&fifo_path, fs::Permissions::from_mode(0o622))
        .with_context(|| format!("chmod {}", fifo_path.display()))?;
    // O_PATH: reopened through /proc/self/fd by the init, from inside its
    // root, where ROOT is out of sight.
    let fifo: OwnedFd = fs::OpenOptions::new()
        .read(true)
        .custom_flags_path()
        .open(&fifo_path)
        .with_context(|| format!("opening {}", fifo_path.display()))?
        .into();
    let (mut flags, joined, pid_ns) = namespaces(&bundle.spec)?;
    // A new cgroup namespace is rooted at the cgroup of the process that
    // makes it: the init makes it itself, once it is in its own cgroup.
    let new_cgroup_ns = flags.contains(CloneFlags::CLONE_NEWCGROUP);
    flags.remove(CloneFlags::CLONE_NEWCGROUP);
    let cgroup = cgroup_for(&bundle.spec, id)?;
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("making the socket pair to the container's init")?;
    let annotations = bundle.spec.annotations().clone().unwrap_or_default();
    let has_hooks = bundle
        .spec
        .hooks()
        .as_ref()
        .and_then(|h| h.create_runtime().as_ref())
        .is_some_and(|h| !h.is_empty());
    // Compiled here, before anything is made: a profile libseccomp refuses
    // is an error of create's, and the init inherits the filter ready.
    let seccomp = match bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    {
        Some(profile) => Some(super::seccomp::prepare(
            profile,
            &root.join(super::seccomp::CACHE),
        )?),
        None => None,
    };
    let init = Init {
        spec: &bundle.spec,
        seccomp: seccomp.as_ref(),
        rootfs: &bundle.rootfs,
        sync: &theirs,
        fifo: &fifo,
        console: options.console.as_ref(),
        joined: &joined,
        parent_death_signal: options.parent_death_signal,
        as_init: annotations
            .get(INIT_ANNOTATION)
            .is_some_and(|v| v == "true"),
        hooks: has_hooks,
        exec_error_prefix: &options.exec_error_prefix,
        preserve_fds: options.preserve_fds,
        check_command: options.check_command,
        new_cgroup_ns,
        new_user_ns: flags.contains(CloneFlags::CLONE_NEWUSER),
    };
    // A PID namespace joined by path is entered by our children: set it for
    // the clone, then back.
    let own_pid_ns = match &pid_ns {
        Some(fd) => {
            let own = File::open("/proc/self/ns/pid").context("opening our PID namespace")?;
            setns(fd, CloneFlags::CLONE_NEWPID).context("joining the PID namespace by path")?;
            Some(own)
        }
        None => None,
    };
    let mut stack = vec![0u8; 8 << 20];
    // The init is the runtime's binary until it execs, and a process of a
    // PID namespace joined by path could look at it from its first
    // instruction: it is born not dumpable (the flag is copied to a
    // child), so its /proc/PID/exe is closed to the container (runc's
    // CVE-2019-5736). Ours is set back at once.
    // Rootless, it stays dumpable: a process not dumpable has its /proc
    // files checked against the user namespace its memory was made in, the
    // host's, where the engine has no capability, so the engine could not
    // open its namespaces; and the user's container cannot write a binary
    // the user cannot.
    // SAFETY: prctl with integer arguments.
    let dumpable = unsafe { libc::prctl(libc::PR_GET_DUMPABLE) };
    if crate::rootless::active().is_none() {
        // SAFETY: as above.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0) };
    }
    // SAFETY: the runtime is single-threaded here (the engine starts its
    // threads after create), so the child, a copy of this process, holds
    // no lock another thread held. It runs on its own stack and ends in
    // execve or _exit.
    let pid = unsafe {
        clone(
            Box::new(|| init::run(&init)),
            &mut stack,
            flags,
            Some(Signal::SIGCHLD as i32),
        )
    };
    if dumpable > 0 {
        // SAFETY: as above.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, dumpable) };
    }
    let pid = pid.context("clone(2) failed to create the container's namespaces")?;
    if let Some(own) = own_pid_ns {
        setns(own, CloneFlags::CLONE_NEWPID).context("returning to our PID namespace")?;
    }
    drop(theirs);
    let talked = (|| {
        // A user namespace of its own gets its ids before the init does
        // anything in it (see `write_id_maps`).
        if flags.contains(CloneFlags::CLONE_NEWUSER) {
            write_id_maps(&bundle.spec, pid)?;
        }
        // In its cgroup, limits written, before it does anything (runc:
        // "so that no children can escape").
        if let Some(cgroup) = &cgroup {
            let resources = bundle.spec.linux().as_ref().and_then(|l| {
                let mut resources = l.resources().clone()?;
                let rules = resources.devices().clone().unwrap_or_default();
                let devices = l.devices().clone().unwrap_or_default();
                resources.set_devices(Some(super::cgroups::plan::with_default_devices(
                    &rules, &devices,
                )));
                Some(resources)
            });
            cgroup.create(resources.as_ref())?;
            cgroup.add(pid.as_raw())?;
        }
        talk(&ours, id, bundle, pid)
    })();
    if let Err(err) = talked {
        _ = kill(pid, Signal::SIGKILL);
        _ = waitpid(pid, None);
        if let Some(cgroup) = &cgroup {
            _ = cgroup.remove();
        }
        return Err(err);
    }
    let saved = Saved {
        id: id.clone(),
        pid: pid.as_raw(),
        pid_start: super::state::proc_stat(pid.as_raw())
            .map(|(_, start)| start)
            .unwrap_or_default(),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::show::now_rfc3339(),
        annotations: annotations.into_iter().collect(),
        hooks: bundle.spec.hooks().clone(),
        cgroup,
        seccomp: bundle
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().clone()),
    };
    saved.save(root)?;
    Ok(Created { pid })
}

/// The runtime's side of the conversation with the init.
fn talk(sync: &OwnedFd, id: &ContainerId, bundle: &Bundle, pid: Pid) -> Result<()> {
    send(sync, b"go")?;
    loop {
        let message = receive(sync)?;
        match message.as_slice() {
            b"ready" => return Ok(()),
            b"hooks" => {
                let state = creating_state(id, bundle, pid);
                let list = bundle
                    .spec
                    .hooks()
                    .as_ref()
                    .and_then(|h| h.create_runtime().clone())
                    .unwrap_or_default();
                hooks::run(&list, &state).context("createRuntime hooks")?;
                send(sync, b"go")?;
            }
            [] => {
                let status = waitpid(pid, None).ok();
                bail!(
                    "the container's init ended before it was ready ({status:?}): \
                     see its messages above"
                )
            }
            other => match other.strip_prefix(b"error:") {
                Some(why) => bail!("{}", String::from_utf8_lossy(why)),
                None => bail!(
                    "the container's init said {:?}",
                    String::from_utf8_lossy(other)
                ),
            },
        }
    }
}

fn creating_state(id: &ContainerId, bundle: &Bundle, pid: Pid) -> State {
    State {
        oci_version: oci_spec::runtime::VERSION.to_string(),
        id: id.to_string(),
        pid: pid.as_raw(),
        // runtime-spec: createRuntime hooks see "creating"; our Status has
        // no such value outside, so hooks are told "created".
        status: Status::Created,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::show::now_rfc3339(),
        owner: String::new(),
        annotations: bundle
            .spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
    }
}

pub fn send(sync: &OwnedFd, message: &[u8]) -> Result<()> {
    nix::unistd::write(sync, message).context("talking to the container's init")?;
    Ok(())
}

/// One message; empty when the other side closed its end.
pub fn receive(sync: &OwnedFd) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; 65536];
    let n = loop {
        match nix::unistd::read(sync, &mut buf[..]) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.context("listening to the container's init")?,
        }
    };
    buf.truncate(n);
    Ok(buf)
}

// ANCHOR: cgroup_for
/// The container's cgroup: `linux.cgroupsPath` from the top of the tree,
/// or, when only limits are asked, one of ctr-runtime's own. None when
/// neither: the container stays in the runtime's cgroup, as runc's would.
fn cgroup_for(spec: &Spec, id: &ContainerId) -> Result<Option<Cgroup>> {
    let linux = spec.linux().clone().unwrap_or_default();
    let asks = linux
        .resources()
        .as_ref()
        .is_some_and(|r| serde_json::to_value(r).is_ok_and(|v| !asks_nothing(&v)));
    let path = match (linux.cgroups_path(), asks) {
        (Some(path), _) if !path.as_os_str().is_empty() => path.clone(),
        (_, true) => PathBuf::from("/ctr-runtime").join(id),
        _ => return Ok(None),
    };
    Ok(Some(Cgroup::new(Layout::detect()?, &path)))
}
// ANCHOR_END: cgroup_for

/// The clone flags of the namespaces made new, the descriptors of those
/// joined by path (PID apart: see `spawn`).
#[allow(clippy::type_complexity)]
fn namespaces(spec: &Spec) -> Result<(CloneFlags, Vec<(CloneFlags, OwnedFd)>, Option<OwnedFd>)> {
    let mut flags = CloneFlags::empty();
    let mut joined = Vec::new();
    let mut pid = None;
    let list = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    for ns in list {
        let flag = match ns.typ() {
            LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
            LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
            LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
            LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
            LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
            LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
            LinuxNamespaceType::User if ns.path().is_none() => CloneFlags::CLONE_NEWUSER,
            other => bail!("linux.namespaces: {other:?} is not implemented"),
        };
        match ns.path() {
            None => flags |= flag,
            Some(path) => {
                // Opened now, before the new mount namespace could hide it.
                let fd: OwnedFd = File::open(path)
                    .with_context(|| format!("opening the namespace {}", path.display()))?
                    .into();
                if flag == CloneFlags::CLONE_NEWPID {
                    pid = Some(fd);
                } else {
                    joined.push((flag, fd));
                }
            }
        }
    }
    Ok((flags, joined, pid))
}

// ANCHOR: id_maps
/// linux.uidMappings and gidMappings, written to the init's /proc/PID/
/// uid_map and gid_map: each file once, whole (user_namespaces(7)); the
/// runtime, root of the parent namespace, may map any ids.
fn write_id_maps(spec: &Spec, pid: Pid) -> Result<()> {
    let linux = spec.linux().clone().unwrap_or_default();
    for (file, mappings) in [
        ("uid_map", linux.uid_mappings()),
        ("gid_map", linux.gid_mappings()),
    ] {
        let text: String = mappings
            .iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect();
        if text.is_empty() {
            bail!(
                "linux.namespaces asks for a user namespace, but linux.{} is empty: \
                 give the ids it maps",
                if file == "uid_map" {
                    "uidMappings"
                } else {
                    "gidMappings"
                }
            );
        }
        let path = format!("/proc/{pid}/{file}");
        fs::write(&path, &text)
            .with_context(|| format!("writing {path} ({})", text.trim().replace('\n', ", ")))?;
    }
    Ok(())
}
// ANCHOR_END: id_maps

/// Written whole or not at all (runc#652: a reader saw it half-written).
fn write_pid_file(path: &Path, pid: Pid) -> Result<()> {
    let tmp = path.with_extension("tmp-ctr-runtime");
    fs::write(&tmp, pid.to_string()).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("writing the pid file {}", path.display()))
}

/// `O_PATH` for `OpenOptions`.
trait PathOnly {
    fn custom_flags_path(&mut self) -> &mut Self;
}

impl PathOnly for fs::OpenOptions {
    fn custom_flags_path(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_PATH)
    }
}
