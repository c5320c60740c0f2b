//! The executor: makes a [`Plan`] real with `ip -batch` and
//! `iptables-restore --noflush` (one process each, not one per line), and
//! undoes it. Teardown is idempotent and goes on past a failure, collecting
//! every error (netavark's style): a half-made network can always be removed.
//!
//! The network's lock ([`Ipam::lock`]) is held only for what must be atomic
//! between ctrs: the lease (with the port check, which reads the others'),
//! the bridge's creation, and the rules' read-and-commit (a shared rule is
//! added once). A container's own links, its sysctls and its side of the
//! network are made without it, so that twenty `run -d` at once are not
//! twenty in a row. Teardown holds it throughout.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use super::ipam::{Ipam, NetLock};
use super::plan::{self, Plan, Rule};
use super::{Mode, Port, Proto, BRIDGE, PREFIX, SUBNET};

/// What the network needs to know of the container holding a lease.
pub struct Holder {
    pub name: String,
    /// Its ctr (monitor) still runs: the lease, rules and veth are in use.
    pub alive: bool,
    pub ports: Vec<Port>,
}

/// Looks a container up by ID; None when there is no such container (any more).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<Holder>;

// ANCHOR: setup
/// Connects container `id`, whose PID 1 is `pid`, to the network `mode`,
/// publishing `ports`. Returns its address on the bridge. On failure,
/// whatever was made is undone before the error is returned.
pub fn setup(
    ipam: &Ipam,
    mode: Mode,
    id: &str,
    pid: i32,
    ports: &[Port],
    lookup: Lookup,
) -> Result<Option<Ipv4Addr>> {
    match mode {
        Mode::Host => return Ok(None),
        // pasta's side is the engine's to start (see pasta.rs): here, the loopback.
        Mode::None | Mode::Pasta => {
            let plan = plan::plan(mode, id, pid, None, ports);
            in_namespace(pid, &plan.inside)?;
            return Ok(None);
        }
        Mode::Bridge => {}
    }
    // The lease, under the lock: from here on the bridge is ours too (the
    // last container's teardown keeps it while a lease is held).
    let address = {
        let lock = ipam.lock()?;
        reclaim(ipam, id, lookup, &lock);
        check_ports(ipam, ports, lookup, &lock)?;
        ipam.allocate(id, &lock)?
    };
    let plan = plan::plan(mode, id, pid, Some(address), ports);
    let result = apply(ipam, &plan).map(|()| Some(address));
    if result.is_err() {
        // What the error left half-made; its own errors matter less than the first.
        _ = teardown(ipam, id);
    }
    result
}
// ANCHOR_END: setup

fn in_namespace(pid: i32, lines: &[String]) -> Result<()> {
    super::inside::configure(pid, lines)
}

/// Tears down the network of containers whose ctr is gone (killed, or the
/// machine lost power with /run kept): their leases and rules would
/// otherwise be held forever. Failures are reported and skipped: the
/// container being started must not pay for an old one.
fn reclaim(ipam: &Ipam, me: &str, lookup: Lookup, lock: &NetLock) {
    let Ok(leases) = ipam.leases(lock) else {
        return;
    };
    for (_, holder) in leases {
        if holder != me && !lookup(&holder).is_some_and(|h| h.alive) {
            if let Err(err) = teardown_container(ipam, &holder, lock) {
                eprintln!("ctr: reclaiming the network of dead container {holder}: {err:#}");
            }
        }
    }
}

