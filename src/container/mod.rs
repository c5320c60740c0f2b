//! Containers, the engine's side: what `ctr run` does, from an image's name
//! to an exit status, as docker does it above runc. The engine decides
//! (the process from the image and the flags, the name, the network),
//! writes its decision as an OCI bundle (config.json and the rootfs, an
//! overlay it mounts), and asks the runtime ([`crate::runtime`]) to create
//! the container; between create and start it connects the network; then
//! it waits, as the container's monitor, and tears down what it made.
//!
//! A container's files: `CTR_ROOT/containers/ID/` holds the engine's record
//! (container.json), the bundle (config.json, rootfs/), the overlay's
//! upper/ and work/, and the /etc files; the runtime keeps its own state
//! under `CTR_ROOT/runtime/ID/`.

pub mod confine;
mod gone;
pub mod join;
pub mod lifecycle;
pub mod limits;
pub mod logs;
pub mod overlay;
pub mod remap;
pub mod restart;
pub mod seccomp;
pub mod spec;
pub mod stats;
pub mod tty;
pub mod volumes;

use std::fs::{self, File};
use std::io::Read;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, signal, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::config::{self, RunOptions};
use crate::digest::Digest;
use crate::exit;
use crate::image::Store;
use crate::net::{self, apply::Holder, ipam::Ipam, Mode, Port};
use crate::runtime::{self, in_root, ContainerId, CreateOptions, Runtime};
use overlay::Overlay;

/// `ctr run`'s request, as parsed from the command line.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub image: String,
    pub name: Option<String>,
    pub rm: bool,
    pub init: bool,
    pub interactive: bool,
    pub tty: bool,
    pub hostname: Option<String>,
    /// `-d`: start it, print its ID and leave it running in the background.
    pub detach: bool,
    pub network: Mode,
    /// `-p`, checked and parsed.
    pub ports: Vec<Port>,
    /// `--memory`, `--cpus`, `--pids-limit`...
    pub limits: limits::Limits,
    /// `--cap-add`, `--privileged`, `--security-opt`, `--device`...
    pub confine: confine::Asked,
    /// The options that shape the process (cmd, env, user...).
    pub options: RunOptions,
    /// `--restart`: whether its monitor starts it again when it ends.
    pub restart: restart::Policy,
    /// `--stop-signal`, over the image's StopSignal.
    pub stop_signal: Option<String>,
    /// `--stop-timeout`: seconds `ctr stop` waits before SIGKILL.
    pub stop_timeout: Option<u64>,
    /// `--add-host`, `--dns`, `--label`.
    pub extra_hosts: Vec<(String, std::net::IpAddr)>,
    pub dns: Vec<std::net::IpAddr>,
    pub labels: std::collections::BTreeMap<String, String>,
    /// `-v`, `--mount`, `--tmpfs`.
    pub volumes: volumes::Flags,
    /// `--userns`: host (the default), or remap[:USER] (see remap.rs).
    pub userns: Option<String>,
}

/// What the engine decided, and how the container ended: CTR_ROOT/
/// containers/ID/container.json. Whether it runs, and its PID, are the
/// runtime's to say ([`Record::status`]).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Record {
    pub id: ContainerId,
    pub name: String,
    pub image: String,
    pub image_id: Digest,
    pub argv: Vec<String>,
    pub created: u64,
    /// The ctr process that watches the container (its parent): alive
    /// while it runs. A PID can be reused: `monitor_start`, its start time
    /// in /proc/PID/stat, tells whether the process of that PID is still it.
    pub monitor: u32,
    #[serde(default)]
    pub monitor_start: u64,
    #[serde(default)]
    pub network: Mode,
    #[serde(default)]
    pub address: Option<Ipv4Addr>,
    #[serde(default)]
    pub ports: Vec<Port>,
    /// `--stop-signal` or the image's StopSignal, for `ctr stop`.
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// `--stop-timeout`, for `ctr stop` without `-t`.
    #[serde(default)]
    pub stop_timeout: Option<u64>,
    /// Its hostname, and whether it has a terminal: what starting it again
    /// (`ctr start`, a restart) needs that config.json does not tell the engine.
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub restart: restart::Policy,
    /// How many times its monitor started it again.
    #[serde(default)]
    pub restart_count: u32,
    /// When it last started, in seconds since the epoch.
    #[serde(default)]
    pub started: Option<u64>,
    /// `--add-host`, `--dns`: its /etc files are written again at each start.
    #[serde(default)]
    pub extra_hosts: Vec<(String, std::net::IpAddr)>,
    #[serde(default)]
    pub dns: Vec<std::net::IpAddr>,
    /// The image's labels and `--label`s.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// `--userns`, for starting it again on the same shifted layers.
    #[serde(default)]
    pub userns: Option<String>,
    /// How it ended, written by its monitor.
    #[serde(default)]
    pub exit: Option<Exit>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Exit {
    pub code: u8,
    /// When, in seconds since the epoch.
    pub finished: u64,
    /// The kernel's OOM killer killed a process of it (docker's OOMKilled).
    #[serde(default)]
    pub oom_killed: bool,
}

