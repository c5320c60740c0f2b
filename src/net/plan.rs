//! What one container's network is made of, as data: no effect here. The
//! executor ([`super::apply`]) makes it real; `Display` prints it as the
//! commands you would type, for the book and for `assert_eq` in tests.

use std::fmt;
use std::net::Ipv4Addr;

use super::{Mode, Port, BRIDGE, GATEWAY, PREFIX, SUBNET};

/// The iptables chains of the runtime: ours alone, so that our rules are
/// found (and removed) without touching anyone else's.
pub const DNAT_CHAIN: &str = "CTR-DNAT";
pub const FORWARD_CHAIN: &str = "CTR-FORWARD";

/// One iptables rule, as `iptables-save` prints it (`-A CHAIN ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub table: &'static str,
    pub line: String,
    /// Put first in its chain (`-I`) rather than last: a jump from a chain
    /// someone else fills (docker's FORWARD ends in DROP rules).
    pub first: bool,
}

impl Rule {
    fn append(table: &'static str, line: String) -> Rule {
        Rule {
            table,
            line,
            first: false,
        }
    }

    /// The chain the rule is in.
    pub fn chain(&self) -> &str {
        self.line.split_whitespace().nth(1).unwrap_or_default()
    }

    /// The rule's words after `-A CHAIN`.
    pub fn spec(&self) -> &str {
        let mut words = self.line.splitn(3, ' ');
        words.nth(2).unwrap_or_default()
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let op = if self.first { "-I" } else { "-A" };
        write!(
            f,
            "iptables -t {} {op} {} {}",
            self.table,
            self.chain(),
            self.spec()
        )
    }
}

// ANCHOR: shared
/// What every container on the bridge shares, made with the first and
/// removed with the last: the bridge, forwarding, and the rules of the way
/// out (NAT), of the way in (the jumps to our DNAT chain) and FORWARD
/// rules that let both through even under a DROP policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shared {
    /// `ip -batch` lines that make the bridge.
    pub bridge: Vec<String>,
    /// (file under /proc/sys, value).
    pub sysctls: Vec<(String, String)>,
    /// The chains to create, as (table, chain).
    pub chains: Vec<(&'static str, &'static str)>,
    pub rules: Vec<Rule>,
}

pub fn shared() -> Shared {
    let subnet = format!("{SUBNET}/{PREFIX}");
    let nat = |line: String| Rule::append("nat", line);
    let filter = |line: String| Rule::append("filter", line);
    Shared {
        bridge: vec![
            format!("link add {BRIDGE} type bridge"),
            format!("addr add {GATEWAY}/{PREFIX} dev {BRIDGE}"),
            format!("link set {BRIDGE} up"),
        ],
        sysctls: vec![
            ("net/ipv4/ip_forward".into(), "1".into()),
            // A connection to 127.0.0.1:PORT, DNAT'ed in OUTPUT, leaves by
            // the bridge with a loopback source: without this the kernel
            // drops it as martian (ip-sysctl.rst, route_localnet).
            (format!("net/ipv4/conf/{BRIDGE}/route_localnet"), "1".into()),
        ],
        chains: vec![("nat", DNAT_CHAIN), ("filter", FORWARD_CHAIN)],
        rules: vec![
            // The way in: packets for an address of this host, from other
            // hosts (PREROUTING) or from the host itself (OUTPUT).
            nat(format!("-A PREROUTING -m addrtype --dst-type LOCAL -j {DNAT_CHAIN}")),
            nat(format!("-A OUTPUT -m addrtype --dst-type LOCAL -j {DNAT_CHAIN}")),
            // The way out: the containers' packets leave with the host's address.
            nat(format!("-A POSTROUTING -s {subnet} ! -o {BRIDGE} -j MASQUERADE")),
            // The host's own connections to a published port (127.0.0.1
            // above all): the container must answer the bridge, not itself.
            nat(format!(
                "-A POSTROUTING -o {BRIDGE} -m addrtype --src-type LOCAL -j MASQUERADE"
            )),
            // Hairpin: a container reaching a published port of the bridge.
            // A neighbour's answer would cross the bridge unseen by conntrack
            // where br_netfilter is not loaded; its own would come from its
            // own address, a martian. From the gateway, both come back
            // through the host.
            nat(format!(
                "-A POSTROUTING -s {subnet} -d {subnet} -m conntrack --ctstate DNAT -j MASQUERADE"
            )),
            Rule {
                table: "filter",
                line: format!("-A FORWARD -j {FORWARD_CHAIN}"),
                first: true,
            },
            filter(format!("-A {FORWARD_CHAIN} -i {BRIDGE} -j ACCEPT")),
            filter(format!(
                "-A {FORWARD_CHAIN} -o {BRIDGE} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
            )),
            // New connections to published ports, and only those.
            filter(format!(
                "-A {FORWARD_CHAIN} -o {BRIDGE} -m conntrack --ctstate DNAT -j ACCEPT"
            )),
        ],
    }
}
// ANCHOR_END: shared

