//! Lesson 5's idea: a network namespace for the container, wired to the host
//! by a bridge and a veth pair. It runs `ip`, printing each command, because
//! that is what you would type to do the same by hand (the runtime, later,
//! does the same with fewer processes).

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::Pid;

use crate::say;

// ANCHOR: plan
/// The bridge every container's veth plugs into: a virtual switch on the host.
pub const BRIDGE: &str = "bridge0";
/// The containers' subnet, 10.200.0.0/24: the bridge is its gateway, .1, and
/// containers get .2 to .254.
pub const SUBNET: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 0);
pub const PREFIX: u8 = 24;
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
/// Leases of addresses and the lock that orders lessons starting at once.
/// /run is emptied at boot, as are the network namespaces the leases are for.
const STATE: &str = "/run/ctr-lessons";
// ANCHOR_END: plan

/// Held while the bridge is checked or made and an address is chosen, so two
/// containers starting at once neither both create bridge0 nor share an address.
pub struct Lock(#[allow(dead_code)] Flock<File>);

pub fn lock() -> Result<Lock> {
    fs::create_dir_all(STATE).with_context(|| format!("creating {STATE}"))?;
    let path = Path::new(STATE).join("lock");
    let file = File::create(&path).with_context(|| format!("opening {}", path.display()))?;
    let lock = Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, err)| err)
        .with_context(|| format!("locking {}", path.display()))?;
    Ok(Lock(lock))
}

// ANCHOR: bridge
/// Makes bridge0 with the gateway address, or checks that the one there is ours.
pub fn ensure_bridge(_lock: &Lock) -> Result<()> {
    let gateway = format!("{GATEWAY}/{PREFIX}");
    if Path::new("/sys/class/net").join(BRIDGE).exists() {
        let addrs = output(&["ip", "-4", "-o", "addr", "show", "dev", BRIDGE])?;
        if !addrs.contains(&format!(" {gateway} ")) {
            bail!(
                "{BRIDGE} exists but does not have the address {gateway}: it is not \
                 the lessons'; remove it (`ip link del {BRIDGE}`) or use another host"
            );
        }
        say(&format!(
            "{BRIDGE} is already there, with {gateway}: using it"
        ));
        return Ok(());
    }
    let routes = output(&["ip", "-4", "-o", "route", "show"])?;
    if let Some(route) = routes.lines().map(str::trim).find(|r| collides(r)) {
        bail!(
            "the containers' subnet {SUBNET}/{PREFIX} overlaps a route the host \
             already has ({route}): making {BRIDGE} would break it; pick a free SUBNET in net.rs"
        );
    }
    run(&["ip", "link", "add", BRIDGE, "type", "bridge"])?;
    run(&["ip", "addr", "add", &gateway, "dev", BRIDGE])?;
    run(&["ip", "link", "set", BRIDGE, "up"])
}
// ANCHOR_END: bridge

/// Whether a line of `ip -o route show` covers addresses of our subnet. The
/// default route covers everything and is not a collision; bridge0's own is ours.
pub fn collides(route: &str) -> bool {
    let mut words = route.split_whitespace();
    let Some(destination) = words.next() else {
        return false;
    };
    if destination == "default" || route.contains(&format!("dev {BRIDGE} ")) {
        return false;
    }
    let (addr, prefix) = destination.split_once('/').unwrap_or((destination, "32"));
    let (Ok(addr), Ok(prefix)) = (addr.parse::<Ipv4Addr>(), prefix.parse::<u8>()) else {
        return false;
    };
    // Two networks overlap when they agree on the bits of the shorter prefix.
    let shorter = prefix.min(PREFIX);
    let mask = u32::MAX.checked_shl(32 - u32::from(shorter)).unwrap_or(0);
    u32::from(addr) & mask == u32::from(SUBNET) & mask
}

// ANCHOR: lease
/// An address of the subnet, ours while the file named after it exists.
pub struct Lease {
    pub addr: Ipv4Addr,
    path: PathBuf,
}

/// Takes the lowest free address: a lease is a file holding the PIDs of the
/// lesson that took it and of its container; one whose processes are all
/// gone is taken back.
pub fn lease_address(_lock: &Lock) -> Result<Lease> {
    let dir = Path::new(STATE).join("leases");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for host in 2..=254 {
        let addr = Ipv4Addr::from(u32::from(SUBNET) + host);
        let path = dir.join(addr.to_string());
        if is_stale(&path) {
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                writeln!(file, "{}", std::process::id())
                    .with_context(|| format!("writing {}", path.display()))?;
                return Ok(Lease { addr, path });
            }
            Err(err) if err.kind() == ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err).with_context(|| format!("creating {}", path.display())),
        }
    }
    bail!(
        "no free address in {SUBNET}/{PREFIX}: every lease in {} is held",
        dir.display()
    )
}

