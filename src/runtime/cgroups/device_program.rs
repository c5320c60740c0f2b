//! `linux.resources.devices` on cgroup v2, which has no devices controller:
//! the kernel asks a BPF program of type `BPF_PROG_TYPE_CGROUP_DEVICE`,
//! attached to the cgroup, whether each open or mknod of a device node may
//! go on (Documentation/admin-guide/cgroup-v2.rst, "Device controller"), as
//! runc and crun do. [`program`] compiles the rules (pure), [`attach`]
//! loads the program and attaches it; it lives as long as the cgroup.
//!
//! The rules keep v1's meaning: a later rule overrides an earlier one, so
//! the program tries them last to first and the first that matches
//! decides; a request no rule matches is allowed, as in a v1 cgroup whose
//! list was never reset (docker's first rule, `a *:* rwm` denied, matches
//! everything). An allow rule matches a request whose every access it
//! grants; a deny rule one that asks for any access it refuses.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, Result};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// One instruction, as `struct bpf_insn` (linux/bpf.h) lays it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    dst: u8,
    src: u8,
    off: i16,
    imm: i32,
}

impl Insn {
    fn encode(self) -> u64 {
        u64::from(self.code)
            | u64::from(self.dst & 0xf | (self.src & 0xf) << 4) << 8
            | u64::from(self.off as u16) << 16
            | u64::from(self.imm as u32) << 32
    }
}

// linux/bpf_common.h and linux/bpf.h.
const LDX_W_MEM: u8 = 0x61; // BPF_LDX | BPF_W | BPF_MEM
const MOV64_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const AND32_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RSH32_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// struct bpf_cgroup_dev_ctx: access_type (access << 16 | type), major, minor.
const DEV_BLOCK: i32 = 1; // BPF_DEVCG_DEV_BLOCK
const DEV_CHAR: i32 = 2; // BPF_DEVCG_DEV_CHAR
const ACC_MKNOD: i32 = 1; // BPF_DEVCG_ACC_MKNOD
const ACC_READ: i32 = 2; // BPF_DEVCG_ACC_READ
const ACC_WRITE: i32 = 4; // BPF_DEVCG_ACC_WRITE
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

// Registers: r1 the context, then r2 the access asked, r3 the type, r4 the
// major, r5 the minor; r0 the answer (1 allow, 0 deny).
const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

// ANCHOR: program
/// The rules as a program: a prologue that reads the request, a block per
/// rule (last rule first, up to one that matches every request), then
/// allow.
pub fn program(rules: &[LinuxDeviceCgroup]) -> Vec<Insn> {
    let mut out = vec![
        insn(LDX_W_MEM, 2, 1, 0, 0),
        insn(MOV64_X, 3, 2, 0, 0),
        insn(AND32_K, 3, 0, 0, 0xffff),
        insn(RSH32_K, 2, 0, 0, 16),
        insn(LDX_W_MEM, 4, 1, 4, 0),
        insn(LDX_W_MEM, 5, 1, 8, 0),
    ];
    for rule in rules.iter().rev() {
        let block = block(rule);
        let matches_all = !block.is_empty() && !block.iter().any(|i| i.off != 0);
        out.extend(block);
        // The verifier refuses instructions no path reaches.
        if matches_all {
            return out;
        }
    }
    out.push(insn(MOV64_K, 0, 0, 0, 1));
    out.push(insn(EXIT, 0, 0, 0, 0));
    out
}

