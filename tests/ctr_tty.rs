//! `ctr run -t`, from the outside: the container's terminal is its own, a
//! pty of its devpts instance (as runc makes it), so `tty` names it, as
//! /dev/pts/0, and the shell is the session leader with job control.
mod support;

use support::ctr::ok;

/// The lines of what `script` saw, without the pty's carriage returns.
fn lines(text: &str) -> Vec<&str> {
    text.lines().map(|l| l.trim_end_matches('\r')).collect()
}

#[test]
fn the_container_has_a_terminal_of_its_own() {
    let out = ok(r#"
        # The shell flushes what was typed before it started: type later.
        (sleep 0.5; printf 'tty; echo $((6*7)); exit 3\n') |
            script -qec "stty cols 100 rows 30; $C run --rm -it busybox sh" /dev/null
        echo "status=$?"
    "#);
    let lines = lines(&out.stdout);
    assert!(
        lines.contains(&"/dev/pts/0"),
        "tty names the container's own pty:\n{}",
        out.both()
    );
    assert!(lines.contains(&"42"), "{}", out.both());
    assert!(lines.contains(&"status=3"), "{}", out.both());
    assert!(
        !out.both().contains("job control turned off"),
        "the shell has a controlling terminal:\n{}",
        out.both()
    );
}

#[test]
fn the_pty_belongs_to_the_user_and_the_session() {
    let out = ok(r#"
        cat > /run/typed <<'TYPED'
stat -c owner=%u $(tty)
awk '{ print "sid=" $6 " fg=" ($8 == $5) }' /proc/self/stat
exit
TYPED
        (sleep 0.5; cat /run/typed) |
            script -qec "$C run --rm -it -u 1000 busybox sh" /dev/null
        echo "status=$?"
    "#);
    let lines = lines(&out.stdout);
    assert!(
        lines.contains(&"owner=1000"),
        "the pty is given to the container's user:\n{}",
        out.both()
    );
    // The shell (PID 1) leads the session whose controlling terminal it is,
    // and runs its command in the terminal's foreground process group.
    assert!(lines.contains(&"sid=1 fg=1"), "{}", out.both());
    assert!(lines.contains(&"status=0"), "{}", out.both());
}

#[test]
fn exec_with_a_terminal_in_a_running_container() {
    let out = ok(r#"
        $C run -d --name box busybox sleep 30 >/dev/null
        (sleep 0.5; printf 'tty; echo $((6*7)); exit 4\n') |
            script -qec "$C exec -it box sh" /dev/null
        echo "status=$?"
        $C rm -f box >/dev/null
    "#);
    let lines = lines(&out.stdout);
    assert!(
        lines.iter().any(|l| l.starts_with("/dev/pts/")),
        "{}",
        out.both()
    );
    assert!(lines.contains(&"42"), "{}", out.both());
    assert!(lines.contains(&"status=4"), "{}", out.both());
}
