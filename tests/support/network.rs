//! The network around the sandbox: an "outside" host, in a network namespace
//! of its own, linked to the sandbox by a veth pair, that plays the internet.
//!
//!   outside netns  eth0 198.51.100.1  <-- veth -->  uplink 198.51.100.2  sandbox
//!
//! The outside runs busybox httpd with one CGI script, /ip, that answers with
//! the client's address as it saw it: 198.51.100.2 when the sandbox NATs a
//! container's traffic, the container's own address when nothing does.
//! 198.51.100.0/24 is TEST-NET-2 (RFC 5737): it is never anyone's real network.

/// The outside host's address.
pub const OUTSIDE: &str = "198.51.100.1";
/// The sandbox's address on the link to the outside.
pub const UPLINK: &str = "198.51.100.2";
/// What a client fetches to learn the address the outside saw.
pub const WHOAMI_URL: &str = "http://198.51.100.1/cgi-bin/ip";

/// Shell lines that build the outside and start its server, for the start of
/// a sandbox script. Needs busybox (busybox-static) on the sandbox's PATH.
pub fn outside_script() -> String {
    format!(
        r#"ip netns add outside
ip link add uplink type veth peer name eth0 netns outside
ip addr add {UPLINK}/24 dev uplink
ip link set uplink up
ip -n outside addr add {OUTSIDE}/24 dev eth0
ip -n outside link set eth0 up
ip -n outside link set lo up
ip route add default via {OUTSIDE}
mkdir -p /run/outside-www/cgi-bin
printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "$REMOTE_ADDR"\n' > /run/outside-www/cgi-bin/ip
chmod +x /run/outside-www/cgi-bin/ip
ip netns exec outside busybox httpd -p {OUTSIDE}:80 -h /run/outside-www
for i in $(seq 50); do busybox wget -q -O /dev/null {WHOAMI_URL} 2>/dev/null && break; sleep 0.05; done
"#
    )
}

/// A shell line that fetches WHOAMI_URL, bounded in time (busybox wget's own
/// -T crashes in 1.35), printing the answer or "unreachable".
pub fn whoami_command() -> String {
    format!("timeout 3 wget -q -O - {WHOAMI_URL} || echo unreachable")
}

/// `snapshot_command` plus the mount points: all that ctr could leave on a
/// host, to compare before and after.
pub fn host_command(file: &str) -> String {
    format!(
        "{}; cut -d' ' -f5 /proc/self/mountinfo >> {file}",
        snapshot_command(file)
    )
}

/// The host's network state, seen from inside a sandbox script: links, addresses,
/// routes and rules, one file, to compare before and after. (`iptables -S`
/// lists the chains and rules of a table whether or not nftables holds an
/// empty table for it: an emptied table counts as the same as none.)
pub fn snapshot_command(file: &str) -> String {
    format!(
        "{{ ip -br link | sed 's/@[^ ]*//' | awk '{{print $1, $2}}'; ip -br addr; ip route; \
         iptables -S; iptables -t nat -S; }} > {file}"
    )
}