/// What `ps` shows and what the commands check.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// Made, not started yet (or between its monitor's steps).
    Created,
    Running {
        pid: i32,
    },
    /// Ended with this status; its monitor will start it again (`--restart`).
    Restarting(u8),
    Exited(u8),
}

impl Record {
    /// Whether its monitor still runs: the container is running, or its
    /// network is being torn down. A container whose ctr was killed is not.
    pub fn monitor_alive(&self) -> bool {
        // A zombie has done all a monitor does (the exit recorded, the
        // network torn down); only its parent has yet to reap it.
        self.monitor != 0
            && runtime::state::proc_stat(self.monitor as i32)
                .is_some_and(|(state, start)| start == self.monitor_start && state != 'Z')
    }

    /// Whether it is live: not ended, and watched by its monitor.
    pub fn live(&self) -> bool {
        self.exit.is_none() && self.monitor_alive()
    }

    /// Its status: how it ended if it did; running while the runtime says
    /// so. A container whose monitor was killed died with it (the kernel
    /// sends SIGKILL: see `parent_death_signal` below): 137.
    pub fn status(&self, runtime: &Runtime) -> Status {
        if let Some(exit) = &self.exit {
            if self.monitor_alive() {
                return Status::Restarting(exit.code);
            }
            return Status::Exited(exit.code);
        }
        if !self.monitor_alive() {
            return Status::Exited(137);
        }
        match runtime.state(&self.id) {
            Ok(state) if state.status == runtime::Status::Running => {
                Status::Running { pid: state.pid }
            }
            _ => Status::Created,
        }
    }

    pub fn short_id(&self) -> &str {
        self.id.short()
    }
}

/// The file that says someone stopped the container on purpose: its
/// monitor does not restart it (`--restart`); `ctr start` removes it.
pub const STOPPED: &str = "stopped";

pub fn containers_dir(store: &Store) -> PathBuf {
    store.root().join("containers")
}

/// The runtime the engine drives, its state under the store (a rootless
/// ctr's under $XDG_RUNTIME_DIR, as podman's: it does not outlive a boot).
pub fn runtime(store: &Store) -> Runtime {
    match crate::rootless::active() {
        Some(rootless) => Runtime::new(rootless.dirs.state.join("runtime")),
        None => Runtime::new(store.root().join("runtime")),
    }
}

/// Every container's record.
pub fn records(store: &Store) -> Result<Vec<Record>> {
    let dir = containers_dir(store);
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path()
            .join("container.json");
        // A container being created or removed has no record yet, or no more.
        if let Ok(bytes) = fs::read(&path) {
            out.push(
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("parsing {}", path.display()))?,
            );
        }
    }
    Ok(out)
}

/// Whether a live container uses image `id` (for `rmi`).
pub fn image_in_use(store: &Store, id: &Digest) -> Result<bool> {
    Ok(records(store)?
        .iter()
        .any(|r| &r.image_id == id && r.live()))
}

/// docker's rule for names, `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, except that one
/// character is enough: `ctr run --name r redis` is what people type.
pub fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = !name.is_empty()
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok {
        bail!("invalid container name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-]* are allowed");
    }
    Ok(())
}

// ANCHOR: run
/// Runs a container: to its end, returning its exit status; or, with `-d`,
/// until it has started, leaving a monitor process behind to wait for it.
pub fn run(store: &Store, request: Request) -> Result<u8> {
    let (record, dir, decided) = create(store, &request)?;
    if request.detach {
        let id = record.id.clone();
        detach(store, &request, record, &dir, decided)?;
        println!("{id}");
        return Ok(0);
    }
    monitor(store, &request, record, &dir, decided, None)
}
// ANCHOR_END: run

// ANCHOR: monitor
/// The container's parent from start to end: starts it, waits for it, then
/// tears down what the engine made and records how it ended (or removes
/// it, `--rm`); with `--restart`, starts it again when the policy says so.
/// `ready` (with `-d`) hears "ok" once the container runs, or why it could not.
fn monitor(
    store: &Store,
    request: &Request,
    mut record: Record,
    dir: &Path,
    mut decided: Decided,
    mut ready: Option<OwnedFd>,
) -> Result<u8> {
    let mut delay = None;
    loop {
        let began = std::time::Instant::now();
        let result = start_and_wait(store, request, &mut record, dir, &decided, ready.take());
        let status = *result.as_ref().unwrap_or(&exit::FAILED);
        // Read before teardown removes the cgroup that counts it.
        let decided_oom = runtime(store).oom_killed(&record.id);
        let errors = teardown(store, &record, dir);
        let mut errors: Vec<String> = errors.into_iter().map(|e| format!("{e:#}")).collect();
        let cleanup = if request.rm {
            // docker's --rm takes the container's anonymous volumes too.
            crate::volume::read_uses(dir).and_then(|uses| {
                lifecycle::remove_files(dir)?;
                crate::volume::remove_anonymous(store, &uses)
            })
        } else {
            record.exit = Some(Exit {
                code: status,
                finished: crate::image::store::now(),
                oom_killed: decided_oom,
            });
            write_record(store, dir, &record)
        };
        if let Err(err) = cleanup {
            errors.push(format!("{err:#}"));
        }
        let status = result?;
        if !errors.is_empty() {
            bail!(
                "cleaning up after container {}: {}",
                record.short_id(),
                errors.join("; ")
            );
        }
        let ended = restart::Ended {
            code: status,
            stopped: dir.join(STOPPED).exists(),
            ran: began.elapsed(),
            restarts: record.restart_count,
        };
        delay = restart::next(record.restart, &ended, delay);
        let Some(wait) = delay else {
            return Ok(status);
        };
        if !sleep_unless_stopped(dir, wait) {
            return Ok(status);
        }
        // config.json is written: what is left is to start it again.
        decided.bundle = None;
        record.restart_count += 1;
        record.exit = None;
    }
}
// ANCHOR_END: monitor

