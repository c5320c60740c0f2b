//! config.json's `linux.resources`, as the files of a cgroup to write and
//! what to write in them, on cgroup v2 and on v1. Pure: every conversion
//! (docker's CPU shares to v2's weight, OCI's memory+swap to v2's swap
//! alone, -1 to "max") is here, and tested as a table.

use anyhow::{bail, Result};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

/// Which cgroup filesystem: one unified tree (v2), or a tree per
/// controller (v1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// One write: in the tree of `controller` (v1; on v2 there is one tree),
/// `value` into `file`, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub controller: &'static str,
    pub file: &'static str,
    pub value: String,
}

fn write(controller: &'static str, file: &'static str, value: impl ToString) -> Write {
    Write {
        controller,
        file,
        value: value.to_string(),
    }
}

/// "max" for unlimited (-1), as v2 and pids.max spell it.
fn or_max(value: i64) -> String {
    if value < 0 {
        "max".into()
    } else {
        value.to_string()
    }
}

// ANCHOR: plan
/// The writes that give a cgroup `resources`, in the order they must be
/// made. Devices rules are left to [`device_rules`] (v1) or a BPF
/// program (v2).
pub fn plan(resources: &LinuxResources, version: Version) -> Result<Vec<Write>> {
    let mut out = Vec::new();
    if let Some(memory) = resources.memory() {
        let limit = memory.limit();
        if let (Some(swap), Some(limit)) = (memory.swap(), limit) {
            if swap >= 0 && limit >= 0 && swap < limit {
                bail!(
                    "memory+swap limit {swap} is below the memory limit {limit}: \
                     it counts memory too, so it must be at least as large"
                );
            }
        }
        match version {
            Version::V2 => {
                if let Some(limit) = limit {
                    out.push(write("memory", "memory.max", or_max(limit)));
                }
                if let Some(low) = memory.reservation() {
                    out.push(write("memory", "memory.low", or_max(low)));
                }
                if let Some(swap) = memory.swap() {
                    // OCI's swap is memory+swap (v1's memsw); v2's is swap alone.
                    let value = match (swap, limit) {
                        (s, _) if s < 0 => "max".to_string(),
                        (s, Some(l)) if l >= 0 => (s - l).to_string(),
                        (_, _) => bail!(
                            "a memory+swap limit needs a memory limit on cgroup v2: give both"
                        ),
                    };
                    out.push(write("memory", "memory.swap.max", value));
                }
            }
            Version::V1 => {
                let grow_swap_first = memory.swap().is_some_and(|s| s < 0);
                let swap = memory
                    .swap()
                    .map(|s| write("memory", "memory.memsw.limit_in_bytes", s));
                // The kernel refuses memsw below memory: when swap is being
                // made unlimited, it goes first, else memory does (runc).
                if grow_swap_first {
                    out.extend(swap.clone());
                }
                if let Some(limit) = limit {
                    out.push(write("memory", "memory.limit_in_bytes", limit));
                }
                if !grow_swap_first {
                    out.extend(swap);
                }
                if let Some(low) = memory.reservation() {
                    out.push(write("memory", "memory.soft_limit_in_bytes", low));
                }
            }
        }
    }
    if let Some(cpu) = resources.cpu() {
        if let Some(cpus) = cpu.cpus().as_ref().filter(|c| !c.is_empty()) {
            out.push(write("cpuset", "cpuset.cpus", cpus));
        }
        if let Some(mems) = cpu.mems().as_ref().filter(|m| !m.is_empty()) {
            out.push(write("cpuset", "cpuset.mems", mems));
        }
        if let Some(shares) = cpu.shares().filter(|s| *s > 0) {
            match version {
                Version::V2 => out.push(write("cpu", "cpu.weight", shares_to_weight(shares))),
                Version::V1 => out.push(write("cpu", "cpu.shares", shares)),
            }
        }
        let period = cpu.period().filter(|p| *p > 0);
        let quota = cpu.quota();
        match version {
            Version::V2 => {
                if quota.is_some() || period.is_some() {
                    let quota = match quota {
                        Some(q) if q > 0 => q.to_string(),
                        _ => "max".into(),
                    };
                    out.push(write(
                        "cpu",
                        "cpu.max",
                        format!("{quota} {}", period.unwrap_or(100_000)),
                    ));
                }
            }
            Version::V1 => {
                if let Some(period) = period {
                    out.push(write("cpu", "cpu.cfs_period_us", period));
                }
                if let Some(quota) = quota {
                    out.push(write(
                        "cpu",
                        "cpu.cfs_quota_us",
                        if quota > 0 { quota } else { -1 },
                    ));
                }
            }
        }
    }
    if let Some(pids) = resources.pids() {
        out.push(write("pids", "pids.max", or_max(pids.limit())));
    }
    Ok(out)
}
// ANCHOR_END: plan

