//! Containers: what `ctr run` does, from an image's name to an exit status.
//!
//! The parent (this module) plans, records and waits; the child
//! ([`spawn`]) makes the root filesystem ([`rootfs`]) and execs ([`exec`]).
//! `--init` puts [`init`] between them; `-t` adds a [`tty`].

pub mod exec;
pub mod fds;
pub mod init;
pub mod join;
pub mod lifecycle;
pub mod rootfs;
pub mod spawn;
pub mod tty;

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
use rootfs::{Bind, Overlay};
use spawn::{Spec, Stdio};

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
    /// The options that shape the process (cmd, env, user...); its hostname
    /// is filled in here.
    pub options: RunOptions,
}

/// What CTR_ROOT/containers/ID/container.json holds.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Record {
    pub id: String,
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
    pub state: State,
    /// The container's PID 1, as the host sees it (0 until it is started).
    #[serde(default)]
    pub pid: u32,
    /// When it exited, in seconds since the epoch.
    #[serde(default)]
    pub finished: Option<u64>,
    #[serde(default)]
    pub network: Mode,
    #[serde(default)]
    pub address: Option<Ipv4Addr>,
    #[serde(default)]
    pub ports: Vec<Port>,
    /// What `ctr exec` starts its processes with: the container's
    /// environment (before HOME), user and working directory.
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub cwd: String,
    /// The image's StopSignal, for `ctr stop`.
    #[serde(default)]
    pub stop_signal: Option<String>,
}

impl Record {
    /// Whether its monitor still runs: the container is running, or its
    /// network is being torn down. A container whose ctr was killed is not.
    pub fn monitor_alive(&self) -> bool {
        self.monitor != 0 && start_time(self.monitor) == Some(self.monitor_start)
    }

    /// The state to show: running only while the monitor lives. When ctr is
    /// killed, the kernel kills the container too (PR_SET_PDEATHSIG, see
    /// spawn.rs), with SIGKILL: 137.
    pub fn shown_state(&self) -> State {
        match self.state {
            State::Running if !self.monitor_alive() => State::Exited(137),
            ref state => state.clone(),
        }
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
}

/// The start time of process `pid` (field 22 of /proc/PID/stat, in clock
/// ticks since boot), or None when there is no such process.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(19)?.parse().ok()
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Running,
    Exited(u8),
}

pub fn containers_dir(store: &Store) -> PathBuf {
    store.root().join("containers")
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

/// Whether a running container uses image `id` (for `rmi`).
pub fn image_in_use(store: &Store, id: &Digest) -> Result<bool> {
    Ok(records(store)?
        .iter()
        .any(|r| &r.image_id == id && r.shown_state() == State::Running))
}

/// 32 random bytes, hex: docker's container ID format.
fn new_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom for a container ID")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
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
    let (record, dir, parts) = create(store, &request)?;
    if request.detach {
        return detach(store, &request, record, &dir, parts);
    }
    monitor(store, &request, record, &dir, parts, None)
}
// ANCHOR_END: run