/// Sleeps `delay`, unless someone stops the container meanwhile (false).
fn sleep_unless_stopped(dir: &Path, delay: std::time::Duration) -> bool {
    let until = std::time::Instant::now() + delay;
    loop {
        if dir.join(STOPPED).exists() {
            return false;
        }
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(std::time::Duration::from_millis(50)));
    }
}

// ANCHOR: teardown
/// Undoes what `run` made on the host, in any state, going on past
/// failures: the runtime's container, the network (only the bridge leaves
/// anything: a lease, a veth, rules), the rootfs mount. Idempotent, so
/// that `rm` can run it again after a killed monitor.
pub fn teardown(store: &Store, record: &Record, dir: &Path) -> Vec<anyhow::Error> {
    let mut errors = Vec::new();
    if let Err(err) = runtime(store).delete(&record.id, true) {
        errors.push(err);
    }
    if record.network == Mode::Bridge {
        if let Err(err) = Ipam::open(store.root())
            .and_then(|ipam| net::apply::teardown(&ipam, record.id.as_str()))
        {
            errors.push(err);
        }
    }
    if record.network == Mode::Pasta {
        if let Err(err) = net::pasta::stop(&net::pasta::Files::in_dir(dir)) {
            errors.push(err);
        }
    }
    if let Err(err) = overlay::unmount(&dir.join("rootfs")) {
        errors.push(err);
    }
    errors
}
// ANCHOR_END: teardown

// ANCHOR: detach
/// `-d`: forks the monitor, a process of its own session (no terminal to
/// lose) writing the container's output to its log; we wait until it says
/// the container runs, print the container's ID and return.
fn detach(
    store: &Store,
    request: &Request,
    mut record: Record,
    dir: &Path,
    decided: Decided,
) -> Result<()> {
    use nix::unistd::{fork, setsid, ForkResult};
    let (read_end, write_end) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("making the ready pipe")?;
    let log = dir.join("container.log");
    let log_file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .with_context(|| format!("creating {}", log.display()))?;
    // SAFETY: ctr is single-threaded here; the child goes on as ordinary code.
    match unsafe { fork() }.context("forking the container's monitor")? {
        ForkResult::Child => {
            drop(read_end);
            let code = (|| -> Result<u8> {
                setsid().context("starting the monitor's session")?;
                let null = File::open("/dev/null").context("opening /dev/null")?;
                let flags = nix::fcntl::OFlag::O_CLOEXEC;
                let (out_r, out_w) = nix::unistd::pipe2(flags).context("making the log's pipe")?;
                let (err_r, err_w) = nix::unistd::pipe2(flags).context("making the log's pipe")?;
                // The log's writer, a process of its own (logs.rs says why).
                // SAFETY: single-threaded still; the child only copies and exits.
                if let ForkResult::Child = unsafe { fork() }.context("forking the log writer")? {
                    drop((out_w, err_w, write_end));
                    use std::os::fd::AsRawFd;
                    // Not the caller's stdio: `id=$(ctr run -d ...)` waits
                    // for every holder of its pipe.
                    // SAFETY: dup2 onto stdio, of a descriptor we own.
                    unsafe {
                        for fd in 0..3 {
                            libc::dup2(null.as_raw_fd(), fd);
                        }
                    }
                    // Nor any other descriptor of the caller's.
                    let keep = [
                        0,
                        1,
                        2,
                        out_r.as_raw_fd(),
                        err_r.as_raw_fd(),
                        log_file.as_raw_fd(),
                    ];
                    _ = runtime::fds::close_all_but(&keep);
                    let status = match logs::write(out_r, err_r, log_file) {
                        Ok(()) => 0,
                        Err(_) => 1,
                    };
                    std::process::exit(status);
                }
                drop((out_r, err_r));
                use std::os::fd::AsRawFd;
                // SAFETY: dup2 onto stdio, of descriptors we own; the
                // copies have no O_CLOEXEC: the container inherits them.
                unsafe {
                    libc::dup2(null.as_raw_fd(), 0);
                    libc::dup2(out_w.as_raw_fd(), 1);
                    libc::dup2(err_w.as_raw_fd(), 2);
                }
                drop((out_w, err_w, log_file));
                record.monitor = std::process::id();
                record.monitor_start = runtime::state::proc_stat(record.monitor as i32)
                    .map(|(_, s)| s)
                    .unwrap_or_default();
                write_record(store, dir, &record)?;
                monitor(store, request, record, dir, decided, Some(write_end))
            })();
            let code = code.unwrap_or_else(|err| {
                eprintln!("ctr: {err:#}");
                exit::FAILED
            });
            std::process::exit(code.into());
        }
        ForkResult::Parent { .. } => {
            drop(write_end);
            let mut said = Vec::new();
            let mut from = File::from(read_end);
            let mut byte = [0u8; 1];
            while from
                .read(&mut byte)
                .context("waiting for the container to start")?
                == 1
                && byte[0] != 0
            {
                said.push(byte[0]);
            }
            let said = String::from_utf8_lossy(&said);
            match said.as_ref() {
                "ok" => Ok(()),
                "" => bail!(
                    "the container's monitor ended before it started: see {}",
                    log.display()
                ),
                why => bail!("{why}"),
            }
        }
    }
}
// ANCHOR_END: detach

