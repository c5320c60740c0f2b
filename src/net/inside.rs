//! The container's side of its network, configured from ctr itself: no
//! `nsenter ip -batch` (two programs started, ~3 ms of a 9 ms `ctr run`).
//!
//! A thread of ours enters the container's network namespace (`setns` is
//! per thread for network namespaces) and carries out the plan's `inside`
//! lines ([`super::plan::Plan::inside`], still written as `ip` commands so
//! that they can be printed and compared) with the classic interface and
//! route ioctls: the four kinds of line the planner writes, nothing else.

// ANCHOR: inside
use std::ffi::c_ulong;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use anyhow::{bail, Context, Result};
use nix::sched::{setns, CloneFlags};

/// What one `inside` line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// `link set DEV up`
    Up(String),
    /// `addr add ADDR/PREFIX dev DEV`
    Addr(String, Ipv4Addr, u8),
    /// `route add default via GATEWAY`
    DefaultRoute(Ipv4Addr),
}

/// Parses a line of the plan; one this executor cannot carry out is an error.
pub fn parse(line: &str) -> Result<Step> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let step = match words[..] {
        ["link", "set", dev, "up"] => Step::Up(dev.to_string()),
        ["addr", "add", cidr, "dev", dev] => {
            let (addr, prefix) = cidr.split_once('/').unwrap_or((cidr, "32"));
            match (addr.parse(), prefix.parse::<u8>()) {
                (Ok(addr), Ok(prefix)) if prefix <= 32 => Step::Addr(dev.to_string(), addr, prefix),
                _ => bail!("not an address: {cidr:?}"),
            }
        }
        ["route", "add", "default", "via", gateway] => {
            Step::DefaultRoute(gateway.parse().context("the gateway")?)
        }
        _ => bail!("no ioctl carries out {line:?}"),
    };
    Ok(step)
}

/// Carries out `lines` in the network namespace of process `pid`.
pub fn configure(pid: i32, lines: &[String]) -> Result<()> {
    let steps = lines.iter().map(|l| parse(l)).collect::<Result<Vec<_>>>()?;
    if steps.is_empty() {
        return Ok(());
    }
    let ns_path = format!("/proc/{pid}/ns/net");
    let ns = File::open(&ns_path).with_context(|| format!("opening {ns_path}"))?;
    // A thread of its own: it enters the namespace and ends there, so ctr's
    // other threads never see another network.
    std::thread::scope(|scope| {
        scope
            .spawn(|| -> Result<()> {
                setns(&ns, CloneFlags::CLONE_NEWNET)
                    .with_context(|| format!("entering {ns_path}"))?;
                let socket = inet_socket()?;
                for (step, line) in steps.iter().zip(lines) {
                    run(&socket, step).with_context(|| format!("ip {line}"))?;
                }
                Ok(())
            })
            .join()
            .unwrap_or_else(|_| bail!("the thread configuring {ns_path} panicked"))
    })
    .context("configuring the container's network namespace")
}

fn inet_socket() -> Result<OwnedFd> {
    // SAFETY: a plain socket(2); the descriptor is owned at once.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("making a socket");
    }
    // SAFETY: fd is a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn run(socket: &OwnedFd, step: &Step) -> Result<()> {
    match step {
        Step::Up(dev) => {
            let mut req = ifreq(dev)?;
            ioctl(socket, libc::SIOCGIFFLAGS, &mut req)?;
            // SAFETY: SIOCGIFFLAGS filled in the flags member.
            unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
            ioctl(socket, libc::SIOCSIFFLAGS, &mut req)
        }
        Step::Addr(dev, addr, prefix) => {
            let mut req = ifreq(dev)?;
            req.ifr_ifru.ifru_addr = sockaddr(*addr);
            ioctl(socket, libc::SIOCSIFADDR, &mut req)?;
            let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
            req.ifr_ifru.ifru_netmask = sockaddr(Ipv4Addr::from(mask));
            ioctl(socket, libc::SIOCSIFNETMASK, &mut req)
        }
        Step::DefaultRoute(gateway) => {
            // SAFETY: all-zero is a valid rtentry (no device, no metric).
            let mut route: RtEntry = unsafe { std::mem::zeroed() };
            route.rt_dst = sockaddr(Ipv4Addr::UNSPECIFIED);
            route.rt_genmask = sockaddr(Ipv4Addr::UNSPECIFIED);
            route.rt_gateway = sockaddr(*gateway);
            route.rt_flags = libc::RTF_UP | libc::RTF_GATEWAY;
            ioctl(socket, libc::SIOCADDRT, &mut route)
        }
    }
}

fn ioctl<T>(socket: &OwnedFd, request: c_ulong, arg: &mut T) -> Result<()> {
    // SAFETY: `arg` is the structure `request` reads and writes.
    if unsafe { libc::ioctl(socket.as_raw_fd(), request, arg as *mut T) } < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

fn ifreq(dev: &str) -> Result<libc::ifreq> {
    if dev.is_empty() || dev.len() >= libc::IFNAMSIZ {
        bail!("invalid interface name {dev:?}");
    }
    // SAFETY: all-zero is a valid ifreq.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (to, from) in req.ifr_name.iter_mut().zip(dev.bytes()) {
        *to = from as libc::c_char;
    }
    Ok(req)
}

fn sockaddr(addr: Ipv4Addr) -> libc::sockaddr {
    let inet = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr are both 16 bytes, made to be cast.
    unsafe { std::mem::transmute(inet) }
}

/// The kernel's `struct rtentry` (linux/route.h), which glibc's libc crate
/// does not define.
#[repr(C)]
struct RtEntry {
    rt_pad1: libc::c_ulong,
    rt_dst: libc::sockaddr,
    rt_gateway: libc::sockaddr,
    rt_genmask: libc::sockaddr,
    rt_flags: libc::c_ushort,
    rt_pad2: libc::c_short,
    rt_pad3: libc::c_ulong,
    rt_pad4: *mut libc::c_void,
    rt_metric: libc::c_short,
    rt_dev: *mut libc::c_char,
    rt_mtu: libc::c_ulong,
    rt_window: libc::c_ulong,
    rt_irtt: libc::c_ushort,
}
// ANCHOR_END: inside

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{plan, Mode};

    #[test]
    fn every_line_the_planner_writes_is_understood() {
        let id = "0123456789abcdef";
        for mode in [Mode::None, Mode::Bridge] {
            let p = plan::plan(mode, id, 42, Some(Ipv4Addr::new(10, 201, 0, 7)), &[]);
            assert!(!p.inside.is_empty());
            for line in &p.inside {
                parse(line).unwrap();
            }
        }
        assert_eq!(
            parse("addr add 10.201.0.7/24 dev eth0").unwrap(),
            Step::Addr("eth0".into(), Ipv4Addr::new(10, 201, 0, 7), 24)
        );
        assert_eq!(
            parse("route add default via 10.201.0.1").unwrap(),
            Step::DefaultRoute(Ipv4Addr::new(10, 201, 0, 1))
        );
        assert!(parse("link del eth0").is_err());
        assert!(parse("addr add 10.201.0.7/33 dev eth0").is_err());
    }
}