// ANCHOR: plan
/// One container's part: a veth pair from the bridge into its namespace,
/// its address and routes, and a DNAT rule per published port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub mode: Mode,
    /// The container's PID 1, on the host: its namespace is /proc/PID/ns/net.
    pub pid: i32,
    /// `ip -batch` lines run on the host.
    pub host: Vec<String>,
    /// `ip -batch` lines run in the container's network namespace.
    pub inside: Vec<String>,
    /// This container's rules, each tagged with [`tag`] so that teardown
    /// finds them even when the plan is lost (ctr was killed).
    pub rules: Vec<Rule>,
}

/// Plans container `id`'s network; `address` is its lease (bridge only).
pub fn plan(mode: Mode, id: &str, pid: i32, address: Option<Ipv4Addr>, ports: &[Port]) -> Plan {
    let mut plan = Plan {
        mode,
        pid,
        host: Vec::new(),
        inside: Vec::new(),
        rules: Vec::new(),
    };
    if mode == Mode::Host {
        return plan;
    }
    plan.inside.push("link set lo up".into());
    let (Mode::Bridge, Some(address)) = (mode, address) else {
        return plan;
    };
    let veth = veth_name(id);
    plan.host = vec![
        // The peer is born in the container's namespace, already named eth0.
        format!("link add {veth} type veth peer name eth0 netns {pid}"),
        format!("link set {veth} master {BRIDGE}"),
        // Hairpin: the bridge may send a frame back out of the port it came
        // in by. With br_netfilter, a container reaching its own published
        // port is DNATed on the bridge, back to itself.
        format!("link set {veth} type bridge_slave hairpin on"),
        format!("link set {veth} up"),
    ];
    plan.inside.extend([
        format!("addr add {address}/{PREFIX} dev eth0"),
        "link set eth0 up".to_string(),
        format!("route add default via {GATEWAY}"),
    ]);
    for port in ports {
        let dest = port
            .host_ip
            .map(|ip| format!("-d {ip}/32 "))
            .unwrap_or_default();
        plan.rules.push(Rule::append(
            "nat",
            format!(
                "-A {DNAT_CHAIN} {dest}-p {proto} -m {proto} --dport {} -m comment --comment {} \
                 -j DNAT --to-destination {address}:{}",
                port.host_port,
                tag(id),
                port.container_port,
                proto = port.proto,
            ),
        ));
    }
    plan
}
// ANCHOR_END: plan

/// The host's end of container `id`'s veth pair (at most 15 bytes, IFNAMSIZ).
pub fn veth_name(id: &str) -> String {
    format!("veth{}", &id[..id.len().min(9)])
}

/// The comment on container `id`'s rules.
pub fn tag(id: &str) -> String {
    format!("ctr:{}", &id[..id.len().min(12)])
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for line in &self.host {
            writeln!(f, "ip {line}")?;
        }
        for line in &self.inside {
            writeln!(f, "nsenter --net=/proc/{}/ns/net ip {line}", self.pid)?;
        }
        for rule in &self.rules {
            writeln!(f, "{rule}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Shared {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for line in &self.bridge {
            writeln!(f, "ip {line}")?;
        }
        for (file, value) in &self.sysctls {
            writeln!(f, "sysctl -w {}={value}", file.replace('/', "."))?;
        }
        for (table, chain) in &self.chains {
            writeln!(f, "iptables -t {table} -N {chain}")?;
        }
        for rule in &self.rules {
            writeln!(f, "{rule}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_bridged_container_with_a_published_port() {
        let ports = [
            Port::parse("6379:6379").unwrap(),
            Port::parse("127.0.0.1:5353:53/udp").unwrap(),
        ];
        let plan = plan(
            Mode::Bridge,
            ID,
            4242,
            Some(Ipv4Addr::new(10, 201, 0, 2)),
            &ports,
        );
        insta::assert_snapshot!(plan.to_string());
    }

    #[test]
    fn none_has_a_loopback_and_host_has_nothing_to_make() {
        let none = plan(Mode::None, ID, 7, None, &[]);
        assert_eq!(
            none.to_string(),
            "nsenter --net=/proc/7/ns/net ip link set lo up\n"
        );
        assert_eq!(plan(Mode::Host, ID, 7, None, &[]).to_string(), "");
    }

    #[test]
    fn the_shared_part_survives_a_drop_policy_and_nats_both_ways() {
        let shared = shared().to_string();
        for want in [
            "ip link add ctr0 type bridge\n",
            "ip addr add 10.201.0.1/24 dev ctr0\n",
            "sysctl -w net.ipv4.conf.ctr0.route_localnet=1\n",
            "iptables -t filter -I FORWARD -j CTR-FORWARD\n",
            "iptables -t nat -A POSTROUTING -s 10.201.0.0/24 ! -o ctr0 -j MASQUERADE\n",
            "iptables -t nat -A OUTPUT -m addrtype --dst-type LOCAL -j CTR-DNAT\n",
        ] {
            assert!(shared.contains(want), "{want:?} missing:\n{shared}");
        }
        insta::assert_snapshot!(shared);
    }

    #[test]
    fn names_fit_in_ifnamsiz() {
        assert_eq!(veth_name(ID).len(), 13);
        assert_eq!(tag(ID), "ctr:0123456789ab");
    }
}
