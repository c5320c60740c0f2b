//! `ctr system check` and `ctr system reset`: what ctr left on this host,
//! and removing all of it.
//!
//! A container's network (its veth, its rules, its lease) and its overlay
//! are undone by its monitor when it exits, and by `ctr rm`. A monitor that
//! was killed (SIGKILL, the OOM killer, a power cut with /run kept) undoes
//! nothing: `check` finds what such a container left, by the names ctr gives
//! things (the bridge `ctr0`, veths `veth` + 9 digits of the ID enslaved to
//! it, iptables chains `CTR-*`, rules commented `ctr:ID`, leases, mounts and
//! temporary files under CTR_ROOT). `reset` removes every container and all
//! of that, with the same teardown functions that `rm` uses, then the store.

use crate::runtime::cgroups::{Cgroup, Layout};
use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::container::{self, lifecycle, Record};
use crate::image::Store;
use crate::net::{self, ipam::Ipam, plan, BRIDGE};

/// Something ctr made that nothing uses any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// What kind: `veth`, `bridge`, `iptables`, `mount`, `lease`, `tmp`.
    pub kind: &'static str,
    /// Its name: the link, the rule as iptables-save prints it, the path.
    pub name: String,
    /// Why it is a leftover.
    pub why: String,
}

impl fmt::Display for Leftover {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} {}: {}", self.kind, self.name, self.why)
    }
}

/// The host's network as ctr sees it: its links and its iptables rules.
struct Host {
    /// Every link, with its master (the bridge it is enslaved to), if any.
    links: Vec<(String, Option<String>)>,
    /// (table, `-A ...` line) of the nat and filter tables.
    rules: Vec<(String, String)>,
    /// (table, chain) of the nat and filter tables.
    chains: BTreeSet<(String, String)>,
}

impl Host {
    fn read() -> Result<Host> {
        let mut links = Vec::new();
        let class = Path::new("/sys/class/net");
        for entry in fs::read_dir(class).with_context(|| format!("reading {}", class.display()))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let master = fs::read_link(entry.path().join("master"))
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
            links.push((name, master));
        }
        let out = Command::new("iptables-save")
            .output()
            .context("running iptables-save: is iptables installed?")?;
        if !out.status.success() {
            bail!(
                "`iptables-save` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let mut rules = Vec::new();
        let mut chains = BTreeSet::new();
        let mut table = String::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(name) = line.strip_prefix('*') {
                table = name.to_string();
            } else if table != "nat" && table != "filter" {
                continue;
            } else if let Some(chain) = line.strip_prefix(':') {
                let chain = chain.split_whitespace().next().unwrap_or_default();
                chains.insert((table.clone(), chain.to_string()));
            } else if line.starts_with("-A ") {
                rules.push((table.clone(), line.to_string()));
            }
        }
        Ok(Host {
            links,
            rules,
            chains,
        })
    }
}

/// The container ID a rule is tagged with (`--comment ctr:ID`), if any.
fn rule_tag(line: &str) -> Option<&str> {
    line.split_whitespace()
        .map(|w| w.trim_matches('"'))
        .find_map(|w| w.strip_prefix("ctr:"))
        .filter(|id| !id.is_empty())
}

/// Mount points under `root`, deepest first, from /proc/self/mountinfo
/// (field 5, with its octal escapes: `\040` is a space).
fn mounts_under(root: &Path) -> Result<Vec<PathBuf>> {
    let text =
        fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    let mut found: Vec<PathBuf> = text
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape(field)))
        .filter(|path| path.starts_with(root) && path != root)
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    Ok(found)
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The containers and which of them live (their monitor runs).
struct Containers {
    all: Vec<Record>,
}

impl Containers {
    fn read(store: &Store) -> Result<Containers> {
        Ok(Containers {
            all: container::records(store)?,
        })
    }

    fn alive(&self) -> impl Iterator<Item = &Record> {
        self.all.iter().filter(|r| r.live())
    }

    /// Whether a live container's ID starts with `prefix` (rules keep 12
    /// digits of it, veths 9).
    fn alive_with(&self, prefix: &str) -> bool {
        self.alive().any(|r| r.id.as_str().starts_with(prefix))
    }

    fn any_on_bridge(&self) -> bool {
        self.alive().any(|r| r.network == net::Mode::Bridge)
    }
}