/// One rule: each test that fails jumps past the block's end, to the
/// next rule's; a request that passes them all gets the rule's answer.
fn block(rule: &LinuxDeviceCgroup) -> Vec<Insn> {
    let typ = match rule.typ() {
        None | Some(LinuxDeviceType::A) => None,
        Some(LinuxDeviceType::B) => Some(DEV_BLOCK),
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => Some(DEV_CHAR),
        // A FIFO is no device: the kernel never asks about one.
        Some(LinuxDeviceType::P) => return Vec::new(),
    };
    let access = rule.access().as_deref().unwrap_or("rwm");
    let bits = access.chars().fold(0, |bits, c| {
        bits | match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => 0,
        }
    });
    // Jumps whose offset is the distance to the block's end, set below.
    let mut tests: Vec<Insn> = Vec::new();
    if let Some(t) = typ {
        tests.push(insn(JNE_K, 3, 0, 0, t));
    }
    let number = |n: Option<i64>| n.filter(|n| *n >= 0).map(|n| n as i32);
    if let Some(major) = number(rule.major()) {
        tests.push(insn(JNE_K, 4, 0, 0, major));
    }
    if let Some(minor) = number(rule.minor()) {
        tests.push(insn(JNE_K, 5, 0, 0, minor));
    }
    let mut body = Vec::new();
    for test in tests {
        body.push((test, true));
    }
    if rule.allow() && bits != ACC_ALL {
        // Asks for an access the rule does not grant: not this rule's.
        body.push((insn(MOV64_X, 1, 2, 0, 0), false));
        body.push((insn(AND32_K, 1, 0, 0, !bits & ACC_ALL), false));
        body.push((insn(JNE_K, 1, 0, 0, 0), true));
    } else if !rule.allow() && bits != ACC_ALL {
        // Asks for none of the accesses the rule refuses: not this rule's.
        body.push((insn(MOV64_X, 1, 2, 0, 0), false));
        body.push((insn(AND32_K, 1, 0, 0, bits), false));
        body.push((insn(JEQ_K, 1, 0, 0, 0), true));
    }
    body.push((insn(MOV64_K, 0, 0, 0, i32::from(rule.allow())), false));
    body.push((insn(EXIT, 0, 0, 0, 0), false));
    let len = body.len();
    body.into_iter()
        .enumerate()
        .map(|(i, (mut insn, jumps))| {
            if jumps {
                insn.off = (len - i - 1) as i16;
            }
            insn
        })
        .collect()
}
// ANCHOR_END: program

