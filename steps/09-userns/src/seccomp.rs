//! A seccomp filter: system calls the container may not make at all.
//!
//! Capabilities guard what the kernel thought to guard; every system call
//! is also a way into the kernel's code, and a bug in it a way past all
//! the rest. A seccomp filter is a small program, in classic BPF, that the
//! kernel runs at each system call of the process, before the call: it
//! reads the call's number (and arguments), and answers allow, fail with
//! an error, or kill. It is inherited by every child and kept across
//! execve, and it cannot be removed: only more filters added.
//!
//! Docker's filter allows some 350 calls and refuses the rest. The lesson's
//! is a deny list of docker's refusals that matter most, written out by
//! hand; ctr uses docker's whole profile (chapter 13).

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::libc;

// ANCHOR: denied
/// The system calls refused, with EPERM as docker refuses them.
pub const DENIED: [(&str, libc::c_long); 27] = [
    // Mounts and namespaces: a way around the container's own.
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    ("open_tree", libc::SYS_open_tree),
    ("move_mount", libc::SYS_move_mount),
    ("fsopen", libc::SYS_fsopen),
    // The kernel itself: modules, a new kernel, the machine.
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("reboot", libc::SYS_reboot),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    // What no namespace holds: the kernel's log, its keyrings, the clock,
    // process accounting.
    ("syslog", libc::SYS_syslog),
    ("add_key", libc::SYS_add_key),
    ("keyctl", libc::SYS_keyctl),
    ("request_key", libc::SYS_request_key),
    ("clock_settime", libc::SYS_clock_settime),
    ("settimeofday", libc::SYS_settimeofday),
    ("acct", libc::SYS_acct),
    // Large parts of the kernel that no container needs, and where bugs
    // were found: BPF programs, perf, userfaultfd, another file handle.
    ("bpf", libc::SYS_bpf),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
];
// ANCHOR_END: denied

// ANCHOR: program
/// The architecture whose system call numbers these are: the filter sees
/// that too (linux/audit.h), and a number means another call on another.
#[cfg(target_arch = "x86_64")]
const ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64
/// On x86_64 the same numbers plus this bit are the x32 ABI's calls, which
/// reach the same kernel code: a deny list that forgot them would be open.
const X32_BIT: u32 = 0x4000_0000;

// Classic BPF (linux/filter.h): the opcodes the filter uses.
const LOAD: u16 = 0x20; // A = the word at offset k of struct seccomp_data
const JUMP_IF_EQUAL: u16 = 0x15; // A == k ? skip jt : skip jf
const JUMP_IF_AT_LEAST: u16 = 0x35; // A >= k ? skip jt : skip jf
const RETURN: u16 = 0x06; // return k
/// struct seccomp_data: the call's number, then the architecture.
const NR: u32 = 0;
const ARCH_OFFSET: u32 = 4;

fn op(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The filter: the architecture first (another one's numbers mean other
/// calls: kill), then each denied number, then allow.
pub fn program() -> Vec<libc::sock_filter> {
    let n = DENIED.len();
    // Jumps count the instructions they skip. The answers come last,
    // after the 5 + n tests: allow, then refuse.
    let refuse = 5 + n + 1;
    let mut p = vec![
        op(LOAD, 0, 0, ARCH_OFFSET),
        op(JUMP_IF_EQUAL, 1, 0, ARCH),
        op(RETURN, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        op(LOAD, 0, 0, NR),
        op(JUMP_IF_AT_LEAST, (refuse - 4 - 1) as u8, 0, X32_BIT),
    ];
    for (_, nr) in DENIED {
        let at = p.len();
        p.push(op(JUMP_IF_EQUAL, (refuse - at - 1) as u8, 0, nr as u32));
    }
    p.push(op(RETURN, 0, 0, libc::SECCOMP_RET_ALLOW));
    p.push(op(
        RETURN,
        0,
        0,
        libc::SECCOMP_RET_ERRNO | Errno::EPERM as u32,
    ));
    p
}
// ANCHOR_END: program

// ANCHOR: install
/// Sets no_new_privs, then installs the filter on this process: the last
/// thing before execve, since it refuses calls we would make ourselves
/// (mount, for one).
pub fn install() -> Result<()> {
    // Without no_new_privs, only a process with CAP_SYS_ADMIN may install a
    // filter: a set-user-ID program run under a filter of a user's choosing
    // could be made to fail where it does not expect to. With it, execve
    // never grants privileges again (no set-user-ID, no file capabilities),
    // so the container's root cannot regain what it dropped that way.
    nix::sys::prctl::set_no_new_privs().context("setting no_new_privs")?;
    let program = program();
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: fprog points to the program, which lives through the call;
    // the kernel copies it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    Errno::result(r).context("seccomp(2): installing the filter")?;
    Ok(())
}
// ANCHOR_END: install

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the filter on a call, as the kernel would.
    fn verdict(arch: u32, nr: u32) -> u32 {
        let data = [nr, arch];
        let (p, mut a, mut pc) = (program(), 0u32, 0usize);
        loop {
            let i = &p[pc];
            pc += 1;
            match i.code {
                LOAD => a = data[i.k as usize / 4],
                JUMP_IF_EQUAL => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                JUMP_IF_AT_LEAST => pc += usize::from(if a >= i.k { i.jt } else { i.jf }),
                RETURN => return i.k,
                other => panic!("unknown opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn denied_calls_fail_with_eperm_and_others_pass() {
        let eperm = libc::SECCOMP_RET_ERRNO | 1;
        for (name, nr) in DENIED {
            assert_eq!(verdict(ARCH, nr as u32), eperm, "{name}");
        }
        for nr in [
            libc::SYS_read,
            libc::SYS_execve,
            libc::SYS_mkdirat,
            libc::SYS_clone,
        ] {
            assert_eq!(verdict(ARCH, nr as u32), libc::SECCOMP_RET_ALLOW, "{nr}");
        }
        // x32's numbers, and another architecture's.
        assert_eq!(verdict(ARCH, X32_BIT | libc::SYS_read as u32), eperm);
        assert_eq!(verdict(0x4000_0003, 3), libc::SECCOMP_RET_KILL_PROCESS);
    }
}
