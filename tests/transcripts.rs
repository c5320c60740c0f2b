//! The transcripts the book shows are what `just step N` prints, run for real
//! in a sandbox (whose hostname is "sandbox"). See support/transcript.rs.
mod support;

use support::{repo, sandbox, transcript};

/// Runs `just step N` in a sandbox, as a reader would, output and errors merged.
fn just_step(n: u8) -> String {
    // The demos of lesson 3 on use ./rootfs; make it before, so that its
    // making is not part of the transcript.
    if n >= 3 && !repo().join("rootfs/bin/busybox").exists() {
        let status = std::process::Command::new(repo().join("scripts/mkrootfs"))
            .arg(repo().join("rootfs"))
            .status()
            .expect("running scripts/mkrootfs");
        assert!(status.success(), "scripts/mkrootfs rootfs failed");
    }
    support::binary("step-01-uts"); // builds every lesson, outside the sandbox
    let out = sandbox(&format!("just step {n} 2>&1"));
    assert_eq!(out.status, 0, "just step {n}: {}", out.both());
    out.stdout
}

/// Host PIDs vary from run to run.
const HOST_PID: (&str, &str) = (r"PID \d+ on the host", "PID <pid> on the host");

#[test]
fn step_01() {
    transcript::check("step-01.txt", "just step 1", &just_step(1), &[]);
}

#[test]
fn step_02() {
    // The host's PIDs of the container's shell and of the processes around it.
    let proc_says = (r"/proc says I am \d+", "/proc says I am <pid>");
    let ps_rows = (r"(?m)^ +\d+ ", "<pid> ");
    let redactions = [HOST_PID, proc_says, ps_rows];
    transcript::check("step-02.txt", "just step 2", &just_step(2), &redactions);
}

#[test]
fn step_03() {
    transcript::check("step-03.txt", "just step 3", &just_step(3), &[HOST_PID]);
}
