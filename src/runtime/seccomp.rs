//! `linux.seccomp`: a filter every system call of the container goes
//! through, compiled from config.json's profile by libseccomp and loaded in
//! the process just before it becomes the container's program (init.rs,
//! exec.rs), at runc's point: before the capabilities are dropped when
//! no_new_privs is off (loading a filter then needs CAP_SYS_ADMIN), as late
//! as possible when it is on.
//!
//! A profile is a default action and a list of rules, each a set of
//! system call names, an action, and conditions on their arguments: docker's
//! default allows some 350 calls and refuses the rest with EPERM; `clone`
//! only without CLONE_NEW* flags.
//!
//! libseccomp takes longer to compile docker's profile for x86_64, x86 and
//! x32 (970 instructions) than the rest of a container's start: 13 to 60 ms
//! measured here, against ~10 ms for all of `crun run`. The program it
//! makes depends only on the profile and on libseccomp, so it is kept,
//! under the runtime's root, by a hash of both: the first container with a
//! profile pays, the next ones read a few kilobytes and load them.

use std::fs;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;

use anyhow::{bail, Context, Result};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
    ScmpVersion,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator,
};
use sha2::{Digest, Sha256};

/// The cache's directory under the runtime's root: the `:` keeps it apart
/// from every container's (an ID has none).
pub const CACHE: &str = "seccomp:cache";

/// A compiled filter: classic BPF, and the flags of seccomp(2).
pub struct Filter {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
}

// ANCHOR: prepare
/// The filter of `profile`: from `cache` (a directory) if it was compiled
/// before, else compiled and kept there.
pub fn prepare(profile: &LinuxSeccomp, cache: &Path) -> Result<Filter> {
    let flags = flags(profile)?;
    let key = cache_key(profile)?;
    let path = cache.join(format!("{key}.bpf"));
    if let Some(program) = fs::read(&path).ok().and_then(|b| instructions(&b).ok()) {
        return Ok(Filter { program, flags });
    }
    let filter = compile(profile)?;
    fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    // Written whole under another name, then renamed: a reader never sees
    // half a program.
    let tmp = cache.join(format!("{key}.{}.tmp", std::process::id()));
    let mut file = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    filter
        .export_bpf(file.as_fd())
        .context("writing out the seccomp program")?;
    file.flush()?;
    let bytes = fs::read(&tmp).with_context(|| format!("reading {}", tmp.display()))?;
    fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(Filter {
        program: instructions(&bytes).context("libseccomp's program")?,
        flags,
    })
}
// ANCHOR_END: prepare

/// A hash of the profile and of what compiles it.
fn cache_key(profile: &LinuxSeccomp) -> Result<String> {
    let version = ScmpVersion::current().context("asking libseccomp its version")?;
    let mut hash = Sha256::new();
    hash.update(format!(
        "libseccomp {}.{}.{} api {} arch {}\n",
        version.major,
        version.minor,
        version.micro,
        libseccomp::get_api(),
        std::env::consts::ARCH
    ));
    hash.update(serde_json::to_vec(profile)?);
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// libseccomp's output: `struct sock_filter`s, 8 bytes each, native-endian.
fn instructions(bytes: &[u8]) -> Result<Vec<libc::sock_filter>> {
    if bytes.is_empty() || bytes.len() % 8 != 0 || bytes.len() / 8 > usize::from(u16::MAX) {
        bail!("{} bytes are no seccomp program", bytes.len());
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|i| libc::sock_filter {
            code: u16::from_ne_bytes([i[0], i[1]]),
            jt: i[2],
            jf: i[3],
            k: u32::from_ne_bytes([i[4], i[5], i[6], i[7]]),
        })
        .collect())
}

/// `linux.seccomp.flags` as seccomp(2)'s.
fn flags(profile: &LinuxSeccomp) -> Result<libc::c_ulong> {
    let mut out = 0;
    for flag in profile.flags().iter().flatten() {
        out |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => bail!(
                "linux.seccomp.flags: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is for a \
                 seccomp agent, which ctr-runtime does not implement"
            ),
        };
    }
    Ok(out)
}