/// A lease whose lesson is no longer running (it was killed, say).
/// A lease whose lesson and container have both gone (the lesson was killed
/// with SIGKILL, say: then its container may still run, and keeps it).
fn is_stale(path: &Path) -> bool {
    match fs::read_to_string(path) {
        Ok(pids) => !pids
            .split_whitespace()
            .any(|pid| Path::new("/proc").join(pid).exists()),
        Err(_) => false,
    }
}

impl Lease {
    /// Writes the container's PID into the lease, beside the lesson's.
    pub fn held_by(&self, container: Pid) -> Result<()> {
        let mut file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        writeln!(file, "{container}").with_context(|| format!("writing {}", self.path.display()))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
// ANCHOR_END: lease

// ANCHOR: connect
/// Plugs the container (whose PID 1 is `child` on the host) into bridge0: a
/// veth pair is a cable with two ends; one stays on the host, in the bridge,
/// the other goes into the container's network namespace as eth0.
pub fn connect(child: Pid, addr: Ipv4Addr) -> Result<()> {
    let host_end = format!("veth{child}");
    let container_end = format!("ceth{child}");
    run(&[
        "ip",
        "link",
        "add",
        &host_end,
        "type",
        "veth",
        "peer",
        "name",
        &container_end,
    ])?;
    run(&["ip", "link", "set", &host_end, "master", BRIDGE, "up"])?;
    run(&[
        "ip",
        "link",
        "set",
        &container_end,
        "netns",
        &child.to_string(),
    ])?;

    // Now the container's end is in its namespace: configure it from there.
    let netns = format!("--net=/proc/{child}/ns/net");
    let inside = |args: &[&str]| run(&[&["nsenter", &netns, "ip"], args].concat());
    inside(&["link", "set", &container_end, "name", "eth0"])?;
    inside(&["addr", "add", &format!("{addr}/{PREFIX}"), "dev", "eth0"])?;
    inside(&["link", "set", "eth0", "up"])?;
    inside(&["link", "set", "lo", "up"])?;
    inside(&["route", "add", "default", "via", &GATEWAY.to_string()])
}
// ANCHOR_END: connect

/// Removes the host's end of a veth pair, and so the pair. When a container
/// exits, its network namespace goes, and the pair with it, but the kernel
/// does that a moment later, in the background: we do it now, so that the
/// pair is gone when we return. It may be gone already: that is fine.
pub fn disconnect(child: Pid) {
    let host_end = format!("veth{child}");
    say(&format!("+ ip link del {host_end}"));
    let _ = output(&["ip", "link", "del", &host_end]);
}

/// An ordinary user's container: its network namespace with the loopback
/// up, and nothing else. The user enters the child's user namespace (it
/// owns it, and so gets every capability there) to reach its network's,
/// keeping its ids (setgroups, which nsenter would call, is denied there).
pub fn loopback_only(child: Pid) -> Result<()> {
    let (user, netns) = (
        format!("--user=/proc/{child}/ns/user"),
        format!("--net=/proc/{child}/ns/net"),
    );
    run(&[
        "nsenter",
        "--preserve-credentials",
        &user,
        &netns,
        "ip",
        "link",
        "set",
        "lo",
        "up",
    ])
}

/// Runs a command, printing it first, and fails with what it printed.
pub fn run(argv: &[&str]) -> Result<()> {
    say(&format!("+ {}", argv.join(" ")));
    output(argv).map(drop)
}

/// Runs a command quietly and returns what it printed.
fn output(argv: &[&str]) -> Result<String> {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .with_context(|| format!("running {} (is it installed?)", argv[0]))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The addresses whose lessons are still running.
pub fn held_leases() -> Vec<String> {
    let dir = Path::new(STATE).join("leases");
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new(); // none were ever taken
    };
    let mut held: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| !is_stale(&e.path()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    held.sort();
    held
}

/// Removes the leases and the lock with them.
pub fn forget_leases() -> Result<()> {
    match fs::remove_dir_all(STATE) {
        Err(err) if err.kind() != ErrorKind::NotFound => {
            Err(err).with_context(|| format!("removing {STATE}"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_that_overlap_the_subnet_collide() {
        assert!(collides(
            "10.200.0.0/24 dev eth1 proto kernel scope link src 10.200.0.5"
        ));
        assert!(collides("10.0.0.0/8 via 192.0.2.1 dev eth0"));
        assert!(collides("10.200.0.77 via 192.0.2.1 dev eth0"));
        assert!(collides("10.200.0.128/25 dev wg0 scope link"));
    }

    #[test]
    fn other_routes_do_not() {
        assert!(!collides("default via 192.0.2.1 dev eth0"));
        assert!(!collides("10.201.0.0/24 dev eth1 scope link"));
        assert!(!collides("192.168.1.0/24 dev eth0 proto kernel scope link"));
        assert!(!collides(
            "10.200.0.0/24 dev bridge0 proto kernel scope link src 10.200.0.1"
        ));
        assert!(!collides(""));
    }
}
