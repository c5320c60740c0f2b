//! Golden outputs of `ctr` that people read: its help, its error messages
//! for bad input, and the `ps` table, as insta snapshots (review a change
//! with `cargo insta review`). Nothing here needs root or touches the host:
//! the commands fail before they would make anything, with `--root` in a
//! temporary directory.

use std::process::Command;

use ctr::container::lifecycle::{ps_table, PsLine};

/// Runs ctr with ARGS and a store of its own, and returns what it printed
/// and its status, as a reader sees them.
fn ctr(args: &[&str]) -> String {
    let root = std::env::temp_dir().join(format!("ctr-golden-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_ctr"))
        .arg("--root")
        .arg(&root)
        .args(args)
        .env_remove("CTR_ROOT")
        .env_remove("CTR_REGISTRY_MIRROR")
        .output()
        .expect("running ctr");
    let _ = std::fs::remove_dir_all(&root);
    format!(
        "$ ctr {}\n{}{}[status {}]\n",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status.code().unwrap_or(-1)
    )
    .replace(&root.display().to_string(), "[root]")
}

#[test]
fn help() {
    for (name, args) in [
        ("help", &["--help"][..]),
        ("help_run", &["run", "--help"]),
        ("help_ps", &["ps", "--help"]),
        ("help_exec", &["exec", "--help"]),
        ("help_system", &["system", "--help"]),
    ] {
        insta::assert_snapshot!(name, ctr(args));
    }
}

/// What ctr says to bad input: what failed, and what to do, with docker's
/// status 125 for its own failures.
#[test]
fn error_messages() {
    let cases: &[&[&str]] = &[
        &["run"],
        &["run", "--network", "overlay", "busybox"],
        &["run", "-p", "80", "busybox"],
        &["run", "-p", "6379:99999", "busybox"],
        &["pull", "Busybox"],
        &["pull", "busybox@sha256:1234"],
        &["rmi", "no-such-image"],
        &["exec", "no-such-container", "ls"],
        &["kill", "-s", "NOPE", "no-such-container"],
        &["logs", "no-such-container"],
        &["frobnicate"],
    ];
    let all: String = cases.iter().map(|args| ctr(args)).collect();
    insta::assert_snapshot!(all);
}

#[test]
fn the_ps_table() {
    let line = |id: &str, command: &str, status: &str, ports: &str, name: &str| PsLine {
        id: id.into(),
        image: "redis".into(),
        command: format!("{command:?}"),
        created_at: 0,
        state: "running".into(),
        status: status.into(),
        ports: ports.into(),
        names: name.into(),
        ip_address: String::new(),
        networks: "bridge".into(),
        oom_killed: false,
    };
    let table = ps_table(&[
        line(
            "0123456789ab",
            "docker-entrypoint.sh redis-server",
            "Up 3 seconds",
            "0.0.0.0:6379->6379/tcp",
            "r",
        ),
        line(
            "fedcba987654",
            "sh",
            "Exited (137) 2 minutes ago",
            "",
            "a-longer-name",
        ),
    ]);
    insta::assert_snapshot!(table);
}
