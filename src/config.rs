//! The OCI image config, and how docker combines it with `ctr run`'s options
//! into the process to start: argv, environment, working directory and user.
//! Pure functions: the container's side reads /etc/passwd and /etc/group and
//! hands them in; nothing here touches the system.

use anyhow::{bail, Context, Result};
pub use oci_spec::image::{Config, ImageConfiguration};

use crate::digest::Digest;

/// docker's PATH for a Linux container whose image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Reads an image config (image-spec config.md; docker's is the same JSON):
/// oci-spec's type, which `plan` and `diff_ids` read.
pub fn parse(bytes: &[u8]) -> Result<ImageConfiguration> {
    Ok(serde_json::from_slice(bytes)?)
}

/// The digests of the layers' uncompressed tars, checked against the
/// number of layers the manifest lists: a pull and an import both trust a
/// layer only once its tar hashes to one of these.
pub fn diff_ids(image: &ImageConfiguration, layers: usize) -> Result<Vec<Digest>> {
    let listed = image.rootfs().diff_ids();
    if listed.len() != layers {
        bail!(
            "the image lists {} layers in its config and {layers} in its manifest: \
             it is malformed; rebuild or re-push it",
            listed.len()
        );
    }
    listed
        .iter()
        .map(|d| Digest::parse(d).context("the config's rootfs.diff_ids"))
        .collect()
}

/// The signal `ctr stop` sends first (`SIGQUIT`, `15`...), when the image
/// names one; SIGTERM otherwise.
pub fn stop_signal(image: &ImageConfiguration) -> Option<String> {
    image.config().as_ref()?.stop_signal().clone()
}

/// What the user asked for on `ctr run`'s command line.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// `--entrypoint`: one word, not split; `Some("")` resets the image's.
    pub entrypoint: Option<String>,
    /// The CMD and ARGS after the image's name.
    pub cmd: Vec<String>,
    /// `-e K=V` and `-e K`, in order.
    pub env: Vec<String>,
    /// `-w DIR`.
    pub workdir: Option<String>,
    /// `-u USER[:GROUP]`.
    pub user: Option<String>,
    pub hostname: String,
    /// `-t`: docker then sets TERM=xterm.
    pub tty: bool,
}

/// The process to start, before the user is looked up in the image.
#[derive(Clone, Debug, PartialEq)]
pub struct Process {
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// `USER[:GROUP]` as given, resolved inside the container by [`resolve_user`].
    pub user: String,
}