// ANCHOR: check_ports
/// Fails when a port to publish is published already (by another container
/// of ours), or bound by a program of the host: the DNAT rule would steal
/// its connections, silently.
fn check_ports(ipam: &Ipam, ports: &[Port], lookup: Lookup, lock: &NetLock) -> Result<()> {
    for (i, port) in ports.iter().enumerate() {
        let what = || format!("publishing port {}", port.host_port);
        if ports[..i].iter().any(|p| p.clashes(port)) {
            bail!(
                "{}: {} is given twice: give it once",
                what(),
                port.host_side()
            );
        }
        for holder in ipam.leases(lock)?.values() {
            let Some(other) = lookup(holder) else {
                continue;
            };
            if other.ports.iter().any(|p| p.clashes(port)) {
                bail!(
                    "{}: {} is already taken by container {}: choose another host port",
                    what(),
                    port.host_side(),
                    other.name
                );
            }
        }
        let ip = port.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let bound = match port.proto {
            Proto::Tcp => TcpListener::bind((ip, port.host_port)).map(drop),
            Proto::Udp => UdpSocket::bind((ip, port.host_port)).map(drop),
        };
        match bound {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => bail!(
                "{}: {} is already taken by a program of this host ({}/{} is in use): \
                 stop it or choose another host port",
                what(),
                port.host_side(),
                port.host_port,
                port.proto
            ),
            Err(err) if err.kind() == std::io::ErrorKind::AddrNotAvailable => bail!(
                "{}: {ip} is not an address of this host: give one of its addresses",
                what()
            ),
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("{}: checking {}", what(), port.host_side()))
            }
        }
    }
    Ok(())
}
// ANCHOR_END: check_ports

// ANCHOR: ensure_shared
/// Makes the container's part of the network, and the shared part where it
/// is missing: the bridge, once, after checking that its subnet is free on
/// this host, and whichever shared rules are missing (all of them the first
/// time; none the next, so a hundred containers leave one rule of each).
/// Three programs in all: one `ip -batch` (the veth, and the bridge the
/// first time), one `iptables-save`, one `iptables-restore` (shared and
/// published-port rules); the container's side is done in-process
/// ([`super::inside`]). Locked only where others could race it.
fn apply(ipam: &Ipam, plan: &Plan) -> Result<()> {
    let shared = plan::shared();
    let bridge = || Path::new("/sys/class/net").join(BRIDGE).exists();
    if !bridge() {
        // Two ctrs that both found no bridge would both make it: the
        // second would fail (File exists).
        let _lock = ipam.lock()?;
        if !bridge() {
            if let Some(route) = routes()?.iter().find(|r| collides(r)) {
                bail!(
                    "making the bridge {BRIDGE}: its subnet {SUBNET}/{PREFIX} overlaps a route \
                     this host already has ({route}): remove that route or use --network host"
                );
            }
            ip_batch(&shared.bridge).context("making the bridge")?;
        }
    }
    // The veth pair is named by the container's ID: nobody else touches it.
    ip_batch(&plan.host).context("plugging the container into the bridge")?;
    load_br_netfilter()?;
    for (file, value) in &shared.sysctls {
        let path = Path::new("/proc/sys").join(file);
        std::fs::write(&path, value)
            .with_context(|| format!("setting {} to {value}", path.display()))?;
    }
    commit_rules(ipam, plan)?;
    in_namespace(plan.pid, &plan.inside)
}

/// Adds the shared rules that are missing and the container's, read and
/// committed under the lock: two ctrs that both found a shared rule missing
/// would both add it.
fn commit_rules(ipam: &Ipam, plan: &Plan) -> Result<()> {
    let _lock = ipam.lock()?;
    let saved = Saved::read()?;
    restore_script(&setup_script(plan, &saved)).context("adding the NAT and FORWARD rules")
}

/// The `iptables-restore` script that adds what `plan` needs on a host whose
/// rules are `saved`: the shared chains and rules it lacks, then the
/// container's published ports.
fn setup_script(plan: &Plan, saved: &Saved) -> String {
    let shared = plan::shared();
    let chains: Vec<(&str, &str)> = shared
        .chains
        .iter()
        .filter(|(t, c)| !saved.has_chain(t, c))
        .copied()
        .collect();
    let mut rules: Vec<(Rule, &str)> = shared
        .rules
        .iter()
        .filter(|r| !saved.has_rule(r))
        .map(|r| (r.clone(), if r.first { "-I" } else { "-A" }))
        .collect();
    rules.extend(plan.rules.iter().map(|r| (r.clone(), "-A")));
    restore_text(&chains, &rules, &[])
}

