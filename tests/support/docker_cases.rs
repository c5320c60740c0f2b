//! docker's rules for `run`, as cases that any docker-like engine can be
//! put through: the Entrypoint and Cmd table, Env, the hostname, WorkingDir
//! and -w, User and -u, and the exit statuses. tests/ctr_vs_podman.rs runs
//! them with ctr and podman; tests/runtime_podman.rs with podman on runc and
//! podman on ctr-runtime. Each case is `$RUN ARGS...` (or a shell line of its
//! own) with `$RUN` the engine's `run --rm --network none`.
//!
//! The image's tags (scripts/mkimage):
//! - `latest`: Cmd ["sh"], Env PATH and GREETING;
//! - `entry`: Entrypoint ["echo", "entry:"], Cmd ["default", "args"],
//!   Env FOO=image PATH=/bin, WorkingDir /srv/app (not in the image), User nobody;
//! - `bare`: neither Entrypoint nor Cmd, no Env.

use super::quote_all;

/// The environment, without what must differ: HOSTNAME (each container's own
/// ID by default) and TERM, each compared in a case of its own, and podman's
/// own `container=podman`.
pub const ENV: &str = "env | grep -v -e '^HOSTNAME=' -e '^TERM=' -e '^container=' | sort";
/// Who the process is, as the kernel sees it (`id` would show the names that
/// podman adds to /etc/passwd for unknown uids, which docker does not).
pub const IDS: &str = "grep -E '^(Uid|Gid|Groups):' /proc/self/status; echo HOME=$HOME";

pub struct Case {
    pub what: &'static str,
    /// `run --rm --network none` then these words.
    pub args: &'static [&'static str],
    /// Set in the caller's environment (for `-e K`).
    pub caller_env: &'static [(&'static str, &'static str)],
    /// A shell line instead of `$RUN args` (`$RUN` is the runtime's run).
    pub script: Option<&'static str>,
    /// Where podman departs from docker: docker's documented stdout and
    /// status, and why.
    pub docker: Option<(&'static str, i32, &'static str)>,
}

