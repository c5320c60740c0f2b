//! podman driving ctr-runtime (`podman --runtime PATH`), through conmon as
//! with any runtime, against podman driving runc, in one throwaway sandbox
//! (podman set up as in tests/support/ctr_podman.rs; both runtimes reached
//! as tests/support/engines.rs says). Each case must give the same stdout
//! and exit status with both: docker's rules for `run` (the cases of
//! tests/ctr_vs_podman.rs), then a container's life (`run -d`, `exec`,
//! `stop`, `kill`, `rm`), a command that is not in the image, and a
//! terminal through conmon's console socket (`run -it`, `exec -it`, under
//! script(1)). The lifecycle's answers are also checked against what they
//! must be, so that two runtimes failing alike cannot pass.
mod support;

use support::ctr::{in_sandbox, scratch};
use support::docker_cases::{cases, Said};
use support::transcript::{self, SHOW};
use support::{ctr_podman, engines, quote, quote_all};

/// The runtimes compared: the reference first.
const RUNTIMES: [&str; 2] = ["runc", "ctr-runtime"];

/// Runs each `(name, line)` with `$PR` set to `podman --runtime` each
/// runtime in turn, after SETUP; returns the sandbox's outcome and the
/// directory where `NAME.RUNTIME.{out,err,rc}` are.
fn compare(
    name: &str,
    lines: &[(String, String)],
    after: &str,
) -> (support::Outcome, std::path::PathBuf) {
    let out_dir = scratch(name);
    let mut script = String::from(ctr_podman::SETUP);
    script.push_str(&engines::wrappers());
    script.push_str(&format!("O={}\n", quote(&out_dir.display().to_string())));
    for (i, (_, line)) in lines.iter().enumerate() {
        for rt in RUNTIMES {
            script.push_str(&format!(
                "PR=\"$P --runtime /run/rt/{rt}/{rt}\"; RUN=\"$PR run --rm --network none\"; \
                 ( cd /; {line} ) >$O/{i}.{rt}.out 2>$O/{i}.{rt}.err; echo $? >$O/{i}.{rt}.rc\n"
            ));
        }
    }
    script.push_str(after);
    let out = in_sandbox(true, &script);
    if let Some(why) = ctr_podman::failure(out.status) {
        panic!(
            "{why}, so ctr-runtime cannot be tried under it (this test does not pass \
             without podman):\n{}",
            out.both()
        );
    }
    assert_eq!(out.status, 0, "{}", out.both());
    (out, out_dir)
}

/// The cases where ctr-runtime's answer is not runc's, with both.
fn differences(lines: &[(String, String)], dir: &std::path::Path) -> (String, Vec<String>) {
    let mut table = String::from("| case | runc | ctr-runtime |\n|---|---|---|\n");
    let mut differ = Vec::new();
    for (i, (what, line)) in lines.iter().enumerate() {
        let runc = Said::read(dir, &format!("{i}.runc"));
        let ours = Said::read(dir, &format!("{i}.ctr-runtime"));
        let mark = if ours == runc { "" } else { " **differs**" };
        table.push_str(&format!("| {what} | {runc} | {ours}{mark} |\n"));
        if ours != runc {
            let err = |rt: &str| {
                std::fs::read_to_string(dir.join(format!("{i}.{rt}.err"))).unwrap_or_default()
            };
            differ.push(format!(
                "{what} ({line}):\n  runc        {runc}\n  ctr-runtime {ours}\n  \
                 runc's stderr: {}\n  ctr-runtime's stderr: {}",
                err("runc").trim(),
                err("ctr-runtime").trim()
            ));
        }
    }
    (table, differ)
}

#[test]
fn docker_semantics_are_the_same_on_ctr_runtime_as_on_runc() {
    support::require_root();
    let lines: Vec<(String, String)> = cases()
        .iter()
        .map(|c| (format!("{} `{}`", c.what, quote_all(c.args)), c.line()))
        .collect();
    let (out, dir) = compare("runtime-podman-cases", &lines, "");
    let (table, differ) = differences(&lines, &dir);
    println!("{table}");
    // runc's answers are podman's own: a case podman on runc fails to run at
    // all (125, an error of podman's) would compare nothing.
    let broken: Vec<_> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| Said::read(&dir, &format!("{i}.runc")).status == 125)
        .map(|(_, (what, _))| what.as_str())
        .collect();
    assert!(
        broken.len() <= 2,
        "podman on runc failed (125) in {broken:?}: the set-up is broken\n{}",
        out.both()
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        differ.is_empty(),
        "podman on ctr-runtime differs from podman on runc in {} of {} cases:\n\n{}\n\n{table}",
        differ.len(),
        lines.len(),
        differ.join("\n\n")
    );
}

