//! Who the container's process is: its limits, its user and groups, its
//! capabilities, no_new_privs, and signals as a new program expects them.
//! The order is runc's: rlimits and oom_score_adj while still root, the
//! bounding set dropped while CAP_SETPCAP is still held, the ids changed
//! with capabilities kept across setuid (PR_SET_KEEPCAPS), then the final
//! sets.

use std::collections::HashSet;

use anyhow::{bail, Context, Result};
use caps::{CapSet, Capability as Cap, CapsHashSet};
use nix::sys::signal::SigSet;
use nix::unistd::{setgroups, Gid, Uid};
use oci_spec::runtime::{Capabilities, LinuxCapabilities, PosixRlimit, PosixRlimitType, Process};

// ANCHOR: rlimits
/// setrlimit(2) for each of `process.rlimits`.
pub fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<()> {
    for r in rlimits {
        let resource = resource(r.typ());
        let limit = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: setrlimit reads one rlimit.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            let err = std::io::Error::last_os_error();
            bail!(
                "setting {:?} to soft {} hard {}: {err}{}",
                r.typ(),
                r.soft(),
                r.hard(),
                if err.raw_os_error() == Some(libc::EPERM) {
                    " (raising a hard limit needs CAP_SYS_RESOURCE, which this runtime lacks)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}
// ANCHOR_END: rlimits

fn resource(typ: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType::*;
    match typ {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// /proc/self/oom_score_adj (lowering it needs CAP_SYS_RESOURCE).
pub fn set_oom_score_adj(adj: i32) -> Result<()> {
    std::fs::write("/proc/self/oom_score_adj", adj.to_string())
        .with_context(|| format!("setting oom_score_adj to {adj}"))
}

// ANCHOR: become
/// Takes `process.user` and `process.capabilities`. Without capabilities
/// in config.json, the process keeps root's as they are (a uid other than
/// 0 then has none, as setuid(2) leaves it).
pub fn become_user(process: &Process) -> Result<()> {
    let user = process.user();
    let caps = process.capabilities().as_ref();
    if let Some(caps) = caps {
        drop_bounding(caps.bounding().as_ref())?;
    }
    if let Some(mask) = user.umask() {
        // SAFETY: umask takes an integer.
        unsafe { libc::umask(mask as libc::mode_t) };
    }
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // A user namespace of a single mapping denies setgroups(2)
    // (user_namespaces(7)): with no group to give but the primary one,
    // nothing to do (runc's rootless rule); others cannot be had there.
    let denied = std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny");
    let only_primary = groups.iter().all(|g| g.as_raw() == user.gid());
    match (denied, only_primary) {
        (true, true) => {}
        (true, false) => bail!(
            "supplementary groups {groups:?} cannot be set: this user namespace denies \
             setgroups (a single id mapping: no /etc/subgid range)"
        ),
        (false, _) => setgroups(&groups).context("setting the supplementary groups")?,
    }
    // Capabilities survive the change of uid only with KEEPCAPS on.
    set_keepcaps(caps.is_some())?;
    set_ids(user.uid(), user.gid())?;
    set_keepcaps(false)?;
    if let Some(caps) = caps {
        set_sets(caps)?;
    }
    if process.no_new_privileges() == Some(true) {
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error()).context("setting no_new_privs");
        }
    }
    Ok(())
}
// ANCHOR_END: become

/// setresgid(0) and setresuid(0): root of the user namespace we are in.
pub fn become_namespace_root() -> Result<()> {
    set_ids(0, 0).context("becoming root of the container's user namespace")
}

fn set_keepcaps(on: bool) -> Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, u64::from(on), 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("PR_SET_KEEPCAPS");
    }
    Ok(())
}

/// setresgid then setresuid, raw: glibc's wrappers would change every
/// thread's ids, and there is only this one.
fn set_ids(uid: u32, gid: u32) -> Result<()> {
    // SAFETY: integer arguments.
    if unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("setting the gid {gid}"));
    }
    // SAFETY: integer arguments.
    if unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) } != 0 {
        let err = std::io::Error::last_os_error();
        let unmapped = if err.raw_os_error() == Some(libc::EINVAL) {
            " (no such uid in this user namespace: without root, uids other than 0 \
             need a range for the user in /etc/subuid)"
        } else {
            ""
        };
        return Err(err).with_context(|| format!("setting the uid {uid}{unmapped}"));
    }
    debug_assert_eq!(Uid::current().as_raw(), uid);
    Ok(())
}

