//! What a container's process may do, decided as docker decides it: its
//! capabilities (docker's 14, then `--cap-add` and `--cap-drop`), its
//! system call filter (docker's default seccomp profile, or the one
//! `--security-opt seccomp=FILE` names, or none), the paths of /proc and
//! /sys it may not see or change, the devices it may use (docker's device
//! rules, `--device`), no_new_privs, a read-only root; or, with
//! `--privileged`, all of the engine's capabilities, every device of the
//! host and no filter.
//!
//! Pure: [`decide`] takes the flags and what [`Host::read`] found on the
//! machine (the engine's own capabilities, the architecture, the kernel,
//! the host's devices) and returns the [`Confinement`] that spec.rs writes
//! into config.json. The runtime enforces it.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, LinuxSeccomp};

use super::seccomp;

/// `ctr run`'s flags about privileges, as given.
#[derive(Clone, Debug, Default)]
pub struct Asked {
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub read_only: bool,
    /// `--security-opt`: `no-new-privileges`, `seccomp=unconfined|FILE`,
    /// `systempaths=unconfined`.
    pub security_opt: Vec<String>,
    /// `--device HOST[:CONTAINER][:PERMISSIONS]`.
    pub devices: Vec<String>,
}

/// What the engine decided: what config.json says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Confinement {
    pub privileged: bool,
    /// None: the process keeps root's capabilities as they are (only
    /// `ctr-runtime spec`'s template leaves them so).
    pub capabilities: Option<Vec<String>>,
    pub no_new_privileges: bool,
    pub seccomp: Option<LinuxSeccomp>,
    pub read_only: bool,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    /// Nodes made in the container's /dev.
    pub devices: Vec<LinuxDevice>,
    /// The devices cgroup's rules, in order.
    pub device_rules: Vec<LinuxDeviceCgroup>,
}

// ANCHOR: defaults
/// docker's default capabilities (moby's `caps.DefaultCapabilities`): no
/// CAP_SYS_ADMIN (mounts, namespaces), CAP_NET_ADMIN (the network's
/// configuration), CAP_SYS_PTRACE, CAP_SYS_MODULE...
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// docker's masked paths: files of the host's kernel and hardware that a
/// container has no business reading (`/proc/kcore` is the host's
/// memory), covered by /dev/null or an empty read-only tmpfs. Each
/// existing `/sys/devices/system/cpu/cpuN/thermal_throttle` is added.
pub const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// docker's read-only paths: the kernel's knobs that /proc exposes are not
/// the container's to turn.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// docker's device rules, then those runc adds to every container
/// (`AllowedDevices`): nothing but null, zero, full, random, urandom, the
/// terminals and tun may be opened; any node may be made (`m`), as images
/// ship them, but not opened.
pub fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    let rule = |allow, typ, major, minor, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(allow);
        r.set_typ(typ);
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    use LinuxDeviceType::{B, C};
    vec![
        rule(false, None, None, None, "rwm"),
        rule(true, Some(C), Some(1), Some(5), "rwm"),
        rule(true, Some(C), Some(1), Some(3), "rwm"),
        rule(true, Some(C), Some(1), Some(9), "rwm"),
        rule(true, Some(C), Some(1), Some(8), "rwm"),
        rule(true, Some(C), Some(5), Some(0), "rwm"),
        rule(true, Some(C), Some(5), Some(1), "rwm"),
        rule(false, Some(C), Some(10), Some(229), "rwm"),
        // runc's: mknod of any node; full, the pty slaves, ptmx, tun.
        rule(true, Some(C), None, None, "m"),
        rule(true, Some(B), None, None, "m"),
        rule(true, Some(C), Some(1), Some(7), "rwm"),
        rule(true, Some(C), Some(136), None, "rwm"),
        rule(true, Some(C), Some(5), Some(2), "rwm"),
        rule(true, Some(C), Some(10), Some(200), "rwm"),
    ]
}
// ANCHOR_END: defaults

