//! Engines written for runc (podman with conmon, containerd with its runc
//! shim) driving runc and ctr-runtime side by side, in the sandbox. Each
//! runtime is reached through a small script of the same name
//! (/run/rt/NAME/NAME: podman picks its flags by that name) that writes down
//! how it was called and takes out of config.json what ctr-runtime does not
//! implement yet ([`NOT_YET`]), for both runtimes alike, then runs the real
//! one.

/// The fields of the config.json that podman and containerd write which
/// ctr-runtime refuses today (as jq paths), taken out for runc too, so that
/// both run the same container: `process.apparmorProfile`, written on hosts
/// with AppArmor (Debian's kernels), not on this one. (The seccomp profile
/// both engines give every container is ctr-runtime's own now.) (The cgroup
/// fields, `linux.cgroupsPath` and `linux.resources`, are ctr-runtime's
/// own now: they are passed as the engines wrote them.)
///
/// Shrink it as ctr-runtime learns them: the tests check that each one
/// present is still refused, and say which to remove once it is not.
pub const NOT_YET: &[&str] = &[".process.apparmorProfile"];

/// What ctr-runtime implements but cannot do on cgroup v2 yet, taken out
/// there for both runtimes alike: device rules, which v2 applies as a BPF
/// program that ctr-runtime does not load (it refuses them there, with an
/// error that says so); on v1 it writes them to the devices controller.
pub const NOT_YET_ON_V2: &[&str] = &[".linux.resources.devices"];

/// Shell lines that make /run/rt/runc/runc and /run/rt/ctr-runtime/ctr-runtime
/// (`$CR` is ctr-runtime itself). Each call is logged to /run/rt/calls as
/// `NAME ARGS...`; the last config.json as given is kept in
/// /run/rt/NAME.config.json.
pub fn wrappers() -> String {
    let filter = format!("del({})", NOT_YET.join(", "));
    let filter_v2 = format!("del({}, {})", NOT_YET.join(", "), NOT_YET_ON_V2.join(", "));
    let ctr_runtime = super::binary("ctr-runtime");
    let mut script = format!(
        "CR={}\nmkdir -p /run/rt && : > /run/rt/calls\n",
        super::quote(&ctr_runtime.display().to_string())
    );
    for (name, real) in [
        ("runc", "/usr/sbin/runc".to_string()),
        ("ctr-runtime", ctr_runtime.display().to_string()),
    ] {
        // conmon runs the runtime with an environment of its own: all that
        // the script needs is written into it.
        script.push_str(&format!(
            r#"mkdir -p /run/rt/{name}
cat > /run/rt/{name}/{name} <<'WRAPPER'
#!/bin/sh
echo "{name} $*" >> /run/rt/calls
filter='{filter}'
[ ! -e /sys/fs/cgroup/cgroup.controllers ] || filter='{filter_v2}'
prev=
for a in "$@"; do
    if [ "$prev" = --bundle ]; then
        cp "$a/config.json" /run/rt/{name}.config.json
        jq "$filter" "$a/config.json" > "$a/config.json.rt" && mv "$a/config.json.rt" "$a/config.json" || exit 1
    fi
    prev=$a
done
exec {real} "$@"
WRAPPER
chmod +x /run/rt/{name}/{name}
"#,
            real = super::quote(&real),
        ));
    }
    script
}

/// Shell lines that feed the config.json file CONFIG, as an engine wrote
/// it, to `ctr-runtime create` on an empty root, and print what it refuses
/// (`refused: A, B`) and the config (`config: JSON`), for [`check_not_yet`].
pub fn refused(config: &str) -> String {
    format!(
        "rm -rf /run/refused && mkdir -p /run/refused/rootfs && \
         jq '.root.path=\"rootfs\"' {config} > /run/refused/config.json && \
         {{ $CR --root /run/refused-root create --bundle /run/refused refused 2>&1 | \
         sed -n 's/.*does not implement: \\(.*\\); remove.*/refused: \\1/p'; \
         echo \"config: $(jq -c . {config})\"; }}\n"
    )
}

/// Checks what [`refused`] printed against [`NOT_YET`]: every field
/// ctr-runtime refuses is taken out, and each field taken out that the
/// engine wrote is still refused.
pub fn check_not_yet(engine: &str, output: &str) {
    let refused: Vec<&str> = output
        .lines()
        .find_map(|l| l.strip_prefix("refused: "))
        .map(|l| l.split(", ").collect())
        .unwrap_or_default();
    let config: serde_json::Value = output
        .lines()
        .find_map(|l| l.strip_prefix("config: "))
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no config.json of {engine}'s in:\n{output}"));
    // A field and a NOT_YET path are the same, or one is inside the other.
    let related = |field: &str, path: &str| {
        field == path
            || field.starts_with(&format!("{path}."))
            || path.starts_with(&format!("{field}."))
    };
    for field in &refused {
        assert!(
            NOT_YET.iter().any(|p| related(field, &p[1..])),
            "{engine}'s config.json has {field}, which ctr-runtime refuses: add it to \
             tests/support/engines.rs's NOT_YET, or implement it"
        );
    }
    for path in NOT_YET {
        let present = path[1..]
            .split('.')
            .try_fold(&config, |v, key| v.get(key))
            .is_some_and(|v| !v.is_null());
        assert!(
            !present || refused.iter().any(|f| related(f, &path[1..])),
            "ctr-runtime implements {path} now ({engine} writes it, and it is no longer \
             refused): remove it from tests/support/engines.rs's NOT_YET, so that the \
             engines' tests run it"
        );
    }
}
