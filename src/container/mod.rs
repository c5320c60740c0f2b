//! Containers: what `ctr run` does, from an image's name to an exit status.
//!
//! The parent (this module) plans, records and waits; the child
//! ([`spawn`]) makes the root filesystem ([`rootfs`]) and execs ([`exec`]).
//! `--init` puts [`init`] between them; `-t` adds a [`tty`].

pub mod exec;
pub mod init;
pub mod rootfs;
pub mod spawn;
pub mod tty;

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, signal, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::config::{self, ImageConfig, RunOptions};
use crate::digest::Digest;
use crate::exit;
use crate::image::Store;
use rootfs::Overlay;
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
    /// The ctr process that watches the container: alive while it runs.
    pub monitor: u32,
    pub state: State,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Running,
    Exited(u8),
}

fn containers_dir(store: &Store) -> PathBuf {
    store.root().join("containers")
}

/// Every container's record.
pub fn records(store: &Store) -> Result<Vec<Record>> {
    let dir = containers_dir(store);
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path().join("container.json");
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
    Ok(records(store)?.iter().any(|r| {
        &r.image_id == id
            && r.state == State::Running
            && kill(Pid::from_raw(r.monitor as i32), None).is_ok()
    }))
}

/// 32 random bytes, hex: docker's container ID format.
fn new_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom for a container ID")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// docker's rule for names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = name.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok {
        bail!("invalid container name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-]+ are allowed");
    }
    Ok(())
}

// ANCHOR: run
/// Runs a container to its end and returns its exit status.
pub fn run(store: &Store, request: Request) -> Result<u8> {
    let (record, container_dir, spec_parts) = create(store, &request)?;
    let result = start_and_wait(&request, &container_dir, spec_parts);
    let status = *result.as_ref().unwrap_or(&exit::FAILED);
    let cleanup = if request.rm {
        fs::remove_dir_all(&container_dir)
            .with_context(|| format!("removing {} (--rm)", container_dir.display()))
    } else {
        let mut record = record;
        record.state = State::Exited(status);
        write_record(store, &container_dir, &record)
    };
    let status = result?;
    cleanup?;
    Ok(status)
}
// ANCHOR_END: run

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
    let config: ImageConfig = serde_json::from_slice(&store.blob(&image.id)?)
        .with_context(|| format!("parsing the config of image {}", image.id.short()))?;
    let id = new_id()?;
    let hostname = request
        .hostname
        .clone()
        .unwrap_or_else(|| id[..12].to_string());
    if hostname.is_empty() || hostname.len() > 64 {
        bail!("invalid hostname {hostname:?}: 1 to 64 characters");
    }
    let mut options = request.options.clone();
    options.hostname = hostname.clone();
    options.tty = request.tty;
    let lookup = |k: &str| std::env::var(k).ok();
    let process = config::plan(&config.config, &options, &lookup)?;

    let name = request.name.clone().unwrap_or_else(|| id[..12].to_string());
    check_name(&name)?;
    if let Some(other) = records(store)?.iter().find(|r| r.name == name) {
        bail!(
            "the name {name:?} is already in use by container {}: choose another name, \
             or remove {} (`ctr rm` is yet to come)",
            &other.id[..12],
            containers_dir(store).join(&other.id).display()
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
    let record = Record {
        id,
        name,
        image: request.image.clone(),
        image_id: image.id.clone(),
        argv: process.argv.clone(),
        created: crate::image::store::now(),
        monitor: std::process::id(),
        state: State::Running,
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

fn write_record(store: &Store, dir: &Path, record: &Record) -> Result<()> {
    store.write_atomic(
        &dir.join("container.json"),
        &serde_json::to_vec_pretty(record)?,
    )
}

// ANCHOR: start_and_wait
fn start_and_wait(request: &Request, _dir: &Path, parts: Parts) -> Result<u8> {
    let signals = block_signals(request.tty)?;
    let pty = if request.tty {
        Some(tty::open()?)
    } else {
        None
    };
    let stdio = match &pty {
        Some(pty) => Stdio::Pty(pty.slave.try_clone().context("duplicating the pty")?),
        None => Stdio::Inherit {
            stdin: request.interactive,
        },
    };
    let spec = Spec {
        image: request.image.clone(),
        hostname: parts.hostname,
        overlay: parts.overlay,
        process: parts.process,
        stdio,
        init: request.init,
    };
    let started = spawn::spawn(&spec)?;
    let child = started.pid;
    // Part 2: the network is set up here, while the child waits.
    started.go()?;
    drop(spec); // our copy of the pty's slave: the container holds its own

    let (output, _raw) = match pty {
        Some(pty) => {
            drop(pty.slave);
            let raw = request.interactive.then(tty::RawMode::enter);
            if request.interactive {
                tty::relay_input(&pty.master)?;
            }
            (Some((tty::relay_output(&pty.master)?, pty.master)), raw)
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
fn forwarded() -> SigSet {
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
fn block_signals(tty: bool) -> Result<SigSet> {
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
fn wait_forwarding(
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
        for good in ["web", "a1", "my_app.v2-x", "0x"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a", "-web", "_x", "a b", "a/b", "né"] {
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