/// What the machine offers, read once per `ctr run`.
#[derive(Clone, Debug, Default)]
pub struct Host {
    /// The engine's own bounding set: all a container can be given.
    pub caps: Vec<String>,
    /// `std::env::consts::ARCH`.
    pub arch: String,
    pub kernel: (u32, u32),
    /// The existing `/sys/devices/system/cpu/cpuN/thermal_throttle`.
    pub thermal_throttle: Vec<String>,
    /// The host's device nodes under /dev (read for `--privileged` only).
    pub devices: Vec<LinuxDevice>,
    /// Each `--device`'s nodes, in the order asked, with the container's
    /// paths and the cgroup access ("rwm").
    pub mapped: Vec<(Vec<LinuxDevice>, String)>,
    /// The text of `--security-opt seccomp=FILE`.
    pub seccomp_file: Option<String>,
    /// The container has a cgroup to hold device rules: v1's devices
    /// controller, or any v2 cgroup (a BPF program). Without one, only
    /// the capabilities and seccomp stand between it and a node it makes.
    pub device_cgroup: bool,
}

/// `--security-opt`, parsed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SecurityOpts {
    pub no_new_privileges: bool,
    pub seccomp: SeccompOpt,
    /// `systempaths=unconfined`: no masked and no read-only paths.
    pub systempaths_unconfined: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub enum SeccompOpt {
    #[default]
    Default,
    Unconfined,
    File(PathBuf),
}

// ANCHOR: security_opts
/// docker's `--security-opt` words (`key=value`, or the older `key:value`).
pub fn security_opts(opts: &[String]) -> Result<SecurityOpts> {
    let mut out = SecurityOpts::default();
    for opt in opts {
        let (key, value) = match opt.split_once(['=', ':']) {
            Some((k, v)) => (k, Some(v)),
            None => (opt.as_str(), None),
        };
        match (key, value) {
            ("no-new-privileges", None | Some("true")) => out.no_new_privileges = true,
            ("no-new-privileges", Some("false")) => out.no_new_privileges = false,
            ("seccomp", Some("unconfined")) => out.seccomp = SeccompOpt::Unconfined,
            ("seccomp", Some("builtin")) => out.seccomp = SeccompOpt::Default,
            ("seccomp", Some(path)) if !path.is_empty() => {
                out.seccomp = SeccompOpt::File(PathBuf::from(path))
            }
            ("systempaths", Some("unconfined")) => out.systempaths_unconfined = true,
            ("apparmor" | "label", _) => bail!(
                "--security-opt {opt}: ctr has no AppArmor or SELinux support; \
                 drop it (its confinement is capabilities, seccomp and the devices cgroup)"
            ),
            _ => bail!(
                "invalid --security-opt {opt:?}: use no-new-privileges, seccomp=unconfined, \
                 seccomp=PROFILE.json or systempaths=unconfined"
            ),
        }
    }
    Ok(out)
}
// ANCHOR_END: security_opts

/// A `--device`: the host's path, the container's, the cgroup access.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceAsk {
    pub host: PathBuf,
    pub container: PathBuf,
    pub access: String,
}

/// docker's `HOST[:CONTAINER][:PERMISSIONS]`; a second field that reads as
/// permissions (`rw`) is taken as them.
pub fn parse_device(text: &str) -> Result<DeviceAsk> {
    let parts: Vec<&str> = text.split(':').collect();
    let (host, container, access) = match parts.as_slice() {
        [host] => (*host, *host, "rwm"),
        [host, p] if is_access(p) => (*host, *host, *p),
        [host, container] => (*host, *container, "rwm"),
        [host, container, p] => (*host, *container, *p),
        _ => bail!("invalid --device {text:?}: give HOST[:CONTAINER][:PERMISSIONS]"),
    };
    if !is_access(access) {
        bail!("invalid --device {text:?}: permissions {access:?} are not some of r, w and m");
    }
    for path in [host, container] {
        if !path.starts_with('/') {
            bail!("invalid --device {text:?}: {path:?} is not an absolute path");
        }
    }
    Ok(DeviceAsk {
        host: host.into(),
        container: container.into(),
        access: access.into(),
    })
}

fn is_access(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 3
        && p.chars().all(|c| "rwm".contains(c))
        && p.chars().all(|c| p.matches(c).count() == 1)
}