/// A container's life under podman, each line with what it must print.
const LIFE: &[(&str, &str, &str)] = &[
    (
        "run -d, exec, exec's status, stop, rm",
        "$PR run -d --network none --name life busybox sleep 300 >/dev/null && echo started
         $PR exec life echo in exec
         $PR exec life sh -c 'exit 3'; echo \"exec status=$?\"
         $PR inspect -f '{{.State.Status}}' life
         $PR stop -t 1 life >/dev/null; echo \"stop=$?\"
         $PR inspect -f '{{.State.Status}} {{.State.ExitCode}}' life
         $PR rm life >/dev/null; echo \"rm=$?\"; $PR ps -aq | wc -l",
        "started\nin exec\nexec status=3\nrunning\nstop=0\nexited 137\nrm=0\n0\n",
    ),
    (
        "kill, wait",
        "$PR run -d --network none --name k busybox sleep 300 >/dev/null
         $PR kill -s KILL k >/dev/null; echo \"kill=$?\"
         $PR wait k; $PR rm k >/dev/null",
        "kill=0\n137\n",
    ),
    (
        "stop: PID 1 with a handler for SIGTERM exits at once",
        "$PR run -d --network none --name t busybox sh -c 'trap \"exit 7\" TERM; echo trapped; sleep 300 & wait' >/dev/null
         wait_for sh -c \"$PR logs t | grep -q trapped\"
         $PR stop -t 10 t >/dev/null; $PR inspect -f '{{.State.ExitCode}}' t; $PR rm t >/dev/null",
        "7\n",
    ),
    (
        "a command not in the image: run -d, exec, exec -d",
        "$PR run -d --network none --name nope busybox nope >/dev/null 2>&1; echo \"run -d=$?\"
         $PR rm -f nope >/dev/null 2>&1
         $PR run -d --network none --name e busybox sleep 300 >/dev/null
         $PR exec e nope 2>/dev/null; echo \"exec=$?\"
         $PR exec -d e /etc/passwd >/dev/null 2>&1; echo \"exec -d=$?\"
         $PR rm -f -t 0 e >/dev/null",
        "run -d=127\nexec=127\nexec -d=125\n",
    ),
    (
        "run -it and exec -it: a terminal through conmon's console socket",
        "script -qec \"$PR run -it --rm --network none busybox sh -c 'tty; exit 5'\" /dev/null > /run/tty.out; echo \"run -it=$?\"
         $PR run -d --network none --name tt busybox sleep 300 >/dev/null
         script -qec \"$PR exec -it tt sh -c 'tty; [ -t 0 ] && echo stdin-tty; exit 6'\" /dev/null >> /run/tty.out; echo \"exec -it=$?\"
         $PR rm -f -t 0 tt >/dev/null
         tr -d '\\r' < /run/tty.out | sed 's/\\^@//g'",
        "run -it=5\nexec -it=6\n/dev/pts/0\n/dev/pts/0\nstdin-tty\n",
    ),
];

#[test]
fn a_containers_life_is_the_same_on_ctr_runtime_as_on_runc() {
    support::require_root();
    let lines: Vec<(String, String)> = LIFE
        .iter()
        .map(|(what, line, _)| (what.to_string(), line.to_string()))
        .collect();
    // Then: podman's config.json as it wrote it, fed to ctr-runtime, and a
    // session for the book.
    let after = format!(
        "{}{SHOW}echo ---\n\
         : > /run/rt/calls\n\
         show RT=/run/rt/ctr-runtime/ctr-runtime\n\
         show podman --runtime '$RT' run --rm --network none busybox echo hello\n\
         show podman --runtime '$RT' run -d --network none --name web busybox sleep 300\n\
         show podman --runtime '$RT' exec web echo hello from exec\n\
         show podman --runtime '$RT' stop -t 0 web\n\
         show podman --runtime '$RT' rm web\n\
         show cat /run/rt/calls\n\
         show podman --runtime '$RT' run --rm --network none busybox nope\n\
         true\n",
        engines::refused("/run/rt/ctr-runtime.config.json")
    );
    let (out, dir) = compare("runtime-podman-life", &lines, &after);
    let (table, differ) = differences(&lines, &dir);
    println!("{table}");
    let wrong: Vec<String> = LIFE
        .iter()
        .enumerate()
        .filter_map(|(i, (what, _, want))| {
            let ours = Said::read(&dir, &format!("{i}.ctr-runtime"));
            (ours.stdout != *want || ours.status != 0).then(|| {
                format!(
                    "{what}: ctr-runtime said {ours}, wanted {want:?} (0); its stderr: {}",
                    std::fs::read_to_string(dir.join(format!("{i}.ctr-runtime.err")))
                        .unwrap_or_default()
                        .trim()
                )
            })
        })
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        differ.is_empty() && wrong.is_empty(),
        "podman on ctr-runtime:\n\n{}\n\n{}\n\n{table}",
        differ.join("\n\n"),
        wrong.join("\n")
    );

    let (refused, session) = out
        .stdout
        .split_once("---\n")
        .unwrap_or_else(|| panic!("no session: {}", out.both()));
    engines::check_not_yet("podman", refused);
    transcript::check_session("podman-ctr-runtime.txt", &readable(session), &[]);
}

/// The session with podman's directories and the container's ID named
/// instead of spelled out.
fn readable(session: &str) -> String {
    [
        (
            r"/run/podman-test\.\w+/storage/overlay-containers/[0-9a-f]{64}/userdata",
            "<bundle>",
        ),
        (
            r"/run/podman-test\.\w+/runroot/overlay-containers/[0-9a-f]{64}/userdata",
            "<run dir>",
        ),
        (r"\b[0-9a-f]{64}\b", "<id>"),
        (r"exec-process-\d+", "exec-process-<random>"),
    ]
    .iter()
    .fold(session.to_string(), |text, (pattern, with)| {
        regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&text, *with)
            .into_owned()
    })
}
