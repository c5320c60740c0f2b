//! The container's network: `--network bridge` (the default, as docker's),
//! `host` and `none`, `pasta` (the default without root), and `-p`
//! published ports.
//!
//! Pure planning is kept apart from effects (ARCHITECTURE.md, "Decisions"):
//! - [`plan`]: what links, addresses, routes and iptables rules one container
//!   needs, as data that can be printed and compared in unit tests;
//! - [`apply`]: the executor that makes a plan real and undoes it, with `ip`
//!   and `iptables` batches (netlink can replace it without touching the plan);
//! - [`inside`]: the container's side of it (loopback, eth0, its route),
//!   done with ioctls from a thread in its namespace, no program started;
//! - [`ipam`]: the address leases, under a lock in CTR_ROOT;
//! - [`files`]: the container's /etc/hosts, /etc/hostname, /etc/resolv.conf.

pub mod apply;
pub mod files;
pub mod inside;
pub mod ipam;
pub mod pasta;
pub mod plan;

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

// ANCHOR: constants
/// The runtime's bridge. Not the lessons' bridge0 (10.200.0.0/24): both can
/// live on one host, and `just net-down` never touches the runtime's.
pub const BRIDGE: &str = "ctr0";
/// The containers' subnet: the bridge is its gateway, .1; containers get
/// .2 to .254.
pub const SUBNET: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 0);
pub const PREFIX: u8 = 24;
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 1);
// ANCHOR_END: constants

/// `--network`: docker's three built-in networks.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A network namespace of its own, plugged into [`BRIDGE`] by a veth pair.
    #[default]
    Bridge,
    /// The host's network namespace, shared.
    Host,
    /// A network namespace of its own with only a loopback.
    None,
    /// A network namespace of its own, connected by pasta in user mode:
    /// the default without root (see [`pasta`]).
    Pasta,
}

impl Mode {
    /// Whether the container gets a network namespace of its own.
    pub fn own_namespace(self) -> bool {
        self != Mode::Host
    }
}

impl FromStr for Mode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Mode> {
        match s {
            "bridge" | "default" => Ok(Mode::Bridge),
            "host" => Ok(Mode::Host),
            "none" => Ok(Mode::None),
            "pasta" => Ok(Mode::Pasta),
            other => bail!("--network {other}: unknown network; use bridge, host, none or pasta"),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Mode::Bridge => "bridge",
            Mode::Host => "host",
            Mode::None => "none",
            Mode::Pasta => "pasta",
        })
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

// ANCHOR: port
/// `-p [IP:]HOST:CONTAINER[/tcp|udp]`: connections to HOST (on IP, or on
/// every address of the host) go to the container's CONTAINER port.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Port {
    /// None: every address of the host (docker's 0.0.0.0).
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}
// ANCHOR_END: port

impl Port {
    pub fn parse(text: &str) -> Result<Port> {
        let (rest, proto) = match text.rsplit_once('/') {
            Some((rest, "tcp")) => (rest, Proto::Tcp),
            Some((rest, "udp")) => (rest, Proto::Udp),
            Some((_, other)) => {
                bail!("-p {text}: unknown protocol {other:?}: use tcp or udp")
            }
            None => (text, Proto::Tcp),
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let (ip, host, container) = match parts[..] {
            [host, container] => (None, host, container),
            [ip, host, container] => (Some(ip), host, container),
            _ => bail!(
                "-p {text}: give HOST:CONTAINER or IP:HOST:CONTAINER \
                 (ctr does not choose host ports for you)"
            ),
        };
        let number = |what: &str, word: &str| -> Result<u16> {
            match word.parse::<u16>() {
                Ok(n) if n > 0 => Ok(n),
                _ => bail!("-p {text}: the {what} port {word:?} is not a number from 1 to 65535"),
            }
        };
        let host_ip = match ip {
            None | Some("") | Some("0.0.0.0") => None,
            Some(ip) => Some(ip.parse::<Ipv4Addr>().with_context(|| {
                format!("-p {text}: {ip:?} is not an IPv4 address of this host")
            })?),
        };
        Ok(Port {
            host_ip,
            host_port: number("host", host)?,
            container_port: number("container", container)?,
            proto,
        })
    }

    /// Whether two publications want the same port of the host.
    pub fn clashes(&self, other: &Port) -> bool {
        self.proto == other.proto
            && self.host_port == other.host_port
            && (self.host_ip.is_none() || other.host_ip.is_none() || self.host_ip == other.host_ip)
    }

    /// The host side as docker shows it: `0.0.0.0:6379`.
    pub fn host_side(&self) -> String {
        format!(
            "{}:{}",
            self.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
            self.host_port
        )
    }
}

impl fmt::Display for Port {
    /// docker ps's PORTS column: `0.0.0.0:6379->6379/tcp`.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{}->{}/{}",
            self.host_side(),
            self.container_port,
            self.proto
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_as_docker_spells_them() {
        let p = Port::parse("6379:6379").unwrap();
        assert_eq!(
            p,
            Port {
                host_ip: None,
                host_port: 6379,
                container_port: 6379,
                proto: Proto::Tcp
            }
        );
        assert_eq!(p.to_string(), "0.0.0.0:6379->6379/tcp");
        let p = Port::parse("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(p.host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(
            (p.host_port, p.container_port, p.proto),
            (8080, 80, Proto::Udp)
        );
        assert_eq!(Port::parse("0.0.0.0:1:2").unwrap().host_ip, None);
    }

    #[test]
    fn bad_ports_say_what_is_wrong() {
        for (bad, says) in [
            ("80", "give HOST:CONTAINER"),
            ("80:80/sctp", "unknown protocol"),
            ("0:80", "not a number from 1 to 65535"),
            ("x:80", "the host port \"x\""),
            ("70000:80", "not a number"),
            ("localhost:80:80", "not an IPv4 address"),
        ] {
            let err = Port::parse(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn clashes_need_the_same_port_protocol_and_address() {
        let p = |s| Port::parse(s).unwrap();
        assert!(p("80:1").clashes(&p("80:2")));
        assert!(p("80:1").clashes(&p("127.0.0.1:80:2")));
        assert!(!p("127.0.0.2:80:1").clashes(&p("127.0.0.1:80:2")));
        assert!(!p("80:1/udp").clashes(&p("80:1")));
        assert!(!p("81:1").clashes(&p("80:1")));
    }

    #[test]
    fn networks_by_name() {
        assert_eq!("bridge".parse::<Mode>().unwrap(), Mode::Bridge);
        assert_eq!("host".parse::<Mode>().unwrap(), Mode::Host);
        assert_eq!("none".parse::<Mode>().unwrap(), Mode::None);
        assert_eq!("pasta".parse::<Mode>().unwrap(), Mode::Pasta);
        assert_eq!(Mode::Pasta.to_string(), "pasta");
        let err = "overlay".parse::<Mode>().unwrap_err().to_string();
        assert!(err.contains("use bridge, host, none or pasta"), "{err}");
    }
}