// ANCHOR: compile
/// `profile` compiled by libseccomp.
pub fn compile(profile: &LinuxSeccomp) -> Result<ScmpFilterContext> {
    if profile.listener_path().is_some() {
        bail!("linux.seccomp.listenerPath: a seccomp agent is not implemented by ctr-runtime");
    }
    let default = action(profile.default_action(), profile.default_errno_ret())
        .context("linux.seccomp.defaultAction")?;
    let mut filter = ScmpFilterContext::new(default).context("making a seccomp filter")?;
    // Whether the process may gain privileges is config.json's
    // noNewPrivileges to say; libseccomp would set it on its own.
    filter.set_ctl_nnp(false).context("seccomp: no_new_privs")?;
    for arch in profile.architectures().iter().flatten() {
        let scmp = scmp_arch(*arch)?;
        filter
            .add_arch(scmp)
            .with_context(|| format!("seccomp: adding the architecture {arch:?}"))?;
    }
    // The flags are seccomp(2)'s, given when the program is loaded.
    flags(profile)?;
    for (i, rule) in profile.syscalls().iter().flatten().enumerate() {
        let what = || format!("linux.seccomp.syscalls[{i}] ({})", rule.names().join(", "));
        let act = action(rule.action(), rule.errno_ret()).with_context(what)?;
        // libseccomp refuses a rule that does what the default does; it
        // would change nothing (runc skips them too).
        if act == default {
            continue;
        }
        let args = rule.args().clone().unwrap_or_default();
        let conditions = args.iter().map(compare).collect::<Result<Vec<_>>>()?;
        for name in rule.names() {
            // A name this libseccomp does not know is a call of a kernel
            // newer than its tables: no rule can name it. Left to the
            // default action, as runc and crun leave it.
            let Ok(call) = ScmpSyscall::from_name(name) else {
                continue;
            };
            add(&mut filter, act, call, &args, &conditions)
                .with_context(|| format!("{}: {name}", what()))?;
        }
    }
    Ok(filter)
}
// ANCHOR_END: compile

/// One rule: all `conditions` together, unless two of them test the same
/// argument, which libseccomp cannot put in one rule: then each alone (an
/// OR, as runc reads such a rule).
fn add(
    filter: &mut ScmpFilterContext,
    act: ScmpAction,
    call: ScmpSyscall,
    args: &[LinuxSeccompArg],
    conditions: &[ScmpArgCompare],
) -> Result<()> {
    let mut indexes: Vec<usize> = args.iter().map(|a| a.index()).collect();
    indexes.sort_unstable();
    indexes.dedup();
    if conditions.is_empty() {
        filter.add_rule(act, call)?;
    } else if indexes.len() == conditions.len() {
        filter.add_rule_conditional(act, call, conditions)?;
    } else {
        for condition in conditions {
            filter.add_rule_conditional(act, call, std::slice::from_ref(condition))?;
        }
    }
    Ok(())
}

/// OCI's action as libseccomp's; an errno defaults to EPERM, as in runc.
fn action(action: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction> {
    use LinuxSeccompAction::*;
    let errno = errno.unwrap_or(libc::EPERM as u32);
    Ok(match action {
        ScmpActKill | ScmpActKillThread => ScmpAction::KillThread,
        ScmpActKillProcess => ScmpAction::KillProcess,
        ScmpActTrap => ScmpAction::Trap,
        ScmpActErrno => ScmpAction::Errno(errno as i32),
        ScmpActTrace => ScmpAction::Trace(errno as u16),
        ScmpActLog => ScmpAction::Log,
        ScmpActAllow => ScmpAction::Allow,
        ScmpActNotify => bail!(
            "SCMP_ACT_NOTIFY hands calls to a seccomp agent, which ctr-runtime does not implement"
        ),
    })
}

/// A condition on one argument. For SCMP_CMP_MASKED_EQ, `value` is the
/// mask and `valueTwo` what the masked argument must equal, as runc reads
/// them: docker's `clone` rule (mask 0x7E020000, valueTwo 0) allows it only
/// without the CLONE_NEW* flags.
fn compare(arg: &LinuxSeccompArg) -> Result<ScmpArgCompare> {
    use LinuxSeccompOperator::*;
    if arg.index() > 5 {
        bail!(
            "linux.seccomp: argument index {} (a system call has 6, 0 to 5)",
            arg.index()
        );
    }
    let (op, datum) = match arg.op() {
        ScmpCmpNe => (ScmpCompareOp::NotEqual, arg.value()),
        ScmpCmpLt => (ScmpCompareOp::Less, arg.value()),
        ScmpCmpLe => (ScmpCompareOp::LessOrEqual, arg.value()),
        ScmpCmpEq => (ScmpCompareOp::Equal, arg.value()),
        ScmpCmpGe => (ScmpCompareOp::GreaterEqual, arg.value()),
        ScmpCmpGt => (ScmpCompareOp::Greater, arg.value()),
        ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(arg.value()),
            arg.value_two().unwrap_or(0),
        ),
    };
    Ok(ScmpArgCompare::new(arg.index() as u32, op, datum))
}