/// The bounding set: every capability the kernel knows but those named is
/// dropped (PR_CAPBSET_DROP, needs CAP_SETPCAP: done before anything else).
fn drop_bounding(keep: Option<&Capabilities>) -> Result<()> {
    let keep = to_caps(keep)?;
    for cap in caps::all() {
        if keep.contains(&cap) || !supported(cap) {
            continue;
        }
        caps::drop(None, CapSet::Bounding, cap)
            .with_context(|| format!("dropping {cap} from the bounding set"))?;
    }
    Ok(())
}

fn set_sets(c: &LinuxCapabilities) -> Result<()> {
    let permitted = to_caps(c.permitted().as_ref())?;
    let held = caps::read(None, CapSet::Permitted).context("reading our capabilities")?;
    let missing: Vec<String> = permitted.difference(&held).map(|c| c.to_string()).collect();
    if !missing.is_empty() {
        bail!(
            "capabilities asked for that this runtime does not hold: {}",
            missing.join(", ")
        );
    }
    // Effective must stay within permitted: set permitted last when growing.
    caps::set(None, CapSet::Effective, &to_caps(c.effective().as_ref())?)
        .context("setting the effective capabilities")?;
    caps::set(None, CapSet::Permitted, &permitted).context("setting the permitted capabilities")?;
    caps::set(
        None,
        CapSet::Inheritable,
        &to_caps(c.inheritable().as_ref())?,
    )
    .context("setting the inheritable capabilities")?;
    // Ambient capabilities must be permitted and inheritable; raise each.
    caps::clear(None, CapSet::Ambient).context("clearing the ambient capabilities")?;
    for cap in to_caps(c.ambient().as_ref())? {
        caps::raise(None, CapSet::Ambient, cap)
            .with_context(|| format!("raising {cap} in the ambient set"))?;
    }
    Ok(())
}

/// oci-spec's names (`SYS_ADMIN`) as the caps crate's (`CAP_SYS_ADMIN`).
pub fn to_caps(set: Option<&Capabilities>) -> Result<CapsHashSet> {
    let mut out = HashSet::new();
    for cap in set.into_iter().flatten() {
        let name = format!("CAP_{cap}");
        let parsed: Cap = name
            .parse()
            .map_err(|_| anyhow::anyhow!("unknown capability {name}"))?;
        out.insert(parsed);
    }
    Ok(out)
}

/// Whether the running kernel knows `cap` (/proc/sys/kernel/cap_last_cap).
fn supported(cap: Cap) -> bool {
    static LAST: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
    let last = *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40)
    });
    cap.index() <= last
}

// ANCHOR: signals
/// A new program starts with every signal at its default and none blocked,
/// whatever its parent did: Rust's runtime ignores SIGPIPE, the runtime
/// blocks the signals it forwards, and both would survive execve(2) (`yes |
/// head -1` would print "Broken pipe"). Every signal up to SIGRTMAX, not
/// only the 31 classic ones: coreutils' `timeout` ignores 32 and 33, and
/// an ignored real-time signal survives execve(2) as well.
pub fn reset_signals() -> Result<()> {
    for signo in 1..=libc::SIGRTMAX() {
        if signo == libc::SIGKILL || signo == libc::SIGSTOP {
            continue;
        }
        set_default(signo).with_context(|| format!("resetting signal {signo}"))?;
    }
    SigSet::empty()
        .thread_set_mask()
        .context("unblocking signals")
}

/// The kernel's `struct sigaction` (asm-generic/signal.h): glibc's own
/// wrapper refuses 32 and 33, which it keeps for its threads (nptl(7)), so
/// the system call itself.
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "x86"))]
    restorer: usize,
    mask: u64,
}

fn set_default(signo: libc::c_int) -> std::io::Result<()> {
    let action = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "x86"))]
        restorer: 0,
        mask: 0,
    };
    // SAFETY: SIG_DFL installs no handler code of ours; the old action is
    // not asked for; the size is the kernel's sigset_t, 64 bits.
    let done = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            signo,
            &action as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            std::mem::size_of::<u64>(),
        )
    };
    match done {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}
// ANCHOR_END: signals

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::Capability;

    #[test]
    fn oci_names_become_the_kernels() {
        let set: Capabilities = [
            Capability::SysAdmin,
            Capability::NetBindService,
            Capability::Chown,
        ]
        .into_iter()
        .collect();
        let caps = to_caps(Some(&set)).unwrap();
        assert!(caps.contains(&Cap::CAP_SYS_ADMIN));
        assert!(caps.contains(&Cap::CAP_NET_BIND_SERVICE));
        assert_eq!(caps.len(), 3);
        assert!(to_caps(None).unwrap().is_empty());
    }
}
