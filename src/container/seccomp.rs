//! docker's seccomp profiles, read as dockerd reads them and turned into
//! config.json's `linux.seccomp`. A profile in docker's format
//! (`--security-opt seccomp=FILE`, and ctr's default, seccomp_default.json)
//! says more than OCI's: its architectures as a map from the machine's to
//! the sub-architectures it also runs (x86_64 runs x86 and x32 code), and
//! per rule `includes` and `excludes` that keep it only for some
//! capabilities, architectures or kernels. The engine resolves those
//! against the container (its bounding capabilities), the machine's
//! architecture and the kernel, as dockerd does; the runtime sees a plain
//! list of rules.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSyscall,
};
use serde::Deserialize;

/// docker's default profile, the `default.json` of its documentation:
/// some 350 calls allowed, the rest refused with EPERM, and the calls that
/// need a capability allowed only with it.
pub const DEFAULT: &str = include_str!("seccomp_default.json");

/// A profile in docker's format.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    default_action: LinuxSeccompAction,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    arch_map: Option<Vec<ArchMap>>,
    /// The older format's plain list, instead of `archMap`.
    #[serde(default)]
    architectures: Option<Vec<Arch>>,
    #[serde(default)]
    flags: Option<Vec<LinuxSeccompFilterFlag>>,
    #[serde(default)]
    listener_path: Option<String>,
    #[serde(default)]
    listener_metadata: Option<String>,
    #[serde(default)]
    syscalls: Option<Vec<Syscall>>,
    #[serde(default, rename = "comment")]
    _comment: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ArchMap {
    architecture: Arch,
    #[serde(default)]
    sub_architectures: Option<Vec<Arch>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Syscall {
    /// The older format's one name, instead of `names`.
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    names: Option<Vec<String>>,
    action: LinuxSeccompAction,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
    #[serde(default, rename = "comment")]
    _comment: Option<serde::de::IgnoredAny>,
}

/// When a rule applies: `includes` keeps it only if all of these hold,
/// `excludes` drops it if any does.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Filter {
    #[serde(default)]
    caps: Option<Vec<String>>,
    /// Go's names of architectures (amd64, arm64...), as dockerd compares.
    #[serde(default)]
    arches: Option<Vec<String>>,
    /// "4.8": the kernel is this one or newer.
    #[serde(default)]
    min_kernel: Option<String>,
}

/// What a profile is resolved against.
pub struct Target<'a> {
    /// The container's bounding set, as "CAP_SYS_ADMIN".
    pub caps: &'a [String],
    /// Rust's name of the machine's architecture (`std::env::consts::ARCH`).
    pub arch: &'a str,
    /// The running kernel's version, (major, minor).
    pub kernel: (u32, u32),
}

impl Profile {
    pub fn parse(text: &str) -> Result<Profile> {
        serde_json::from_str(text).context("reading it as a seccomp profile in docker's format")
    }
}