/// What `create` decided: the rootfs and the hostname, and what
/// config.json is to say (None once it says it: a container started again).
struct Decided {
    overlay: Overlay,
    hostname: String,
    bundle: Option<BundlePlan>,
}

/// What goes into config.json.
struct BundlePlan {
    process: config::Process,
    /// `linux.resources`, and the cgroup layout that will hold them.
    resources: Option<oci_spec::runtime::LinuxResources>,
    /// The layout, and the cgroup that holds containers' cgroups.
    cgroups: Option<(runtime::cgroups::Layout, PathBuf)>,
    confinement: confine::Confinement,
    /// `-v`, `--mount`, `--tmpfs` and the image's `Volumes`, sources found.
    mounts: Vec<crate::volume::Resolved>,
    /// The container's ids when not the host's (rootless, or --userns).
    ids: Option<spec::Ids>,
}

// ANCHOR: create
/// Resolves the image, plans the process (errors in the plan stop us before
/// anything is made), and makes the container's directories and record,
/// under the store's lock so that `rmi` and a same-named `run` wait.
fn create(store: &Store, request: &Request) -> Result<(Record, PathBuf, Decided)> {
    let lock = store.lock(true)?;
    let (image, _) = store.resolve(&request.image)?;
    let config = config::parse(&store.blob(&image.id)?)
        .with_context(|| format!("parsing the config of image {}", image.id.short()))?;
    let id = ContainerId::random()?;
    let hostname = match (&request.hostname, request.network) {
        (Some(name), _) => name.clone(),
        // docker: a container on the host's network has the host's name.
        (None, Mode::Host) => nix::unistd::gethostname()
            .context("reading the host's name")?
            .to_string_lossy()
            .into_owned(),
        (None, _) => id.short().to_string(),
    };
    if hostname.is_empty() || hostname.len() > 64 {
        bail!("invalid hostname {hostname:?}: 1 to 64 characters");
    }
    if crate::rootless::active().is_some() {
        rootless_network(request.network, &request.ports)?;
    }
    if !matches!(request.network, Mode::Bridge | Mode::Pasta) && !request.ports.is_empty() {
        bail!(
            "-p publishes ports of the {} network, not of --network {}: drop -p{}",
            match crate::rootless::active() {
                Some(_) => Mode::Pasta,
                None => Mode::Bridge,
            },
            request.network,
            if request.network == Mode::Host {
                " (the container uses the host's ports)"
            } else {
                ""
            }
        );
    }
    let mut options = request.options.clone();
    options.hostname = hostname.clone();
    options.tty = request.tty;
    let lookup = |k: &str| std::env::var(k).ok();
    let process = config::plan(&config, &options, &lookup)?;
    let (resources, cgroups) = plan_limits(&request.limits)?;
    let host = confine::Host {
        device_cgroup: match &cgroups {
            Some((runtime::cgroups::Layout::V1(trees), _)) => trees.contains_key("devices"),
            Some((runtime::cgroups::Layout::V2(_), _)) => true,
            None => false,
        },
        ..confine::Host::read(&request.confine)?
    };
    let confinement = confine::decide(&request.confine, &host)?;
    let image_volumes = config.config().as_ref().and_then(|c| c.volumes().clone());
    let wanted = volumes::plan(&request.volumes, &image_volumes.unwrap_or_default())?;
    // ANCHOR: remapped
    let remapped = match request.userns.as_deref() {
        Some(value) if crate::rootless::active().is_some() && value != "host" => bail!(
            "--userns {value}: without root, the container is in ctr's user namespace \
             already, its root the user (see /proc/self/uid_map inside)"
        ),
        Some(value) => {
            let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
            remap::parse(value, &read("/etc/subuid"), &read("/etc/subgid"))?
        }
        None => None,
    };
    // ANCHOR_END: remapped

    let name = request
        .name
        .clone()
        .unwrap_or_else(|| id.short().to_string());
    check_name(&name)?;
    if let Some(other) = records(store)?.iter().find(|r| r.name == name) {
        bail!(
            "the name {name:?} is already in use by container {}: choose another name, \
             or remove it with `ctr rm {name}`",
            other.short_id(),
        );
    }
    let dir = containers_dir(store).join(id.as_str());
    for sub in ["upper", "work", "rootfs", "empty"] {
        fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("creating {}", dir.join(sub).display()))?;
    }
    let mut overlay = overlay_of(store, &image, &dir)?;
    // ANCHOR: ids
    let ids = match &remapped {
        Some((uid, gid)) => {
            overlay.lower = remap::layers(store, &overlay.lower, uid, gid)?;
            for sub in ["upper", "work", "empty"] {
                remap::shift(&dir.join(sub), uid, gid)?;
            }
            Some(spec::Ids {
                uid: uid.clone(),
                gid: gid.clone(),
                own_namespace: true,
            })
        }
        None => crate::rootless::active().map(|rootless| spec::Ids {
            uid: rootless.uid_map.clone(),
            gid: rootless.gid_map.clone(),
            own_namespace: false,
        }),
    };
    // ANCHOR_END: ids
    let monitor = std::process::id();
    let record = Record {
        id,
        name,
        image: request.image.clone(),
        image_id: image.id.clone(),
        argv: process.argv.clone(),
        created: crate::image::store::now(),
        monitor,
        monitor_start: runtime::state::proc_stat(monitor as i32)
            .map(|(_, s)| s)
            .unwrap_or_default(),
        network: request.network,
        address: None,
        ports: request.ports.clone(),
        stop_signal: request
            .stop_signal
            .clone()
            .or_else(|| config::stop_signal(&config)),
        stop_timeout: request.stop_timeout,
        hostname: hostname.clone(),
        tty: request.tty,
        restart: request.restart,
        restart_count: 0,
        started: None,
        extra_hosts: request.extra_hosts.clone(),
        dns: request.dns.clone(),
        labels: config
            .config()
            .as_ref()
            .and_then(|c| c.labels().clone())
            .unwrap_or_default()
            .into_iter()
            .chain(request.labels.clone())
            .collect(),
        userns: request.userns.clone(),
        exit: None,
    };
    let mounts = match crate::volume::resolve(store, &dir, &wanted) {
        Ok(mounts) => mounts,
        Err(err) => {
            // Nothing of it is recorded yet: its directory goes.
            _ = lifecycle::remove_files(&dir);
            return Err(err);
        }
    };
    write_record(store, &dir, &record)?;
    drop(lock);
    Ok((
        record,
        dir,
        Decided {
            overlay,
            hostname,
            bundle: Some(BundlePlan {
                process,
                resources,
                cgroups,
                confinement,
                mounts,
                ids,
            }),
        },
    ))
}
// ANCHOR_END: create

