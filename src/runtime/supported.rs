//! Which fields of config.json the runtime implements. A field it does not
//! is an error that names it, never ignored: a runtime that silently skips
//! a seccomp profile or a memory limit runs a container less confined than
//! its engine believes. serde would drop unknown fields quietly, so the
//! JSON itself is walked, before it is read into oci-spec's types.

use anyhow::{bail, Result};
use serde_json::Value;

// ANCHOR: implemented
/// The implemented fields, as paths: `a.b` is a key of an object, `[]` any
/// element of an array, and `*` any key (or a whole subtree: a field whose
/// every part is implemented).
pub const IMPLEMENTED: &[&str] = &[
    "ociVersion",
    "root.path",
    "root.readonly",
    "hostname",
    "domainname",
    "annotations.*",
    "mounts[].destination",
    "mounts[].type",
    "mounts[].source",
    "mounts[].options",
    "process.terminal",
    "process.consoleSize.*",
    "process.user.uid",
    "process.user.gid",
    "process.user.umask",
    "process.user.additionalGids",
    "process.args",
    "process.env",
    "process.cwd",
    "process.capabilities.*",
    "process.rlimits[].*",
    "process.noNewPrivileges",
    "process.oomScoreAdj",
    "linux.namespaces[].type",
    "linux.namespaces[].path",
    "linux.uidMappings[].*",
    "linux.gidMappings[].*",
    "linux.maskedPaths",
    "linux.readonlyPaths",
    "linux.devices[].*",
    "linux.sysctl.*",
    "linux.rootfsPropagation",
    "linux.cgroupsPath",
    "linux.resources.memory.limit",
    "linux.resources.memory.reservation",
    "linux.resources.memory.swap",
    "linux.resources.cpu.shares",
    "linux.resources.cpu.quota",
    "linux.resources.cpu.period",
    "linux.resources.cpu.cpus",
    "linux.resources.cpu.mems",
    "linux.resources.pids.limit",
    "linux.resources.devices[].*",
    "linux.seccomp.defaultAction",
    "linux.seccomp.defaultErrnoRet",
    "linux.seccomp.architectures",
    "linux.seccomp.flags",
    "linux.seccomp.syscalls[].names",
    "linux.seccomp.syscalls[].action",
    "linux.seccomp.syscalls[].errnoRet",
    "linux.seccomp.syscalls[].args[].*",
    "hooks.createRuntime[].*",
    "hooks.poststart[].*",
    "hooks.poststop[].*",
];
// ANCHOR_END: implemented

/// Fields whose zero is a request: swappiness 0 means "never swap", which
/// the kernel's default (60) is not.
const ZERO_IS_A_REQUEST: &[&str] = &["linux.resources.memory.swappiness"];

/// Every field of `config` that asks for something the runtime does not
/// implement, by its path (`linux.seccomp`, `process.apparmorProfile`...).
/// A field that asks for nothing (null, false, 0, "", {} or []) is no
/// request, whatever its name: engines write such empty defaults. Except
/// where zero means something ([`ZERO_IS_A_REQUEST`]).
pub fn unimplemented(config: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk(config, "", &mut found);
    found
}

/// Fails, naming every unimplemented field, if there is one.
pub fn check(config: &Value) -> Result<()> {
    let found = unimplemented(config);
    if !found.is_empty() {
        bail!(
            "config.json asks for what ctr-runtime does not implement: {}; \
             remove {} or use another runtime",
            found.join(", "),
            if found.len() == 1 { "it" } else { "them" }
        );
    }
    Ok(())
}

fn walk(value: &Value, path: &str, found: &mut Vec<String>) {
    if nothing_at(value, path) {
        return;
    }
    if !path.is_empty() && covered(path) {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if !nothing_at(child, &child_path) && !prefix_of_implemented(&child_path) {
                    found.push(child_path);
                } else {
                    walk(child, &child_path, found);
                }
            }
        }
        Value::Array(items) => {
            let child_path = format!("{path}[]");
            for item in items {
                walk(item, &child_path, found);
            }
        }
        _ => {
            if !covered(path) {
                found.push(path.to_string());
            }
        }
    }
    found.dedup();
}