/// A container reaching its own published port sends a packet that the
/// DNAT turns back out of the bridge port it came in by: iptables sees
/// traffic inside a bridge only with br_netfilter. Built into some kernels,
/// it is a module that nothing loads by itself on a distribution's (docker
/// loads it too).
fn load_br_netfilter() -> Result<()> {
    if Path::new("/proc/sys/net/bridge").exists() {
        return Ok(());
    }
    let status = Command::new("modprobe")
        .arg("br_netfilter")
        .status()
        .context("running modprobe br_netfilter")?;
    if !status.success() || !Path::new("/proc/sys/net/bridge").exists() {
        bail!(
            "loading br_netfilter (modprobe br_netfilter: {status}): without it a container \
             cannot reach its own published ports; load it, or build it into the kernel"
        );
    }
    Ok(())
}

/// The host's IPv4 routes of the main table, as `ip -4 -o route show`
/// prints them (destination first, then `dev NAME`), read from
/// /proc/net/route rather than by starting `ip`.
fn routes() -> Result<Vec<String>> {
    let text = std::fs::read_to_string("/proc/net/route").context("reading /proc/net/route")?;
    Ok(proc_routes(&text))
}

/// Parses /proc/net/route: `Iface Destination Gateway Flags RefCnt Use
/// Metric Mask ...`, each address 8 hex digits of its bytes in memory
/// order (little-endian on x86: 0100A8C0 is 192.168.0.1).
fn proc_routes(text: &str) -> Vec<String> {
    let hex = |s: &str| {
        u32::from_str_radix(s, 16)
            .ok()
            .map(|v| Ipv4Addr::from(v.to_ne_bytes()))
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let dev = f.first()?;
            let (dest, gateway, mask) = (hex(f.get(1)?)?, hex(f.get(2)?)?, hex(f.get(7)?)?);
            let prefix = u32::from(mask).leading_ones();
            Some(match (prefix, gateway.is_unspecified()) {
                (0, _) => format!("default via {gateway} dev {dev}"),
                (_, true) => format!("{dest}/{prefix} dev {dev}"),
                (_, false) => format!("{dest}/{prefix} via {gateway} dev {dev}"),
            })
        })
        .collect()
}
// ANCHOR_END: ensure_shared

// ANCHOR: teardown
/// Undoes container `id`'s network, whatever state it is in: the veth, the
/// rules tagged with its ID, its lease; and the shared part with the last
/// container. Safe to call twice, or for a container that never had one.
pub fn teardown(ipam: &Ipam, id: &str) -> Result<()> {
    let lock = ipam.lock()?;
    teardown_locked(ipam, id, &lock)
}

fn teardown_locked(ipam: &Ipam, id: &str, lock: &NetLock) -> Result<()> {
    let mut errors = Errors::default();
    errors.note(ipam.release(id, lock));
    // The last container takes the shared part with its own, in the same
    // three programs; other containers may still use the bridge.
    let last = match ipam.leases(lock) {
        Ok(leases) => leases.is_empty(),
        Err(err) => {
            errors.note(Err(err));
            false
        }
    };
    errors.note(undo(Some(id), last));
    errors.result(&format!(
        "removing the network of container {}",
        &id[..id.len().min(12)]
    ))
}

fn teardown_container(ipam: &Ipam, id: &str, lock: &NetLock) -> Result<()> {
    let mut errors = Errors::default();
    errors.note(undo(Some(id), false));
    errors.note(ipam.release(id, lock));
    errors.result("")
}

/// Removes the bridge and the shared rules, with the last container.
/// ip_forward stays on: other things on the host may have needed it before.
pub(crate) fn teardown_shared() -> Result<()> {
    undo(None, true).context("removing the bridge and its rules")
}

