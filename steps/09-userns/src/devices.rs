//! The devices a container may use: a /dev of its own with only the
//! harmless ones, and rules in its cgroup that refuse to open any other,
//! even a node the container makes itself with mknod.
//!
//! A device node is only a name for a number: `c 1 11` is the kernel's log
//! (/dev/kmsg), whatever the file is called and wherever it is. So a /dev
//! without the dangerous nodes is not enough: root in the container can
//! make them (docker keeps CAP_MKNOD, which image builds need). What stops
//! it is the cgroup: the kernel asks it, at each open (and mknod) of a
//! device node, whether this cgroup may use that device.

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::path::Path;

use anyhow::{Context, Result};
use nix::libc;
use nix::mount::{mount, MsFlags};

use crate::cgroup::Version;
use crate::say;

// ANCHOR: harmless
/// The devices a container gets, as docker gives them: those that hold
/// nothing of the host's. (Docker also gives a terminal's /dev/pts and
/// /dev/console; the lesson has no terminal of its own.)
pub const HARMLESS: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];
// ANCHOR_END: harmless

// ANCHOR: make_dev
/// Mounts a tmpfs on ROOTFS/dev and binds the host's harmless nodes into
/// it, before chroot, while the host's /dev is still in reach. Lesson 8
/// made the nodes with mknod; in a user namespace mknod of a device is
/// refused, root of the namespace or not (only the host's root may make
/// a device node), but a bind mount of one the host made is allowed.
pub fn make_dev(rootfs: &Path) -> Result<()> {
    let dev = rootfs.join("dev");
    fs::create_dir_all(&dev).with_context(|| format!("creating {}", dev.display()))?;
    // Not nodev: its nodes must work. nosuid: nothing set-user-ID here.
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME;
    mount(Some("tmpfs"), &dev, Some("tmpfs"), flags, Some("mode=755"))
        .with_context(|| format!("mounting a tmpfs on {}", dev.display()))?;
    for (name, ..) in HARMLESS {
        let (host, node) = (Path::new("/dev").join(name), dev.join(name));
        // A bind mount needs something to cover: an empty file.
        fs::File::create(&node).with_context(|| format!("creating {}", node.display()))?;
        mount(
            Some(&host),
            &node,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("binding {} on {}", host.display(), node.display()))?;
    }
    // What programs expect besides: their own descriptors by name.
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(target, dev.join(name))
            .with_context(|| format!("linking /dev/{name} to {target}"))?;
    }
    Ok(())
}
// ANCHOR_END: make_dev

// ANCHOR: rules
/// Sets the device rules of the cgroup DIR: any node may be made (mknod),
/// only the harmless ones opened. With v1, the devices controller's files;
/// v2 has none, and asks a BPF program instead.
pub fn allow_only_harmless(version: Version, dir: &Path) -> Result<()> {
    match version {
        Version::V1 => {
            // `a` denies every device, and forgets the allowed ones: start
            // from nothing, then allow.
            crate::cgroup::write(&dir.join("devices.deny"), "a")?;
            let mut allowed = vec!["c *:* m".to_string(), "b *:* m".to_string()];
            for (_, major, minor) in HARMLESS {
                allowed.push(format!("c {major}:{minor} rwm"));
            }
            for rule in allowed {
                crate::cgroup::write(&dir.join("devices.allow"), &rule)?;
            }
            Ok(())
        }
        Version::V2 => {
            say(&format!(
                "+ attaching a BPF device program to {} (cgroup v2 has no devices file)",
                dir.display()
            ));
            attach(&program(), dir)
        }
    }
}
// ANCHOR_END: rules

// ANCHOR: program
// One instruction of eBPF, as `struct bpf_insn` (linux/bpf.h) lays it out:
// an opcode, a destination and a source register, an offset, a constant.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    u64::from(code)
        | u64::from(dst | src << 4) << 8
        | u64::from(off as u16) << 16
        | u64::from(imm as u32) << 32
}

// The opcodes the program uses (linux/bpf_common.h, linux/bpf.h).
const LOAD_WORD: u8 = 0x61; // dst = *(u32 *)(src + off)
const AND: u8 = 0x54; // dst &= imm (32 bits)
const SHIFT_RIGHT: u8 = 0x74; // dst >>= imm (32 bits)
const MOVE: u8 = 0xbf; // dst = src
const SET: u8 = 0xb7; // dst = imm
const JUMP_IF_EQUAL: u8 = 0x15; // if dst == imm: skip off instructions
const JUMP_IF_NOT_EQUAL: u8 = 0x55; // if dst != imm: skip off instructions
const EXIT: u8 = 0x95; // return r0

/// The kernel's question (struct bpf_cgroup_dev_ctx): what access (bits:
/// 1 mknod, 2 read, 4 write) to what type (1 block, 2 character) of
/// device, by number; the answer, in r0: 1 allow, 0 refuse.
const MKNOD: i32 = 1;
const CHAR: i32 = 2;