/// The container's rootfs: the image's layers under its own upper dir.
fn overlay_of(
    store: &Store,
    image: &crate::image::store::ImageRecord,
    dir: &Path,
) -> Result<Overlay> {
    let mut lower: Vec<PathBuf> = image
        .layers
        .iter()
        .map(|l| store.layer_dir(&l.diff_id))
        .collect();
    for layer in &lower {
        if !layer.is_dir() {
            bail!(
                "the image's layer {} is missing: remove the image and import it again",
                layer.display()
            );
        }
    }
    if lower.is_empty() {
        // overlayfs needs one lower dir; an image of no layers gets an empty one.
        lower.push(dir.join("empty"));
    }
    Ok(Overlay {
        lower,
        upper: dir.join("upper"),
        work: dir.join("work"),
        merged: dir.join("rootfs"),
    })
}

// ANCHOR: start
/// `ctr start`: starts a container that ended again, in the background as
/// `run -d` does, on the same rootfs (its upper dir kept) and config.json;
/// its network is made anew. A running (or restarting) one is left be.
pub fn start(store: &Store, name: &str) -> Result<()> {
    let lock = store.lock(true)?;
    let mut record = lifecycle::find(store, name)?;
    if record.monitor_alive() {
        return Ok(());
    }
    let dir = containers_dir(store).join(record.id.as_str());
    // What a killed monitor could not undo, undone (as `rm` does).
    if let Some(err) = teardown(store, &record, &dir).into_iter().next() {
        return Err(err.context("undoing what its last run left"));
    }
    let image = store.image(&record.image_id).with_context(|| {
        format!(
            "its image {} is gone: run a new container of {}",
            record.image_id.short(),
            record.image
        )
    })?;
    let mut overlay = overlay_of(store, &image, &dir)?;
    if let Some(value) = record.userns.as_deref() {
        let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
        if let Some((uid, gid)) = remap::parse(value, &read("/etc/subuid"), &read("/etc/subgid"))? {
            overlay.lower = remap::layers(store, &overlay.lower, &uid, &gid)?;
        }
    }
    let hostname = match record.hostname.as_str() {
        "" => oci_spec::runtime::Spec::load(dir.join("config.json"))
            .ok()
            .and_then(|spec| spec.hostname().clone())
            .unwrap_or_else(|| record.short_id().to_string()),
        name => name.to_string(),
    };
    match fs::remove_file(dir.join(STOPPED)) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(err).with_context(|| format!("removing {}", dir.join(STOPPED).display()))
        }
        _ => {}
    }
    record.exit = None;
    let request = Request {
        image: record.image.clone(),
        name: Some(record.name.clone()),
        tty: record.tty,
        detach: true,
        network: record.network,
        ports: record.ports.clone(),
        restart: record.restart,
        extra_hosts: record.extra_hosts.clone(),
        dns: record.dns.clone(),
        ..Request::default()
    };
    let decided = Decided {
        overlay,
        hostname,
        bundle: None,
    };
    drop(lock);
    detach(store, &request, record, &dir, decided)
}
// ANCHOR_END: start