// ANCHOR: monitor
/// The container's parent from start to end: starts it, waits for it, then
/// tears down its network and records how it ended (or removes it, `--rm`).
/// `ready` (with `-d`) hears "ok" once the container runs, or why it could not.
fn monitor(
    store: &Store,
    request: &Request,
    mut record: Record,
    dir: &Path,
    parts: Parts,
    ready: Option<OwnedFd>,
) -> Result<u8> {
    let result = start_and_wait(store, request, &mut record, dir, parts, ready);
    let status = *result.as_ref().unwrap_or(&exit::FAILED);
    let mut errors = Vec::new();
    // Only the bridge leaves anything on the host (a lease, a veth, rules):
    // --network none and host have nothing to undo, and skip the teardown's
    // `iptables-save` (two programs started, a third of a `run --rm`).
    if request.network == Mode::Bridge {
        let ipam = Ipam::open(store.root());
        if let Err(err) = ipam.and_then(|ipam| net::apply::teardown(&ipam, &record.id)) {
            errors.push(format!("{err:#}"));
        }
    }
    let cleanup = if request.rm {
        lifecycle::remove_files(dir)
    } else {
        record.state = State::Exited(status);
        record.finished = Some(crate::image::store::now());
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
    Ok(status)
}
// ANCHOR_END: monitor

// ANCHOR: detach
/// `-d`: forks the monitor, a process of its own session (no terminal to
/// lose) writing the container's output to its log; we wait until it says
/// the container runs, print the container's ID and return.
fn detach(
    store: &Store,
    request: &Request,
    mut record: Record,
    dir: &Path,
    parts: Parts,
) -> Result<u8> {
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
                use std::os::fd::AsRawFd;
                // SAFETY: dup2 onto stdio, of descriptors we own.
                unsafe {
                    libc::dup2(null.as_raw_fd(), 0);
                    libc::dup2(log_file.as_raw_fd(), 1);
                    libc::dup2(log_file.as_raw_fd(), 2);
                }
                record.monitor = std::process::id();
                record.monitor_start = start_time(record.monitor).unwrap_or_default();
                write_record(store, dir, &record)?;
                monitor(store, request, record, dir, parts, Some(write_end))
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
                "ok" => {
                    println!("{}", record.id);
                    Ok(0)
                }
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

/// What `create` prepared for the child.
struct Parts {
    overlay: Overlay,
    process: config::Process,
    hostname: String,
}

// ANCHOR: create
/// Resolves the image, plans the process (errors in the plan stop us before
/// anything is made), and makes the container's directories and record,
/// under the store's lock so that `rmi` and a same-named `run` wait.
fn create(store: &Store, request: &Request) -> Result<(Record, PathBuf, Parts)> {
    let lock = store.lock(true)?;
    let (image, _) = store.resolve(&request.image)?;
    let config = config::parse(&store.blob(&image.id)?)
        .with_context(|| format!("parsing the config of image {}", image.id.short()))?;
    let id = new_id()?;
    let hostname = match (&request.hostname, request.network) {
        (Some(name), _) => name.clone(),
        // docker: a container on the host's network has the host's name.
        (None, Mode::Host) => nix::unistd::gethostname()
            .context("reading the host's name")?
            .to_string_lossy()
            .into_owned(),
        (None, _) => id[..12].to_string(),
    };
    if hostname.is_empty() || hostname.len() > 64 {
        bail!("invalid hostname {hostname:?}: 1 to 64 characters");
    }
    if request.network != Mode::Bridge && !request.ports.is_empty() {
        bail!(
            "-p publishes ports of the bridge network, not of --network {}: drop -p{}",
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

    let name = request.name.clone().unwrap_or_else(|| id[..12].to_string());
    check_name(&name)?;
    if let Some(other) = records(store)?.iter().find(|r| r.name == name) {
        bail!(
            "the name {name:?} is already in use by container {}: choose another name, \
             or remove it with `ctr rm {name}`",
            other.short_id(),
        );
    }
    let dir = containers_dir(store).join(&id);
    for sub in ["upper", "work", "merged", "empty"] {
        fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("creating {}", dir.join(sub).display()))?;
    }
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
    let monitor = std::process::id();
    let record = Record {
        id,
        name,
        image: request.image.clone(),
        image_id: image.id.clone(),
        argv: process.argv.clone(),
        created: crate::image::store::now(),
        monitor,
        monitor_start: start_time(monitor).unwrap_or_default(),
        state: State::Running,
        pid: 0,
        finished: None,
        network: request.network,
        address: None,
        ports: request.ports.clone(),
        env: process.env.clone(),
        user: process.user.clone(),
        cwd: process.cwd.clone(),
        stop_signal: config::stop_signal(&config),
    };
    write_record(store, &dir, &record)?;
    drop(lock);
    let overlay = Overlay {
        lower,
        upper: dir.join("upper"),
        work: dir.join("work"),
        merged: dir.join("merged"),
    };
    Ok((
        record,
        dir,
        Parts {
            overlay,
            process,
            hostname,
        },
    ))
}
// ANCHOR_END: create

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
        alive: record.monitor_alive(),
        name: record.name,
        ports: record.ports,
    })
}