pub const fn case(what: &'static str, args: &'static [&'static str]) -> Case {
    Case {
        what,
        args,
        caller_env: &[],
        script: None,
        docker: None,
    }
}

pub fn cases() -> Vec<Case> {
    vec![
        // Entrypoint and Cmd: docker's table in the Dockerfile reference,
        // "Understand how CMD and ENTRYPOINT interact".
        case("Entrypoint + Cmd", &["busybox:entry"]),
        case("args replace Cmd", &["busybox:entry", "one", "two"]),
        case("Cmd only", &["busybox"]),
        case(
            "Cmd only, args replace it",
            &["busybox", "echo", "replaced"],
        ),
        case("neither, no command: an error", &["busybox:bare"]),
        case(
            "neither, a command given",
            &["busybox:bare", "echo", "given"],
        ),
        case(
            "--entrypoint drops the image's Cmd",
            &["--entrypoint", "echo", "busybox:entry"],
        ),
        case(
            "--entrypoint with args",
            &["--entrypoint", "echo", "busybox:entry", "a", "b"],
        ),
        // docker's CLI sends Entrypoint [""], which keeps the image's Cmd out
        // of the merge; the daemon then resets [""] to nothing and finds no
        // command ("No command specified", 125). podman agrees.
        case(
            "--entrypoint \"\" and no args: no command",
            &["--entrypoint", "", "busybox:entry"],
        ),
        case(
            "--entrypoint \"\" with args",
            &["--entrypoint", "", "busybox:entry", "echo", "reset"],
        ),
        // Env.
        case("the image's Env", &["busybox", "sh", "-c", ENV]),
        case(
            "no Env: the default PATH",
            &["busybox:bare", "sh", "-c", ENV],
        ),
        case(
            "-e K=V overrides and adds",
            &[
                "--entrypoint",
                "sh",
                "-e",
                "FOO=cli",
                "-e",
                "NEW=1",
                "-e",
                "PATH=/usr/bin:/bin",
                "busybox:entry",
                "-c",
                ENV,
            ],
        ),
        Case {
            caller_env: &[("FROM_CALLER", "caller")],
            ..case(
                "-e K takes the caller's K",
                &[
                    "--entrypoint",
                    "sh",
                    "-e",
                    "FROM_CALLER",
                    "busybox:entry",
                    "-c",
                    ENV,
                ],
            )
        },
        Case {
            // docker run reference, --env: "If no = is provided and that
            // variable isn't exported in your local environment, the variable
            // isn't set in the container" (moby: the bare K shadows the
            // image's K in `merge`, then ReplaceOrAppendEnvValues drops it).
            // podman 4.3 ignores the bare K and keeps the image's FOO=image.
            docker: Some(("unset\n", 0, "docker unsets K; podman keeps the image's")),
            ..case(
                "-e K, the caller has no K",
                &[
                    "--entrypoint",
                    "sh",
                    "-e",
                    "FOO",
                    "busybox:entry",
                    "-c",
                    "echo ${FOO-unset}",
                ],
            )
        },
        Case {
            // docker sets TERM=xterm only with -t (moby's
            // CreateDaemonEnvironment); podman sets it always (its
            // DefaultEnvVariables, not configurable in 4.3).
            docker: Some(("unset\n", 0, "docker: TERM only with -t; podman: always")),
            ..case(
                "no -t: no TERM",
                &["busybox", "sh", "-c", "echo ${TERM-unset}"],
            )
        },
        case(
            "HOSTNAME is the default hostname, 12 characters",
            &[
                "busybox",
                "sh",
                "-c",
                "test \"$HOSTNAME\" = \"$(hostname)\" && echo ${#HOSTNAME}",
            ],
        ),
        case(
            "--hostname",
            &[
                "--hostname",
                "box",
                "busybox",
                "sh",
                "-c",
                "hostname; echo $HOSTNAME",
            ],
        ),
        // WorkingDir and -w.
        case(
            "the image's WorkingDir, missing from the image",
            &["--entrypoint", "pwd", "busybox:entry"],
        ),
        case("-w", &["-w", "/tmp", "busybox", "pwd"]),
        case(
            "-w overrides the image's WorkingDir",
            &["-w", "/tmp", "--entrypoint", "pwd", "busybox:entry"],
        ),
        Case {
            // docker run reference, --workdir: "If the path doesn't exist,
            // Docker creates it inside the container." podman 4.3 creates
            // the image's WorkingDir but refuses a missing -w (126).
            docker: Some((
                "/no/such/dir\n",
                0,
                "docker creates a missing -w; podman 4.3 refuses it",
            )),
            ..case(
                "-w a directory the image lacks",
                &["-w", "/no/such/dir", "busybox", "pwd"],
            )
        },
        Case {
            // moby's verifyContainerSettings refuses it at create: "the working
            // directory 'rel' is invalid, it needs to be an absolute path", and
            // the docker CLI exits 125 on a daemon error. podman 4.3 fails
            // later, at start, with 126.
            docker: Some((
                "",
                125,
                "docker refuses at create (125); podman at start (126)",
            )),
            ..case("-w relative", &["-w", "rel", "busybox", "pwd"])
        },
        // User: the uid, the gid and the supplementary groups. Since moby
        // 20.10.18 (CVE-2022-36109, GHSA-rc4r-wh2q-q6c4) the primary gid is
        // always one of the supplementary groups too, as in podman
        // (CVE-2022-2989): else a file's group-deny permissions could be
        // bypassed by dropping the group.
        case(
            "the image's User",
            &["--entrypoint", "sh", "busybox:entry", "-c", IDS],
        ),
        case(
            "-u root overrides the image's User",
            &[
                "--entrypoint",
                "sh",
                "-u",
                "root",
                "busybox:entry",
                "-c",
                IDS,
            ],
        ),
        Case {
            // docker adds the primary gid for every user, root by default too
            // (moby's getUser, since CVE-2022-36109); podman 4.3 only for -u.
            docker: Some((
                "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t0 \nHOME=/root\n",
                0,
                "docker: Groups 0; podman 4.3: none without -u",
            )),
            ..case("no User: root", &["busybox", "sh", "-c", IDS])
        },
        case("-u name", &["-u", "nobody", "busybox", "sh", "-c", IDS]),
        case(
            "-u uid in passwd",
            &["-u", "65534", "busybox", "sh", "-c", IDS],
        ),
        case(
            "-u uid not in passwd: gid 0, HOME=/",
            &["-u", "1234", "busybox", "sh", "-c", IDS],
        ),
        case(
            "-u uid:gid",
            &["-u", "1234:5678", "busybox", "sh", "-c", IDS],
        ),
        case(
            "-u name:group",
            &["-u", "nobody:root", "busybox", "sh", "-c", IDS],
        ),
        Case {
            // docker: the daemon fails to start it ("unable to find user
            // ghost: no matching entries in passwd file") and the CLI exits
            // 125, its status for a daemon error that is neither "not found"
            // nor "permission denied". podman exits 126.
            docker: Some(("", 125, "docker exits 125; podman 126")),
            ..case("-u a name not in passwd", &["-u", "ghost", "busybox", "id"])
        },
        // Exit statuses (docker run reference, "Exit status").
        case("exit 0", &["busybox", "true"]),
        case("exit 1", &["busybox", "sh", "-c", "exit 1"]),
        case("exit 42", &["busybox", "sh", "-c", "exit 42"]),
        case("126: cannot be invoked", &["busybox", "/etc/passwd"]),
        case("127: not found", &["busybox", "nope"]),
        Case {
            script: Some(
                "$RUN busybox sleep 31 & p=$!; wait_for pgrep -x sleep >/dev/null; \
                 kill -KILL $(pgrep -x sleep); wait $p",
            ),
            ..case("killed by SIGKILL: 137", &["busybox", "sleep", "31"])
        },
    ]
}

impl Case {
    /// The shell line that runs the case, with `$RUN` the engine's run.
    pub fn line(&self) -> String {
        match self.script {
            Some(line) => line.to_string(),
            None => {
                let env: Vec<String> = self
                    .caller_env
                    .iter()
                    .map(|(k, v)| format!("{k}={}", super::quote(v)))
                    .collect();
                format!("{} $RUN {}", env.join(" "), quote_all(self.args))
            }
        }
    }
}

/// What one engine said.
#[derive(Clone, Debug, PartialEq)]
pub struct Said {
    pub stdout: String,
    pub status: i32,
}

impl Said {
    pub fn read(dir: &std::path::Path, name: &str) -> Said {
        let read = |ext: &str| {
            std::fs::read_to_string(dir.join(format!("{name}.{ext}")))
                .unwrap_or_else(|e| panic!("{name}.{ext}: {e}"))
        };
        Said {
            stdout: read("out"),
            status: read("rc").trim().parse().unwrap(),
        }
    }
}

impl std::fmt::Display for Said {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{:?} ({})", self.stdout, self.status)
    }
}