// ANCHOR: check
/// What ctr left on this host that no live container uses: the leftovers of
/// containers whose ctr was killed, and temporary files of interrupted
/// writers. Takes the store's lock, so that a pull at work finishes first.
pub fn check(store: &Store) -> Result<Vec<Leftover>> {
    let _lock = store.lock(true)?;
    let containers = Containers::read(store)?;
    let host = Host::read()?;
    let mut found = Vec::new();
    let mut note = |kind, name: String, why: String| found.push(Leftover { kind, name, why });
    let known_veths: BTreeSet<String> = containers
        .all
        .iter()
        .map(|r| plan::veth_name(r.id.as_str()))
        .collect();
    for (link, master) in &host.links {
        let ours = master.as_deref() == Some(BRIDGE) || known_veths.contains(link);
        let Some(id) = link.strip_prefix("veth").filter(|_| ours) else {
            continue;
        };
        if !containers.alive_with(id) {
            note(
                "veth",
                link.clone(),
                format!("no live container has the ID {id}..."),
            );
        }
    }
    if host.links.iter().any(|(l, _)| l == BRIDGE) && !containers.any_on_bridge() {
        note(
            "bridge",
            BRIDGE.to_string(),
            "no live container is on the bridge network".into(),
        );
    }
    let shared = plan::shared();
    for (table, line) in &host.rules {
        let why = match rule_tag(line) {
            Some(id) if !containers.alive_with(id) => format!("container {id} is gone"),
            Some(_) => continue,
            None => {
                let ours = shared
                    .rules
                    .iter()
                    .any(|r| r.table == table && &r.line == line)
                    || [plan::DNAT_CHAIN, plan::FORWARD_CHAIN]
                        .iter()
                        .any(|c| line.split_whitespace().nth(1) == Some(c));
                if !ours || containers.any_on_bridge() {
                    continue;
                }
                "a rule of the bridge network, which no live container uses".into()
            }
        };
        note("iptables", format!("-t {table} {line}"), why);
    }
    for (table, chain) in &shared.chains {
        if host
            .chains
            .contains(&(table.to_string(), chain.to_string()))
            && !containers.any_on_bridge()
        {
            note(
                "iptables",
                format!("-t {table} chain {chain}"),
                "a chain of the bridge network, which no live container uses".into(),
            );
        }
    }
    let root = store
        .root()
        .canonicalize()
        .unwrap_or_else(|_| store.root().to_path_buf());
    let containers_dir = container::containers_dir(store);
    let containers_dir = containers_dir.canonicalize().unwrap_or(containers_dir);
    for mount in mounts_under(&root)? {
        let owner = mount
            .strip_prefix(&containers_dir)
            .ok()
            .and_then(|rest| rest.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned());
        let why = match owner {
            Some(id) if containers.alive().any(|r| r.id.as_str() == id) => continue,
            Some(id) => format!("container {} is not running", &id[..id.len().min(12)]),
            None => "no container of the store holds it".into(),
        };
        note("mount", mount.display().to_string(), why);
    }
    // What the runtime keeps of a container (its state, a created one's
    // process held back) outlives a killed monitor.
    for state in container::runtime(store).list()? {
        if !containers.alive().any(|r| r.id.as_str() == state.id) {
            note(
                "runtime",
                state.id.clone(),
                format!(
                    "the runtime's state of a container that is gone ({})",
                    state.status
                ),
            );
        }
    }
    // A container's cgroup, /ctr/ID, outlives a monitor killed before its
    // teardown.
    if let Ok(layout) = Layout::detect() {
        let mut seen = BTreeSet::new();
        for dir in Cgroup::new(layout, Path::new("/ctr")).dirs() {
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let id = entry.file_name().to_string_lossy().into_owned();
                if !entry.path().is_dir() || containers.alive().any(|r| r.id.as_str() == id) {
                    continue;
                }
                if seen.insert(id.clone()) {
                    note(
                        "cgroup",
                        format!("/ctr/{id}"),
                        format!("container {} is not running", &id[..id.len().min(12)]),
                    );
                }
            }
        }
    }
    let ipam = Ipam::open(store.root())?;
    let lock = ipam.lock()?;
    for (address, holder) in ipam.leases(&lock)? {
        if !containers.alive().any(|r| r.id.as_str() == holder) {
            note(
                "lease",
                address.to_string(),
                format!(
                    "held by container {}, which is gone",
                    &holder[..holder.len().min(12)]
                ),
            );
        }
    }
    for path in store.abandoned_tmp()? {
        note(
            "tmp",
            path.display().to_string(),
            "left by an interrupted pull, import or run".into(),
        );
    }
    Ok(found)
}
// ANCHOR_END: check