// linux/bpf.h: the commands and the parts of `union bpf_attr` they read.
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Other programs may be attached above (systemd's, a parent engine's):
/// every one must allow.
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<i64> {
    // SAFETY: attr is a zero-initialised struct laid out as the part of
    // union bpf_attr that cmd reads, and size is its size; the pointers in
    // it point to memory that outlives the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

// ANCHOR: attach
/// Loads the program of `rules` and attaches it to the cgroup at `dir`.
pub fn attach(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let insns: Vec<u64> = program(rules).into_iter().map(Insn::encode).collect();
    let license = c"Apache-2.0";
    let load = |log: &mut Vec<u8>| {
        let mut attr = ProgLoad {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            expected_attach_type: BPF_CGROUP_DEVICE,
            ..ProgLoad::default()
        };
        if !log.is_empty() {
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
        }
        // Letters, digits, '_' and '.' only (kernel/bpf/syscall.c).
        attr.prog_name[..7].copy_from_slice(b"ctr_dev");
        bpf(BPF_PROG_LOAD, &mut attr)
    };
    let prog = match load(&mut Vec::new()) {
        Ok(fd) => fd,
        Err(err) => {
            // Again, with the verifier's log, to say why.
            let mut log = vec![0u8; 64 << 10];
            _ = load(&mut log);
            let text = String::from_utf8_lossy(&log);
            let said = text.trim_end_matches('\0').trim();
            return Err(err).with_context(|| {
                format!(
                    "loading the BPF device program for {} (the kernel needs \
                     CONFIG_CGROUP_BPF){}",
                    dir.display(),
                    if said.is_empty() {
                        String::new()
                    } else {
                        format!("; the verifier said: {said}")
                    }
                )
            });
        }
    };
    // SAFETY: bpf(BPF_PROG_LOAD) returned a new descriptor that we own.
    let prog = unsafe { OwnedFd::from_raw_fd(prog as i32) };
    let cgroup = File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    let mut attr = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..ProgAttach::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr)
        .with_context(|| format!("attaching the BPF device program to {}", dir.display()))?;
    Ok(())
}
// ANCHOR_END: attach

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        allow: bool,
        typ: Option<LinuxDeviceType>,
        mm: (i64, i64),
        access: &str,
    ) -> LinuxDeviceCgroup {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(allow);
        r.set_typ(typ);
        r.set_major((mm.0 >= 0).then_some(mm.0));
        r.set_minor((mm.1 >= 0).then_some(mm.1));
        r.set_access(Some(access.into()));
        r
    }

    /// Runs `program` on a request, as the kernel would: a small
    /// interpreter of the instructions it uses.
    fn run(program: &[Insn], typ: i32, access: i32, major: i32, minor: i32) -> u64 {
        let ctx = [(access << 16 | typ) as u32, major as u32, minor as u32];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = program[pc];
            let (d, s) = (i.dst as usize, i.src as usize);
            let imm = i.imm as u32 as u64;
            pc += 1;
            match i.code {
                LDX_W_MEM => r[d] = ctx[i.off as usize / 4] as u64,
                MOV64_X => r[d] = r[s],
                MOV64_K => r[d] = i.imm as i64 as u64,
                AND32_K => r[d] = (r[d] as u32 & imm as u32) as u64,
                RSH32_K => r[d] = ((r[d] as u32) >> imm) as u64,
                JNE_K if r[d] != imm => pc += i.off as usize,
                JEQ_K if r[d] == imm => pc += i.off as usize,
                JNE_K | JEQ_K => {}
                EXIT => return r[0],
                other => panic!("unknown instruction {other:#x}"),
            }
        }
    }

    #[test]
    fn dockers_rules_as_a_program() {
        let rules = crate::container::confine::default_device_rules();
        let p = program(&rules);
        let (r, w, m) = (ACC_READ, ACC_WRITE, ACC_MKNOD);
        // null, zero, the terminals, tun: read and written.
        for (major, minor) in [(1, 3), (1, 5), (5, 0), (136, 4), (10, 200)] {
            assert_eq!(run(&p, DEV_CHAR, r | w, major, minor), 1, "{major}:{minor}");
        }
        // Any node may be made, but kmsg and fuse not opened.
        assert_eq!(run(&p, DEV_CHAR, m, 1, 11), 1);
        assert_eq!(run(&p, DEV_BLOCK, m, 8, 0), 1);
        assert_eq!(run(&p, DEV_CHAR, r, 1, 11), 0);
        assert_eq!(run(&p, DEV_CHAR, r, 10, 229), 0);
        assert_eq!(run(&p, DEV_BLOCK, r | w, 8, 0), 0);
        assert_eq!(run(&p, DEV_CHAR, m | r, 1, 11), 0);
    }

    #[test]
    fn a_later_rule_overrides_and_partial_access() {
        use LinuxDeviceType::C;
        let rules = [
            rule(false, None, (-1, -1), "rwm"),
            rule(true, Some(C), (1, 11), "r"),
        ];
        let p = program(&rules);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 11), 1);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 11), 0);
        let rules = [
            rule(true, None, (-1, -1), "rwm"),
            rule(false, Some(C), (1, -1), "w"),
        ];
        let p = program(&rules);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 3), 1);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 3), 0);
        assert_eq!(run(&p, DEV_BLOCK, ACC_WRITE, 1, 3), 1);
        // No rule: as a cgroup whose list was never reset.
        assert_eq!(run(&program(&[]), DEV_CHAR, ACC_READ, 1, 1), 1);
        // Nothing after a rule that matches everything (--privileged's).
        let all = program(&[rule(true, None, (-1, -1), "rwm")]);
        assert_eq!(all.len(), 6 + 2);
        assert_eq!(run(&all, DEV_BLOCK, ACC_WRITE, 8, 0), 1);
    }

    #[test]
    fn the_encoding_is_linuxs() {
        // r2 = *(u32 *)(r1 + 4): code 0x61, dst 2, src 1, off 4.
        assert_eq!(insn(LDX_W_MEM, 2, 1, 4, 0).encode(), 0x0000_0000_0004_1261);
        // if r3 != 2 goto +5
        assert_eq!(insn(JNE_K, 3, 0, 5, 2).encode(), 0x0000_0002_0005_0355);
    }
}
