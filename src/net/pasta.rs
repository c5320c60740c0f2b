//! The user-mode network of a rootless container (`--network pasta`, its
//! default without root, as podman's): pasta(1), of Debian's `passt`,
//! joins the container's network namespace from the host's, gives it the
//! host's addresses and routes on a tap device, and carries its TCP and
//! UDP through ordinary sockets of the user's, so no privilege is needed;
//! `-p` ports are sockets pasta listens on in the host's namespace. pasta
//! forks into the background once its setup is done and lives until it is
//! killed: its PID file is how the teardown finds it.
//!
//! pasta is given the namespace as a file, the container's `netns`, a bind
//! of /proc/PID/ns/net (as podman does): pasta drops its capabilities
//! before it opens the namespace, and /proc/PID/ns/net of a process that
//! holds more capabilities than the opener is closed to it (the kernel's
//! ptrace access check); a bound nsfs file is opened as any file.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{Port, Proto};

// ANCHOR: args
/// pasta's arguments for the container whose init is `pid`, as podman
/// gives them: addresses copied from the host (`--config-net`), the gateway
/// not mapped to the host's loopback (`--no-map-gw`), and only the
/// ports asked for forwarded (pasta's default would follow every port the
/// container binds, `auto`).
pub fn args(netns: &Path, ports: &[Port], pid_file: &Path) -> Vec<String> {
    // --runas: pasta started as root (of our namespace) would become
    // nobody, an id that a single mapping does not have.
    let mut args: Vec<String> = [
        "--config-net",
        "--no-map-gw",
        "--quiet",
        "--runas",
        "0:0",
        "--pid",
    ]
    .map(String::from)
    .to_vec();
    args.push(pid_file.display().to_string());
    for proto in [Proto::Tcp, Proto::Udp] {
        let flag = if proto == Proto::Tcp { "-t" } else { "-u" };
        let specs: Vec<String> = ports
            .iter()
            .filter(|p| p.proto == proto)
            .map(|p| match p.host_ip {
                Some(ip) => format!("{ip}/{}:{}", p.host_port, p.container_port),
                None => format!("{}:{}", p.host_port, p.container_port),
            })
            .collect();
        if specs.is_empty() {
            args.extend([flag.to_string(), "none".to_string()]);
        }
        for spec in specs {
            args.extend([flag.to_string(), spec]);
        }
    }
    // Nothing from the container to the host's own ports by loopback.
    args.extend(["-T", "none", "-U", "none"].map(String::from));
    args.extend(["--netns".to_string(), netns.display().to_string()]);
    args
}
// ANCHOR_END: args

/// The host ports below `start` (net.ipv4.ip_unprivileged_port_start),
/// which a user may not bind.
pub fn privileged_ports(ports: &[Port], start: u16) -> Vec<u16> {
    ports
        .iter()
        .map(|p| p.host_port)
        .filter(|&p| p < start)
        .collect()
}

/// Refuses the ports a user may not publish, saying how to allow them.
pub fn check_ports(ports: &[Port]) -> Result<()> {
    let start = fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024);
    let low = privileged_ports(ports, start);
    if let Some(port) = low.first() {
        bail!(
            "-p: without root, host port {port} cannot be published (ports below {start} are \
             root's): publish a port of {start} or above (-p 8080:80), or let users bind it: \
             sysctl net.ipv4.ip_unprivileged_port_start={port}"
        );
    }
    Ok(())
}

/// The files of a container's pasta, in its directory: its PID file, and
/// the bind of its network namespace.
pub struct Files {
    pub pid_file: PathBuf,
    pub netns: PathBuf,
}

impl Files {
    pub fn in_dir(dir: &Path) -> Files {
        Files {
            pid_file: dir.join("pasta.pid"),
            netns: dir.join("netns"),
        }
    }
}

// ANCHOR: start
/// Starts pasta for the container whose init is `pid`; returns once the
/// container's network is up and its ports are listened on.
pub fn start(pid: i32, ports: &[Port], files: &Files) -> Result<()> {
    fs::write(&files.netns, b"").with_context(|| format!("creating {}", files.netns.display()))?;
    let proc = format!("/proc/{pid}/ns/net");
    mount(
        Some(proc.as_str()),
        &files.netns,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("binding {proc} on {}", files.netns.display()))?;
    let args = args(&files.netns, ports, &files.pid_file);
    let out = Command::new("pasta")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .context(
            "running pasta, the rootless network: install it (Debian's package passt), \
             or use --network none or host",
        )?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        // The syslog it cannot reach is no news.
        let said: Vec<&str> = said
            .lines()
            .filter(|l| !l.starts_with("Failed to send") || !l.ends_with("to syslog"))
            .collect();
        let hint = if said.iter().any(|l| l.contains("tun")) {
            ": pasta needs /dev/net/tun open to users (mode 0666, as udev makes it)"
        } else if said
            .iter()
            .any(|l| l.contains("external routable interface"))
        {
            ": pasta copies the host's addresses and routes, and this host has no default route; use --network none"
        } else {
            ""
        };
        bail!(
            "pasta {} failed ({}): {}{hint}",
            args.join(" "),
            out.status,
            said.join("; ")
        );
    }
    Ok(())
}
// ANCHOR_END: start

/// Stops the pasta of a container, if it still runs (checked by name: a
/// PID can be reused), and unbinds its namespace. Idempotent.
pub fn stop(files: &Files) -> Result<()> {
    if let Ok(text) = fs::read_to_string(&files.pid_file) {
        let pid: i32 = text
            .trim()
            .parse()
            .with_context(|| format!("reading {}", files.pid_file.display()))?;
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim().starts_with("pasta") {
            match kill(Pid::from_raw(pid), Signal::SIGTERM) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(err) => return Err(err).with_context(|| format!("stopping pasta (pid {pid})")),
            }
        }
        fs::remove_file(&files.pid_file)
            .with_context(|| format!("removing {}", files.pid_file.display()))?;
    }
    match umount2(&files.netns, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(err) => {
            return Err(err).with_context(|| format!("unmounting {}", files.netns.display()))
        }
    }
    match fs::remove_file(&files.netns) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("removing {}", files.netns.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_as_pasta_spells_them() {
        let ports = [
            Port::parse("8080:80").unwrap(),
            Port::parse("127.0.0.1:5353:53/udp").unwrap(),
        ];
        assert_eq!(
            args(Path::new("/c/netns"), &ports, Path::new("/c/pasta.pid")).join(" "),
            "--config-net --no-map-gw --quiet --runas 0:0 --pid /c/pasta.pid -t 8080:80 \
             -u 127.0.0.1/5353:53 -T none -U none --netns /c/netns"
        );
    }

    #[test]
    fn no_ports_are_none_not_pastas_auto() {
        let args = args(Path::new("/n"), &[], Path::new("/p")).join(" ");
        assert!(args.contains("-t none -u none -T none -U none"), "{args}");
    }

    #[test]
    fn low_ports_are_root_s() {
        let ports = [
            Port::parse("80:80").unwrap(),
            Port::parse("8080:80").unwrap(),
        ];
        assert_eq!(privileged_ports(&ports, 1024), [80]);
        assert!(privileged_ports(&ports, 0).is_empty());
    }
}