/// The entries of a store, all made by ctr (image/store.rs, net/ipam.rs):
/// `reset` removes these and nothing else, so that `--root /` or a typo
/// cannot take anything of the user's with it.
const STORE_ENTRIES: [&str; 11] = [
    "containers",
    "volumes",
    "runtime",
    "net",
    "images",
    "refs.json",
    "layers",
    "blobs",
    "locks",
    "tmp",
    "lock",
];

// ANCHOR: reset
/// Removes everything ctr made: kills and removes every container (with
/// `rm -f`, which undoes its network), then whatever killed containers left
/// (veths, rules, leases, the bridge, mounts), then the store at `root`:
/// images, layers, blobs. Goes on past failures and reports them all at the
/// end; returns what it removed, one line each. Running it again finds
/// nothing and succeeds.
pub fn reset(root: &Path) -> Result<Vec<String>> {
    let mut report = Report::default();
    let mut note = |what: String, result: Result<()>| report.note(what, result);
    let bridge_before = Host::read()?.links.iter().any(|(l, _)| l == BRIDGE);
    if root.exists() {
        let store = Store::open(root)?;
        // Listed first: removing the last container removes the bridge,
        // and a veth left on it would then no longer look like ctr's.
        let leftovers = check(&store)?;
        for record in container::records(&store)? {
            let what = format!("container {} ({})", record.name, record.short_id());
            note(what, lifecycle::rm(&store, record.id.as_str(), true));
        }
        // What killed containers left: the teardown of their network is
        // `rm`'s, by the ID that names it.
        let ipam = Ipam::open(root)?;
        for leftover in leftovers {
            let what = format!("{} {}", leftover.kind, leftover.name);
            let result = match leftover.kind {
                "veth" => {
                    let id = leftover.name.trim_start_matches("veth");
                    net::apply::teardown(&ipam, id)
                }
                "iptables" => match rule_tag(&leftover.name) {
                    Some(id) => net::apply::teardown(&ipam, id),
                    None => continue, // shared: removed with the bridge below
                },
                "lease" => {
                    let lock = ipam.lock()?;
                    let holder = ipam
                        .leases(&lock)?
                        .into_iter()
                        .find_map(|(a, h)| (a.to_string() == leftover.name).then_some(h));
                    drop(lock);
                    match holder {
                        Some(id) => net::apply::teardown(&ipam, &id),
                        None => Ok(()),
                    }
                }
                "runtime" => crate::runtime::ContainerId::parse(&leftover.name)
                    .and_then(|id| container::runtime(&store).delete(&id, true)),
                "cgroup" => Layout::detect()
                    .and_then(|layout| Cgroup::new(layout, Path::new(&leftover.name)).remove()),
                // `rm` unmounted those of its container already.
                "mount" => match nix::mount::umount2(
                    Path::new(&leftover.name),
                    nix::mount::MntFlags::MNT_DETACH,
                ) {
                    Ok(()) | Err(nix::errno::Errno::ENOENT | nix::errno::Errno::EINVAL) => Ok(()),
                    Err(err) => Err(err).with_context(|| format!("unmounting {}", leftover.name)),
                },
                _ => continue, // the bridge below; tmp/ with the store
            };
            note(what, result);
        }
        let lock = ipam.lock()?;
        let leases = ipam.leases(&lock)?;
        drop(lock);
        if !leases.is_empty() {
            note(
                "the leases".into(),
                Err(anyhow::anyhow!("{leases:?} are still held")),
            );
        }
    }
    // The bridge and its rules, with or without a store (another root may
    // have made them: there is one ctr0 per host).
    let host = Host::read()?;
    let shared = plan::shared();
    let has_shared = host.links.iter().any(|(l, _)| l == BRIDGE)
        || shared
            .chains
            .iter()
            .any(|(t, c)| host.chains.contains(&(t.to_string(), c.to_string())));
    // Veths on the bridge that no container of this store had.
    for (link, master) in &host.links {
        if master.as_deref() == Some(BRIDGE) && root.exists() {
            let id = link.trim_start_matches("veth");
            let result = Ipam::open(root).and_then(|ipam| net::apply::teardown(&ipam, id));
            note(format!("veth {link}"), result);
        }
    }
    if has_shared {
        // Under the network's lock, as every teardown (without a store, there
        // is no lock and no ctr of it at work).
        let result = match root.exists() {
            true => Ipam::open(root)
                .and_then(|ipam| ipam.lock())
                .and_then(|_lock| net::apply::teardown_shared()),
            false => net::apply::teardown_shared(),
        };
        note(
            format!("bridge {BRIDGE}, its NAT and FORWARD rules"),
            result,
        );
    } else if bridge_before {
        // Removed with the last container's network, above.
        note(
            format!("bridge {BRIDGE}, its NAT and FORWARD rules"),
            Ok(()),
        );
    }
    if root.exists() {
        for mount in mounts_under(root)? {
            let what = format!("mount {}", mount.display());
            let result = nix::mount::umount2(&mount, nix::mount::MntFlags::MNT_DETACH)
                .with_context(|| format!("unmounting {}", mount.display()));
            note(what, result);
        }
        let mut gone = 0;
        for entry in STORE_ENTRIES {
            let path = root.join(entry);
            let result = match fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => fs::remove_dir_all(&path),
                Ok(_) => fs::remove_file(&path),
                Err(_) => continue,
            };
            match result {
                Ok(()) => gone += 1,
                Err(err) => note(format!("removing {}", path.display()), Err(err.into())),
            }
        }
        // The directory itself, if ctr's entries were all it held.
        if fs::remove_dir(root).is_ok() || gone > 0 {
            note(
                format!("store {} (images, layers, blobs)", root.display()),
                Ok(()),
            );
        }
    }
    report.finish()
}

