//! config.json's mount options, as mount(8) spells them (`ro`, `nosuid`,
//! `rbind`, `mode=755`...), turned into what mount(2) takes: flags, a
//! propagation change to make afterwards, and the filesystem's own data.
//! A pure function, so that each word is tested.

use anyhow::{bail, Result};
use nix::mount::MsFlags;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Flags for mount(2) itself (and for the read-only remount of a bind).
    pub flags: MsFlags,
    /// Flags that undo a default (`rw`, `suid`...): cleared, not set.
    pub cleared: MsFlags,
    /// `bind` or `rbind`: MS_BIND, and MS_REC for `rbind`.
    pub bind: Option<MsFlags>,
    /// `private`, `rslave`...: a second mount(2) call after the first.
    pub propagation: Option<MsFlags>,
    /// What the filesystem reads itself: `mode=755,size=65536k`.
    pub data: String,
}

/// Parses the options of one mount.
pub fn parse(options: &[String]) -> Result<Options> {
    let mut out = Options {
        flags: MsFlags::empty(),
        cleared: MsFlags::empty(),
        bind: None,
        propagation: None,
        data: String::new(),
    };
    let mut data = Vec::new();
    for option in options {
        let set = |f: MsFlags| (f, MsFlags::empty());
        let clear = |f: MsFlags| (MsFlags::empty(), f);
        let (on, off) = match option.as_str() {
            "defaults" => set(MsFlags::empty()),
            "ro" => set(MsFlags::MS_RDONLY),
            "rw" => clear(MsFlags::MS_RDONLY),
            "nosuid" => set(MsFlags::MS_NOSUID),
            "suid" => clear(MsFlags::MS_NOSUID),
            "nodev" => set(MsFlags::MS_NODEV),
            "dev" => clear(MsFlags::MS_NODEV),
            "noexec" => set(MsFlags::MS_NOEXEC),
            "exec" => clear(MsFlags::MS_NOEXEC),
            "sync" => set(MsFlags::MS_SYNCHRONOUS),
            "async" => clear(MsFlags::MS_SYNCHRONOUS),
            "dirsync" => set(MsFlags::MS_DIRSYNC),
            "remount" => set(MsFlags::MS_REMOUNT),
            "mand" => set(MsFlags::MS_MANDLOCK),
            "nomand" => clear(MsFlags::MS_MANDLOCK),
            "atime" => clear(MsFlags::MS_NOATIME),
            "noatime" => set(MsFlags::MS_NOATIME),
            "diratime" => clear(MsFlags::MS_NODIRATIME),
            "nodiratime" => set(MsFlags::MS_NODIRATIME),
            "relatime" => set(MsFlags::MS_RELATIME),
            "norelatime" => clear(MsFlags::MS_RELATIME),
            "strictatime" => set(MsFlags::MS_STRICTATIME),
            "nostrictatime" => clear(MsFlags::MS_STRICTATIME),
            "bind" => {
                out.bind = Some(MsFlags::MS_BIND);
                continue;
            }
            "rbind" => {
                out.bind = Some(MsFlags::MS_BIND | MsFlags::MS_REC);
                continue;
            }
            word => {
                if let Some(flags) = propagation(word) {
                    out.propagation = Some(flags);
                    continue;
                }
                // A word the kernel's filesystems read (`mode=`, `size=`,
                // `newinstance`...) is passed on; runc's own extensions
                // (`idmap`, `rro`, `tmpcopyup`...) would be dropped
                // silently by the kernel or mean something else: refused.
                if RUNTIME_EXTENSIONS.contains(&word) {
                    bail!(
                        "mount option {word:?} is an extension ctr-runtime does not implement: remove it"
                    );
                }
                data.push(word.to_string());
                continue;
            }
        };
        out.flags |= on;
        out.flags &= !off;
        out.cleared |= off;
        out.cleared &= !on;
    }
    out.data = data.join(",");
    Ok(out)
}

/// Options that runc or crun give a meaning of their own, not the kernel's.
const RUNTIME_EXTENSIONS: &[&str] = &[
    "idmap",
    "ridmap",
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "tmpcopyup",
    "copy-symlink",
    "src-nofollow",
    "dest-nofollow",
    "nosymfollow",
    "rnosymfollow",
    "rsymfollow",
    "recursiveatime",
];

/// `private`, `rshared`... as mount(2)'s propagation flags.
pub fn propagation(word: &str) -> Option<MsFlags> {
    let rec = MsFlags::MS_REC;
    Some(match word {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | rec,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | rec,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | rec,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | rec,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dockers_default_mounts() {
        let dev = parse(&words(&[
            "nosuid",
            "strictatime",
            "mode=755",
            "size=65536k",
        ]))
        .unwrap();
        assert_eq!(dev.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(dev.data, "mode=755,size=65536k");
        assert_eq!(dev.bind, None);

        let pts = parse(&words(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ]))
        .unwrap();
        assert_eq!(pts.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");

        let hosts = parse(&words(&["rbind", "rprivate", "ro"])).unwrap();
        assert_eq!(hosts.bind, Some(MsFlags::MS_BIND | MsFlags::MS_REC));
        assert_eq!(
            hosts.propagation,
            Some(MsFlags::MS_PRIVATE | MsFlags::MS_REC)
        );
        assert_eq!(hosts.flags, MsFlags::MS_RDONLY);
        assert_eq!(hosts.data, "");
    }

    #[test]
    fn the_last_word_wins() {
        let o = parse(&words(&["ro", "rw", "nosuid"])).unwrap();
        assert_eq!(o.flags, MsFlags::MS_NOSUID);
        assert_eq!(o.cleared, MsFlags::MS_RDONLY);
    }

    #[test]
    fn runtime_extensions_are_refused_by_name() {
        let err = parse(&words(&["rbind", "idmap"])).unwrap_err().to_string();
        assert!(err.contains("\"idmap\""), "{err}");
    }
}