/// Removes container `id`'s rules and veth and, with `shared`, the shared
/// rules, chains and bridge: one `iptables-save`, one `iptables-restore`,
/// one `ip -batch`, whichever parts there are. Goes on past a failure.
fn undo(id: Option<&str>, shared: bool) -> Result<()> {
    let mut errors = Errors::default();
    errors
        .note(Saved::read().and_then(|saved| restore_script(&teardown_script(id, shared, &saved))));
    let mut links = Vec::new();
    // The kernel removes the pair when the container's namespace goes, but
    // later, in the background: removing it now makes `rm` leave nothing.
    if let Some(id) = id {
        links.push(plan::veth_name(id));
    }
    if shared {
        links.push(BRIDGE.to_string());
    }
    errors.note(remove_links(&links));
    errors.result("")
}

/// The `iptables-restore` script that deletes container `id`'s rules, found
/// in `saved` by their tag, and with `shared` the shared rules and chains
/// that `saved` lists.
fn teardown_script(id: Option<&str>, shared: bool, saved: &Saved) -> String {
    let parts = plan::shared();
    let mut rules: Vec<(Rule, &str)> = Vec::new();
    if let Some(id) = id {
        let tag = plan::tag(id);
        let tagged = |r: &&Rule| {
            r.line
                .split_whitespace()
                .any(|w| w.trim_matches('"') == tag)
        };
        rules.extend(saved.rules.iter().filter(tagged).map(|r| (r.clone(), "-D")));
    }
    let mut chains = Vec::new();
    if shared {
        let present = parts.rules.iter().filter(|r| saved.has_rule(r));
        rules.extend(present.map(|r| (r.clone(), "-D")));
        // Emptied and no longer jumped to: the chains can go.
        chains.extend(parts.chains.iter().filter(|(t, c)| saved.has_chain(t, c)));
    }
    restore_text(&[], &rules, &chains)
}

/// Deletes the links that exist, in one `ip -force -batch` (on past an
/// error); the kernel may remove a veth between our look and our `del`:
/// only a link still there afterwards is a failure.
fn remove_links(links: &[String]) -> Result<()> {
    let exists = |link: &String| Path::new("/sys/class/net").join(link).exists();
    let lines: Vec<String> = links
        .iter()
        .filter(|l| exists(l))
        .map(|l| format!("link del {l}"))
        .collect();
    if lines.is_empty() {
        return Ok(());
    }
    let script = lines.join("\n") + "\n";
    match output("ip", &["-force", "-batch", "-"], Some(&script)) {
        Err(err) if links.iter().any(exists) => Err(err),
        _ => Ok(()),
    }
}
// ANCHOR_END: teardown

/// Errors collected by a teardown that goes on past them.
#[derive(Default)]
struct Errors(Vec<String>);

impl Errors {
    fn note(&mut self, result: Result<()>) {
        if let Err(err) = result {
            self.0.push(format!("{err:#}"));
        }
    }

    fn result(self, what: &str) -> Result<()> {
        match (self.0.is_empty(), what.is_empty()) {
            (true, _) => Ok(()),
            (false, true) => bail!("{}", self.0.join("; ")),
            (false, false) => bail!("{what}: {}", self.0.join("; ")),
        }
    }
}

/// Whether a line of `ip -o route show` covers addresses of the subnet. The
/// default route covers everything and is no collision; the bridge's own
/// route is ours.
pub fn collides(route: &str) -> bool {
    let mut words = route.split_whitespace();
    let Some(dest) = words.next() else {
        return false;
    };
    if dest == "default" || route.split_whitespace().any(|w| w == BRIDGE) {
        return false;
    }
    let (addr, prefix) = dest.split_once('/').unwrap_or((dest, "32"));
    let (Ok(addr), Ok(prefix)) = (addr.parse::<Ipv4Addr>(), prefix.parse::<u8>()) else {
        return false;
    };
    overlaps(addr, prefix, SUBNET, PREFIX)
}

/// Two networks overlap when they agree on the bits of the shorter prefix.
fn overlaps(a: Ipv4Addr, a_prefix: u8, b: Ipv4Addr, b_prefix: u8) -> bool {
    let bits = a_prefix.min(b_prefix).min(32);
    let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
    u32::from(a) & mask == u32::from(b) & mask
}