/// Nothing asked: an empty value, or a container of empty values only
/// (`"resources": {"devices": []}`).
pub fn asks_nothing(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.iter().all(asks_nothing),
        Value::Object(o) => o.values().all(asks_nothing),
    }
}

/// [`asks_nothing`], for the value at `path`: a zero that is a request counts.
fn nothing_at(value: &Value, path: &str) -> bool {
    match value {
        Value::Number(_) if ZERO_IS_A_REQUEST.contains(&path) => false,
        Value::Object(o) => o.iter().all(|(key, child)| match path {
            "" => nothing_at(child, key),
            _ => nothing_at(child, &format!("{path}.{key}")),
        }),
        Value::Array(a) => a.iter().all(|item| nothing_at(item, &format!("{path}[]"))),
        other => asks_nothing(other),
    }
}

/// Whether `path` is implemented as a whole: listed, or under a `*`.
fn covered(path: &str) -> bool {
    IMPLEMENTED.iter().any(|p| {
        *p == path
            || p.strip_suffix('*').is_some_and(|prefix| {
                path.starts_with(prefix) || path == &prefix[..prefix.len() - 1]
            })
    })
}

/// Whether some implemented path lies at or below `path`: the walk goes on
/// into it.
fn prefix_of_implemented(path: &str) -> bool {
    IMPLEMENTED.iter().any(|p| {
        p.starts_with(path)
            && matches!(p.as_bytes().get(path.len()), None | Some(b'.') | Some(b'['))
    }) || covered(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_is_implemented_passes() {
        let config = json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs", "readonly": true},
            "process": {
                "terminal": false,
                "user": {"uid": 0, "gid": 0, "additionalGids": [1, 2]},
                "args": ["sh"], "env": ["PATH=/bin"], "cwd": "/",
                "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                "noNewPrivileges": true
            },
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid"]}],
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "network", "path": "/run/netns/x"}],
                "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"],
                "sysctl": {"net.ipv4.ip_forward": "1"},
                "resources": {},
                "seccomp": {
                    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                    "architectures": ["SCMP_ARCH_X86_64"], "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                    "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ALLOW", "errnoRet": 0,
                        "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]
                }
            },
            "hooks": {"poststop": [{"path": "/bin/true"}]},
            "annotations": {"anything": "goes"}
        });
        assert_eq!(unimplemented(&config), Vec::<String>::new());
        assert!(check(&config).is_ok());
    }

    #[test]
    fn what_is_not_is_named() {
        let config = json!({
            "process": {"args": ["sh"], "apparmorProfile": "docker-default", "selinuxLabel": ""},
            "linux": {
                "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/run/agent.sock"},
                "resources": {"memory": {"limit": 1024, "swappiness": 10}, "blockIO": {"weight": 10}},
                "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]
            },
            "mounts": [{"destination": "/x", "type": "bind", "source": "/y", "uidMappings": [{"size": 1}]}],
            "hooks": {"prestart": [{"path": "/bin/true"}]},
            "vm": {"hypervisor": {"path": "/q"}}
        });
        let mut found = unimplemented(&config);
        found.sort();
        assert_eq!(
            found,
            [
                "hooks.prestart",
                "linux.resources.blockIO",
                "linux.resources.memory.swappiness",
                "linux.seccomp.listenerPath",
                "mounts[].uidMappings",
                "process.apparmorProfile",
                "vm",
            ]
        );
        let err = check(&config).unwrap_err().to_string();
        assert!(err.contains("linux.seccomp.listenerPath"), "{err}");
        assert!(err.contains("remove them or use another runtime"), "{err}");
    }

    #[test]
    fn zero_is_nothing_but_where_it_means_something() {
        let config = json!({
            "process": {"args": ["sh"], "noNewPrivileges": false, "apparmorProfile": ""},
            "linux": {"resources": {"memory": {"kernel": 0, "swappiness": 0}, "blockIO": {"weight": 0}}}
        });
        assert_eq!(
            unimplemented(&config),
            ["linux.resources.memory.swappiness"]
        );
    }
}