// ANCHOR: resolve
/// `profile` as config.json's `linux.seccomp`, for `target`.
pub fn resolve(profile: &Profile, target: &Target) -> Result<LinuxSeccomp> {
    if profile.arch_map.is_some() && profile.architectures.is_some() {
        bail!("the profile has both architectures and archMap: use one");
    }
    let native = native_arch(target.arch);
    let mut arches = profile.architectures.clone().unwrap_or_default();
    for map in profile.arch_map.iter().flatten() {
        if Some(map.architecture) == native {
            arches.push(map.architecture);
            arches.extend(map.sub_architectures.iter().flatten());
        }
    }
    let go_arch = go_arch(target.arch);
    let mut syscalls = Vec::new();
    for (i, call) in profile.syscalls.iter().flatten().enumerate() {
        let names = match (&call.name, &call.names) {
            (Some(_), Some(names)) if !names.is_empty() => {
                bail!("syscalls[{i}] has both name and names: use one")
            }
            (Some(name), _) => vec![name.clone()],
            (None, names) => names.clone().unwrap_or_default(),
        };
        let applies = (|| -> Result<bool> {
            if let Some(ex) = &call.excludes {
                if ex.arches.iter().flatten().any(|a| a == go_arch)
                    || ex.caps.iter().flatten().any(|c| target.caps.contains(c))
                {
                    return Ok(false);
                }
                if let Some(min) = &ex.min_kernel {
                    if target.kernel >= kernel_version(min)? {
                        return Ok(false);
                    }
                }
            }
            if let Some(inc) = &call.includes {
                if inc
                    .arches
                    .as_ref()
                    .is_some_and(|a| !a.is_empty() && !a.iter().any(|a| a == go_arch))
                    || inc.caps.iter().flatten().any(|c| !target.caps.contains(c))
                {
                    return Ok(false);
                }
                if let Some(min) = &inc.min_kernel {
                    if target.kernel < kernel_version(min)? {
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        })()
        .with_context(|| format!("syscalls[{i}] ({})", names.join(", ")))?;
        if !applies {
            continue;
        }
        let mut rule = LinuxSyscall::default();
        rule.set_names(names);
        rule.set_action(call.action);
        rule.set_errno_ret(call.errno_ret);
        rule.set_args(call.args.clone().filter(|a| !a.is_empty()));
        syscalls.push(rule);
    }
    let mut out = LinuxSeccomp::default();
    out.set_default_action(profile.default_action);
    out.set_default_errno_ret(profile.default_errno_ret);
    out.set_architectures((!arches.is_empty()).then_some(arches));
    out.set_flags(profile.flags.clone().filter(|f| !f.is_empty()));
    out.set_listener_path(profile.listener_path.as_ref().map(Into::into));
    out.set_listener_metadata(profile.listener_metadata.clone());
    out.set_syscalls(Some(syscalls));
    Ok(out)
}
// ANCHOR_END: resolve

/// The seccomp name of the machine's architecture.
fn native_arch(arch: &str) -> Option<Arch> {
    Some(match arch {
        "x86_64" => Arch::ScmpArchX86_64,
        "x86" => Arch::ScmpArchX86,
        "aarch64" => Arch::ScmpArchAarch64,
        "arm" => Arch::ScmpArchArm,
        "riscv64" => Arch::ScmpArchRiscv64,
        "s390x" => Arch::ScmpArchS390x,
        "powerpc64" => Arch::ScmpArchPpc64le,
        "mips64" => Arch::ScmpArchMips64,
        "loongarch64" => Arch::ScmpArchLoongarch64,
        _ => return None,
    })
}

/// Go's name of the machine's architecture, which docker's profiles use in
/// `includes.arches`.
fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// "4.8" or "6.1.0-18-amd64" as (4, 8), (6, 1).
pub fn kernel_version(text: &str) -> Result<(u32, u32)> {
    let mut parts = text.split(|c: char| !c.is_ascii_digit());
    let mut number = || -> Option<u32> { parts.next()?.parse().ok() };
    match (number(), number()) {
        (Some(major), Some(minor)) => Ok((major, minor)),
        _ => bail!("kernel version {text:?} is not MAJOR.MINOR"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKERS_14: [&str; 14] = [
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

    fn resolved(caps: &[String], arch: &str) -> serde_json::Value {
        let profile = Profile::parse(DEFAULT).unwrap();
        let target = Target {
            caps,
            arch,
            kernel: (6, 1),
        };
        serde_json::to_value(resolve(&profile, &target).unwrap()).unwrap()
    }

    /// Every rule's names, with its action and arguments, flattened.
    fn rules(v: &serde_json::Value) -> Vec<String> {
        let mut out = Vec::new();
        for rule in v["syscalls"].as_array().unwrap() {
            for name in rule["names"].as_array().unwrap() {
                let mut line = format!("{} {}", name.as_str().unwrap(), rule["action"]);
                if let Some(errno) = rule.get("errnoRet") {
                    line.push_str(&format!(" {errno}"));
                }
                if let Some(args) = rule.get("args") {
                    line.push_str(&format!(" {args}"));
                }
                out.push(line);
            }
        }
        out
    }

    #[test]
    fn the_default_for_dockers_capabilities_on_x86_64() {
        let caps: Vec<String> = DOCKERS_14.map(String::from).to_vec();
        let v = resolved(&caps, "x86_64");
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["defaultErrnoRet"], 1);
        assert_eq!(
            v["architectures"],
            serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        let rules = rules(&v);
        let has = |line: &str| rules.iter().any(|r| r == line);
        let named = |name: &str| rules.iter().any(|r| r.split(' ').next() == Some(name));
        assert!(has(r#"read "SCMP_ACT_ALLOW""#));
        assert!(has(r#"arch_prctl "SCMP_ACT_ALLOW""#), "amd64 only");
        assert!(
            has(r#"chroot "SCMP_ACT_ALLOW""#),
            "CAP_SYS_CHROOT is one of the 14"
        );
        assert!(has(r#"ptrace "SCMP_ACT_ALLOW""#), "kernel 4.8 or later");
        assert!(has(
            r#"clone "SCMP_ACT_ALLOW" [{"index":0,"op":"SCMP_CMP_MASKED_EQ","value":2114060288,"valueTwo":0}]"#
        ));
        assert!(has(r#"clone3 "SCMP_ACT_ERRNO" 38"#));
        assert!(has(
            r#"socket "SCMP_ACT_ALLOW" [{"index":0,"op":"SCMP_CMP_NE","value":40}]"#
        ));
        // Without the capability each needs: left to the default, EPERM.
        for refused in [
            "mount",
            "unshare",
            "setns",
            "bpf",
            "open_by_handle_at",
            "init_module",
            "reboot",
            "syslog",
            "kcmp",
            "set_tls",
            "riscv_flush_icache",
            "io_uring_setup",
            "keyctl",
            "kexec_load",
        ] {
            assert!(!named(refused), "{refused} must not be allowed");
        }
    }

    #[test]
    fn capabilities_and_architectures_change_the_rules() {
        let mut caps: Vec<String> = DOCKERS_14.map(String::from).to_vec();
        caps.push("CAP_SYS_ADMIN".into());
        caps.push("CAP_SYS_PTRACE".into());
        let rules = rules(&resolved(&caps, "x86_64"));
        let has = |line: &str| rules.iter().any(|r| r == line);
        assert!(has(r#"mount "SCMP_ACT_ALLOW""#));
        assert!(has(r#"clone "SCMP_ACT_ALLOW""#), "any flags with SYS_ADMIN");
        assert!(has(r#"clone3 "SCMP_ACT_ALLOW""#));
        assert!(has(r#"kcmp "SCMP_ACT_ALLOW""#));
        assert!(!rules
            .iter()
            .any(|r| r.starts_with("clone3 \"SCMP_ACT_ERRNO\"")));
        assert!(!rules
            .iter()
            .any(|r| r.starts_with("clone \"SCMP_ACT_ALLOW\" [")));

        let v = resolved(&[], "aarch64");
        assert_eq!(
            v["architectures"],
            serde_json::json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
        );
        let arm = super::tests::rules(&v);
        assert!(arm.iter().any(|r| r == r#"set_tls "SCMP_ACT_ALLOW""#));
        assert!(!arm.iter().any(|r| r.starts_with("arch_prctl ")));
        assert!(!arm.iter().any(|r| r.starts_with("chroot ")), "no caps");
    }

    #[test]
    fn old_kernels_and_the_older_format() {
        let profile = Profile::parse(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [
                  {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                  {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "4.8"}},
                  {"names": ["kcmp"], "action": "SCMP_ACT_KILL", "excludes": {"minKernel": "5.0"}}
                ]}"#,
        )
        .unwrap();
        let target = |kernel| Target {
            caps: &[],
            arch: "x86_64",
            kernel,
        };
        let old = serde_json::to_value(resolve(&profile, &target((4, 4))).unwrap()).unwrap();
        assert_eq!(
            rules(&old),
            [r#"mkdir "SCMP_ACT_ERRNO" 13"#, r#"kcmp "SCMP_ACT_KILL""#]
        );
        let new = serde_json::to_value(resolve(&profile, &target((6, 1))).unwrap()).unwrap();
        assert_eq!(
            rules(&new),
            [r#"mkdir "SCMP_ACT_ERRNO" 13"#, r#"ptrace "SCMP_ACT_ERRNO""#]
        );
        assert_eq!(
            new["architectures"],
            serde_json::json!(["SCMP_ARCH_X86_64"])
        );
        assert!(Profile::parse(r#"{"defaultAction": "SCMP_ACT_ALLOW", "sycalls": []}"#).is_err());
        assert_eq!(kernel_version("6.1.0-18-amd64").unwrap(), (6, 1));
        assert_eq!(kernel_version("4.8").unwrap(), (4, 8));
        assert!(kernel_version("six").is_err());
    }

    #[test]
    fn the_default_compiles_for_this_machine() {
        let caps: Vec<String> = DOCKERS_14.map(String::from).to_vec();
        let profile = Profile::parse(DEFAULT).unwrap();
        let target = Target {
            caps: &caps,
            arch: std::env::consts::ARCH,
            kernel: (6, 1),
        };
        crate::runtime::seccomp::compile(&resolve(&profile, &target).unwrap()).unwrap();
    }

    /// The profile as an arm64 machine's engine resolves it, compiled by
    /// libseccomp for arm64 alone: a program that checks arm64's and arm's
    /// audit architectures and never x86_64's. (That ctr itself builds for
    /// arm64 is `just check-arm64`.)
    #[test]
    fn the_default_compiles_for_arm64() {
        use std::os::fd::AsFd;
        const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
        const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
        const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
        const BPF_JMP_JEQ_K: u16 = 0x15;

        let caps: Vec<String> = DOCKERS_14.map(String::from).to_vec();
        let profile = Profile::parse(DEFAULT).unwrap();
        let target = Target {
            caps: &caps,
            arch: "aarch64",
            kernel: (6, 1),
        };
        let mut filter =
            crate::runtime::seccomp::compile(&resolve(&profile, &target).unwrap()).unwrap();
        filter.remove_arch(libseccomp::ScmpArch::native()).unwrap();
        let mut file = tempfile();
        filter.export_bpf(file.as_fd()).unwrap();
        let mut bytes = Vec::new();
        std::io::Seek::rewind(&mut file).unwrap();
        std::io::Read::read_to_end(&mut file, &mut bytes).unwrap();
        assert!(bytes.len() / 8 > 300, "{} instructions", bytes.len() / 8);
        let arches: Vec<u32> = bytes
            .chunks_exact(8)
            .filter(|i| u16::from_ne_bytes([i[0], i[1]]) == BPF_JMP_JEQ_K)
            .map(|i| u32::from_ne_bytes([i[4], i[5], i[6], i[7]]))
            .filter(|k| k & 0x4000_0000 != 0)
            .collect();
        assert!(arches.contains(&AUDIT_ARCH_AARCH64), "{arches:x?}");
        assert!(arches.contains(&AUDIT_ARCH_ARM), "{arches:x?}");
        assert!(!arches.contains(&AUDIT_ARCH_X86_64), "{arches:x?}");
    }

    /// An unnamed file that is gone when the test ends.
    fn tempfile() -> std::fs::File {
        let path = std::env::temp_dir().join(format!(
            "ctr-seccomp-arm64-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }
}