/// The rules and chains of every table, as `iptables-save` prints them.
struct Saved {
    chains: BTreeSet<(String, String)>,
    rules: Vec<Rule>,
}

impl Saved {
    fn read() -> Result<Saved> {
        Ok(Saved::parse(&output("iptables-save", &[], None)?))
    }

    fn parse(text: &str) -> Saved {
        let mut saved = Saved {
            chains: BTreeSet::new(),
            rules: Vec::new(),
        };
        let mut table = "";
        for line in text.lines() {
            if let Some(name) = line.strip_prefix('*') {
                table = match name {
                    "nat" => "nat",
                    "filter" => "filter",
                    _ => "",
                };
            } else if table.is_empty() {
                continue;
            } else if let Some(chain) = line.strip_prefix(':') {
                let chain = chain.split_whitespace().next().unwrap_or_default();
                saved.chains.insert((table.to_string(), chain.to_string()));
            } else if line.starts_with("-A ") {
                saved.rules.push(Rule {
                    table,
                    line: line.to_string(),
                    first: false,
                });
            }
        }
        saved
    }

    fn has_chain(&self, table: &str, chain: &str) -> bool {
        self.chains
            .contains(&(table.to_string(), chain.to_string()))
    }

    fn has_rule(&self, rule: &Rule) -> bool {
        self.rules
            .iter()
            .any(|r| r.table == rule.table && r.line == rule.line)
    }
}

/// An `iptables-restore --noflush` script that creates `chains`, applies
/// `rules` (each with its operation: -A, -I or -D), then flushes and deletes
/// the chains `drop`: one transaction per table, all or nothing.
fn restore_text(chains: &[(&str, &str)], rules: &[(Rule, &str)], drop: &[&(&str, &str)]) -> String {
    let mut by_table: BTreeMap<&str, String> = BTreeMap::new();
    for (table, chain) in chains {
        by_table
            .entry(table)
            .or_default()
            .push_str(&format!(":{chain} - [0:0]\n"));
    }
    for (rule, op) in rules {
        by_table.entry(rule.table).or_default().push_str(&format!(
            "{op} {} {}\n",
            rule.chain(),
            rule.spec()
        ));
    }
    for (table, chain) in drop {
        by_table
            .entry(table)
            .or_default()
            .push_str(&format!("-F {chain}\n-X {chain}\n"));
    }
    by_table
        .iter()
        .map(|(table, lines)| format!("*{table}\n{lines}COMMIT\n"))
        .collect()
}

fn restore_script(script: &str) -> Result<()> {
    if script.is_empty() {
        return Ok(());
    }
    output("iptables-restore", &["--noflush"], Some(script))
        .with_context(|| format!("applying:\n{script}"))
        .map(drop)
}

/// `ip -batch -` on the host.
fn ip_batch(lines: &[String]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let script = lines.join("\n") + "\n";
    output("ip", &["-batch", "-"], Some(&script)).map(drop)
}

