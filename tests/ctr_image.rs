//! The image store, from the outside: `ctr import` of OCI layouts and
//! `docker save` archives, layers shared and unpacked once, whiteouts,
//! `rmi`, hostile layers refused, concurrent imports.
mod support;

use support::ctr::{busybox_layer, in_sandbox, ok, plain, scratch, write_layout, Entry};
use support::quote;

fn q(path: &std::path::Path) -> String {
    quote(&path.display().to_string())
}

#[test]
fn imports_a_layout_its_tar_and_a_docker_save_archive() {
    // A `docker save` archive, old style: manifest.json, the config, layer.tar.
    let dir = scratch("docker-save");
    let (gz, diff_id) = busybox_layer();
    let mut layer = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut layer).unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2023-11-14T22:13:20Z",
        "config": {"Cmd": ["echo", "from docker save"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}
    }))
    .unwrap();
    let config_name = format!("{}.json", support::ctr::sha256_hex(&config));
    let save = dir.join("save");
    std::fs::create_dir_all(save.join("abc")).unwrap();
    std::fs::write(save.join(&config_name), &config).unwrap();
    std::fs::write(save.join("abc/layer.tar"), &layer).unwrap();
    let manifest = serde_json::json!([{
        "Config": config_name, "RepoTags": ["saved/app:v1"], "Layers": ["abc/layer.tar"]
    }]);
    std::fs::write(
        save.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();

    let out = in_sandbox(
        false,
        &format!(
            r#"
            tar -C {save} -cf /run/save.tar . && gzip -c /run/save.tar > /run/save.tar.gz
            tar -C "$L" -cf /run/layout.tar .
            $C import "$L" busybox || exit 1
            $C import /run/layout.tar other || exit 1
            $C import /run/save.tar.gz || exit 1
            $C images
            ls /run/ctr/layers | wc -l
            ls /run/ctr/tmp | wc -l
            $C run --rm saved/app:v1
            $C run --rm other:entry
            "#,
            save = q(&save)
        ),
    );
    assert_eq!(out.status, 0, "{}", out.both());
    let s = &out.stdout;
    for want in [
        "Loaded image: busybox:latest (1 layers new, 0 already here)",
        "Loaded image: busybox:entry (0 layers new, 1 already here)",
        "Loaded image: other:latest (0 layers new, 1 already here)",
        "Loaded image: saved/app:v1 (0 layers new, 1 already here)",
        "from docker save\n",
        "entry: default args\n",
    ] {
        assert!(s.contains(want), "{want:?} missing:\n{}", out.both());
    }
    // One layer for all seven images; nothing left in tmp/.
    assert!(s.contains("\n1\n0\n"), "{}", out.both());
    let table: Vec<&str> = s
        .lines()
        .skip_while(|l| !l.starts_with("REFERENCE"))
        .take_while(|l| l.starts_with("REFERENCE") || l.contains(" ago "))
        .collect();
    assert_eq!(table.len(), 1 + 7, "{}", out.both());
    assert!(table[0].starts_with("REFERENCE") && table[0].contains("IMAGE ID"));
    assert!(
        table.iter().any(|l| l.starts_with("saved/app:v1")),
        "{}",
        out.both()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A second image: busybox's layer plus one of its own with an OCI
/// whiteout, an opaque directory and a new file.
fn layered_layout(dir: &std::path::Path) {
    let top = plain(&[
        Entry::Dir("etc/"),
        Entry::File("etc/.wh..wh..opq", ""),
        Entry::File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        Entry::File("etc/marker", "top layer\n"),
        Entry::File(".wh.home", ""),
        Entry::Dir("extra/"),
        Entry::File("extra/hello", "hello from layer 2\n"),
    ]);
    write_layout(dir, "latest", &[busybox_layer(), top], &["sh"]);
}

#[test]
fn layers_are_shared_whiteouts_work_and_rmi_keeps_what_is_used() {
    let dir = scratch("layered");
    layered_layout(&dir);
    let out = ok(&format!(
        r#"
        $C import {dir} layered
        echo "layers=$(ls /run/ctr/layers | wc -l)"
        $C run --rm layered sh -c 'ls /etc; cat /extra/hello; ls -d /home 2>&1; ls -d /root'
        top=$(dirname /run/ctr/layers/*/etc/marker)
        stat -c '%F %t:%T' $(dirname $top)/home
        getfattr --only-values -n trusted.overlay.opaque $top 2>/dev/null || python3 -c "import os,sys; print(os.getxattr(sys.argv[1], 'trusted.overlay.opaque').decode())" $top
        echo "--- rmi"
        $C rmi busybox busybox:entry busybox:bare
        echo "layers=$(ls /run/ctr/layers | wc -l)"
        $C run --rm layered cat /extra/hello
        $C rmi layered
        echo "layers=$(ls /run/ctr/layers | wc -l) images=$(ls /run/ctr/images | wc -l) blobs=$(ls /run/ctr/blobs/sha256 | wc -l)"
        $C images
        $C run layered true; echo "status=$?"
        "#,
        dir = q(&dir)
    ));
    let s = &out.stdout;
    assert!(
        s.contains("Loaded image: layered:latest (1 layers new, 1 already here)"),
        "{}",
        out.both()
    );
    assert!(s.contains("layers=2\n"), "{}", out.both());
    // /etc is opaque: only the top layer's files, and the three that ctr
    // binds over the image's, as docker does; /home is whited out.
    assert!(
        s.contains("hostname\nhosts\nmarker\npasswd\nresolv.conf\nhello from layer 2\n"),
        "{}",
        out.both()
    );
    assert!(
        s.contains("/home: No such file or directory\n/root\n"),
        "{}",
        out.both()
    );
    assert!(
        s.contains("character special file 0:0\ny\n"),
        "{}",
        out.both()
    );
    assert!(
        s.contains("Untagged: busybox:latest\nDeleted: sha256:"),
        "{}",
        out.both()
    );
    // The base layer stays while `layered` uses it...
    let rmi = s.split("--- rmi").nth(1).unwrap();
    assert!(
        rmi.contains("layers=2\nhello from layer 2\n"),
        "{}",
        out.both()
    );
    // ... and goes with it.
    assert!(rmi.contains("Untagged: layered:latest"), "{}", out.both());
    assert!(
        rmi.contains("layers=0 images=0 blobs=0\nREFERENCE"),
        "{}",
        out.both()
    );
    assert!(rmi.contains("status=125"), "{}", out.both());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hostile_layers_are_refused_and_write_nothing_outside() {
    let dir = scratch("hostile");
    let cases: Vec<(&str, Vec<Entry>)> = vec![
        (
            "dotdot",
            vec![Entry::RawName("../../../../../run/escaped-dotdot")],
        ),
        ("absolute", vec![Entry::RawName("/run/escaped-absolute")]),
        (
            "symlink",
            vec![
                Entry::Symlink("link", "/run/outside"),
                Entry::File("link/escaped-symlink", "x"),
            ],
        ),
        (
            "symlink-parent",
            vec![
                Entry::Symlink("up", "../../../../../../run"),
                Entry::File("up/escaped-up", "x"),
            ],
        ),
        (
            "hardlink",
            vec![Entry::HardLink("stolen", "/run/outside/secret")],
        ),
        (
            "hardlink-dotdot",
            vec![Entry::HardLink(
                "stolen",
                "../../../../../../run/outside/secret",
            )],
        ),
        (
            "whiteout-dotdot",
            vec![Entry::Dir("a/"), Entry::File("a/.wh..", "")],
        ),
    ];
    let mut script = String::from("mkdir -p /run/outside && echo secret > /run/outside/secret\n");
    for (name, entries) in &cases {
        let layout = dir.join(name);
        write_layout(&layout, "latest", &[plain(entries)], &["sh"]);
        script.push_str(&format!(
            "$C import {} {name} 2>&1; echo \"{name}=$?\"\n",
            q(&layout)
        ));
    }
    script.push_str(
        "ls /run/outside; ls /run | grep escaped | sed 's/^/FOUND /'; \
         echo \"layers=$(ls /run/ctr/layers | wc -l) tmp=$(ls /run/ctr/tmp | wc -l) images=$(ls /run/ctr/images | wc -l)\"\n",
    );
    let out = in_sandbox(false, &script);
    let s = &out.stdout;
    for (name, _) in &cases {
        assert!(
            s.contains(&format!("{name}=125")),
            "{name} was not refused:\n{}",
            out.both()
        );
    }
    assert!(
        s.contains("\"../../../../../run/escaped-dotdot\" contains \"..\": refused"),
        "{}",
        out.both()
    );
    assert!(s.contains("is an absolute path: refused"), "{}", out.both());
    assert!(
        s.contains("is a symlink: refused to write through it"),
        "{}",
        out.both()
    );
    assert!(
        s.contains("whiteout \"a/.wh..\" names no file: refused"),
        "{}",
        out.both()
    );
    assert!(!s.contains("FOUND"), "an entry escaped:\n{}", out.both());
    assert!(
        s.contains("secret\nlayers=0 tmp=0 images=0\n"),
        "{}",
        out.both()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_corrupt_blob_is_refused() {
    let dir = scratch("corrupt");
    let (gz, diff_id) = busybox_layer();
    let mut bad = gz.clone();
    let n = bad.len();
    bad[n / 2] ^= 0xff;
    write_layout(&dir, "latest", &[(gz, diff_id)], &["sh"]);
    // Same name, other bytes: the descriptor's digest no longer matches.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest_hex = &index["manifests"][0]["digest"].as_str().unwrap()[7..];
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("blobs/sha256").join(manifest_hex)).unwrap(),
    )
    .unwrap();
    let layer_hex = &manifest["layers"][0]["digest"].as_str().unwrap()[7..];
    std::fs::write(dir.join("blobs/sha256").join(layer_hex), &bad).unwrap();
    let out = in_sandbox(
        false,
        &format!(
            "$C import {} broken; echo \"status=$?\"; ls /run/ctr/layers /run/ctr/images /run/ctr/tmp | grep -v : | grep . ; true",
            q(&dir)
        ),
    );
    assert!(out.stdout.starts_with("status=125\n"), "{}", out.both());
    assert_eq!(
        out.stdout,
        "status=125\n",
        "something was stored:\n{}",
        out.both()
    );
    assert!(out.stderr.contains("is corrupt"), "{}", out.both());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn concurrent_imports_of_one_image_are_safe() {
    let out = in_sandbox(
        false,
        r#"
        for i in 1 2 3 4; do
            ( $C import "$L" busybox > /run/import-$i 2>&1; echo $? > /run/status-$i ) &
        done
        wait
        echo "statuses=$(cat /run/status-* | tr -d '\n') layers=$(ls /run/ctr/layers | wc -l) tmp=$(ls /run/ctr/tmp | wc -l)"
        cat /run/import-* | grep -c "1 layers new"
        $C run --rm busybox echo still fine
        "#,
    );
    // All succeed; exactly one of them unpacked the layer.
    assert_eq!(
        out.stdout,
        "statuses=0000 layers=1 tmp=0\n1\nstill fine\n",
        "{}",
        out.both()
    );
}

#[test]
fn unknown_images_and_bad_archives_say_what_to_do() {
    let out = in_sandbox(
        false,
        r#"
        $C run redis; echo "status=$?"
        $C rmi redis; echo "status=$?"
        $C import /nonexistent; echo "status=$?"
        mkdir /run/empty; $C import /run/empty; echo "status=$?"
        $C import "$L"; echo "status=$?"
        $C run 'Bad:Name'; echo "status=$?"
        "#,
    );
    assert_eq!(
        out.stdout,
        "status=125\nstatus=125\nstatus=125\nstatus=125\nstatus=125\nstatus=125\n",
        "{}",
        out.both()
    );
    for want in [
        "ctr: running redis: unable to find image \"redis:latest\" locally: load it with `ctr import FILE`",
        "ctr: removing image redis: unable to find image",
        "ctr: importing /nonexistent: reading /nonexistent",
        "is neither a `docker save` archive (manifest.json) nor an OCI image layout",
        "names an image only by the tag \"latest\": give a name",
        "invalid reference \"Bad:Name\": repository name must be lowercase",
    ] {
        assert!(out.stderr.contains(want), "{want:?} missing:\n{}", out.both());
    }
}

/// A layout whose index.json lists one image per platform under one name,
/// as `docker buildx` or `skopeo copy --all` of a multi-arch image make it.
fn multi_platform_layout(dir: &std::path::Path, platforms: &[(&str, serde_json::Value)]) {
    let mut entries = Vec::new();
    for (which, platform) in platforms {
        let text = format!("{which}\n");
        let layer = plain(&[Entry::File("which", &text)]);
        write_layout(dir, "multi", &[busybox_layer(), layer], &["cat", "/which"]);
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        let mut entry = index["manifests"][0].clone();
        entry["platform"] = platform.clone();
        entries.push(entry);
    }
    let index = serde_json::json!({"schemaVersion": 2, "manifests": entries});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

#[test]
fn import_chooses_the_platform_as_pull_does() {
    use serde_json::json;
    assert_eq!(std::env::consts::ARCH, "x86_64", "the test expects amd64");
    let dir = scratch("platforms");
    multi_platform_layout(
        &dir,
        &[
            ("amd64", json!({"os": "linux", "architecture": "amd64"})),
            (
                "arm64",
                json!({"os": "linux", "architecture": "arm64", "variant": "v8"}),
            ),
            (
                "attestation",
                json!({"os": "unknown", "architecture": "unknown"}),
            ),
            ("windows", json!({"os": "windows", "architecture": "amd64"})),
        ],
    );
    let none = scratch("no-platform");
    multi_platform_layout(
        &none,
        &[
            (
                "arm64",
                json!({"os": "linux", "architecture": "arm64", "variant": "v8"}),
            ),
            ("s390x", json!({"os": "linux", "architecture": "s390x"})),
        ],
    );
    let out = in_sandbox(
        false,
        &format!(
            "$C import {} box >/dev/null; echo status=$?\n\
             echo images=$($C images | tail -n +2 | wc -l)\n\
             $C run --rm box:multi\n\
             $C import {} other; echo status=$?",
            q(&dir),
            q(&none)
        ),
    );
    // One image, this machine's: not Windows's, not the attestation.
    assert!(
        out.stdout
            .starts_with("status=0\nimages=1\namd64\nstatus=125\n"),
        "{}",
        out.both()
    );
    // The same words as a pull's.
    assert!(
        out.stderr.contains(
            "the image has no manifest for linux/amd64: its platforms are linux/arm64/v8, linux/s390x"
        ),
        "{}",
        out.both()
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&none).unwrap();
}

#[test]
fn imports_zstd_layers_with_the_same_bound_on_size() {
    // A zstd bomb: 64 MiB of zeros in one file, by the zstd command (a few
    // kB of zstd).
    let dir = scratch("zstd-bomb");
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(64 << 20);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_700_000_000);
    header.set_cksum();
    tar.append_data(
        &mut header,
        "bomb",
        std::io::Read::take(std::io::repeat(0), 64 << 20),
    )
    .unwrap();
    let plain_tar = tar.into_inner().unwrap();
    let diff_id = format!("sha256:{}", support::ctr::sha256_hex(&plain_tar));
    let mut zstd = std::process::Command::new("zstd")
        .args(["-q", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("running zstd (scripts/setup installs it)");
    let mut input = zstd.stdin.take().unwrap();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut input, &plain_tar));
    let out = zstd.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.stdout.len() < 100_000, "{} bytes", out.stdout.len());
    write_layout(&dir, "latest", &[(out.stdout, diff_id)], &["sh"]);
    // The busybox layout made zstd by skopeo, in the sandbox (its cache
    // on a tmpfs over /var/lib, so the host's is untouched).
    let out = in_sandbox(
        false,
        &format!(
            "mount -t tmpfs skopeo-var-lib /var/lib\n\
             skopeo copy --quiet --dest-compress-format zstd oci:$L:latest oci:/run/zstd-oci:latest\n\
             jq -r .layers[0].mediaType /run/zstd-oci/blobs/sha256/$(jq -r '.manifests[0].digest' /run/zstd-oci/index.json | cut -d: -f2)\n\
             $C import /run/zstd-oci zbox >/dev/null; echo status=$?\n\
             $C run --rm zbox sh -c 'echo $GREETING'\n\
             CTR_MAX_LAYER_SIZE=1M $C import {} bomb; echo status=$?\n\
             echo \"images=$($C images | tail -n +2 | wc -l) tmp=$(ls -A /run/ctr/tmp | wc -l)\"",
            q(&dir)
        ),
    );
    assert_eq!(
        out.stdout,
        "application/vnd.oci.image.layer.v1.tar+zstd\nstatus=0\nhello from the image\n\
         status=125\nimages=1 tmp=0\n",
        "{}",
        out.both()
    );
    assert!(
        out.stderr.contains(
            "the layer is over 1048576 bytes once uncompressed (CTR_MAX_LAYER_SIZE): refused"
        ),
        "{}",
        out.both()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