/// What a network without root cannot be: a bridge (links and rules on
/// the host are root's), or ports below the unprivileged start.
// ANCHOR: rootless_network
fn rootless_network(mode: Mode, ports: &[Port]) -> Result<()> {
    if mode == Mode::Bridge {
        bail!(
            "--network bridge makes a bridge, veths and iptables rules on the host, which \
             needs root: without root, use --network pasta (the default: user-mode, with -p), \
             host or none, or run ctr as root (sudo)"
        );
    }
    net::pasta::check_ports(ports)
}
// ANCHOR_END: rootless_network

/// The limits as config.json's resources, checked by docker's rules
/// against this machine, and the cgroup layout (a container gets a cgroup
/// of its own wherever there is a cgroup filesystem; limits need one).
/// Rootless, only limits make a cgroup, and only where v2 delegates one.
#[allow(clippy::type_complexity)]
fn plan_limits(
    asked: &limits::Limits,
) -> Result<(
    Option<oci_spec::runtime::LinuxResources>,
    Option<(runtime::cgroups::Layout, PathBuf)>,
)> {
    let layout = runtime::cgroups::Layout::detect();
    let machine = limits::Machine {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        swap_limit: match &layout {
            Ok(runtime::cgroups::Layout::V1(trees)) => trees
                .get("memory")
                .is_some_and(|m| m.join("memory.memsw.limit_in_bytes").exists()),
            _ => true,
        },
    };
    let (resources, warnings) = limits::resources(asked, &machine)?;
    for warning in warnings {
        eprintln!("WARNING: {warning}");
    }
    // ANCHOR: rootless_limits
    if crate::rootless::active().is_some() {
        return match (resources, layout) {
            (None, _) => Ok((None, None)),
            (Some(resources), Ok(layout)) => {
                let parent = crate::rootless::cgroup::parent(&layout)?;
                Ok((Some(resources), Some((layout, parent))))
            }
            (Some(_), Err(err)) => Err(err.context("limits need a cgroup filesystem")),
        };
    }
    // ANCHOR_END: rootless_limits
    match layout {
        Ok(layout) => Ok((resources, Some((layout, PathBuf::from("/ctr"))))),
        Err(err) if resources.is_some() => Err(err.context("limits need a cgroup filesystem")),
        Err(_) => Ok((None, None)),
    }
}

// ANCHOR: bundle
/// Makes the bundle: the rootfs mounted, the user looked up in the image,
/// the working directory made (docker makes a missing one, owned by root),
/// the /etc files, and config.json.
fn write_bundle(request: &Request, dir: &Path, decided: &Decided) -> Result<()> {
    overlay::mount_overlay(&decided.overlay)?;
    let Some(bundle) = &decided.bundle else {
        return Ok(()); // started again: config.json and the /etc files are there
    };
    let rootfs = in_root::Root::open(&decided.overlay.merged)?;
    let process = &bundle.process;
    let passwd = read_image_file(&rootfs, "/etc/passwd")?;
    let group = read_image_file(&rootfs, "/etc/group")?;
    let user = config::resolve_user(&process.user, passwd.as_deref(), group.as_deref())
        .with_context(|| format!("user {:?}", process.user))?;
    let env = config::with_home(process.env.clone(), &user.home);
    rootfs
        .make(Path::new(&process.cwd), in_root::Kind::Dir)
        .with_context(|| format!("creating the working directory {}", process.cwd))?;
    write_etc_files(dir, request, &decided.hostname, None)?;
    let terminal = request
        .tty
        .then(|| tty::terminal_size().map(|s| (s.ws_row, s.ws_col)));
    let plan = spec::Plan {
        process,
        user: &user,
        env: &env,
        hostname: &decided.hostname,
        network: request.network,
        terminal,
        init: request.init,
        etc_dir: Some(dir),
        cgroup: bundle
            .cgroups
            .as_ref()
            .map(|(layout, parent)| spec::CgroupPlan {
                path: parent.join(id_of(dir)),
                namespace: layout.version() == runtime::cgroups::Version::V2,
                resources: bundle.resources.clone(),
            }),
        confinement: &bundle.confinement,
        ids: bundle.ids.as_ref(),
    };
    let mut spec = spec::spec(&plan);
    add_volumes(&mut spec, &rootfs, &bundle.mounts)?;
    let json = spec::to_json(&spec)?;
    let path = dir.join("config.json");
    fs::write(&path, json).with_context(|| format!("writing {}", path.display()))
}
// ANCHOR_END: bundle