// ANCHOR: capabilities
/// docker's `TweakCapabilities`: the defaults, less `drop`, plus `add`;
/// `ALL` in `add` is everything `all` has (less `drop`), `ALL` in `drop`
/// is nothing but `add`. Names as `NET_ADMIN`, `net_admin` or
/// `CAP_NET_ADMIN`.
pub fn capabilities(add: &[String], drop: &[String], all: &[String]) -> Result<Vec<String>> {
    let (add, add_all) = normalize(add)?;
    let (drop, drop_all) = normalize(drop)?;
    let mut caps: Vec<String> = if add_all {
        all.iter().filter(|c| !drop.contains(c)).cloned().collect()
    } else if drop_all {
        add
    } else {
        let mut caps: Vec<String> = DEFAULT_CAPS
            .iter()
            .map(|c| c.to_string())
            .filter(|c| !drop.contains(c))
            .collect();
        caps.extend(add);
        caps
    };
    caps.sort();
    caps.dedup();
    Ok(caps)
}
// ANCHOR_END: capabilities

/// Upper-case, `CAP_`-prefixed names, known to the kernel's headers; and
/// whether `ALL` was among them.
fn normalize(names: &[String]) -> Result<(Vec<String>, bool)> {
    let mut out = Vec::new();
    let mut all = false;
    for name in names {
        let upper = name.to_uppercase();
        if upper == "ALL" {
            all = true;
            continue;
        }
        let full = if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        if full.parse::<caps::Capability>().is_err() {
            bail!("unknown capability {name:?}: see capabilities(7) for their names");
        }
        out.push(full);
    }
    Ok((out, all))
}

// ANCHOR: decide
/// The confinement of a container asked for with `asked`, on `host`.
pub fn decide(asked: &Asked, host: &Host) -> Result<Confinement> {
    let opts = security_opts(&asked.security_opt)?;
    let capabilities = if asked.privileged {
        let mut all = host.caps.clone();
        all.sort();
        all
    } else {
        capabilities(&asked.cap_add, &asked.cap_drop, &host.caps)?
    };
    // The default profile applies unless --privileged; a profile named
    // applies even then (docker's rule).
    let profile = match (&opts.seccomp, asked.privileged) {
        (SeccompOpt::Unconfined, _) | (SeccompOpt::Default, true) => None,
        (SeccompOpt::Default, false) => Some(seccomp::Profile::parse(seccomp::DEFAULT)?),
        (SeccompOpt::File(path), _) => {
            let text = host.seccomp_file.as_deref().unwrap_or_default();
            Some(
                seccomp::Profile::parse(text)
                    .with_context(|| format!("--security-opt seccomp={}", path.display()))?,
            )
        }
    };
    let target = seccomp::Target {
        caps: &capabilities,
        arch: &host.arch,
        kernel: host.kernel,
    };
    let seccomp = profile.map(|p| seccomp::resolve(&p, &target)).transpose()?;
    let (mut devices, mut device_rules) = if asked.privileged {
        let mut all = LinuxDeviceCgroup::default();
        all.set_allow(true);
        all.set_access(Some("rwm".into()));
        (host.devices.clone(), vec![all])
    } else {
        (Vec::new(), default_device_rules())
    };
    if !host.device_cgroup {
        device_rules.clear();
    }
    for (nodes, access) in &host.mapped {
        for node in nodes {
            if !asked.privileged && host.device_cgroup {
                let mut rule = LinuxDeviceCgroup::default();
                rule.set_allow(true);
                rule.set_typ(Some(node.typ()));
                rule.set_major(Some(node.major()));
                rule.set_minor(Some(node.minor()));
                rule.set_access(Some(access.clone()));
                device_rules.push(rule);
            }
            devices.retain(|d| d.path() != node.path());
            devices.push(node.clone());
        }
    }
    let system_paths = !asked.privileged && !opts.systempaths_unconfined;
    let mut masked_paths = Vec::new();
    let mut readonly_paths = Vec::new();
    if system_paths {
        masked_paths.extend(MASKED_PATHS.iter().map(|p| p.to_string()));
        masked_paths.extend(host.thermal_throttle.iter().cloned());
        readonly_paths.extend(READONLY_PATHS.iter().map(|p| p.to_string()));
    }
    Ok(Confinement {
        privileged: asked.privileged,
        capabilities: Some(capabilities),
        no_new_privileges: opts.no_new_privileges,
        seccomp,
        read_only: asked.read_only,
        masked_paths,
        readonly_paths,
        devices,
        device_rules,
    })
}
// ANCHOR_END: decide