/// What `reset` removed, and what it could not.
#[derive(Default)]
struct Report {
    removed: Vec<String>,
    errors: Vec<String>,
}

impl Report {
    fn note(&mut self, what: String, result: Result<()>) {
        match result {
            Ok(()) => self.removed.push(what),
            Err(err) => self.errors.push(format!("{what}: {err:#}")),
        }
    }

    fn finish(self) -> Result<Vec<String>> {
        if !self.errors.is_empty() {
            bail!(
                "resetting ctr: {}: run `ctr system reset` again once fixed",
                self.errors.join("; ")
            );
        }
        Ok(self.removed)
    }
}
// ANCHOR_END: reset

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_known_by_their_tag() {
        let line = "-A CTR-DNAT -p tcp -m tcp --dport 8080 -m comment --comment ctr:0123456789ab -j DNAT --to-destination 10.201.0.2:80";
        assert_eq!(rule_tag(line), Some("0123456789ab"));
        assert_eq!(
            rule_tag(&line.replace("ctr:", "\"ctr:")),
            Some("0123456789ab")
        );
        assert_eq!(
            rule_tag("-A POSTROUTING -s 10.201.0.0/24 -j MASQUERADE"),
            None
        );
        assert_eq!(rule_tag("-A X -m comment --comment ctr: -j ACCEPT"), None);
    }

    #[test]
    fn reset_knows_every_entry_a_store_has() {
        // A store that has held an image, a layer's lock and a lease.
        let root = std::env::temp_dir().join(format!("ctr-reset-test-{}", std::process::id()));
        let store = Store::open(&root).unwrap();
        let lock = store.lock(true).unwrap();
        let id = crate::digest::Digest::of(b"{}");
        let record = crate::image::ImageRecord {
            id: id.clone(),
            manifest: None,
            layers: Vec::new(),
            created: None,
            stored: 0,
        };
        let name = crate::reference::Reference::parse("busybox").unwrap();
        store.put_image(&record, &[name], &lock).unwrap();
        drop(store.lock_layer(&id).unwrap());
        let ipam = Ipam::open(&root).unwrap();
        ipam.allocate("abc", &ipam.lock().unwrap()).unwrap();
        for entry in fs::read_dir(&root).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                STORE_ENTRIES.contains(&name.as_str()),
                "reset would leave {name} behind"
            );
        }
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn mount_points_are_unescaped() {
        assert_eq!(unescape(r"/run/ctr/a\040b"), "/run/ctr/a b");
        assert_eq!(unescape(r"/x\134y"), r"/x\y");
        assert_eq!(unescape(r"/trailing\04"), r"/trailing\04");
    }
}
