//! Hostile layers, each through both `ctr import` and lesson 4 (pushed to a
//! registry in the sandbox, then `step-04-pull pull`): each is refused with
//! a clear error or confined to the image, nothing outside the store changes
//! (a sentinel tree next to it is compared before and after), and nothing
//! half-made is left (no image, tmp/ empty). The cases of issue 7 that
//! tests/ctr_image.rs and tests/lesson_04_pull.rs do not already try.
mod support;

use support::ctr::scratch;
use support::hostile::{has_line, left, says, through_both, Case, RawTar};

#[test]
fn a_symlink_then_a_directory_of_the_same_name_stays_inside() {
    let dir = scratch("hostile-symdir");
    let cases = vec![
        // d -> /run/outside, then d/ and d/escaped-a: the directory replaces
        // the link, the file lands in it.
        Case {
            name: "symdir",
            layers: vec![RawTar::default()
                .symlink("d", "/run/outside")
                .dir("d/")
                .file("d/escaped-a", "in the directory\n")
                .end()
                .layer()],
        },
        // The other way round: d/ then d -> /run/outside then d/escaped-b.
        Case {
            name: "dirsym",
            layers: vec![RawTar::default()
                .dir("d/")
                .symlink("d", "/run/outside")
                .file("d/escaped-b", "through the link\n")
                .end()
                .layer()],
        },
    ];
    let out = through_both(
        &dir,
        "",
        &cases,
        "$C run --rm hostile-symdir sh -c 'test -d /d && ! test -L /d && cat /d/escaped-a'\n\
         $B run 127.0.0.1:5000/hostile/symdir cat /d/escaped-a\n",
    );
    has_line(&out, "ctr symdir=0");
    has_line(&out, "lesson symdir=0");
    // ctr refuses to write through the link; so does the lesson, which
    // unpacks chrooted into the rootfs: there the link leads to the image's
    // /run/outside, which the image lacks (docker fails the same way).
    has_line(&out, "ctr dirsym=125");
    says(&out, "ctr dirsym: ctr: importing");
    says(&out, "/d is a symlink: refused to write through it");
    has_line(&out, "lesson dirsym=125");
    says(&out, "creating the directory /d: File exists");
    assert!(
        out.stdout.contains("in the directory\nin the directory\n"),
        "{}",
        out.both()
    );
    left(&out, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_whiteout_through_a_symlinked_parent_removes_nothing_outside() {
    let dir = scratch("hostile-whlink");
    let cases = vec![Case {
        name: "whlink",
        layers: vec![RawTar::default()
            .symlink("link", "/run/outside")
            .file("link/.wh.secret", "")
            .file("link/.wh.keep", "")
            .end()
            .layer()],
    }];
    let out = through_both(&dir, "", &cases, "cat /run/outside/secret\n");
    has_line(&out, "ctr whlink=125");
    says(&out, "/link is a symlink: refused to write through it");
    // The lesson unpacks chrooted into the rootfs: link/ is the image's own
    // /run/outside, where there is no secret to hide.
    has_line(&out, "lesson whlink=0");
    has_line(&out, "secret");
    left(&out, 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn whiteouts_that_name_nothing_are_refused() {
    let dir = scratch("hostile-whiteouts");
    let cases = vec![
        Case {
            name: "wh-dotdot",
            layers: vec![RawTar::default()
                .dir("a/")
                .file("a/.wh..", "")
                .end()
                .layer()],
        },
        Case {
            name: "wh-dotdotdot",
            layers: vec![RawTar::default()
                .dir("a/")
                .file("a/.wh...", "")
                .end()
                .layer()],
        },
        Case {
            name: "wh-empty",
            layers: vec![RawTar::default().dir("a/").file("a/.wh.", "").end().layer()],
        },
    ];
    let out = through_both(&dir, "", &cases, "");
    for (case, name) in [
        ("wh-dotdot", "a/.wh.."),
        ("wh-dotdotdot", "a/.wh..."),
        ("wh-empty", "a/.wh."),
    ] {
        has_line(&out, &format!("ctr {case}=125"));
        says(&out, &format!("whiteout \"{name}\" names no file: refused"));
        has_line(&out, &format!("lesson {case}=125"));
        says(
            &out,
            &format!("refusing the whiteout \"{name}\": it names no file of the layers below"),
        );
    }
    left(&out, 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_absolute_name_and_a_symlink_loop() {
    let dir = scratch("hostile-absolute");
    let cases = vec![
        // A leading `/`: ctr refuses it; the lesson, chrooted into the
        // rootfs, writes it at the root of the image, as tar(1) does.
        Case {
            name: "absolute",
            layers: vec![RawTar::default()
                .file("/run/escaped-absolute", "in the image's /run\n")
                .end()
                .layer()],
        },
        // A symlink to itself, then a file under it.
        Case {
            name: "loop",
            layers: vec![RawTar::default()
                .symlink("loop", "loop")
                .file("loop/escaped-loop", "x\n")
                .end()
                .layer()],
        },
    ];
    let out = through_both(
        &dir,
        "",
        &cases,
        "$B run 127.0.0.1:5000/hostile/absolute cat /run/escaped-absolute\n",
    );
    has_line(&out, "ctr absolute=125");
    says(
        &out,
        "entry \"/run/escaped-absolute\" is an absolute path: refused",
    );
    has_line(&out, "lesson absolute=0");
    has_line(&out, "in the image's /run");
    has_line(&out, "ctr loop=125");
    says(&out, "/loop is a symlink: refused to write through it");
    has_line(&out, "lesson loop=125");
    says(&out, "creating the directory /loop: File exists");
    left(&out, 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A file whose data hides a tar header: `escaped-*` with `..` in its name.
fn smuggled(name: &str) -> Vec<u8> {
    let mut inner = RawTar::default();
    inner.file(name, "smuggled\n");
    inner.0.resize(1024, 0);
    inner.0
}

#[test]
fn a_pax_size_that_disagrees_with_the_ustar_size() {
    let dir = scratch("hostile-paxsize");
    // PAX says 0 bytes, ustar 1024: a reader that trusts ustar skips the
    // data; one that trusts PAX (as it must) reads the smuggled header.
    let mut pax_short = RawTar::default();
    pax_short
        .pax(&[("size", "0")])
        .header("a", b'0', 1024, 0o644, "", (0, 0))
        .data(&smuggled("../../../../../escaped-paxshort"))
        .file("after", "after\n")
        .end();
    // PAX says 1024, ustar 0: the other way round.
    let mut pax_long = RawTar::default();
    pax_long
        .pax(&[("size", "1024")])
        .header("a", b'0', 0, 0o644, "", (0, 0))
        .data(&smuggled("../../../../../escaped-paxlong"))
        .file("after", "after\n")
        .end();
    let cases = vec![
        Case {
            name: "paxshort",
            layers: vec![pax_short.layer()],
        },
        Case {
            name: "paxlong",
            layers: vec![pax_long.layer()],
        },
    ];
    let out = through_both(
        &dir,
        "",
        &cases,
        "$C run --rm hostile-paxlong sh -c 'wc -c < /a; cat /after'\n\
         $B run 127.0.0.1:5000/hostile/paxlong sh -c 'wc -c < /a; cat /after'\n",
    );
    for tool in ["ctr", "lesson"] {
        has_line(&out, &format!("{tool} paxshort=125"));
        has_line(&out, &format!("{tool} paxlong=0"));
    }
    says(
        &out,
        "\"../../../../../escaped-paxshort\" contains \"..\": refused",
    );
    says(
        &out,
        "refusing the entry \"../../../../../escaped-paxshort\": it climbs out of the rootfs",
    );
    // PAX's size wins: /a holds the 1024 bytes, the smuggled header is data.
    assert!(
        out.stdout.contains("1024\nafter\n1024\nafter\n"),
        "{}",
        out.both()
    );
    left(&out, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_pax_path_then_a_gnu_long_name() {
    let dir = scratch("hostile-paxgnu");
    // Which name wins? Each hostile in turn: whichever is used is checked.
    let mut pax_bad = RawTar::default();
    pax_bad
        .pax(&[("path", "../../../../../escaped-pax")])
        .gnu_long_name("gnu-name")
        .file("ustar-name", "x\n")
        .end();
    let mut gnu_bad = RawTar::default();
    gnu_bad
        .pax(&[("path", "pax-name")])
        .gnu_long_name("../../../../../escaped-gnu")
        .file("ustar-name", "x\n")
        .end();
    let cases = vec![
        Case {
            name: "paxbad",
            layers: vec![pax_bad.layer()],
        },
        Case {
            name: "gnubad",
            layers: vec![gnu_bad.layer()],
        },
    ];
    let out = through_both(
        &dir,
        "",
        &cases,
        "$C run --rm hostile-paxbad ls /gnu-name /pax-name /ustar-name 2>&1\n\
         $B run 127.0.0.1:5000/hostile/paxbad ls /gnu-name /pax-name /ustar-name 2>&1\n",
    );
    // The GNU long name wins over PAX's path (the tar crate's order, in
    // both): the hostile one is refused, the harmless one is used, and
    // neither other name is made.
    has_line(&out, "ctr paxbad=0");
    has_line(&out, "lesson paxbad=0");
    has_line(&out, "ctr gnubad=125");
    has_line(&out, "lesson gnubad=125");
    says(
        &out,
        "\"../../../../../escaped-gnu\" contains \"..\": refused",
    );
    says(
        &out,
        "refusing the entry \"../../../../../escaped-gnu\": it climbs out of the rootfs",
    );
    let made = out.stdout.lines().filter(|l| *l == "/gnu-name").count();
    let absent = out
        .stdout
        .lines()
        .filter(|l| *l == "ls: /pax-name: No such file or directory")
        .count()
        + out
            .stdout
            .lines()
            .filter(|l| *l == "ls: /ustar-name: No such file or directory")
            .count();
    assert_eq!((made, absent), (2, 4), "{}", out.both());
    left(&out, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_layer_without_the_end_of_archive_trailer_is_accepted() {
    let dir = scratch("hostile-notrailer");
    // As umoci 0.4.7's `insert` writes them; podman reads them.
    let cases = vec![Case {
        name: "notrailer",
        layers: vec![RawTar::default()
            .dir("etc/")
            .file("etc/no-trailer", "read to the end\n")
            .layer()],
    }];
    let out = through_both(
        &dir,
        "",
        &cases,
        "$C run --rm hostile-notrailer cat /etc/no-trailer\n\
         $B run 127.0.0.1:5000/hostile/notrailer cat /etc/no-trailer\n",
    );
    has_line(&out, "ctr notrailer=0");
    has_line(&out, "lesson notrailer=0");
    assert!(
        out.stdout.contains("read to the end\nread to the end\n"),
        "{}",
        out.both()
    );
    left(&out, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_gzip_bomb_is_refused_over_ctr_max_layer_size() {
    let dir = scratch("hostile-bomb");
    // 64 MiB of zeros in one file: about 64 KiB gzipped at the best level,
    // deflate's limit of about 1000:1, whichever backend flate2 uses (at
    // the fast level, zlib-rs makes it about 650 KB).
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut tar = RawTar::default();
    tar.header("bomb", b'0', 64 << 20, 0o644, "", (0, 0));
    std::io::Write::write_all(&mut gz, &tar.0).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 + 1 {
        // The data, then the trailer (and more zeros: all padding).
        std::io::Write::write_all(&mut gz, &zeros).unwrap();
    }
    let mut plain = tar.0.clone();
    plain.resize(512 + (65 << 20), 0);
    let diff_id = format!("sha256:{}", support::ctr::sha256_hex(&plain));
    let blob = gz.finish().unwrap();
    assert!(blob.len() < 400_000, "the bomb is {} bytes", blob.len());
    let cases = vec![Case {
        name: "bomb",
        layers: vec![(blob, diff_id)],
    }];
    let layout = dir.join("bomb");
    let out = through_both(
        &dir,
        "CTR_MAX_LAYER_SIZE=1M",
        &cases,
        &format!(
            "CTR_MAX_LAYER_SIZE=lots $C import {l} hostile-bomb 2>&1; echo \"bad limit=$?\"\n\
             $C import {l} hostile-bomb-default >/dev/null 2>&1; echo \"default limit=$?\"\n\
             $C run --rm hostile-bomb-default:latest wc -c /bomb\n\
             $C rmi hostile-bomb-default >/dev/null\n",
            l = support::quote(&layout.display().to_string())
        ),
    );
    has_line(&out, "ctr bomb=125");
    says(
        &out,
        "the layer is over 1048576 bytes once uncompressed (CTR_MAX_LAYER_SIZE): refused, \
         it may be a gzip or zstd bomb; if the image is trusted, raise CTR_MAX_LAYER_SIZE",
    );
    says(
        &out,
        "CTR_MAX_LAYER_SIZE=\"lots\" is not a size in bytes (e.g. 1073741824 or 1G)",
    );
    has_line(&out, "bad limit=125");
    // Under the default bound (16 GiB) the same layer is an ordinary one.
    has_line(&out, "default limit=0");
    has_line(&out, "67108864 /bomb");
    // Lesson 4 has no bound (it is a lesson): it unpacks the layer whole.
    has_line(&out, "lesson bomb=0");
    left(&out, 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn device_nodes_and_setuid_files_are_kept() {
    let dir = scratch("hostile-devices");
    let cases = vec![Case {
        name: "devices",
        layers: vec![RawTar::default()
            .header("evil-mem", b'3', 0, 0o666, "", (1, 1))
            .header("evil-sda", b'4', 0, 0o660, "", (8, 0))
            .header("evil-suid", b'0', 10, 0o4755, "", (0, 0))
            .data(b"#!/bin/sh\n")
            .header("evil-sgid", b'0', 10, 0o2755, "", (0, 0))
            .data(b"#!/bin/sh\n")
            .end()
            .layer()],
    }];
    let stat = "stat -c '%n %F %t:%T %a %u:%g' /evil-mem /evil-sda /evil-suid /evil-sgid";
    let out = through_both(
        &dir,
        "",
        &cases,
        &format!(
            "$C run --rm hostile-devices {stat}\n$B run 127.0.0.1:5000/hostile/devices {stat}\n"
        ),
    );
    has_line(&out, "ctr devices=0");
    has_line(&out, "lesson devices=0");
    // Both make them as the layer says (see SECURITY.md, "What ctr does
    // not do yet"): /dev/mem's numbers, mode 666; setuid and setgid kept.
    let want = "/evil-mem character special file 1:1 666 0:0\n\
                /evil-sda block special file 8:0 660 0:0\n\
                /evil-suid regular file 0:0 4755 0:0\n\
                /evil-sgid regular file 0:0 2755 0:0\n";
    assert_eq!(out.stdout.matches(want).count(), 2, "{}", out.both());
    left(&out, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Rewrites the layout at DIR: its index's manifest, after EDIT.
fn edit_manifest(dir: &std::path::Path, edit: impl Fn(&mut serde_json::Value)) {
    let blobs = dir.join("blobs/sha256");
    let index_path = dir.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let hex = index["manifests"][0]["digest"].as_str().unwrap()[7..].to_string();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blobs.join(&hex)).unwrap()).unwrap();
    edit(&mut manifest);
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let hex = support::ctr::sha256_hex(&bytes);
    std::fs::write(blobs.join(&hex), &bytes).unwrap();
    index["manifests"][0]["digest"] = format!("sha256:{hex}").into();
    index["manifests"][0]["size"] = bytes.len().into();
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
}

#[test]
fn a_digest_with_path_characters_is_refused() {
    // Lesson 4's side: a_manifest_naming_a_bad_digest and
    // a_digest_that_is_not_algorithm_hex (tests/lesson_04_pull.rs); a
    // registry refuses such a manifest on push.
    let dir = scratch("hostile-digest");
    let escape = "sha256:../../../../../../run/outside/secret";
    let layer = RawTar::default().file("f", "x\n").end().layer();
    let mut script = String::from("echo secret > /run/secret; ls /run/ctr/images | wc -l\n");
    for (name, field) in [("layer", "layers"), ("config", "config")] {
        let layout = dir.join(name);
        support::ctr::write_layout(&layout, "latest", std::slice::from_ref(&layer), &["sh"]);
        edit_manifest(&layout, |m| {
            if field == "layers" {
                m["layers"][0]["digest"] = escape.into();
            } else {
                m["config"]["digest"] = escape.into();
            }
        });
        script.push_str(&format!(
            "$C import {} hostile-{name}; echo \"{name}=$?\"\n",
            support::quote(&layout.display().to_string())
        ));
    }
    let layout = dir.join("index");
    support::ctr::write_layout(&layout, "latest", &[layer], &["sh"]);
    let index_path = layout.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index["manifests"][0]["digest"] = escape.into();
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    script.push_str(&format!(
        "$C import {} hostile-index; echo \"index=$?\"\n\
         ls /run/ctr/images | wc -l; ls -A /run/ctr/tmp | wc -l; cat /run/secret\n",
        support::quote(&layout.display().to_string())
    ));
    let out = support::ctr::in_sandbox(true, &script);
    // Refused before it is a file name; busybox's 3 tags and nothing else.
    assert_eq!(
        out.stdout,
        "3\nlayer=125\nconfig=125\nindex=125\n3\n0\nsecret\n",
        "{}",
        out.both()
    );
    let said = format!("invalid digest \"{escape}\": expected sha256:<64 hex digits>");
    assert_eq!(out.stderr.matches(&said).count(), 3, "{}", out.both());
    assert!(
        out.stderr.contains("index.json: invalid digest"),
        "{}",
        out.both()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