impl Host {
    /// Reads what `asked` needs of the machine: its own capabilities, the
    /// architecture and kernel, the thermal_throttle directories, the
    /// devices `--device` names (and, for `--privileged`, all of /dev),
    /// the profile `seccomp=FILE` names.
    pub fn read(asked: &Asked) -> Result<Host> {
        let opts = security_opts(&asked.security_opt)?;
        let caps = caps::read(None, caps::CapSet::Bounding)
            .context("reading ctr's own capabilities")?
            .into_iter()
            .map(|c| c.to_string())
            .collect();
        let release = nix::sys::utsname::uname().context("uname")?;
        let kernel = seccomp::kernel_version(&release.release().to_string_lossy())?;
        let thermal_throttle = fs::read_dir("/sys/devices/system/cpu")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("thermal_throttle"))
            .filter(|p| p.is_dir())
            .map(|p| p.display().to_string())
            .collect();
        let devices = if asked.privileged {
            host_devices(Path::new("/dev"), Path::new("/dev"))?
        } else {
            Vec::new()
        };
        let mut mapped = Vec::new();
        for text in &asked.devices {
            let ask = parse_device(text)?;
            let nodes = host_devices(&ask.host, &ask.container)
                .with_context(|| format!("--device {text}"))?;
            if nodes.is_empty() {
                bail!(
                    "--device {text}: {} is not a device node, nor a directory of them",
                    ask.host.display()
                );
            }
            mapped.push((nodes, ask.access));
        }
        let seccomp_file = match &opts.seccomp {
            SeccompOpt::File(path) => Some(fs::read_to_string(path).with_context(|| {
                format!(
                    "--security-opt seccomp={}: reading the profile",
                    path.display()
                )
            })?),
            _ => None,
        };
        Ok(Host {
            caps,
            arch: std::env::consts::ARCH.to_string(),
            kernel,
            thermal_throttle,
            devices,
            mapped,
            seccomp_file,
            device_cgroup: false,
        })
    }
}

