//! Where a rootless ctr keeps things, as podman does (pure): images and
//! containers under `$XDG_DATA_HOME/ctr` (`~/.local/share/ctr`), what does
//! not outlive a boot (the runtime's state, the user namespace's keeper)
//! under `$XDG_RUNTIME_DIR/ctr`. Nothing of a user's is written elsewhere.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dirs {
    /// The store (CTR_ROOT's default).
    pub data: PathBuf,
    /// The runtime's state and the keeper's PID file.
    pub state: PathBuf,
}

/// An absolute path from the environment variable `key` (the XDG Base
/// Directory spec ignores a relative one).
fn absolute(lookup: &dyn Fn(&str) -> Option<String>, key: &str) -> Option<PathBuf> {
    lookup(key).map(PathBuf::from).filter(|p| p.is_absolute())
}

// ANCHOR: dirs
/// The directories of user `uid`, from its environment; `run_user` is
/// whether `/run/user/UID` exists (what pam_systemd makes), podman's
/// fallback for a missing XDG_RUNTIME_DIR, as is `$TMPDIR/ctr-run-UID`
/// after it.
pub fn dirs(lookup: &dyn Fn(&str) -> Option<String>, uid: u32, run_user: bool) -> Result<Dirs> {
    let data = match (absolute(lookup, "XDG_DATA_HOME"), absolute(lookup, "HOME")) {
        (Some(data), _) => data.join("ctr"),
        (None, Some(home)) if home != Path::new("/") => home.join(".local/share/ctr"),
        _ => bail!(
            "no home for the user's images: set HOME (or XDG_DATA_HOME) to a \
             directory of yours"
        ),
    };
    let state = match absolute(lookup, "XDG_RUNTIME_DIR") {
        Some(dir) => dir.join("ctr"),
        None if run_user => PathBuf::from(format!("/run/user/{uid}/ctr")),
        None => absolute(lookup, "TMPDIR")
            .unwrap_or_else(|| PathBuf::from("/tmp"))
            .join(format!("ctr-run-{uid}")),
    };
    Ok(Dirs { data, state })
}
// ANCHOR_END: dirs

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k: &str| {
            vars.iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn xdg_first() {
        let lookup = env(&[
            ("HOME", "/home/a"),
            ("XDG_DATA_HOME", "/d"),
            ("XDG_RUNTIME_DIR", "/r"),
        ]);
        let d = dirs(&lookup, 1000, true).unwrap();
        assert_eq!(d.data, PathBuf::from("/d/ctr"));
        assert_eq!(d.state, PathBuf::from("/r/ctr"));
    }

    #[test]
    fn then_home_and_run_user_then_tmp() {
        let lookup = env(&[("HOME", "/home/a"), ("XDG_DATA_HOME", "relative")]);
        let d = dirs(&lookup, 1000, true).unwrap();
        assert_eq!(d.data, PathBuf::from("/home/a/.local/share/ctr"));
        assert_eq!(d.state, PathBuf::from("/run/user/1000/ctr"));
        let d = dirs(&lookup, 1000, false).unwrap();
        assert_eq!(d.state, PathBuf::from("/tmp/ctr-run-1000"));
    }

    #[test]
    fn no_home_is_a_clear_error() {
        for vars in [&[][..], &[("HOME", "/")][..]] {
            let err = dirs(&env(vars), 65534, false).unwrap_err().to_string();
            assert!(err.contains("set HOME"), "{err}");
        }
    }
}
