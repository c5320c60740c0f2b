//! ctr without root, as rootless podman: run by an ordinary user, ctr
//! joins (or first makes) a user namespace where the user is root and the
//! user's subordinate ids follow ([`idmap`]), kept alive by a process of
//! its own ([`userns`]); there it does what root does, on the user's own
//! directories ([`dirs`]). What a user namespace cannot give (a bridge on
//! the host, cgroup v1 limits, ports below 1024) is refused by name where
//! it is asked for.

pub mod cgroup;
pub mod dirs;
pub mod idmap;
pub mod userns;

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result};

use idmap::{Map, Mapping};

/// A rootless ctr's facts, once it has entered its user namespace.
#[derive(Debug)]
pub struct Rootless {
    /// The user, on the host.
    pub uid: u32,
    pub gid: u32,
    pub dirs: dirs::Dirs,
    /// The namespace's maps, as the kernel has them.
    pub uid_map: Map,
    pub gid_map: Map,
}

static ACTIVE: OnceLock<Rootless> = OnceLock::new();

/// Whether ctr runs rootless (it entered its user namespace), and how.
pub fn active() -> Option<&'static Rootless> {
    ACTIVE.get()
}

// ANCHOR: enter
/// Run by an ordinary user: enters the user's namespace, where ctr is root.
pub fn enter() -> Result<&'static Rootless> {
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    let name = nix::unistd::User::from_uid(uid.into())
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name);
    let lookup = |k: &str| std::env::var(k).ok();
    let run_user = Path::new(&format!("/run/user/{uid}")).is_dir();
    let dirs = dirs::dirs(&lookup, uid, run_user)?;
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dirs.state)
            .with_context(|| format!("creating {}", dirs.state.display()))?;
    }
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let mapping = Mapping::plan(&name, uid, gid, &read("/etc/subuid"), &read("/etc/subgid"));
    if userns::enter(&dirs.state, &mapping)? && (mapping.uid.single() || mapping.gid.single()) {
        eprintln!("ctr: note: {SINGLE_NOTE}");
    }
    let (uid_map, gid_map) = userns::own_maps()?;
    Ok(ACTIVE.get_or_init(|| Rootless {
        uid,
        gid,
        dirs,
        uid_map,
        gid_map,
    }))
}
// ANCHOR_END: enter

impl Rootless {
    /// Only the user's own id is mapped: no /etc/subuid range.
    pub fn single(&self) -> bool {
        self.uid_map.single() || self.gid_map.single()
    }
}

// ANCHOR: single_note
/// What a single mapping cannot do, said once where it matters.
pub const SINGLE_NOTE: &str = "no subordinate ids for this user in /etc/subuid and /etc/subgid: \
     the container has one user, root (you on the host); files of the image owned by anyone \
     else are root's, and switching to another user inside (-u, su) fails. \
     For more, add a range: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER";
// ANCHOR_END: single_note
