//! `ctr-runtime features`: what this runtime implements, as runtime-spec's
//! features document says it (features.md), so that an engine can ask
//! before it writes a config.json this runtime would refuse.

use serde_json::{json, Value};

/// The document, made from the same lists the runtime checks against.
pub fn document() -> Value {
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": oci_spec::runtime::VERSION,
        "hooks": ["createRuntime", "poststart", "poststop"],
        "mountOptions": [
            "defaults", "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec",
            "sync", "async", "dirsync", "remount", "mand", "nomand", "atime", "noatime",
            "diratime", "nodiratime", "relatime", "norelatime", "strictatime",
            "nostrictatime", "bind", "rbind", "private", "rprivate", "shared", "rshared",
            "slave", "rslave", "unbindable", "runbindable"
        ],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": caps::all()
                .iter()
                .map(|c| c.to_string())
                .collect::<std::collections::BTreeSet<_>>(),
            "cgroup": {"v1": false, "v2": false, "systemd": false, "systemdUser": false},
            "seccomp": {
                "enabled": true,
                "actions": super::seccomp::ACTIONS,
                "operators": super::seccomp::OPERATORS,
                "archs": super::seccomp::ARCHS,
                "knownFlags": super::seccomp::FLAGS,
                "supportedFlags": super::seccomp::FLAGS
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "org.ctr.init": "true: the runtime's own init is PID 1, as docker's --init"
        },
        "potentiallyUnsafeConfigAnnotations": []
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn it_parses_as_oci_specs_features() {
        let doc = super::document();
        let features: oci_spec::runtime::Features = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(features.oci_version_min(), "1.0.0");
        let seccomp = features
            .linux()
            .as_ref()
            .unwrap()
            .seccomp()
            .as_ref()
            .unwrap();
        assert_eq!(*seccomp.enabled(), Some(true));
        assert!(seccomp
            .archs()
            .as_ref()
            .unwrap()
            .contains(&oci_spec::runtime::Arch::ScmpArchX86));
        assert_eq!(seccomp.actions().as_ref().unwrap().len(), 8);
        assert!(doc["linux"]["capabilities"]
            .as_array()
            .unwrap()
            .contains(&"CAP_SYS_ADMIN".into()));
    }
}
