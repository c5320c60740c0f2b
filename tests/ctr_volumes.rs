//! Volumes from the outside: `-v`, `--mount`, `--tmpfs` and the image's
//! `Volumes`, `ctr volume ...`, and mount targets that an image or a
//! racing container points out of the root with symlinks: nothing may
//! land outside it.
mod support;

use support::ctr::{busybox_layer, ok, plain, scratch, write_layout_with, Entry};

/// Asserts that every line of `want` is a line of stdout.
fn has_lines(out: &support::Outcome, want: &[&str]) {
    for line in want {
        assert!(
            out.stdout.lines().any(|l| l == *line),
            "{line:?} missing:\n{}",
            out.both()
        );
    }
}

#[test]
fn a_named_volume_outlives_its_containers_and_is_filled_from_the_image() {
    let out = ok(r#"
        $C run --rm -v data:/etc busybox sh -c 'echo kept > /etc/mine; ls /etc/passwd'
        $C volume ls
        $C run --rm -v data:/x busybox sh -c 'echo "second sees: $(cat /x/mine)"; ls /x/passwd'
        $C run -d --name user -v data:/x busybox sleep 30 >/dev/null
        $C volume rm data 2>&1; echo "rm in use: $?"
        $C inspect user | jq -r '.[0].Mounts[] | "mount: " + .Type + " " + .Name + " " + .Destination + " " + (.RW | tostring)'
        $C rm -f user >/dev/null
        $C volume inspect data | jq -r '.[0] | "inspect: " + .Name + " " + .Driver + " " + .Mountpoint'
        $C run --rm -v empty:/usr:nocopy busybox sh -c 'echo "nocopy: $(ls /usr | wc -l)"'
        for i in 1 2 3 4; do ($C run --rm -v together:/etc busybox true || echo "a concurrent start failed") & done; wait
        $C run --rm -v together:/etc busybox sh -c 'echo "together: $(ls /etc | wc -l)"'
        $C volume rm data empty together
        $C volume ls -q | wc -l | sed 's/^/left: /'
        $C volume inspect nosuch; echo "inspect nosuch: $?"
    "#);
    has_lines(
        &out,
        &[
            "/etc/passwd",
            "DRIVER    VOLUME NAME",
            "local     data",
            "second sees: kept",
            "/x/passwd",
            "rm in use: 1",
            "mount: volume data /x true",
            "inspect: data local /run/ctr/volumes/data/_data",
            "nocopy: 0",
            "together: 6",
            "data",
            "empty",
            "together",
            "left: 0",
            "inspect nosuch: 1",
        ],
    );
    assert!(
        out.stdout
            .contains("ctr: remove data: volume is in use by container "),
        "{}",
        out.both()
    );
    assert!(
        !out.stdout.contains("concurrent start failed"),
        "{}",
        out.both()
    );
    assert!(
        out.stderr
            .contains("ctr: no such volume: nosuch: see `ctr volume ls`"),
        "{}",
        out.both()
    );
}

#[test]
fn binds_read_only_binds_tmpfs_and_mount_forms() {
    let out = ok(r#"
        mkdir -p /run/host/sub && echo from-host > /run/host/f
        mount -t tmpfs sub /run/host/sub && echo deep > /run/host/sub/g
        $C run --rm -v /run/host:/h busybox sh -c 'cat /h/f; echo written > /h/new'
        echo "host sees: $(cat /run/host/new)"
        $C run --rm -v /run/host:/h:ro busybox sh -c 'touch /h/x 2>&1; touch /h/sub/y 2>&1; cat /h/sub/g' | sed 's/^/ro: /'
        $C run --rm --mount type=bind,source=/run/host,target=/m,readonly busybox sh -c 'touch /m/z 2>&1' | sed 's/^/mount ro: /'
        $C run --rm --mount type=bind,src=/run/nosuch,dst=/m busybox true 2>&1 | sed 's/^/missing: /'
        $C run --rm -v /run/made/here:/m busybox true && test -d /run/made/here && echo "-v made the host path"
        $C run --rm --tmpfs /scratch:size=1m,mode=1770 busybox sh -c 'grep " /scratch " /proc/mounts; stat -c %a /scratch' | sed 's/^/tmpfs: /'
        $C run --rm --mount type=tmpfs,target=/t,tmpfs-size=2m busybox sh -c 'grep " /t " /proc/mounts' | sed 's/^/mount tmpfs: /'
        $C run --rm --mount type=volume,source=mv,target=/v busybox sh -c 'echo in-mv > /v/f'
        $C run --rm --mount src=mv,dst=/v,ro busybox sh -c 'cat /v/f; touch /v/g 2>&1' | sed 's/^/mount volume: /'
        $C run --rm -v xx:/a -v yy:/a busybox true 2>&1 | sed 's/^/dup: /'
        echo "containers left: $(ls /run/ctr/containers | wc -l)"
    "#);
    has_lines(
        &out,
        &[
            "from-host",
            "host sees: written",
            "ro: touch: /h/x: Read-only file system",
            "ro: touch: /h/sub/y: Read-only file system",
            "ro: deep",
            "mount ro: touch: /m/z: Read-only file system",
            "missing: ctr: running busybox: invalid mount config for type \"bind\": bind source path does not exist: /run/nosuch: create it first, or use -v, which does",
            "-v made the host path",
            "tmpfs: tmpfs /scratch tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,mode=1770 0 0",
            "tmpfs: 1770",
            "mount tmpfs: tmpfs /t tmpfs rw,nosuid,nodev,noexec,relatime,size=2048k 0 0",
            "mount volume: in-mv",
            "mount volume: touch: /v/g: Read-only file system",
            "dup: ctr: running busybox: duplicate mount point: /a is mounted twice: keep one of them",
            "containers left: 0",
        ],
    );
}

/// An image whose volume targets go through symlinks out of the root:
/// `evil -> /` (the host's root, were it followed on the host), `up ->
/// ../../../../../../..` and `run -> /run/outside` (a directory of the
/// sandbox's host). Volumes, binds and tmpfs on those targets must land
/// inside the container's root (where the links lead when resolved in it),
/// the copy-up must not read the host's files, and nothing may appear on
/// the host.
#[test]
fn symlinked_targets_stay_inside_the_root() {
    let marker = format!("ctr-escape-{}", std::process::id());
    let dir = scratch("volumes-symlinks");
    let top = plain(&[
        Entry::Symlink("evil", "/"),
        Entry::Symlink("up", "../../../../../../.."),
        Entry::Symlink("outside", "/run/outside"),
    ]);
    let config = serde_json::json!({
        "Cmd": ["sh"], "Env": ["PATH=/bin"],
        "Volumes": {format!("/evil/{marker}-image"): {}, "/outside": {}}
    });
    write_layout_with(&dir, "latest", &[busybox_layer(), top], config);
    let out = ok(&format!(
        r#"
        mkdir -p /run/outside /run/src && echo host-secret > /run/outside/secret
        $C import {layout} evil >/dev/null
        $C run --name e -v vol:/evil/{marker}-v -v /run/src:/up/{marker}-b --tmpfs /outside/{marker}-t \
            evil sh -c '
            for m in /{marker}-image /{marker}-v /{marker}-b /run/outside/{marker}-t; do
                grep -q " $m " /proc/self/mountinfo && echo "mounted inside: $m"
                echo written > $m/file
            done
            ls /outside/secret 2>&1 | sed "s/^/copy-up: /"'
        ls -A /run/outside | tr '\n' ' ' | sed 's/^/host outside: /'; echo
        test -e /{marker}-image -o -e /{marker}-v -o -e /{marker}-b && echo "ESCAPED to the host's /"
        echo "bind got: $(cat /run/src/file)"
        $C rm -v e >/dev/null
        $C volume ls -q | tr '\n' ' ' | sed 's/^/volumes after rm -v: /'; echo
        "#,
        layout = support::quote(&dir.display().to_string()),
    ));
    for m in [
        format!("/{marker}-image"),
        format!("/{marker}-v"),
        format!("/{marker}-b"),
        format!("/run/outside/{marker}-t"),
    ] {
        has_lines(&out, &[&format!("mounted inside: {m}")]);
    }
    has_lines(
        &out,
        &[
            "copy-up: ls: /outside/secret: No such file or directory",
            "host outside: secret ",
            "bind got: written",
            "volumes after rm -v: vol ",
        ],
    );
    assert!(!out.stdout.contains("ESCAPED"), "{}", out.both());
    for m in ["image", "v", "b"] {
        let path = std::path::PathBuf::from("/").join(format!("{marker}-{m}"));
        let escaped = path.exists();
        _ = std::fs::remove_dir_all(&path);
        assert!(!escaped, "{} was made on the host", path.display());
    }
    _ = std::fs::remove_dir_all(&dir);
}

/// runc's CVE-2021-30465, as a race: container `a` swaps a directory of a
/// shared volume for a symlink to the host's /run/outside and back, in a
/// loop, while 30 new containers mount a tmpfs and a bind below that path.
/// Each mount lands inside its container's root (below the volume's `d`,
/// or through the link at the container's own /run/outside), or the start
/// fails (the directory was removed under it); never on the host. (A mount
/// on `d` in a new container goes when `a` removes `d`: the kernel detaches
/// a mount whose mount point another namespace removed.)
#[test]
fn a_path_swapped_during_start_up_cannot_send_a_mount_out() {
    let out = ok(r#"
        mkdir -p /run/outside /run/src
        $C run -d --name a -v race:/shared busybox sh -c '
            while :; do
                rm -rf /shared/d; mkdir /shared/d
                rm -rf /shared/d; ln -s /run/outside /shared/d
            done' >/dev/null
        for i in $(seq 30); do
            if $C run --rm -v race:/shared --tmpfs /shared/d/t -v /run/src:/shared/d/b busybox \
                sh -c 'grep -q " /run/outside/[tb] " /proc/self/mountinfo && echo through-the-link
                       exit 0' 2>/dev/null; then
                echo started
            else
                echo failed
            fi
        done
        $C rm -f a >/dev/null
        echo "host outside: $(ls -A /run/outside | wc -l)"
    "#);
    has_lines(&out, &["host outside: 0"]);
    let count = |word: &str| out.stdout.lines().filter(|l| *l == word).count();
    let (started, failed) = (count("started"), count("failed"));
    assert_eq!(started + failed, 30, "{}", out.both());
    assert!(started > 0, "no container started:\n{}", out.both());
    eprintln!(
        "{started} started ({} through the link), {failed} failed",
        count("through-the-link")
    );
}

/// The image's `Volumes` become anonymous volumes, filled from the image;
/// `--rm` and `rm -v` take them away, `rm` leaves them to `volume prune`
/// (anonymous ones only; `-a` the named too). Volumes are no leftovers for
/// `system check` (they are meant to outlive containers); `system reset`
/// removes them with everything else.
#[test]
fn image_volumes_are_anonymous_volumes_pruned_and_reset() {
    let dir = scratch("volumes-anonymous");
    let top = plain(&[Entry::Dir("data"), Entry::File("data/seed", "from-image\n")]);
    let config = serde_json::json!({"Cmd": ["sh"], "Env": ["PATH=/bin"], "Volumes": {"/data": {}}});
    write_layout_with(&dir, "latest", &[busybox_layer(), top], config);
    let out = ok(&format!(
        r#"
        $C import {layout} withvol >/dev/null
        $C run --rm withvol sh -c 'cat /data/seed; grep -q " /data " /proc/self/mountinfo && echo "/data is a volume"'
        echo "after --rm: $($C volume ls -q | wc -l)"
        $C run --name k withvol sh -c 'echo mine >> /data/seed'
        $C volume inspect $($C volume ls -q) | jq -r '.[0].Labels | keys[]' | sed 's/^/label: /'
        $C rm k >/dev/null
        echo "after rm: $($C volume ls -q | wc -l)"
        $C volume create named >/dev/null
        $C system check >/dev/null && echo "check: nothing left over"
        $C volume prune 2>&1 </dev/null | sed 's/^/prune without -f: /'
        $C volume prune -f | grep -c '^[0-9a-f]\{{64\}}$' | sed 's/^/pruned anonymous: /'
        $C volume ls -q | sed 's/^/kept: /'
        $C volume prune -af | grep -v Total
        $C run --rm -v again:/x busybox true
        $C system reset >/dev/null && echo "reset"
        test -e /run/ctr/volumes || echo "no volumes after reset"
        "#,
        layout = support::quote(&dir.display().to_string()),
    ));
    has_lines(
        &out,
        &[
            "from-image",
            "/data is a volume",
            "after --rm: 0",
            "label: com.docker.volume.anonymous",
            "after rm: 1",
            "check: nothing left over",
            "prune without -f: ctr: prune removes all anonymous volumes not used by at least one container: give -f to confirm (stdin is no terminal to ask on)",
            "pruned anonymous: 1",
            "kept: named",
            "Deleted Volumes:",
            "named",
            "reset",
            "no volumes after reset",
        ],
    );
    _ = std::fs::remove_dir_all(&dir);
}

/// Issue 18's story: redis keeps its data in a named volume; the container
/// goes (`rm -f`), a new one on the same volume still has the key.
#[test]
fn redis_keeps_its_data_in_a_named_volume() {
    let out = support::ctr_net::ok(
        true,
        r#"
        $C run -d --name r -v redisdata:/data redis >/dev/null
        wait_for sh -c "$C exec r redis-cli ping 2>/dev/null | grep -q PONG"
        $C exec r redis-cli set k v | sed 's/^/set: /'
        $C exec r redis-cli save | sed 's/^/save: /'
        $C rm -f r >/dev/null
        ls /run/ctr/volumes/redisdata/_data | sed 's/^/volume holds: /'
        $C run -d --name r2 -v redisdata:/data redis >/dev/null
        wait_for sh -c "$C exec r2 redis-cli ping 2>/dev/null | grep -q PONG"
        echo "new container: $($C exec r2 redis-cli get k)"
        $C rm -f r2 >/dev/null
        "#,
    );
    has_lines(
        &out,
        &[
            "set: OK",
            "save: OK",
            "volume holds: dump.rdb",
            "new container: v",
        ],
    );
}

/// The lifecycle chapter's named volume: made on first use, filled from the
/// image, kept after the container, mounted read-only by another, removed.
#[test]
fn the_book_transcript_of_a_named_volume() {
    use support::transcript::{self, as_a_reader, SHOW};
    let out = as_a_reader(
        "ctr",
        "",
        &format!(
            "{SHOW}\
             ctr import {layout} busybox >/dev/null\n\
             show ctr run --rm -v conf:/etc busybox sh -c \"'ls /etc; echo hello > /etc/note'\"\n\
             show ctr volume ls\n\
             show ls /var/lib/ctr/volumes/conf/_data\n\
             show ctr run --rm -v conf:/mnt:ro busybox sh -c \"'cat /mnt/note; echo more >> /mnt/note'\"\n\
             show ctr run -d --name keeper -v conf:/etc busybox sleep 60 '>/dev/null'\n\
             show ctr volume rm conf\n\
             show ctr rm -f keeper\n\
             show ctr volume rm conf\n\
             true\n",
            layout = support::quote(&support::ctr::layout().display().to_string()),
        ),
    );
    assert_eq!(out.status, 0, "{}", out.both());
    transcript::check_session(
        "ctr-volume.txt",
        &out.stdout,
        &[(r"\b[0-9a-f]{12}\b", "<id>")],
    );
}

/// Where docker defines it, ctr and podman agree: a `:ro` bind refuses
/// writes (EROFS, status 1), a new named volume is filled from the image
/// and seen by the next container. A `--tmpfs` is nosuid and nodev in
/// both; docker's (moby's `WithMounts`) is also noexec, as ctr's is, where
/// podman 4.3's is not.
#[test]
fn volumes_behave_as_podmans() {
    let mut script = String::from(support::ctr_podman::SETUP);
    script.push_str(
        r#"
        mkdir -p /run/h
        for E in "$C" "$P"; do
            name=$(basename $E | cut -d' ' -f1)
            {
            $E run --rm --network none -v /run/h:/h:ro busybox sh -c 'touch /h/x' 2>&1; echo "ro: $?"
            $E run --rm --network none -v cmp:/usr busybox true
            $E run --rm --network none -v cmp:/mnt busybox ls /mnt | tr '\n' ' '; echo
            $E run --rm --network none --tmpfs /t busybox sh -c 'grep " /t " /proc/mounts | cut -d" " -f3-4' |
                tr ',' '\n' | grep -x -e tmpfs.* -e nosuid -e nodev -e noexec -e ro -e rw | sort | tr '\n' ' '; echo
            } > /run/$name.out
        done
        cat /run/ctr.out
        cat /run/podman.out | sed 's/^/podman: /'
        head -3 /run/ctr.out > /run/ctr.3; head -3 /run/podman.out > /run/podman.3
        diff /run/ctr.3 /run/podman.3 && echo "same as podman"
        "#,
    );
    let out = support::ctr::in_sandbox(true, &script);
    if let Some(why) = support::ctr_podman::failure(out.status) {
        panic!("{why}, so ctr cannot be compared with it:\n{}", out.both());
    }
    has_lines(
        &out,
        &[
            "touch: /h/x: Read-only file system",
            "ro: 1",
            "bin sbin ",
            "nodev noexec nosuid tmpfs rw ",
            "podman: nodev nosuid tmpfs rw ",
            "same as podman",
        ],
    );
}