/// Runs a command (with `input` on its stdin) and returns its stdout, or
/// fails with its stderr.
fn output(program: &str, args: &[&str], input: Option<&str>) -> Result<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!("running {program}: is it installed (iproute2, iptables, util-linux)?")
        })?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(input.as_bytes())
            .with_context(|| format!("writing to {program}"))?;
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("waiting for {program}"))?;
    if !out.status.success() {
        bail!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const B: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

    /// `iptables-save` of a host (a sandbox) with containers A (-p 8080:80)
    /// and B (-p 127.0.0.1:5353:53/udp) running, as ctr left it.
    const TWO_CONTAINERS: &str = r#"*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:CTR-FORWARD - [0:0]
-A FORWARD -j CTR-FORWARD
-A CTR-FORWARD -i ctr0 -j ACCEPT
-A CTR-FORWARD -o ctr0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A CTR-FORWARD -o ctr0 -m conntrack --ctstate DNAT -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:CTR-DNAT - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j CTR-DNAT
-A OUTPUT -m addrtype --dst-type LOCAL -j CTR-DNAT
-A POSTROUTING -s 10.201.0.0/24 ! -o ctr0 -j MASQUERADE
-A POSTROUTING -o ctr0 -m addrtype --src-type LOCAL -j MASQUERADE
-A POSTROUTING -s 10.201.0.0/24 -d 10.201.0.0/24 -m conntrack --ctstate DNAT -j MASQUERADE
-A CTR-DNAT -p tcp -m tcp --dport 8080 -m comment --comment "ctr:0123456789ab" -j DNAT --to-destination 10.201.0.2:80
-A CTR-DNAT -d 127.0.0.1/32 -p udp -m udp --dport 5353 -m comment --comment "ctr:fedcba987654" -j DNAT --to-destination 10.201.0.3:53
COMMIT
"#;

    /// `iptables-save` of a host with nothing of ctr's, and docker's policy.
    const FRESH: &str = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n\
                         *nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                         :POSTROUTING ACCEPT [0:0]\nCOMMIT\n";

    fn container(id: &str, address: u8, port: &str) -> Plan {
        let port = Port::parse(port).unwrap();
        let address = Ipv4Addr::new(10, 201, 0, address);
        plan::plan(Mode::Bridge, id, 4242, Some(address), &[port])
    }

    #[test]
    fn the_first_container_adds_the_shared_part_and_its_port() {
        let script = setup_script(&container(A, 2, "8080:80"), &Saved::parse(FRESH));
        insta::assert_snapshot!(script);
    }

    #[test]
    fn a_second_container_adds_its_port_only() {
        let script = setup_script(&container(A, 2, "8080:80"), &Saved::parse(TWO_CONTAINERS));
        assert_eq!(script.matches("-A ").count(), 1, "{script}");
        insta::assert_snapshot!(script);
    }

    #[test]
    fn teardown_removes_the_containers_rules_and_the_last_one_all() {
        let saved = Saved::parse(TWO_CONTAINERS);
        insta::assert_snapshot!("one_of_two", teardown_script(Some(A), false, &saved));
        let a_gone: Vec<&str> = TWO_CONTAINERS
            .lines()
            .filter(|l| !l.contains("ctr:0123456789ab"))
            .collect();
        let saved = Saved::parse(&a_gone.join("\n"));
        insta::assert_snapshot!("the_last", teardown_script(Some(B), true, &saved));
        // Twice, or for a container that never had a network: nothing to do.
        assert_eq!(teardown_script(Some(A), false, &Saved::parse(FRESH)), "");
    }

    #[test]
    fn routes_that_overlap_the_subnet_collide() {
        assert!(collides("10.201.0.0/24 dev eth1 proto kernel scope link"));
        assert!(collides("10.0.0.0/8 via 192.0.2.1 dev eth0"));
        assert!(collides("10.201.0.9 via 192.0.2.1 dev eth0"));
        assert!(collides("10.201.0.128/25 dev wg0 scope link"));
    }

    #[test]
    fn proc_net_route_reads_as_ip_prints_it() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    uplink\t00000000\t016433C6\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    uplink\t006433C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                    eth1\t0000000A\t016433C6\t0003\t0\t0\t0\t000000FF\t0\t0\t0\n";
        let routes = proc_routes(text);
        assert_eq!(
            routes,
            [
                "default via 198.51.100.1 dev uplink",
                "198.51.100.0/24 dev uplink",
                "10.0.0.0/8 via 198.51.100.1 dev eth1",
            ]
        );
        assert!(!collides(&routes[0]) && !collides(&routes[1]));
        assert!(collides(&routes[2]));
    }

    #[test]
    fn other_routes_do_not() {
        assert!(!collides("default via 192.0.2.1 dev eth0"));
        assert!(!collides("10.200.0.0/24 dev bridge0 scope link"));
        assert!(!collides(
            "10.201.0.0/24 dev ctr0 proto kernel scope link src 10.201.0.1"
        ));
        assert!(!collides("198.51.100.0/24 dev uplink proto kernel"));
        assert!(!collides(""));
    }
}