/// The volumes, bind mounts and tmpfs after the default mounts, each new
/// volume first filled with what the image has at its target.
fn add_volumes(
    spec: &mut oci_spec::runtime::Spec,
    rootfs: &in_root::Root,
    mounts: &[crate::volume::Resolved],
) -> Result<()> {
    let mut theirs = Vec::new();
    for m in mounts {
        if m.volume.is_some() && m.wanted.copy {
            crate::volume::populate(rootfs, &m.wanted.target, &m.host)?;
        }
        theirs.push(volumes::oci_mount(&m.wanted, &m.host));
    }
    let defaults = spec.mounts().clone().unwrap_or_default();
    spec.set_mounts(Some(volumes::merge(defaults, theirs)));
    Ok(())
}

/// The container's ID: the name of its directory.
fn id_of(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A file of the image's, read inside its root (an image's /etc may be a
/// symlink: followed within the root, never to the host's); None when the
/// image has none.
fn read_image_file(root: &in_root::Root, path: &str) -> Result<Option<String>> {
    match root.open_at(Path::new(path), libc::O_RDONLY) {
        Ok(fd) => {
            let mut text = String::new();
            File::from(fd)
                .read_to_string(&mut text)
                .with_context(|| format!("reading the image's {path}"))?;
            Ok(Some(text))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading the image's {path}")),
    }
}

pub fn write_record(store: &Store, dir: &Path, record: &Record) -> Result<()> {
    store.write_atomic(
        &dir.join("container.json"),
        &serde_json::to_vec_pretty(record)?,
    )
}

/// How the network sees the other containers: by their records.
fn holder(store: &Store, id: &str) -> Option<Holder> {
    let bytes = fs::read(containers_dir(store).join(id).join("container.json")).ok()?;
    let record: Record = serde_json::from_slice(&bytes).ok()?;
    Some(Holder {
        alive: record.live(),
        name: record.name,
        ports: record.ports,
    })
}

// ANCHOR: etc_files
/// The container's hostname, hosts and resolv.conf, files of its directory
/// bound over the image's (config.json's mounts). Written before create,
/// and again in place (same inode, so the bind sees it) once the network
/// has given the container its address.
fn write_etc_files(
    dir: &Path,
    request: &Request,
    hostname: &str,
    address: Option<Ipv4Addr>,
) -> Result<()> {
    let mode = request.network;
    let read = |p: &str| fs::read_to_string(p).ok();
    let hosts = match mode {
        Mode::Host => read("/etc/hosts").unwrap_or_else(|| net::files::hosts(hostname, None)),
        _ => net::files::hosts(hostname, address),
    };
    let resolv = net::files::resolv_conf(
        mode,
        &read("/etc/resolv.conf").unwrap_or_default(),
        read("/run/systemd/resolve/resolv.conf").as_deref(),
    );
    let hosts = net::files::with_hosts(hosts, &request.extra_hosts);
    let resolv = net::files::with_dns(resolv, &request.dns);
    for (name, text) in [
        ("hostname", net::files::hostname(hostname)),
        ("hosts", hosts),
        ("resolv.conf", resolv),
    ] {
        let path = dir.join(name);
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
// ANCHOR_END: etc_files

// ANCHOR: start_and_wait
fn start_and_wait(
    store: &Store,
    request: &Request,
    record: &mut Record,
    dir: &Path,
    decided: &Decided,
    ready: Option<OwnedFd>,
) -> Result<u8> {
    let tell = |what: &str| {
        if let Some(fd) = &ready {
            // NUL-terminated, so that a message of any length is whole.
            _ = nix::unistd::write(fd, format!("{what}\0").as_bytes());
        }
    };
    let runtime = runtime(store);
    let started = (|| {
        let signals = block_signals(request.tty)?;
        if !request.interactive {
            null_stdin()?;
        }
        write_bundle(request, dir, decided)?;
        // -t: the container makes its pty and sends us the master over this.
        let (console, theirs) = match request.tty {
            true => {
                let (ours, theirs) = tty::console_socket()?;
                (Some(ours), Some(theirs))
            }
            false => (None, None),
        };
        let created = runtime.create(
            &record.id,
            dir,
            CreateOptions {
                console: theirs,
                pid_file: None,
                // If ctr dies, so does the container: no one would be left
                // to wait for it.
                parent_death_signal: Some(Signal::SIGKILL),
                exec_error_prefix: format!("ctr: running {}: ", request.image),
                preserve_fds: 0,
                // ctr waits: the program's status (127, 126) says it.
                check_command: false,
            },
        )?;
        let child = created.pid;
        // Part 2: the network is set up here, while the container is
        // created, its namespaces made, none of its program run.
        let ipam = Ipam::open(store.root())?;
        let lookup = |id: &str| holder(store, id);
        record.address = net::apply::setup(
            &ipam,
            request.network,
            record.id.as_str(),
            child.as_raw(),
            &request.ports,
            &lookup,
        )?;
        if request.network == Mode::Pasta {
            net::pasta::start(
                child.as_raw(),
                &request.ports,
                &net::pasta::Files::in_dir(dir),
            )?;
        }
        write_etc_files(dir, request, &decided.hostname, record.address)?;
        record.started = Some(crate::image::store::now());
        write_record(store, dir, record)?;
        runtime.start(&record.id)?;
        Ok::<_, anyhow::Error>((console, signals, child))
    })();
    let (console, signals, child) = match started {
        Ok(parts) => parts,
        Err(err) => {
            tell(&format!("{err:#}"));
            return Err(err);
        }
    };
    tell("ok");
    drop(ready);
    attach_and_wait(console, request.interactive, child, &signals)
}
// ANCHOR_END: start_and_wait

// ANCHOR: attach
/// With `-t`, takes the pty's master the container sent and relays it to
/// our terminal (raw, with `-i`); then waits for `child`.
pub fn attach_and_wait(
    console: Option<OwnedFd>,
    interactive: bool,
    child: Pid,
    signals: &SigSet,
) -> Result<u8> {
    let master = match &console {
        Some(socket) => runtime::console::receive(socket)?,
        None => None,
    };
    drop(console);
    let (output, _raw) = match master {
        Some(master) => {
            let raw = interactive.then(tty::RawMode::enter);
            if interactive {
                tty::relay_input(&master)?;
            }
            (Some((tty::relay_output(&master)?, master)), raw)
        }
        None => (None, None),
    };
    let status = wait_forwarding(child, signals, output.as_ref().map(|(_, m)| m))?;
    if let Some((thread, _master)) = output {
        _ = thread.join();
    }
    Ok(status)
}
// ANCHOR_END: attach

/// Without `-i`, the container's stdin is /dev/null, as docker's: ours
/// becomes it, and the container inherits it (the runtime gives it the
/// container's own /dev/null).
pub(crate) fn null_stdin() -> Result<()> {
    let null = File::open("/dev/null").context("opening /dev/null")?;
    use std::os::fd::AsRawFd;
    // SAFETY: dup2 onto our stdin, which nothing of ours reads any more.
    if unsafe { libc::dup2(null.as_raw_fd(), 0) } < 0 {
        return Err(std::io::Error::last_os_error()).context("making stdin /dev/null");
    }
    Ok(())
}

/// The signals ctr passes on to the container.
pub(crate) fn forwarded() -> SigSet {
    let mut set = SigSet::empty();
    for sig in runtime::reaper::FORWARDED {
        set.add(sig);
    }
    set
}

/// Blocks what we wait for with sigwait, so nothing is lost between now and then.
pub fn block_signals(tty: bool) -> Result<SigSet> {
    // A shell starts background jobs with SIGINT and SIGQUIT ignored, and an
    // ignored signal is dropped before sigwait sees it: take them back.
    for sig in forwarded().iter() {
        // SAFETY: SIG_DFL installs no handler code of ours.
        unsafe { signal(sig, SigHandler::SigDfl) }.context("resetting signal handlers")?;
    }
    let mut set = forwarded();
    set.add(Signal::SIGCHLD);
    if tty {
        set.add(Signal::SIGWINCH);
    }
    set.thread_block().context("blocking signals")?;
    Ok(set)
}

// ANCHOR: wait
/// Waits for the container's PID 1, forwarding signals to it; a terminal's
/// new size goes to the pty. Returns docker's status.
pub(crate) fn wait_forwarding(
    child: Pid,
    signals: &SigSet,
    master: Option<&std::os::fd::OwnedFd>,
) -> Result<u8> {
    loop {
        match signals.wait().context("waiting for signals")? {
            Signal::SIGCHLD => {
                let status = waitpid(child, Some(WaitPidFlag::WNOHANG))
                    .with_context(|| format!("waiting for the container (pid {child})"))?;
                if let Some(code) = exit::code(status) {
                    return Ok(code);
                }
            }
            Signal::SIGWINCH => {
                if let Some(master) = master {
                    tty::copy_window_size(master);
                }
            }
            // It may have exited a moment ago; its SIGCHLD is then on the way.
            sig => _ = kill(child, sig),
        }
    }
}
// ANCHOR_END: wait

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        for good in ["web", "a1", "my_app.v2-x", "0x", "r"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-web", "_x", "a b", "a/b", "né"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
