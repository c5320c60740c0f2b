//! `ctr run` against podman, on the same image: the busybox OCI layout of
//! scripts/mkimage, imported into ctr and pulled into podman, inside one
//! throwaway sandbox (podman's state on the sandbox's /run and tmpfs: see
//! tests/support/ctr_podman.rs). Each case of docker's rules is run by both;
//! stdout and the exit status must be the same.
//!
//! podman is the reference, except where podman itself departs from docker's
//! documented behaviour: there the case says so and holds docker's result,
//! and podman's answer is shown beside it. Error messages (stderr) differ by
//! design and are not compared; the statuses are.
//!
//! The cases, and the image they run, are tests/support/docker_cases.rs's.
mod support;

use support::ctr::{in_sandbox, scratch};
use support::docker_cases::{cases, Said};
use support::{ctr_podman, quote_all};

#[test]
fn run_matches_podman_and_docker() {
    support::require_root();
    let cases = cases();
    let out_dir = scratch("ctr-vs-podman");
    let mut script = String::from(ctr_podman::SETUP);
    script.push_str(&format!(
        "O={}\n",
        support::quote(&out_dir.display().to_string())
    ));
    for (i, case) in cases.iter().enumerate() {
        let line = case.line();
        for (name, run) in [
            ("ctr", "$C run --rm --network none"),
            ("podman", "$PODMAN_RUN"),
        ] {
            script.push_str(&format!(
                "RUN=\"{run}\"; ( cd /; {line} ) >$O/{i}.{name}.out 2>$O/{i}.{name}.err; \
                 echo $? >$O/{i}.{name}.rc\n"
            ));
        }
    }

    let before = ctr_podman::host_paths();
    let out = in_sandbox(true, &script);
    let after = ctr_podman::host_paths();
    if let Some(why) = ctr_podman::failure(out.status) {
        panic!(
            "{why}, so ctr cannot be compared with it (this test does not pass without \
             podman):\n{}",
            out.both()
        );
    }
    assert_eq!(out.status, 0, "{}", out.both());
    assert_eq!(
        before, after,
        "podman changed files on the real host: its state must stay in the sandbox"
    );

    let mut table = String::from("| case | ctr | podman | docker |\n|---|---|---|---|\n");
    let mut differ = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let ctr = Said::read(&out_dir, &format!("{i}.ctr"));
        let podman = Said::read(&out_dir, &format!("{i}.podman"));
        let (want, docker_column) = match case.docker {
            Some((stdout, status, why)) => {
                let docker = Said {
                    stdout: stdout.to_string(),
                    status,
                };
                let shown = format!("{docker}: {why}");
                (docker, shown)
            }
            None => (podman.clone(), "as podman".to_string()),
        };
        let mark = if ctr == want { "" } else { " **differs**" };
        table.push_str(&format!(
            "| {} `{}` | {ctr}{mark} | {podman} | {docker_column} |\n",
            case.what,
            quote_all(case.args)
        ));
        if ctr != want {
            let err =
                std::fs::read_to_string(out_dir.join(format!("{i}.ctr.err"))).unwrap_or_default();
            differ.push(format!(
                "{} (ctr run {}):\n  ctr said    {ctr}\n  wanted      {want}\n  ctr's stderr: {}",
                case.what,
                quote_all(case.args),
                err.trim()
            ));
        }
    }
    println!("{table}");
    std::fs::remove_dir_all(&out_dir).unwrap();
    assert!(
        differ.is_empty(),
        "ctr differs from podman/docker in {} of {} cases:\n\n{}\n\n{table}",
        differ.len(),
        cases.len(),
        differ.join("\n\n")
    );
}