/// docker's CPU shares (2 to 262144, 1024 the default) as cgroup v2's
/// weight (1 to 10000, 100 the default), by the formula runc and crun use
/// today: a straight line in log scale through (2, 1), (1024, 100) and
/// (262144, 10000), rounded up.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    10f64.powf(exponent).ceil() as u64
}

/// The devices a container is always given (runtime-spec's "default
/// devices", /dev/pts and /dev/net/tun), as runc allows them: after
/// `rules`, and each device of `linux.devices` after those. An engine's
/// rules start with "deny all" (podman, containerd), trusting the runtime
/// to let the container open its own /dev/null; with no rule at all,
/// nothing is denied and nothing needs adding.
pub fn with_default_devices(
    rules: &[LinuxDeviceCgroup],
    devices: &[LinuxDevice],
) -> Vec<LinuxDeviceCgroup> {
    if rules.is_empty() {
        return Vec::new();
    }
    let rule = |typ, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut rule = LinuxDeviceCgroup::default();
        rule.set_allow(true)
            .set_typ(Some(typ))
            .set_major(major)
            .set_minor(minor)
            .set_access(Some(access.to_string()));
        rule
    };
    use LinuxDeviceType::{B, C};
    let mut out = rules.to_vec();
    out.push(rule(C, None, None, "m"));
    out.push(rule(B, None, None, "m"));
    for (major, minor) in [
        (1, 3),
        (1, 8),
        (1, 7),
        (5, 0),
        (1, 5),
        (1, 9),
        (5, 1),
        (5, 2),
        (10, 200),
    ] {
        out.push(rule(C, Some(major), Some(minor), "rwm"));
    }
    out.push(rule(C, Some(136), None, "rwm"));
    // A device the engine gave a rule of its own keeps that rule: docker's
    // `--device /dev/fuse:/dev/f:r` is read-only, and v1's rules add up.
    for d in devices {
        let named = |r: &LinuxDeviceCgroup| {
            r.typ() == Some(d.typ()) && r.major() == Some(d.major()) && r.minor() == Some(d.minor())
        };
        if !rules.iter().any(named) {
            out.push(rule(d.typ(), Some(d.major()), Some(d.minor()), "rwm"));
        }
    }
    out
}

// ANCHOR: device_rules
/// `linux.resources.devices` as v1's devices cgroup takes them, in order:
/// (file, rule), e.g. ("devices.deny", "a *:* rwm"), ("devices.allow",
/// "c 1:3 rwm").
pub fn device_rules(devices: &[LinuxDeviceCgroup]) -> Vec<(&'static str, String)> {
    devices
        .iter()
        .map(|d| {
            let typ = match d.typ() {
                None | Some(LinuxDeviceType::A) => 'a',
                Some(LinuxDeviceType::B) => 'b',
                Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => 'c',
                Some(LinuxDeviceType::P) => 'p',
            };
            let number = |n: Option<i64>| match n {
                Some(n) if n >= 0 => n.to_string(),
                _ => "*".into(),
            };
            let access = d.access().clone().unwrap_or_else(|| "rwm".into());
            let file = if d.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            (
                file,
                format!("{typ} {}:{} {access}", number(d.major()), number(d.minor())),
            )
        })
        .collect()
}
// ANCHOR_END: device_rules

