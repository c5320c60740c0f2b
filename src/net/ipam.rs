//! Address management: a lease is a file CTR_ROOT/net/leases/ADDRESS that
//! holds the ID of the container it is for. Every change happens under
//! CTR_ROOT/net/lock (flock), which also orders the bridge's and the rules'
//! setup and teardown between ctr processes.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::fcntl::Flock;

use super::{GATEWAY, PREFIX, SUBNET};
use crate::lockfile;

/// The network's lock, held while alive.
pub struct NetLock(#[allow(dead_code)] Flock<File>);

pub struct Ipam {
    dir: PathBuf,
}

impl Ipam {
    pub fn open(root: &Path) -> Result<Ipam> {
        let dir = root.join("net");
        fs::create_dir_all(dir.join("leases"))
            .with_context(|| format!("creating {}", dir.join("leases").display()))?;
        Ok(Ipam { dir })
    }

    /// Takes the network's lock (waiting for another ctr that holds it).
    /// The file is never removed: two holders would then each lock their own.
    pub fn lock(&self) -> Result<NetLock> {
        Ok(NetLock(lockfile::lock(&self.dir.join("lock"), true)?))
    }

    fn lease_dir(&self) -> PathBuf {
        self.dir.join("leases")
    }

    /// Every lease: address -> container ID.
    pub fn leases(&self, _lock: &NetLock) -> Result<BTreeMap<Ipv4Addr, String>> {
        let dir = self.lease_dir();
        let mut out = BTreeMap::new();
        for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            let Ok(addr) = entry.file_name().to_string_lossy().parse::<Ipv4Addr>() else {
                continue; // a temporary file, or not ours
            };
            // A lease being written is empty for a moment: it is still taken.
            let id = fs::read_to_string(entry.path()).unwrap_or_default();
            out.insert(addr, id.trim().to_string());
        }
        Ok(out)
    }

    // ANCHOR: allocate
    /// Leases the lowest free address to container `id`.
    pub fn allocate(&self, id: &str, lock: &NetLock) -> Result<Ipv4Addr> {
        let taken: Vec<Ipv4Addr> = self.leases(lock)?.into_keys().collect();
        let Some(addr) = first_free(&taken) else {
            bail!(
                "no free address in {SUBNET}/{PREFIX}: all {} leases in {} are held; \
                 remove stopped containers with `ctr rm`",
                taken.len(),
                self.lease_dir().display()
            );
        };
        let path = self.lease_dir().join(addr.to_string());
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("creating the lease {}", path.display()))?;
        file.write_all(id.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing the lease {}", path.display()))?;
        Ok(addr)
    }
    // ANCHOR_END: allocate

    /// Gives back container `id`'s leases (none is fine: idempotent).
    pub fn release(&self, id: &str, lock: &NetLock) -> Result<()> {
        for (addr, holder) in self.leases(lock)? {
            if holder == id {
                let path = self.lease_dir().join(addr.to_string());
                match fs::remove_file(&path) {
                    Err(err) if err.kind() != ErrorKind::NotFound => {
                        return Err(err)
                            .with_context(|| format!("removing the lease {}", path.display()))
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// The lowest address of the subnet that is neither the network, the
/// gateway, the broadcast nor taken.
pub fn first_free(taken: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    let base = u32::from(SUBNET);
    let size = 1u32 << (32 - u32::from(PREFIX));
    (1..size - 1)
        .map(|n| Ipv4Addr::from(base + n))
        .find(|a| *a != GATEWAY && !taken.contains(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 201, 0, last)
    }

    #[test]
    fn the_lowest_free_address_after_the_gateway() {
        assert_eq!(first_free(&[]), Some(ip(2)));
        assert_eq!(first_free(&[ip(2), ip(3)]), Some(ip(4)));
        assert_eq!(first_free(&[ip(3)]), Some(ip(2)));
        let all: Vec<_> = (2..=254).map(ip).collect();
        assert_eq!(first_free(&all), None);
    }

    #[test]
    fn leases_are_files_released_by_their_holder_only() {
        let root = std::env::temp_dir().join(format!("ctr-ipam-test-{}", std::process::id()));
        let ipam = Ipam::open(&root).unwrap();
        let lock = ipam.lock().unwrap();
        assert_eq!(ipam.allocate("aaa", &lock).unwrap(), ip(2));
        assert_eq!(ipam.allocate("bbb", &lock).unwrap(), ip(3));
        ipam.release("aaa", &lock).unwrap();
        ipam.release("aaa", &lock).unwrap(); // twice is fine
        let left = ipam.leases(&lock).unwrap();
        assert_eq!(
            left.into_iter().collect::<Vec<_>>(),
            [(ip(3), "bbb".to_string())]
        );
        assert_eq!(ipam.allocate("ccc", &lock).unwrap(), ip(2));
        fs::remove_dir_all(&root).unwrap();
    }
}