// ANCHOR: plan
/// Combines the image's config with the options as docker does (moby's
/// `merge` in daemon/create.go and `CreateDaemonEnvironment`). `lookup`
/// reads the caller's environment, for `-e K` without a value.
pub fn plan(
    image: &ImageConfiguration,
    opts: &RunOptions,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Process> {
    let none = Config::default();
    let image = image.config().as_ref().unwrap_or(&none);
    let argv = command(image, opts);
    if argv.is_empty() && opts.entrypoint.is_some() {
        bail!(
            "no command specified: --entrypoint \"\" resets the image's Entrypoint \
             and Cmd; give a command after the image's name"
        );
    }
    if argv.is_empty() {
        bail!(
            "no command specified: the image has neither Entrypoint nor Cmd; \
             give one after the image's name"
        );
    }
    let cwd = match &opts.workdir {
        Some(dir) if !dir.starts_with('/') => {
            bail!("the working directory {dir:?} is invalid: it needs to be an absolute path")
        }
        Some(dir) => dir.clone(),
        None => match image.working_dir().as_deref() {
            None | Some("") => "/".to_string(),
            Some(dir) if dir.starts_with('/') => dir.to_string(),
            Some(dir) => format!("/{dir}"),
        },
    };
    let user = opts
        .user
        .clone()
        .or_else(|| image.user().clone())
        .unwrap_or_default();
    Ok(Process {
        argv,
        env: environment(image, opts, lookup),
        cwd,
        user,
    })
}
// ANCHOR_END: plan

// ANCHOR: command
/// Entrypoint + Cmd. `--entrypoint` replaces the image's Entrypoint and drops
/// its Cmd, even when it is `""` (which resets the Entrypoint: docker's CLI
/// sends [""], which keeps the image's Cmd out of the merge, and the daemon
/// then turns [""] into nothing). A command given after the image's name
/// replaces Cmd.
pub fn command(image: &Config, opts: &RunOptions) -> Vec<String> {
    match opts.entrypoint.as_deref() {
        Some(word) => {
            let entrypoint = (!word.is_empty()).then(|| word.to_string());
            entrypoint.into_iter().chain(opts.cmd.clone()).collect()
        }
        None => {
            let cmd = if opts.cmd.is_empty() {
                image.cmd().clone().unwrap_or_default()
            } else {
                opts.cmd.clone()
            };
            let entrypoint = image.entrypoint().clone().unwrap_or_default();
            entrypoint.into_iter().chain(cmd).collect()
        }
    }
}
// ANCHOR_END: command

// ANCHOR: environment
/// docker's order: PATH (the default unless the image or `-e` sets one),
/// HOSTNAME, TERM with `-t`; then `-e` values, then the image's that `-e`
/// did not name. `-e K` takes the caller's K, or removes K when the caller
/// has none. HOME is added later, once the user is known.
pub fn environment(
    image: &Config,
    opts: &RunOptions,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Vec<String> {
    let mut user: Vec<String> = opts
        .env
        .iter()
        .map(|e| match e.split_once('=') {
            Some(_) => e.clone(),
            None => match lookup(e) {
                Some(value) => format!("{e}={value}"),
                None => e.clone(),
            },
        })
        .collect();
    for image_env in image.env().iter().flatten() {
        let key = env_key(image_env);
        if !user.iter().any(|u| env_key(u) == key) {
            user.push(image_env.clone());
        }
    }
    let mut base = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={}", opts.hostname),
    ];
    if opts.tty {
        base.push("TERM=xterm".to_string());
    }
    replace_or_append(base, &user)
}
// ANCHOR_END: environment

/// moby's ReplaceOrAppendEnvValues: an override `K=V` replaces K in place or
/// is appended; a bare `K` removes K.
fn replace_or_append(defaults: Vec<String>, overrides: &[String]) -> Vec<String> {
    let mut env: Vec<Option<String>> = defaults.into_iter().map(Some).collect();
    for value in overrides {
        let key = env_key(value);
        let at = env
            .iter()
            .position(|e| e.as_deref().is_some_and(|e| env_key(e) == key));
        match (value.contains('='), at) {
            (true, Some(i)) => env[i] = Some(value.clone()),
            (true, None) => env.push(Some(value.clone())),
            (false, Some(i)) => env[i] = None,
            (false, None) => {}
        }
    }
    env.into_iter().flatten().collect()
}

fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
}

/// `--env-file`: docker's format, one `K=V` (the value as written, quotes
/// and all) or `K` (taken from ours, as `-e K`) per line; blank lines and
/// `#` comments skipped.
pub fn env_file(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    use anyhow::Context;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--env-file {}", path.display()))?;
    parse_env_file(&text).with_context(|| format!("--env-file {}", path.display()))
}

fn parse_env_file(text: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = env_key(line);
        if key.is_empty() || key.contains(char::is_whitespace) {
            anyhow::bail!("line {}: {key:?} is not a variable's name", n + 1);
        }
        out.push(line.to_string());
    }
    Ok(out)
}

