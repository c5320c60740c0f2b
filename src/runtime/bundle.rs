//! An OCI bundle: a directory with config.json and the root filesystem it
//! names. Loading one checks, before anything is made, that the runtime
//! implements every field it asks for and that the asks make sense.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::rootfs;
use super::supported;

pub struct Bundle {
    /// The bundle's directory, absolute.
    pub dir: PathBuf,
    pub spec: Spec,
    /// `root.path`, absolute.
    pub rootfs: PathBuf,
}

impl Bundle {
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::path::absolute(dir)
            .with_context(|| format!("resolving the bundle {}", dir.display()))?;
        let path = dir.join("config.json");
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let json: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("parsing {}", path.display()))?;
        supported::check(&json)?;
        let spec: Spec = serde_json::from_value(json)
            .with_context(|| format!("reading {} as an OCI runtime config", path.display()))?;
        let root = spec
            .root()
            .as_ref()
            .map(|r| r.path().clone())
            .context("config.json has no root.path: say where the root filesystem is")?;
        let rootfs = dir.join(root);
        if !rootfs.is_dir() {
            bail!(
                "the root filesystem {} is not a directory",
                rootfs.display()
            );
        }
        check(&spec)?;
        Ok(Bundle { dir, spec, rootfs })
    }
}

/// What config.json asks that cannot work, said before anything is made.
pub fn check(spec: &Spec) -> Result<()> {
    let process = spec
        .process()
        .as_ref()
        .context("config.json has no process: say what to run")?;
    if process.args().as_ref().map_or(true, |a| a.is_empty()) {
        bail!("process.args is empty: say what to run");
    }
    if !process.cwd().is_absolute() {
        bail!(
            "process.cwd {:?} is not an absolute path",
            process.cwd().display()
        );
    }
    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let own = |t: LinuxNamespaceType| {
        namespaces
            .iter()
            .any(|n| n.typ() == t && n.path().is_none())
    };
    let has = |t: LinuxNamespaceType| namespaces.iter().any(|n| n.typ() == t);
    for ns in &namespaces {
        match ns.typ() {
            LinuxNamespaceType::User if ns.path().is_some() => bail!(
                "linux.namespaces: joining a user namespace by path is not implemented: \
                 give linux.uidMappings and gidMappings for a new one"
            ),
            LinuxNamespaceType::Time => {
                bail!("linux.namespaces: time namespaces are not implemented by ctr-runtime")
            }
            LinuxNamespaceType::Mount if ns.path().is_some() => bail!(
                "linux.namespaces: joining a mount namespace by path is not implemented: \
                 the root filesystem is made in a new one"
            ),
            _ => {}
        }
    }
    if !own(LinuxNamespaceType::Mount) {
        bail!("linux.namespaces needs a new mount namespace: the root filesystem is made in it");
    }
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !own(LinuxNamespaceType::Uts) {
        bail!("hostname is set but the container has no UTS namespace of its own: it would rename the host");
    }
    if let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        for key in sysctl.keys() {
            let net = has(LinuxNamespaceType::Network);
            let ipc = has(LinuxNamespaceType::Ipc);
            let uts = has(LinuxNamespaceType::Uts);
            if !rootfs::sysctl_is_namespaced(key, net, ipc, uts) {
                bail!(
                    "linux.sysctl {key}: not a sysctl of a namespace the container has of its own: \
                     it would change the host"
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> Spec {
        serde_json::from_value(v).unwrap()
    }

    fn base() -> serde_json::Value {
        json!({
            "ociVersion": "1.1.0",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "mount"}, {"type": "uts"}, {"type": "pid"}]}
        })
    }

    #[test]
    fn a_plain_config_is_fine() {
        assert!(check(&spec(base())).is_ok());
    }

    #[test]
    fn nonsense_is_refused_before_anything_is_made() {
        let mut v = base();
        v["process"]["args"] = json!([]);
        assert!(check(&spec(v))
            .unwrap_err()
            .to_string()
            .contains("process.args is empty"));

        let mut v = base();
        v["linux"]["namespaces"] = json!([{"type": "pid"}]);
        assert!(check(&spec(v))
            .unwrap_err()
            .to_string()
            .contains("new mount namespace"));

        let mut v = base();
        v["hostname"] = json!("box");
        v["linux"]["namespaces"] = json!([{"type": "mount"}]);
        assert!(check(&spec(v))
            .unwrap_err()
            .to_string()
            .contains("rename the host"));

        let mut v = base();
        v["linux"]["sysctl"] = json!({"kernel.panic": "1"});
        assert!(check(&spec(v))
            .unwrap_err()
            .to_string()
            .contains("kernel.panic"));

        let mut v = base();
        v["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        assert!(check(&spec(v))
            .unwrap_err()
            .to_string()
            .contains("net.ipv4.ip_forward"));

        let mut v = base();
        v["linux"]["namespaces"] =
            json!([{"type": "mount"}, {"type": "user", "path": "/proc/1/ns/user"}]);
        assert!(check(&spec(v))
            .unwrap_err()
            .to_string()
            .contains("joining a user namespace by path"));
    }
}
