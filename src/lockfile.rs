//! Lock files: flock(2) on a file that is created if missing and never
//! removed (unlinking a lock file others wait on would let two holders in at
//! once, each on its own inode). The lock goes when the returned value drops.

use std::fs::{File, OpenOptions};
use std::path::Path;

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};

/// Takes the lock of PATH, waiting for its holder: exclusive to change what
/// it guards, shared to read it.
pub fn lock(path: &Path, exclusive: bool) -> Result<Flock<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening the lock {}", path.display()))?;
    let arg = if exclusive {
        FlockArg::LockExclusive
    } else {
        FlockArg::LockShared
    };
    Flock::lock(file, arg)
        .map_err(|(_, errno)| errno)
        .with_context(|| format!("locking {}", path.display()))
}