// ANCHOR: etc_files
/// The container's hostname, hosts and resolv.conf, files of its directory
/// bound over the image's. The child binds them after `go`, so the parent
/// can still write them between clone and go, once the address is known.
const ETC_FILES: [(&str, &str); 3] = [
    ("hostname", "etc/hostname"),
    ("hosts", "etc/hosts"),
    ("resolv.conf", "etc/resolv.conf"),
];

fn etc_binds(dir: &Path) -> Vec<Bind> {
    ETC_FILES
        .iter()
        .map(|(name, target)| Bind {
            source: dir.join(name),
            target,
        })
        .collect()
}

fn write_etc_files(
    dir: &Path,
    mode: Mode,
    hostname: &str,
    address: Option<Ipv4Addr>,
) -> Result<()> {
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
    parts: Parts,
    ready: Option<OwnedFd>,
) -> Result<u8> {
    let tell = |what: &str| {
        if let Some(fd) = &ready {
            // NUL-terminated: the pipe stays open in the container (an
            // --init PID 1 never execs), so EOF cannot mark the end.
            _ = nix::unistd::write(fd, format!("{what}\0").as_bytes());
        }
    };
    let started = (|| {
        let signals = block_signals(request.tty)?;
        // -t: the container makes its pty and sends us the master over this.
        let (console, stdio) = if request.tty {
            let (ours, theirs) = tty::console_socket()?;
            let size = tty::terminal_size();
            let stdio = Stdio::Console {
                socket: theirs,
                size,
            };
            (Some(ours), stdio)
        } else {
            let stdin = request.interactive && !request.detach;
            (None, Stdio::Inherit { stdin })
        };
        let spec = Spec {
            image: request.image.clone(),
            hostname: parts.hostname.clone(),
            overlay: parts.overlay,
            process: parts.process,
            stdio,
            init: request.init,
            new_netns: request.network.own_namespace(),
            binds: etc_binds(dir),
        };
        let started = spawn::spawn(&spec)?;
        let child = started.pid;
        record.pid = child.as_raw() as u32;
        // Part 2: the network is set up here, while the child waits.
        let ipam = Ipam::open(store.root())?;
        let lookup = |id: &str| holder(store, id);
        record.address = net::apply::setup(
            &ipam,
            request.network,
            &record.id,
            child.as_raw(),
            &request.ports,
            &lookup,
        )?;
        write_etc_files(dir, request.network, &parts.hostname, record.address)?;
        write_record(store, dir, record)?;
        Ok::<_, anyhow::Error>((started, spec, console, signals, child))
    })();
    let (started, spec, console, signals, child) = match started {
        Ok(parts) => parts,
        Err(err) => {
            tell(&format!("{err:#}"));
            return Err(err);
        }
    };
    if let Err(err) = started.go() {
        tell(&format!("{err:#}"));
        return Err(err);
    }
    tell("ok");
    drop(ready);
    // Our copy of the container's end of the console socket: once it is
    // closed, the container ending before it sent its pty ends our wait.
    drop(spec);
    let master = match &console {
        Some(socket) => tty::receive_master(socket)?,
        None => None,
    };
    drop(console);

    let (output, _raw) = match master {
        Some(master) => {
            let raw = request.interactive.then(tty::RawMode::enter);
            if request.interactive {
                tty::relay_input(&master)?;
            }
            (Some((tty::relay_output(&master)?, master)), raw)
        }
        None => (None, None),
    };
    let status = wait_forwarding(child, &signals, output.as_ref().map(|(_, m)| m))?;
    if let Some((thread, _master)) = output {
        _ = thread.join();
    }
    Ok(status)
}
// ANCHOR_END: start_and_wait

/// The signals ctr passes on to the container.
pub(crate) fn forwarded() -> SigSet {
    let mut set = SigSet::empty();
    for sig in [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTERM,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        set.add(sig);
    }
    set
}

/// Blocks what we wait for with sigwait, so nothing is lost between now and then.
pub(crate) fn block_signals(tty: bool) -> Result<SigSet> {
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

    #[test]
    fn ids_are_64_hex() {
        let id = new_id().unwrap();
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(id, new_id().unwrap());
    }
}