/// The rules as a program: a request to make a node only is allowed; a
/// request to open one is allowed for the harmless devices, refused for
/// any other.
pub fn program() -> Vec<u64> {
    // Where the two answers are, at the end; a jump's offset counts the
    // instructions it skips.
    let refuse = 8 + 2 * HARMLESS.len();
    let allow = refuse + 2;
    let to = |target: usize, from: usize| (target - from - 1) as i16;
    let mut p = vec![
        insn(LOAD_WORD, 2, 1, 0, 0),    // r2 = access << 16 | type
        insn(MOVE, 3, 2, 0, 0),         // r3 = r2
        insn(AND, 3, 0, 0, 0xffff),     // r3 = type
        insn(SHIFT_RIGHT, 2, 0, 0, 16), // r2 = access
        insn(LOAD_WORD, 4, 1, 4, 0),    // r4 = major
        insn(LOAD_WORD, 5, 1, 8, 0),    // r5 = minor
        insn(JUMP_IF_EQUAL, 2, 0, to(allow, 6), MKNOD), // making a node: yes
        insn(JUMP_IF_NOT_EQUAL, 3, 0, to(refuse, 7), CHAR), // a block device: no
    ];
    for (_, major, minor) in HARMLESS {
        let at = p.len();
        // Another major: skip the minor's test, on to the next device.
        p.push(insn(JUMP_IF_NOT_EQUAL, 4, 0, 1, major as i32));
        p.push(insn(JUMP_IF_EQUAL, 5, 0, to(allow, at + 1), minor as i32));
    }
    p.extend([
        insn(SET, 0, 0, 0, 0), // refuse
        insn(EXIT, 0, 0, 0, 0),
        insn(SET, 0, 0, 0, 1), // allow
        insn(EXIT, 0, 0, 0, 0),
    ]);
    p
}
// ANCHOR_END: program

// ANCHOR: attach
// bpf(2)'s commands, and the parts of `union bpf_attr` they read.
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Programs attached above (systemd's, the sandbox's) keep theirs: every
/// one must allow.
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
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<i64> {
    // SAFETY: attr is laid out as the part of union bpf_attr that cmd
    // reads, zero elsewhere; the pointers in it outlive the call.
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

/// Loads PROGRAM into the kernel (its verifier checks it first), and
/// attaches it to the cgroup DIR. The cgroup keeps it: it goes when the
/// cgroup is removed.
fn attach(program: &[u64], dir: &Path) -> Result<()> {
    let mut log = vec![0u8; 16 << 10];
    let mut load = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: program.len() as u32,
        insns: program.as_ptr() as u64,
        license: c"MIT OR Apache-2.0".as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..ProgLoad::default()
    };
    let fd = bpf(BPF_PROG_LOAD, &mut load).with_context(|| {
        let said = String::from_utf8_lossy(&log);
        format!(
            "loading the device program (the kernel needs CONFIG_CGROUP_BPF); the verifier said: {}",
            said.trim_end_matches('\0').trim()
        )
    })?;
    // SAFETY: bpf(BPF_PROG_LOAD) returned a new descriptor, ours to close.
    let prog = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let cgroup = fs::File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    let mut attach = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &mut attach)
        .with_context(|| format!("attaching the device program to {}", dir.display()))?;
    Ok(())
}
// ANCHOR_END: attach

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program on a request, as the kernel would: a small
    /// interpreter of the instructions it uses.
    fn ask(program: &[u64], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [access << 16 | typ, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0;
        loop {
            let i = program[pc];
            let (code, dst, src) = (i as u8, (i >> 8 & 0xf) as usize, (i >> 12 & 0xf) as usize);
            let (off, imm) = ((i >> 16) as u16 as i16, (i >> 32) as u32 as u64);
            pc += 1;
            match code {
                LOAD_WORD => r[dst] = ctx[off as usize / 4].into(),
                MOVE => r[dst] = r[src],
                SET => r[dst] = imm,
                AND => r[dst] &= imm,
                SHIFT_RIGHT => r[dst] >>= imm,
                JUMP_IF_EQUAL if r[dst] == imm => pc += off as usize,
                JUMP_IF_NOT_EQUAL if r[dst] != imm => pc += off as usize,
                JUMP_IF_EQUAL | JUMP_IF_NOT_EQUAL => {}
                EXIT => return r[0],
                other => panic!("unknown opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn only_the_harmless_devices_open_and_any_node_can_be_made() {
        let p = program();
        let (block, read, write) = (1, 2, 4);
        for (name, major, minor) in HARMLESS {
            assert_eq!(
                ask(&p, CHAR as u32, read | write, major, minor),
                1,
                "{name}"
            );
        }
        // kmsg, the console's screen (vcs), mem; a disk.
        for (major, minor) in [(1, 11), (7, 0), (1, 1), (5, 1), (1, 4)] {
            assert_eq!(
                ask(&p, CHAR as u32, read, major, minor),
                0,
                "{major}:{minor}"
            );
            assert_eq!(ask(&p, CHAR as u32, MKNOD as u32, major, minor), 1);
        }
        assert_eq!(ask(&p, block, read, 1, 3), 0);
        assert_eq!(ask(&p, block, MKNOD as u32, 254, 0), 1);
    }

    #[test]
    fn instructions_are_encoded_as_linux_reads_them() {
        // r2 = *(u32 *)(r1 + 4): opcode 0x61, registers 2 and 1, offset 4.
        assert_eq!(insn(LOAD_WORD, 2, 1, 4, 0), 0x0000_0000_0004_1261);
        // if r3 != 2: skip 5
        assert_eq!(insn(JUMP_IF_NOT_EQUAL, 3, 0, 5, 2), 0x0000_0002_0005_0355);
    }
}