// ANCHOR: host_devices
/// The device nodes at `path` (one, or those below a directory), named as
/// under `container`, with their owners and modes; as containerd's
/// `HostDevices`, what is not a node is skipped, and so are /dev's
/// directories of other things (pts, shm, mqueue, fd) and the console.
fn host_devices(path: &Path, container: &Path) -> Result<Vec<LinuxDevice>> {
    let meta = fs::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    if meta.is_dir() {
        let mut entries: Vec<_> = fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            let skip = [
                "pts",
                "shm",
                "fd",
                "mqueue",
                ".lxc",
                ".lxd-mounts",
                ".udev",
                "console",
            ];
            if skip.iter().any(|s| name == *s) {
                continue;
            }
            // A node that vanishes as we look (a hot-unplugged disk) is skipped.
            if let Ok(nodes) = host_devices(&entry.path(), &container.join(&name)) {
                out.extend(nodes);
            }
        }
        return Ok(out);
    }
    let file_type = meta.file_type();
    let typ = if file_type.is_char_device() {
        LinuxDeviceType::C
    } else if file_type.is_block_device() {
        LinuxDeviceType::B
    } else {
        return Ok(out);
    };
    let rdev = meta.rdev();
    let mut device = LinuxDevice::default();
    device.set_path(container.to_path_buf());
    device.set_typ(typ);
    device.set_major(libc::major(rdev) as i64);
    device.set_minor(libc::minor(rdev) as i64);
    device.set_file_mode(Some(meta.permissions().mode() & 0o777));
    device.set_uid(Some(meta.uid()));
    device.set_gid(Some(meta.gid()));
    out.push(device);
    Ok(out)
}
// ANCHOR_END: host_devices

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// This machine's full set lacks CAP_SYS_RESOURCE, as the sandbox's.
    fn host() -> Host {
        let caps = caps::all()
            .into_iter()
            .filter(|c| c.index() <= 40 && *c != caps::Capability::CAP_SYS_RESOURCE)
            .map(|c| c.to_string())
            .collect();
        Host {
            caps,
            arch: "x86_64".into(),
            kernel: (6, 1),
            thermal_throttle: vec!["/sys/devices/system/cpu/cpu0/thermal_throttle".into()],
            device_cgroup: true,
            ..Host::default()
        }
    }

    /// The kernel's bit mask of a set of names, as /proc/PID/status shows it.
    fn mask(caps: &[String]) -> String {
        let bits = caps.iter().fold(0u64, |m, c| {
            m | 1 << c.parse::<caps::Capability>().unwrap().index()
        });
        format!("{bits:016x}")
    }

    #[test]
    fn the_defaults_are_dockers() {
        let c = decide(&Asked::default(), &host()).unwrap();
        let caps = c.capabilities.clone().unwrap();
        assert_eq!(caps.len(), 14);
        // podman 4.3 (docker's 14) shows CapEff and CapBnd 00000000a80425fb.
        assert_eq!(mask(&caps), "00000000a80425fb");
        assert!(!c.no_new_privileges && !c.read_only && !c.privileged);
        let seccomp = c.seccomp.as_ref().unwrap();
        assert_eq!(
            seccomp.default_action(),
            oci_spec::runtime::LinuxSeccompAction::ScmpActErrno
        );
        assert_eq!(c.masked_paths.len(), 13);
        assert!(c.masked_paths.contains(&"/proc/kcore".to_string()));
        assert_eq!(
            c.masked_paths.last().unwrap(),
            "/sys/devices/system/cpu/cpu0/thermal_throttle"
        );
        assert_eq!(c.readonly_paths, READONLY_PATHS);
        assert!(c.devices.is_empty());
        assert_eq!(c.device_rules, default_device_rules());
        // Without a v1 devices cgroup: no rules (the runtime would refuse them).
        let v2 = Host {
            device_cgroup: false,
            ..host()
        };
        assert!(decide(&Asked::default(), &v2)
            .unwrap()
            .device_rules
            .is_empty());
    }

    #[test]
    fn cap_add_and_cap_drop_as_docker_tweaks_them() {
        let all = host().caps;
        let caps = |add: &[&str], drop: &[&str]| {
            mask(&capabilities(&strings(add), &strings(drop), &all).unwrap())
        };
        assert_eq!(caps(&["NET_ADMIN"], &[]), "00000000a80435fb");
        assert_eq!(caps(&["cap_net_admin"], &[]), "00000000a80435fb");
        assert_eq!(caps(&[], &["ALL"]), "0000000000000000");
        assert_eq!(caps(&["KILL"], &["all"]), "0000000000000020");
        assert_eq!(caps(&[], &["CHOWN", "mknod"]), "00000000a00425fa");
        assert_eq!(caps(&["ALL"], &[]), "000001fffeffffff");
        assert_eq!(caps(&["ALL"], &["SYS_ADMIN"]), "000001fffedfffff");
        let err = capabilities(&strings(&["NET_WIZARD"]), &[], &all).unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown capability \"NET_WIZARD\""),
            "{err}"
        );
    }

    #[test]
    fn privileged_is_everything_the_engine_has() {
        let mut h = host();
        let mut null = LinuxDevice::default();
        null.set_path("/dev/kmsg".into());
        null.set_typ(LinuxDeviceType::C);
        null.set_major(1);
        null.set_minor(11);
        h.devices = vec![null];
        let asked = Asked {
            privileged: true,
            cap_drop: strings(&["ALL"]),
            ..Asked::default()
        };
        let c = decide(&asked, &h).unwrap();
        // podman 4.3 --privileged: 000001fffeffffff, Seccomp 0.
        assert_eq!(mask(c.capabilities.as_ref().unwrap()), "000001fffeffffff");
        assert!(c.seccomp.is_none());
        assert!(c.masked_paths.is_empty() && c.readonly_paths.is_empty());
        assert_eq!(c.devices.len(), 1);
        assert_eq!(c.device_rules.len(), 1);
        let rule = &c.device_rules[0];
        assert!(rule.allow() && rule.typ().is_none() && rule.access().as_deref() == Some("rwm"));
        // A profile named still applies, as docker's.
        h.seccomp_file = Some(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#.into());
        let asked = Asked {
            privileged: true,
            security_opt: strings(&["seccomp=/p.json"]),
            ..Asked::default()
        };
        assert!(decide(&asked, &h).unwrap().seccomp.is_some());
    }

    #[test]
    fn security_opts_as_docker_spells_them() {
        let o = security_opts(&strings(&["no-new-privileges", "seccomp=unconfined"])).unwrap();
        assert!(o.no_new_privileges);
        assert_eq!(o.seccomp, SeccompOpt::Unconfined);
        let o = security_opts(&strings(&["no-new-privileges:true", "seccomp:/p.json"])).unwrap();
        assert!(o.no_new_privileges);
        assert_eq!(o.seccomp, SeccompOpt::File("/p.json".into()));
        assert!(
            !security_opts(&strings(&["no-new-privileges=false"]))
                .unwrap()
                .no_new_privileges
        );
        let err = security_opts(&strings(&["apparmor=docker-default"])).unwrap_err();
        assert!(err.to_string().contains("no AppArmor or SELinux"), "{err}");
        let err = security_opts(&strings(&["seccomp"])).unwrap_err();
        assert!(err.to_string().contains("invalid --security-opt"), "{err}");
        let c = decide(
            &Asked {
                security_opt: strings(&["systempaths=unconfined", "seccomp=unconfined"]),
                read_only: true,
                ..Asked::default()
            },
            &host(),
        )
        .unwrap();
        assert!(c.masked_paths.is_empty() && c.seccomp.is_none() && c.read_only);
    }

    #[test]
    fn devices_as_docker_parses_them() {
        let d = parse_device("/dev/kmsg").unwrap();
        assert_eq!(
            (d.container.to_str(), d.access.as_str()),
            (Some("/dev/kmsg"), "rwm")
        );
        let d = parse_device("/dev/kmsg:r").unwrap();
        assert_eq!(
            (d.container.to_str(), d.access.as_str()),
            (Some("/dev/kmsg"), "r")
        );
        let d = parse_device("/dev/kmsg:/dev/log:rw").unwrap();
        assert_eq!(
            (d.container.to_str(), d.access.as_str()),
            (Some("/dev/log"), "rw")
        );
        for bad in [
            "kmsg",
            "/dev/kmsg:log",
            "/dev/kmsg:/x:rwx",
            "/a:/b:r:w",
            "/a:/b:rr",
        ] {
            assert!(parse_device(bad).is_err(), "{bad}");
        }
        let mut h = host();
        let mut kmsg = LinuxDevice::default();
        kmsg.set_path("/dev/log".into());
        kmsg.set_typ(LinuxDeviceType::C);
        kmsg.set_major(1);
        kmsg.set_minor(11);
        h.mapped = vec![(vec![kmsg], "r".into())];
        let c = decide(&Asked::default(), &h).unwrap();
        assert_eq!(c.devices.len(), 1);
        let last = c.device_rules.last().unwrap();
        assert_eq!(
            (
                last.allow(),
                last.major(),
                last.minor(),
                last.access().as_deref()
            ),
            (true, Some(1), Some(11), Some("r"))
        );
    }

    #[test]
    fn the_hosts_null_is_a_device() {
        let found = host_devices(Path::new("/dev/null"), Path::new("/dev/nothing")).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].major(), found[0].minor()), (1, 3));
        assert_eq!(found[0].path(), Path::new("/dev/nothing"));
        assert!(host_devices(Path::new("/etc/hostname"), Path::new("/x"))
            .unwrap()
            .is_empty());
    }
}
