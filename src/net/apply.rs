//! The executor: makes a [`Plan`] real with `ip -batch` and
//! `iptables-restore --noflush` (one process each, not one per line), and
//! undoes it. Teardown is idempotent and goes on past a failure, collecting
//! every error (netavark's style): a half-made network can always be removed.
//! All of it happens under the network's lock ([`Ipam::lock`]).

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
        Mode::None => {
            let plan = plan::plan(mode, id, pid, None, ports);
            in_namespace(pid, &plan.inside)?;
            return Ok(None);
        }
        Mode::Bridge => {}
    }
    let lock = ipam.lock()?;
    reclaim(ipam, id, lookup, &lock);
    check_ports(ipam, ports, lookup, &lock)?;
    let result = (|| {
        ensure_shared()?;
        let address = ipam.allocate(id, &lock)?;
        let plan = plan::plan(mode, id, pid, Some(address), ports);
        apply(&plan)?;
        Ok(Some(address))
    })();
    if result.is_err() {
        // What the error left half-made; its own errors matter less than the first.
        _ = teardown_locked(ipam, id, &lock);
    }
    result
}
// ANCHOR_END: setup

fn apply(plan: &Plan) -> Result<()> {
    ip_batch(None, &plan.host).context("plugging the container into the bridge")?;
    in_namespace(plan.pid, &plan.inside)?;
    let rules: Vec<(Rule, &str)> = plan.rules.iter().map(|r| (r.clone(), "-A")).collect();
    restore(&[], &rules).context("publishing the container's ports")
}

fn in_namespace(pid: i32, lines: &[String]) -> Result<()> {
    ip_batch(Some(pid), lines).context("configuring the container's network namespace")
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
/// Makes the bridge, once, after checking that its subnet is free on this
/// host, and adds whichever shared rules are missing (all of them the first
/// time; none the next, so a hundred containers leave one rule of each).
fn ensure_shared() -> Result<()> {
    let shared = plan::shared();
    if !Path::new("/sys/class/net").join(BRIDGE).exists() {
        let routes = output("ip", &["-4", "-o", "route", "show"], None)?;
        if let Some(route) = routes.lines().find(|r| collides(r)) {
            bail!(
                "making the bridge {BRIDGE}: its subnet {SUBNET}/{PREFIX} overlaps a route \
                 this host already has ({route}): remove that route or use --network host"
            );
        }
        ip_batch(None, &shared.bridge).with_context(|| format!("making the bridge {BRIDGE}"))?;
    }
    for (file, value) in &shared.sysctls {
        let path = Path::new("/proc/sys").join(file);
        std::fs::write(&path, value)
            .with_context(|| format!("setting {} to {value}", path.display()))?;
    }
    let saved = Saved::read()?;
    let chains: Vec<(&str, &str)> = shared
        .chains
        .iter()
        .filter(|(t, c)| !saved.has_chain(t, c))
        .copied()
        .collect();
    let rules: Vec<(Rule, &str)> = shared
        .rules
        .iter()
        .filter(|r| !saved.has_rule(r))
        .map(|r| (r.clone(), if r.first { "-I" } else { "-A" }))
        .collect();
    restore(&chains, &rules).context("adding the bridge's NAT and FORWARD rules")
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
    errors.note(teardown_container(ipam, id, lock));
    match ipam.leases(lock) {
        Ok(leases) if leases.is_empty() => errors.note(teardown_shared()),
        Ok(_) => {} // other containers still use the bridge and its rules
        Err(err) => errors.note(Err(err)),
    }
    errors.result(&format!(
        "removing the network of container {}",
        &id[..id.len().min(12)]
    ))
}

fn teardown_container(ipam: &Ipam, id: &str, lock: &NetLock) -> Result<()> {
    let mut errors = Errors::default();
    // The kernel removes the pair when the container's namespace goes, but
    // later, in the background: removing it now makes `rm` leave nothing.
    let veth = plan::veth_name(id);
    if Path::new("/sys/class/net").join(&veth).exists() {
        // The kernel may remove it between our look and our `del`: fine.
        // (`ip` says "Cannot find device" alone, "No such device" in a batch.)
        errors.note(
            ip_batch(None, &[format!("link del {veth}")]).or_else(|err| {
                let text = format!("{err:#}");
                match text.contains("Cannot find device") || text.contains("No such device") {
                    true => Ok(()),
                    false => Err(err),
                }
            }),
        );
    }
    errors.note(Saved::read().and_then(|saved| {
        let tag = plan::tag(id);
        let rules: Vec<(Rule, &str)> = saved
            .rules
            .iter()
            .filter(|r| {
                r.line
                    .split_whitespace()
                    .any(|w| w.trim_matches('"') == tag)
            })
            .map(|r| (r.clone(), "-D"))
            .collect();
        restore(&[], &rules)
    }));
    errors.note(ipam.release(id, lock));
    errors.result("")
}

/// Removes the bridge and the shared rules, with the last container.
/// ip_forward stays on: other things on the host may have needed it before.
pub(crate) fn teardown_shared() -> Result<()> {
    let mut errors = Errors::default();
    let shared = plan::shared();
    errors.note(Saved::read().and_then(|saved| {
        let rules: Vec<(Rule, &str)> = shared
            .rules
            .iter()
            .filter(|r| saved.has_rule(r))
            .map(|r| (r.clone(), "-D"))
            .collect();
        restore(&[], &rules)?;
        // Emptied and no longer jumped to: the chains can go.
        let mut script = String::new();
        for (table, chain) in &shared.chains {
            if saved.has_chain(table, chain) {
                script.push_str(&format!("*{table}\n-F {chain}\n-X {chain}\nCOMMIT\n"));
            }
        }
        restore_script(&script)
    }));
    if Path::new("/sys/class/net").join(BRIDGE).exists() {
        errors.note(ip_batch(None, &[format!("link del {BRIDGE}")]));
    }
    errors.result("removing the bridge and its rules")
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
        let text = output("iptables-save", &[], None)?;
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
        Ok(saved)
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

/// Applies rules (each with its operation: -A, -I or -D) and creates
/// chains, in one `iptables-restore --noflush`: all or nothing.
fn restore(chains: &[(&str, &str)], rules: &[(Rule, &str)]) -> Result<()> {
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
    let script: String = by_table
        .iter()
        .map(|(table, lines)| format!("*{table}\n{lines}COMMIT\n"))
        .collect();
    restore_script(&script)
}

fn restore_script(script: &str) -> Result<()> {
    if script.is_empty() {
        return Ok(());
    }
    output("iptables-restore", &["--noflush"], Some(script))
        .with_context(|| format!("applying:\n{script}"))
        .map(drop)
}

/// `ip -batch -` on the host, or in the network namespace of `pid`.
fn ip_batch(pid: Option<i32>, lines: &[String]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let script = lines.join("\n") + "\n";
    match pid {
        None => output("ip", &["-batch", "-"], Some(&script)),
        Some(pid) => output(
            "nsenter",
            &[&format!("--net=/proc/{pid}/ns/net"), "ip", "-batch", "-"],
            Some(&script),
        ),
    }
    .map(drop)
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

    #[test]
    fn routes_that_overlap_the_subnet_collide() {
        assert!(collides("10.201.0.0/24 dev eth1 proto kernel scope link"));
        assert!(collides("10.0.0.0/8 via 192.0.2.1 dev eth0"));
        assert!(collides("10.201.0.9 via 192.0.2.1 dev eth0"));
        assert!(collides("10.201.0.128/25 dev wg0 scope link"));
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