/// Whether a uid_map (/proc/self/uid_map's text) is the host's own user
/// namespace's: every id mapped onto itself, `0 0 4294967295`. Any other
/// map is a user namespace's, as rootless ctr's (see `Cgroup::apply`).
pub fn host_user_namespace(uid_map: &str) -> bool {
    uid_map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_whole_identity_map_is_the_hosts() {
        assert!(host_user_namespace("         0          0 4294967295\n"));
        assert!(!host_user_namespace("         0      65534          1\n"));
        assert!(!host_user_namespace("0 65534 1\n1 100000 65536\n"));
    }
    use serde_json::json;

    fn resources(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    fn lines(writes: &[Write]) -> Vec<String> {
        writes
            .iter()
            .map(|w| format!("{}/{}={}", w.controller, w.file, w.value))
            .collect()
    }

    #[test]
    fn dockers_flags_on_v2() {
        // --memory 32m --memory-swap 64m --memory-reservation 16m --cpus 0.5
        // --cpu-shares 512 --cpuset-cpus 0 --pids-limit 20
        let r = resources(json!({
            "memory": {"limit": 33554432, "swap": 67108864, "reservation": 16777216},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
            "pids": {"limit": 20}
        }));
        assert_eq!(
            lines(&plan(&r, Version::V2).unwrap()),
            [
                "memory/memory.max=33554432",
                "memory/memory.low=16777216",
                "memory/memory.swap.max=33554432",
                "cpuset/cpuset.cpus=0",
                "cpu/cpu.weight=59",
                "cpu/cpu.max=50000 100000",
                "pids/pids.max=20",
            ]
        );
    }

    #[test]
    fn dockers_flags_on_v1() {
        let r = resources(json!({
            "memory": {"limit": 33554432, "swap": 67108864},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000},
            "pids": {"limit": 20}
        }));
        assert_eq!(
            lines(&plan(&r, Version::V1).unwrap()),
            [
                "memory/memory.limit_in_bytes=33554432",
                "memory/memory.memsw.limit_in_bytes=67108864",
                "cpu/cpu.shares=512",
                "cpu/cpu.cfs_period_us=100000",
                "cpu/cpu.cfs_quota_us=50000",
                "pids/pids.max=20",
            ]
        );
    }

    #[test]
    fn unlimited_is_max_and_goes_first_on_v1() {
        let r = resources(json!({"memory": {"limit": 1048576, "swap": -1}, "pids": {"limit": -1}}));
        assert_eq!(
            lines(&plan(&r, Version::V2).unwrap()),
            [
                "memory/memory.max=1048576",
                "memory/memory.swap.max=max",
                "pids/pids.max=max"
            ]
        );
        assert_eq!(
            lines(&plan(&r, Version::V1).unwrap()),
            [
                "memory/memory.memsw.limit_in_bytes=-1",
                "memory/memory.limit_in_bytes=1048576",
                "pids/pids.max=max"
            ]
        );
        let r = resources(json!({"cpu": {"quota": -1}}));
        assert_eq!(
            lines(&plan(&r, Version::V2).unwrap()),
            ["cpu/cpu.max=max 100000"]
        );
    }

    #[test]
    fn swap_below_memory_is_refused() {
        let r = resources(json!({"memory": {"limit": 2048, "swap": 1024}}));
        let err = plan(&r, Version::V2).unwrap_err().to_string();
        assert!(err.contains("below the memory limit"), "{err}");
    }

    #[test]
    fn shares_become_weights_as_runc_and_crun_convert_them() {
        for (shares, weight) in [
            (2, 1),
            (1024, 100),
            (262144, 10000),
            (512, 59),
            (2048, 174),
            (1, 1),
        ] {
            assert_eq!(shares_to_weight(shares), weight, "{shares}");
        }
    }

    #[test]
    fn default_devices_follow_an_engines_rules_as_runcs_do() {
        let rules: Vec<LinuxDeviceCgroup> =
            serde_json::from_value(json!([{"allow": false, "access": "rwm"}])).unwrap();
        let devices: Vec<LinuxDevice> = serde_json::from_value(
            json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]),
        )
        .unwrap();
        let lines: Vec<String> = device_rules(&with_default_devices(&rules, &devices))
            .into_iter()
            .map(|(file, rule)| format!("{file} {rule}"))
            .collect();
        assert_eq!(lines[0], "devices.deny a *:* rwm");
        assert!(
            lines.contains(&"devices.allow c 1:3 rwm".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"devices.allow c 136:* rwm".to_string()),
            "{lines:?}"
        );
        assert_eq!(lines.last().unwrap(), "devices.allow c 10:229 rwm");
        assert!(with_default_devices(&[], &devices).is_empty());
    }

    #[test]
    fn device_rules_are_v1s_lines() {
        let devices: Vec<LinuxDeviceCgroup> = serde_json::from_value(json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rw"},
            {"allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm"}
        ]))
        .unwrap();
        assert_eq!(
            device_rules(&devices),
            [
                ("devices.deny", "a *:* rwm".to_string()),
                ("devices.allow", "c 1:3 rwm".to_string()),
                ("devices.allow", "c 136:* rw".to_string()),
                ("devices.deny", "c 10:229 rwm".to_string()),
            ]
        );
    }
}
