//! No descriptor of ctr's caller reaches a container (runc's CVE-2024-21626
//! class): the caller holds the sandbox's /etc open as descriptor 7, as a
//! shell's `exec 7</etc` would, and inside the container there is no fd 7,
//! and no way back to the sandbox's files through one.
mod support;

use support::ctr::ok;

/// What a container sees of its descriptors: `ls` of /proc/self/fd (the
/// listing's own directory is the 3), stdin's name, and whether 7 exists.
const PROBE: &str = "ls /proc/self/fd | tr \"\\n\" \" \"; echo; readlink /proc/self/fd/0; \
                     test -e /proc/self/fd/7 && cat /proc/self/fd/7/hostname; true";

#[test]
fn run_passes_only_stdio() {
    let out = ok(&format!(
        "exec 7</etc\n$C run --rm --network none busybox sh -c '{PROBE}'"
    ));
    assert_eq!(out.stdout, "0 1 2 3 \n/dev/null\n", "{}", out.both());
}

#[test]
fn run_with_init_passes_only_stdio_to_pid_1_and_the_command() {
    let out = ok(&format!(
        "exec 7</etc\n$C run --rm --init --network none busybox sh -c 'ls /proc/1/fd | tr \"\\n\" \" \"; echo; {PROBE}'"
    ));
    assert_eq!(
        out.stdout,
        "0 1 2 \n0 1 2 3 \n/dev/null\n",
        "{}",
        out.both()
    );
}

#[test]
fn a_detached_container_and_exec_pass_only_stdio() {
    let out = ok(&format!(
        "exec 7</etc
        $C run -d --name d --network none busybox sleep 30 >/dev/null
        $C exec d sh -c 'ls /proc/1/fd | tr \"\\n\" \" \"; echo; {PROBE}'
        $C rm -f d >/dev/null"
    ));
    assert_eq!(
        out.stdout,
        "0 1 2 \n0 1 2 3 \n/dev/null\n",
        "{}",
        out.both()
    );
}

#[test]
fn a_terminal_passes_only_the_pty() {
    let out = ok(r#"
        exec 7</etc
        script -qec "$C run --rm -t --network none busybox sh -c 'ls /proc/self/fd | tr \"\\n\" \" \"; test -e /proc/self/fd/7 && echo LEAK; true'" /dev/null
    "#);
    let first = out
        .stdout
        .lines()
        .next()
        .unwrap_or("")
        .trim_end_matches('\r');
    assert_eq!(first, "0 1 2 3 ", "{}", out.both());
    assert!(!out.stdout.contains("LEAK"), "{}", out.both());
}

#[test]
fn a_working_directory_through_a_descriptor_does_not_escape() {
    // The CVE's own move: a working directory of /proc/self/fd/7 would put
    // the process in the sandbox's /etc, outside its root.
    let out = ok(r#"
        exec 7</etc
        $C run --rm --network none -w /proc/self/fd/7 busybox cat hostname; echo "run: $?"
        $C run -d --name d --network none busybox sleep 30 >/dev/null
        $C exec d sh -c 'cd /proc/self/fd/7 && cat hostname'; echo "exec: $?"
        $C rm -f d >/dev/null
    "#);
    assert!(!out.stdout.contains("sandbox"), "{}", out.both());
    assert!(out.stdout.contains("run: 125\n"), "{}", out.both());
    assert!(out.stdout.contains("exec: 2\n"), "{}", out.both());
    assert!(
        out.stderr.contains("working directory /proc/self/fd/7"),
        "{}",
        out.both()
    );
}
