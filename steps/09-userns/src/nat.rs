//! Lesson 6's idea: the way out. The host forwards the containers' packets
//! and rewrites their source address to its own (NAT, "masquerading"), so
//! that replies come back to it; it then hands them back to the container.

use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::net::{self, BRIDGE, PREFIX, SUBNET};
use crate::say;

// ANCHOR: rules
/// The iptables rules of the way out, as (table, chain, rule).
fn rules() -> [(&'static str, &'static str, Vec<String>); 3] {
    let subnet = format!("{SUBNET}/{PREFIX}");
    let words = |rule: &str| rule.split_whitespace().map(String::from).collect();
    [
        // Packets from the containers that leave by another interface than
        // bridge0 get the host's address as their source.
        (
            "nat",
            "POSTROUTING",
            words(&format!("-s {subnet} ! -o {BRIDGE} -j MASQUERADE")),
        ),
        // Forward the containers' packets, and the replies to them, even when
        // the FORWARD chain's policy is DROP (docker sets it so).
        (
            "filter",
            "FORWARD",
            words(&format!("-i {BRIDGE} -j ACCEPT")),
        ),
        (
            "filter",
            "FORWARD",
            words(&format!(
                "-o {BRIDGE} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
            )),
        ),
    ]
}
// ANCHOR_END: rules

// ANCHOR: enable
/// Turns on forwarding and adds each rule once: `iptables -C` checks whether
/// it is there already, so a hundred runs leave one rule, not a hundred.
pub fn enable() -> Result<()> {
    say("+ sysctl -w net.ipv4.ip_forward=1");
    fs::write("/proc/sys/net/ipv4/ip_forward", "1").context("turning on ip_forward")?;
    for (table, chain, rule) in rules() {
        if iptables(table, "-C", chain, &rule).is_ok() {
            continue;
        }
        let rule = rule.iter().map(String::as_str).collect::<Vec<_>>();
        net::run(&[&["iptables", "-t", table, "-I", chain], &rule[..]].concat())?;
    }
    Ok(())
}
// ANCHOR_END: enable

// ANCHOR: down
/// Undoes what lessons 5 and 6 made on the host: the rules, bridge0 and the
/// leases, unless a container still uses them. ip_forward stays on, as other
/// things on the host may need it. It goes on after a failure, and reports
/// every failure at the end.
pub fn down() -> Result<()> {
    let _lock = net::lock()?;
    let held = net::held_leases();
    if !held.is_empty() {
        anyhow::bail!(
            "containers still run with {}: stop them first",
            held.join(", ")
        );
    }
    let mut failures = Vec::new();
    for (table, chain, rule) in rules() {
        while iptables(table, "-C", chain, &rule).is_ok() {
            let rule = rule.iter().map(String::as_str).collect::<Vec<_>>();
            if let Err(err) =
                net::run(&[&["iptables", "-t", table, "-D", chain], &rule[..]].concat())
            {
                failures.push(format!("{err:#}"));
                break;
            }
        }
    }
    if Path::new("/sys/class/net").join(BRIDGE).exists() {
        if let Err(err) = net::run(&["ip", "link", "del", BRIDGE]) {
            failures.push(format!("{err:#}"));
        }
    }
    if let Err(err) = net::forget_leases() {
        failures.push(format!("{err:#}"));
    }
    if !failures.is_empty() {
        anyhow::bail!("net-down left things behind:\n  {}", failures.join("\n  "));
    }
    say("the lessons' network is gone");
    Ok(())
}
// ANCHOR_END: down

/// Runs iptables quietly: for -C, whose failure only means "not there".
fn iptables(table: &str, op: &str, chain: &str, rule: &[String]) -> Result<()> {
    let status = Command::new("iptables")
        .args(["-t", table, op, chain])
        .args(rule)
        .stderr(std::process::Stdio::null())
        .status()
        .context("running iptables (is it installed?)")?;
    anyhow::ensure!(status.success(), "iptables {op} {chain} failed");
    Ok(())
}

// ANCHOR: resolv_conf
/// The container's /etc/resolv.conf, made from the host's: a nameserver on
/// 127.0.0.0/8 (systemd-resolved's stub 127.0.0.53, say) listens in the
/// host's network namespace, where the container cannot reach it, so it is
/// left out; `upstream` (systemd-resolved's list of real servers) fills in,
/// and when nothing is left, public servers, as docker does. Returns the file
/// and a note of what was replaced, if anything was.
pub fn resolv_conf(host: &str, upstream: Option<&str>) -> (String, Option<String>) {
    let reachable = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("nameserver"))
            .map(str::trim)
            .filter(|ns| !ns.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback()))
            .filter(|ns| *ns != "::1")
            .map(str::to_string)
            .collect()
    };
    let mut servers = reachable(host);
    let mut note = None;
    if servers.is_empty() && host.contains("nameserver") {
        servers = upstream.map(reachable).unwrap_or_default();
        note = Some("the host's nameserver is on its loopback, out of the container's reach: using systemd-resolved's upstream servers");
        if servers.is_empty() {
            servers = vec!["8.8.8.8".to_string(), "8.8.4.4".to_string()];
            note = Some("the host's nameserver is on its loopback, out of the container's reach: using 8.8.8.8 and 8.8.4.4");
        }
    }
    let mut file: String = host
        .lines()
        .filter(|l| l.trim_start().starts_with("search") || l.trim_start().starts_with("options"))
        .map(|l| format!("{l}\n"))
        .collect();
    for ns in servers {
        file.push_str(&format!("nameserver {ns}\n"));
    }
    (file, note.map(str::to_string))
}
// ANCHOR_END: resolv_conf

/// Writes the container's /etc/resolv.conf into ROOTFS.
pub fn write_resolv_conf(rootfs: &Path) -> Result<()> {
    let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let upstream = fs::read_to_string("/run/systemd/resolve/resolv.conf").ok();
    let (file, note) = resolv_conf(&host, upstream.as_deref());
    if let Some(note) = note {
        say(&note);
    }
    let path = rootfs.join("etc/resolv.conf");
    fs::create_dir_all(rootfs.join("etc")).context("creating /etc in the rootfs")?;
    // The image may have made it a symlink: replace, never write through it.
    let _ = fs::remove_file(&path);
    fs::write(&path, file).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reachable_nameserver_is_kept() {
        let host = "# generated\nsearch example.org\nnameserver 192.0.2.53\noptions edns0\n";
        let (file, note) = resolv_conf(host, None);
        assert_eq!(
            file,
            "search example.org\noptions edns0\nnameserver 192.0.2.53\n"
        );
        assert_eq!(note, None);
    }

    #[test]
    fn the_systemd_stub_is_replaced_by_its_upstream_servers() {
        let host = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n";
        let upstream = "nameserver 192.0.2.1\nnameserver 192.0.2.2\n";
        let (file, note) = resolv_conf(host, Some(upstream));
        assert_eq!(
            file,
            "options edns0 trust-ad\nsearch .\nnameserver 192.0.2.1\nnameserver 192.0.2.2\n"
        );
        assert!(note.unwrap().contains("upstream"));
    }

    #[test]
    fn a_loopback_only_host_gets_public_servers() {
        let (file, note) = resolv_conf("nameserver 127.0.0.1\nnameserver ::1\n", None);
        assert_eq!(file, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        assert!(note.unwrap().contains("8.8.8.8"));
    }

    #[test]
    fn no_nameserver_at_all_stays_so() {
        assert_eq!(resolv_conf("", None), (String::new(), None));
    }
}