fn scmp_arch(arch: Arch) -> Result<ScmpArch> {
    use Arch::*;
    Ok(match arch {
        ScmpArchNative => ScmpArch::Native,
        ScmpArchX86 => ScmpArch::X86,
        ScmpArchX86_64 => ScmpArch::X8664,
        ScmpArchX32 => ScmpArch::X32,
        ScmpArchArm => ScmpArch::Arm,
        ScmpArchAarch64 => ScmpArch::Aarch64,
        ScmpArchMips => ScmpArch::Mips,
        ScmpArchMips64 => ScmpArch::Mips64,
        ScmpArchMips64n32 => ScmpArch::Mips64N32,
        ScmpArchMipsel => ScmpArch::Mipsel,
        ScmpArchMipsel64 => ScmpArch::Mipsel64,
        ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        ScmpArchPpc => ScmpArch::Ppc,
        ScmpArchPpc64 => ScmpArch::Ppc64,
        ScmpArchPpc64le => ScmpArch::Ppc64Le,
        ScmpArchS390 => ScmpArch::S390,
        ScmpArchS390x => ScmpArch::S390X,
        ScmpArchParisc => ScmpArch::Parisc,
        ScmpArchParisc64 => ScmpArch::Parisc64,
        ScmpArchRiscv64 => ScmpArch::Riscv64,
        ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        ScmpArchM68k => ScmpArch::M68k,
        ScmpArchSh => ScmpArch::Sh,
        ScmpArchSheb => ScmpArch::Sheb,
    })
}

// ANCHOR: load
/// Loads `filter` into this process: from here on, it and every child it
/// makes are bound by it, for good.
pub fn load(filter: &Filter) -> Result<()> {
    let program = libc::sock_fprog {
        len: filter.program.len() as u16,
        filter: filter.program.as_ptr().cast_mut(),
    };
    // SAFETY: seccomp(2) reads the program, which outlives the call.
    let done = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            filter.flags,
            &program as *const libc::sock_fprog,
        )
    };
    if done != 0 {
        return Err(std::io::Error::last_os_error()).context(
            "loading the seccomp filter (without no_new_privs this needs CAP_SYS_ADMIN, \
             which the runtime must still hold)",
        );
    }
    Ok(())
}
// ANCHOR_END: load

/// The names of what `features` lists as implemented.
pub const ACTIONS: [&str; 8] = [
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_LOG",
    "SCMP_ACT_ALLOW",
];
pub const OPERATORS: [&str; 7] = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];
pub const ARCHS: [&str; 24] = [
    "SCMP_ARCH_NATIVE",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];
pub const FLAGS: [&str; 3] = [
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn profile(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_compiled_program_is_kept_and_read_back() {
        let dir = std::env::temp_dir().join(format!("ctr-seccomp-test-{}", std::process::id()));
        _ = fs::remove_dir_all(&dir);
        let p = profile(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
        }));
        let first = prepare(&p, &dir).unwrap();
        let kept: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(fs::read(&kept[0]).unwrap().len(), first.program.len() * 8);
        assert_eq!(first.flags, libc::SECCOMP_FILTER_FLAG_LOG);
        let again = prepare(&p, &dir).unwrap();
        assert_eq!(again.program.len(), first.program.len());
        // A damaged file is compiled again, not loaded.
        fs::write(&kept[0], b"garbage").unwrap();
        assert_eq!(
            prepare(&p, &dir).unwrap().program.len(),
            first.program.len()
        );
        let mut other = p.clone();
        other.set_default_action(LinuxSeccompAction::ScmpActLog);
        prepare(&other, &dir).unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn masked_eq_takes_value_as_the_mask() {
        let arg: LinuxSeccompArg = serde_json::from_value(
            json!({"index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}),
        )
        .unwrap();
        // libseccomp's SCMP_CMP_MASKED_EQ: (arg & datum_a) == datum_b.
        assert_eq!(
            compare(&arg).unwrap(),
            ScmpArgCompare::new(0, ScmpCompareOp::MaskedEqual(0x7E02_0000), 0)
        );
    }

    #[test]
    fn a_profile_compiles_and_says_what_it_lacks() {
        let p = profile(json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["read", "write", "chown32", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
            ]
        }));
        let filter = compile(&p).unwrap();
        assert!(!filter.get_ctl_nnp().unwrap());
        let mut flagged = p.clone();
        flagged.set_flags(Some(vec![
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
        ]));
        assert!(compile(&flagged).is_err());
        let mut notify = p.clone();
        notify.set_default_action(LinuxSeccompAction::ScmpActNotify);
        let err = format!("{:#}", compile(&notify).unwrap_err());
        assert!(err.contains("seccomp agent"), "{err}");
    }
}