/// Adds HOME from the user's passwd entry when the environment has none (runc
/// does so).
pub fn with_home(mut env: Vec<String>, home: &str) -> Vec<String> {
    if !env.iter().any(|e| env_key(e) == "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

/// Who the process runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: the primary one, then those of /etc/group that
    /// list the user when no group was given. The primary gid is always
    /// there (docker since CVE-2022-36109, podman since CVE-2022-2989): a
    /// process that could drop it would bypass a file's group-deny mode.
    pub groups: Vec<u32>,
    pub home: String,
}

// ANCHOR: resolve_user
/// Resolves `name`, `uid`, `name:group`, `uid:gid` (or any mix) against the
/// image's /etc/passwd and /etc/group (None when the image has none), as
/// runc's `GetExecUser` does: a number not in passwd is used as is, with
/// gid 0 and HOME=/; a name not there is an error.
pub fn resolve_user(spec: &str, passwd: Option<&str>, group: Option<&str>) -> Result<User> {
    let (user_arg, group_arg) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_arg = if user_arg.is_empty() { "0" } else { user_arg };
    let uid_arg: Option<u32> = user_arg.parse().ok();
    let entry = passwd.into_iter().flat_map(str::lines).find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            return None;
        }
        let uid: u32 = f[2].parse().ok()?;
        let matches = match uid_arg {
            Some(n) => uid == n,
            None => f[0] == user_arg,
        };
        matches.then(|| (f[0].to_string(), uid, f[3].parse().ok(), f[5].to_string()))
    });
    let (name, mut user) = match (entry, uid_arg) {
        (Some((name, uid, gid, home)), _) => (
            Some(name),
            User {
                uid,
                gid: gid.unwrap_or(0),
                groups: Vec::new(),
                home: if home.is_empty() { "/".into() } else { home },
            },
        ),
        (None, Some(uid)) => (
            None,
            User {
                uid,
                gid: 0,
                groups: Vec::new(),
                home: "/".into(),
            },
        ),
        (None, None) => {
            bail!("unable to find user {user_arg}: no matching entries in the image's /etc/passwd")
        }
    };
    let groups: Vec<(String, u32, Vec<String>)> = group
        .into_iter()
        .flat_map(str::lines)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            let members = f[3]
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect();
            Some((f[0].to_string(), f[2].parse().ok()?, members))
        })
        .collect();
    match group_arg {
        Some(g) => {
            let gid_arg: Option<u32> = g.parse().ok();
            let found = groups.iter().find(|(gname, gid, _)| match gid_arg {
                Some(n) => *gid == n,
                None => gname == g,
            });
            user.gid = match (found, gid_arg) {
                (Some((_, gid, _)), _) => *gid,
                (None, Some(n)) => n,
                (None, None) => {
                    bail!("unable to find group {g}: no matching entries in the image's /etc/group")
                }
            };
        }
        None => {
            if let Some(name) = name {
                user.groups = groups
                    .iter()
                    .filter(|(_, _, members)| members.contains(&name))
                    .map(|(_, gid, _)| *gid)
                    .collect();
            }
        }
    }
    if !user.groups.contains(&user.gid) {
        user.groups.insert(0, user.gid);
    }
    Ok(user)
}
// ANCHOR_END: resolve_user

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_as_docker_reads_them() {
        let env = parse_env_file("# a comment\n\nA=1\n  B=\"two words\"\nC\nD=x=y\n").unwrap();
        assert_eq!(env, ["A=1", "B=\"two words\"", "C", "D=x=y"]);
        let err = parse_env_file("A=1\nbad name=2\n").unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn diff_ids_must_match_the_manifest() {
        let hex = "a".repeat(64);
        let config = |diff_id: &str| {
            parse(
                format!(
                    r#"{{"architecture":"amd64","os":"linux",
                    "rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
                )
                .as_bytes(),
            )
            .unwrap()
        };
        let good = config(&format!("sha256:{hex}"));
        assert_eq!(diff_ids(&good, 1).unwrap()[0].hex(), hex);
        let err = diff_ids(&good, 2).unwrap_err().to_string();
        assert!(
            err.contains("1 layers in its config and 2 in its manifest"),
            "{err}"
        );
        assert!(diff_ids(&config("sha256:../../etc"), 1).is_err());
    }

    #[test]
    fn docker_configs_read_as_oci_ones() {
        // As docker build writes it: Go's empty maps, nulls, fields OCI lacks.
        let config = parse(
            br#"{"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z",
            "config":{"Env":["PATH=/bin"],"Cmd":["redis-server"],"Entrypoint":null,
            "ExposedPorts":{"6379/tcp":{}},"Volumes":{"/data":{}},"WorkingDir":"/data",
            "StopSignal":"SIGQUIT","OnBuild":null,"Labels":null,"Hostname":""},
            "container_config":{"Cmd":["x"]},"docker_version":"24.0",
            "rootfs":{"type":"layers","diff_ids":[]},"history":[{"created_by":"x"}]}"#,
        )
        .unwrap();
        assert_eq!(stop_signal(&config).as_deref(), Some("SIGQUIT"));
        let p = plan(&config, &opts(None, &[]), &|_| None).unwrap();
        assert_eq!(
            (p.argv, p.cwd),
            (strings(&["redis-server"]), "/data".into())
        );
        let none = parse(
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
        )
        .unwrap();
        assert_eq!(stop_signal(&none), None);
    }

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn image(entrypoint: Option<&[&str]>, cmd: Option<&[&str]>) -> Config {
        let mut config = Config::default();
        config.set_entrypoint(entrypoint.map(strings));
        config.set_cmd(cmd.map(strings));
        config
    }

    /// An image config of `process` alone.
    fn whole(process: &Config) -> ImageConfiguration {
        let mut image = ImageConfiguration::default();
        image.set_config(Some(process.clone()));
        image
    }

    fn opts(entrypoint: Option<&str>, cmd: &[&str]) -> RunOptions {
        RunOptions {
            entrypoint: entrypoint.map(str::to_string),
            cmd: strings(cmd),
            hostname: "h".into(),
            ..Default::default()
        }
    }

    /// docker's documented behaviour (reference/run "ENTRYPOINT", "CMD"),
    /// one row per case: image Entrypoint, image Cmd, --entrypoint, command
    /// line, and the argv docker runs.
    #[test]
    fn entrypoint_and_cmd_combine_as_docker() {
        type Row<'a> = (
            Option<&'a [&'a str]>,
            Option<&'a [&'a str]>,
            Option<&'a str>,
            &'a [&'a str],
            &'a [&'a str],
        );
        let ep: &[&str] = &["/entry", "-x"];
        let cmd: &[&str] = &["cmd", "arg"];
        let rows: &[Row] = &[
            // Cmd alone; replaced by a command line.
            (None, Some(cmd), None, &[], &["cmd", "arg"]),
            (None, Some(cmd), None, &["ls", "-l"], &["ls", "-l"]),
            // Entrypoint alone, with arguments appended.
            (Some(ep), None, None, &[], &["/entry", "-x"]),
            (Some(ep), None, None, &["a"], &["/entry", "-x", "a"]),
            // Both: Cmd is the default arguments to Entrypoint.
            (
                Some(ep),
                Some(cmd),
                None,
                &[],
                &["/entry", "-x", "cmd", "arg"],
            ),
            (Some(ep), Some(cmd), None, &["a"], &["/entry", "-x", "a"]),
            // --entrypoint replaces Entrypoint and drops the image's Cmd.
            (Some(ep), Some(cmd), Some("sh"), &[], &["sh"]),
            (
                Some(ep),
                Some(cmd),
                Some("sh"),
                &["-c", "x"],
                &["sh", "-c", "x"],
            ),
            (None, Some(cmd), Some("echo"), &[], &["echo"]),
            // It is one word, not split.
            (None, None, Some("echo hi"), &[], &["echo hi"]),
            // --entrypoint "" resets it, and drops Cmd too: nothing to run
            // (docker: "No command specified"), or the command line.
            (Some(ep), Some(cmd), Some(""), &[], &[]),
            (Some(ep), Some(cmd), Some(""), &["ls"], &["ls"]),
            (Some(ep), None, Some(""), &[], &[]),
            // Nothing at all.
            (None, None, None, &[], &[]),
            (Some(&[]), Some(&[]), None, &[], &[]),
        ];
        for (i, (img_ep, img_cmd, given_ep, line, want)) in rows.iter().enumerate() {
            let got = command(&image(*img_ep, *img_cmd), &opts(*given_ep, line));
            assert_eq!(got, strings(want), "row {i}");
        }
    }

    #[test]
    fn no_command_is_an_error_saying_what_to_do() {
        let err = plan(&whole(&image(None, None)), &opts(None, &[]), &|_| None).unwrap_err();
        assert!(err.to_string().starts_with("no command specified"), "{err}");
    }

    fn env_of(image_env: &[&str], given: &[&str], tty: bool) -> Vec<String> {
        let mut img = Config::default();
        img.set_env(Some(strings(image_env)));
        let o = RunOptions {
            env: strings(given),
            hostname: "box".into(),
            tty,
            ..Default::default()
        };
        let caller = |k: &str| (k == "FROM_CALLER").then(|| "caller's".to_string());
        environment(&img, &o, &caller)
    }

    #[test]
    fn environment_as_docker_builds_it() {
        let path = format!("PATH={DEFAULT_PATH}");
        // No PATH in the image: docker's default.
        assert_eq!(env_of(&[], &[], false), [path.as_str(), "HOSTNAME=box"]);
        assert_eq!(
            env_of(&[], &[], true),
            [path.as_str(), "HOSTNAME=box", "TERM=xterm"]
        );
        // The image's PATH replaces the default in place; others follow.
        assert_eq!(
            env_of(&["PATH=/x", "A=1"], &[], false),
            ["PATH=/x", "HOSTNAME=box", "A=1"]
        );
        // -e overrides the image, and comes first.
        assert_eq!(
            env_of(&["A=1", "B=2"], &["B=3", "C=4"], false),
            [path.as_str(), "HOSTNAME=box", "B=3", "C=4", "A=1"]
        );
        // -e K takes the caller's value...
        assert_eq!(
            env_of(&["FROM_CALLER=image"], &["FROM_CALLER"], false),
            [path.as_str(), "HOSTNAME=box", "FROM_CALLER=caller's"]
        );
        // ... or, when the caller has none, removes K, even the image's.
        assert_eq!(
            env_of(&["GONE=image", "A=1"], &["GONE"], false),
            [path.as_str(), "HOSTNAME=box", "A=1"]
        );
        // Even the default PATH, as in docker.
        assert_eq!(env_of(&[], &["PATH"], false), ["HOSTNAME=box"]);
        // A value may hold '=' and be empty.
        assert_eq!(
            env_of(&[], &["E=", "Q=a=b"], false),
            [path.as_str(), "HOSTNAME=box", "E=", "Q=a=b"]
        );
        // -e TERM=dumb beats -t's TERM=xterm, and HOSTNAME can be set.
        assert_eq!(
            env_of(&[], &["TERM=dumb", "HOSTNAME=other"], true),
            [path.as_str(), "HOSTNAME=other", "TERM=dumb"]
        );
    }

    #[test]
    fn home_is_added_only_when_missing() {
        assert_eq!(with_home(strings(&["A=1"]), "/root"), ["A=1", "HOME=/root"]);
        assert_eq!(with_home(strings(&["HOME=/x"]), "/root"), ["HOME=/x"]);
    }

    #[test]
    fn working_directory() {
        let mut img = image(None, Some(&["sh"]));
        let cwd = |img: &Config, w: Option<&str>| {
            let mut o = opts(None, &[]);
            o.workdir = w.map(str::to_string);
            plan(&whole(img), &o, &|_| None).map(|p| p.cwd)
        };
        assert_eq!(cwd(&img, None).unwrap(), "/");
        img.set_working_dir(Some("/srv".into()));
        assert_eq!(cwd(&img, None).unwrap(), "/srv");
        assert_eq!(cwd(&img, Some("/tmp")).unwrap(), "/tmp");
        img.set_working_dir(Some("app".into()));
        assert_eq!(cwd(&img, None).unwrap(), "/app");
        let err = cwd(&img, Some("rel")).unwrap_err().to_string();
        assert!(err.contains("needs to be an absolute path"), "{err}");
    }

    #[test]
    fn user_option_beats_the_image() {
        let mut img = image(None, Some(&["sh"]));
        img.set_user(Some("nobody".into()));
        let mut o = opts(None, &[]);
        assert_eq!(plan(&whole(&img), &o, &|_| None).unwrap().user, "nobody");
        o.user = Some("0:0".into());
        assert_eq!(plan(&whole(&img), &o, &|_| None).unwrap().user, "0:0");
        img.set_user(None);
        o.user = None;
        assert_eq!(plan(&whole(&img), &o, &|_| None).unwrap().user, "");
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
        app:x:1000:1000:App:/home/app:/bin/sh\n\
        nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
        broken line\n";
    const GROUP: &str = "root:x:0:\n\
        daemon:x:1:app\n\
        wheel:x:10:root,app\n\
        app:x:1000:\n\
        nogroup:x:65534:\n";

    fn user(spec: &str) -> Result<User> {
        resolve_user(spec, Some(PASSWD), Some(GROUP))
    }

    fn u(uid: u32, gid: u32, groups: &[u32], home: &str) -> User {
        User {
            uid,
            gid,
            groups: groups.to_vec(),
            home: home.into(),
        }
    }

    #[test]
    fn users_resolve_as_runc_does() {
        assert_eq!(user("").unwrap(), u(0, 0, &[0, 10], "/root"));
        assert_eq!(user("root").unwrap(), u(0, 0, &[0, 10], "/root"));
        assert_eq!(
            user("app").unwrap(),
            u(1000, 1000, &[1000, 1, 10], "/home/app")
        );
        assert_eq!(
            user("1000").unwrap(),
            u(1000, 1000, &[1000, 1, 10], "/home/app")
        );
        // A uid that passwd does not know: gid 0, HOME /.
        assert_eq!(user("4242").unwrap(), u(4242, 0, &[0], "/"));
        // An explicit group replaces the primary one and drops the others.
        assert_eq!(user("app:wheel").unwrap(), u(1000, 10, &[10], "/home/app"));
        assert_eq!(
            user("app:4243").unwrap(),
            u(1000, 4243, &[4243], "/home/app")
        );
        assert_eq!(user("4242:4243").unwrap(), u(4242, 4243, &[4243], "/"));
        assert_eq!(
            user("nobody:nogroup").unwrap(),
            u(65534, 65534, &[65534], "/nonexistent")
        );
        assert_eq!(user(":1").unwrap(), u(0, 1, &[1], "/root"));
    }

    #[test]
    fn unknown_names_are_errors() {
        let err = user("ghost").unwrap_err().to_string();
        assert!(err.contains("unable to find user ghost"), "{err}");
        let err = user("app:ghosts").unwrap_err().to_string();
        assert!(err.contains("unable to find group ghosts"), "{err}");
    }

    #[test]
    fn an_image_without_passwd_takes_numbers_only() {
        assert_eq!(resolve_user("", None, None).unwrap(), u(0, 0, &[0], "/"));
        assert_eq!(resolve_user("7:8", None, None).unwrap(), u(7, 8, &[8], "/"));
        assert!(resolve_user("root", None, None).is_err());
    }

    #[test]
    fn reads_an_oci_config() {
        let json = r#"{"created":"2024-01-01T00:00:00Z","architecture":"amd64","os":"linux",
            "config":{"Env":["PATH=/bin"],"Cmd":["sh"],"Entrypoint":null,"WorkingDir":""},
            "rootfs":{"type":"layers","diff_ids":["sha256:abc"]}}"#;
        let c = parse(json.as_bytes()).unwrap();
        let process = c.config().clone().unwrap();
        assert_eq!(process.cmd(), &Some(strings(&["sh"])));
        assert_eq!(process.entrypoint(), &None);
        assert_eq!(c.rootfs().diff_ids(), &["sha256:abc"]);
    }
}
