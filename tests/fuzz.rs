//! Fuzzing (issue 7): property tests that throw generated input at the three
//! parsers a hostile image or registry talks to — image references, manifests
//! and indexes (with the choice of a platform), and the layer extractor.
//!
//! Ignored by `cargo test` (CI's main path stays fast); `just fuzz` runs
//! them. Bounded twice: PROPTEST_CASES cases per property (default 2000) and
//! FUZZ_SECONDS seconds per property (default 60), after which the remaining
//! cases pass without running; each property prints how many it ran.
//!
//! The extractor property needs root (it chowns and makes whiteouts, as a
//! pull does): it unpacks into a directory seven levels below a tree of
//! sentinel files under target/, and proves that tree unchanged after every
//! case. Every path a case can reach, by `..`, absolute names or link
//! targets, stays inside that tree, so even a broken extractor could not
//! touch anything else of the machine.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ctr::digest::Digest;
use ctr::image::unpack;
use ctr::reference::Reference;
use ctr::registry::manifest::{self, ImageIndex, Parsed, Platform, MAX_MANIFEST};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

/// Cases per property: PROPTEST_CASES, or 2000.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// The time budget of one property: FUZZ_SECONDS, or 60.
fn budget() -> Duration {
    Duration::from_secs(
        std::env::var("FUZZ_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
    )
}

/// Runs `test` on values of the strategy `make` builds, within the case
/// count (and at most `most` cases) and the time budget; prints what it did. A failure is shrunk by
/// proptest and reported with the smallest input that fails.
fn fuzz<S: Strategy>(
    name: &str,
    most: u32,
    make: impl FnOnce() -> S + Send,
    test: impl Fn(S::Value) -> Result<(), TestCaseError> + Sync,
) where
    S::Value: std::fmt::Debug,
{
    let start = Instant::now();
    let ran = AtomicU64::new(0);
    // Nested strategies are deep in a debug build: more stack than a test
    // thread's 2 MiB.
    let result = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn_scoped(scope, || {
                let mut runner = TestRunner::new(Config {
                    cases: cases().min(most),
                    failure_persistence: None,
                    ..Config::default()
                });
                runner
                    .run(&make(), |value| {
                        if start.elapsed() > budget() {
                            return Ok(());
                        }
                        ran.fetch_add(1, Ordering::Relaxed);
                        test(value)
                    })
                    .map_err(|err| err.to_string())
            })
            .unwrap()
            .join()
    })
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    eprintln!(
        "fuzz {name}: {} cases in {:.1} s",
        ran.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64()
    );
    if let Err(err) = result {
        panic!("fuzz {name}: {err}");
    }
}

// ---------------------------------------------------------------------------
// References

/// Strings near docker's grammar (so that many parse), and any strings.
fn reference_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("a".to_string()),
        Just("redis".to_string()),
        Just("library".to_string()),
        Just("localhost".to_string()),
        Just("docker.io".to_string()),
        Just("index.docker.io".to_string()),
        Just("127.0.0.1".to_string()),
        Just("[::1]".to_string()),
        Just("Host.Example".to_string()),
        Just(format!("sha256:{}", "ab".repeat(32))),
        Just("sha256:../../etc".to_string()),
        "[a-z0-9]{1,12}",
        "[A-Za-z0-9_.-]{0,20}",
        "[0-9a-f]{64}",
        "[a-z]{100,260}",
        any::<String>(),
    ];
    let sep = prop_oneof![
        Just(""),
        Just("/"),
        Just(":"),
        Just("@"),
        Just("."),
        Just("-"),
        Just("__"),
        Just("//"),
        Just(":5000/"),
    ];
    // docker's grammar, to make many that parse.
    let component = prop_oneof![
        Just("a".to_string()),
        Just("library".to_string()),
        "[a-z0-9]{1,6}",
        "[a-z0-9]{1,4}([._-]|__|--)[a-z0-9]{1,4}",
        "[a-z]{200,250}",
    ];
    let domain = prop_oneof![
        Just("localhost".to_string()),
        Just("localhost:5000".to_string()),
        Just("docker.io".to_string()),
        Just("index.docker.io".to_string()),
        Just("127.0.0.1:5000".to_string()),
        Just("[::1]:5000".to_string()),
        Just("Registry.Example".to_string()),
        "[a-z]{1,8}\\.[a-z]{2,3}(:[0-9]{1,5})?",
    ];
    let grammar = (
        prop::option::of(domain),
        prop::collection::vec(component, 1..4),
        prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}|[a-z]{120,130}"),
        prop::option::of("[0-9a-f]{64}"),
    )
        .prop_map(|(domain, path, tag, digest)| {
            let mut text = domain.map(|d| d + "/").unwrap_or_default() + &path.join("/");
            if let Some(tag) = tag {
                text = text + ":" + &tag;
            }
            if let Some(hex) = digest {
                text = text + "@sha256:" + &hex;
            }
            text
        });
    prop_oneof![
        3 => grammar,
        2 => prop::collection::vec((piece, sep), 0..7).prop_map(|parts| {
            parts
                .into_iter()
                .map(|(p, s)| format!("{p}{s}"))
                .collect::<String>()
        }),
        1 => any::<String>(),
    ]
}

#[test]
#[ignore = "fuzzing: run with just fuzz"]
fn references_never_panic_and_reprint_to_themselves() {
    let parsed = AtomicU64::new(0);
    fuzz("reference", u32::MAX, reference_text, |text| {
        // A panic here fails the property: parse must only ever return.
        let Ok(reference) = Reference::parse(&text) else {
            return Ok(());
        };
        parsed.fetch_add(1, Ordering::Relaxed);
        for printed in [reference.to_string(), reference.familiar()] {
            match Reference::parse(&printed) {
                Ok(again) => prop_assert_eq!(
                    &again,
                    &reference,
                    "{:?} parsed as {:?}, printed as {:?}, which parses as another",
                    text,
                    reference,
                    printed
                ),
                Err(err) => prop_assert!(
                    false,
                    "{:?} parsed as {:?}, printed as {:?}, which does not parse: {:#}",
                    text,
                    reference,
                    printed,
                    err
                ),
            }
        }
        Ok(())
    });
    let parsed = parsed.load(Ordering::Relaxed);
    eprintln!("fuzz reference: {parsed} of them were references");
    assert!(
        parsed > 0,
        "no generated string parsed: the generator is broken"
    );
}

// ---------------------------------------------------------------------------
// Manifests and indexes

/// JSON shaped like manifests and indexes, with wrong types, missing fields,
/// bad digests and odd platforms mixed in.
fn manifest_json() -> impl Strategy<Value = Value> {
    let digest = prop_oneof![
        40 => "[0-9a-f]{64}".prop_map(|hex| json!(format!("sha256:{hex}"))),
        1 => Just(json!(format!("sha256:{}", "AB".repeat(32)))),
        1 => Just(json!("sha256:../../../etc/passwd")),
        1 => Just(json!("sha256:")),
        1 => Just(json!("md5:abc")),
        1 => Just(json!(format!("sha512:{}", "a".repeat(128)))),
        1 => "[ -~]{0,80}".prop_map(Value::from),
        1 => Just(json!(7)),
        1 => Just(Value::Null),
    ];
    let word = prop_oneof![
        Just("linux"),
        Just("amd64"),
        Just("arm64"),
        Just("v8"),
        Just("unknown"),
        Just("windows"),
        Just(""),
    ];
    let platform = prop_oneof![
        20 => (word.clone(), word.clone(), prop::option::of(word.clone())).prop_map(|(os, arch, v)| {
            let mut p = json!({"os": os, "architecture": arch});
            if let Some(v) = v {
                p["variant"] = json!(v);
            }
            p
        }),
        1 => Just(json!({"os": "linux"})),
        1 => Just(json!("linux/amd64")),
        1 => Just(Value::Null),
    ];
    let media_type = prop_oneof![
        3 => Just(json!(manifest::OCI_MANIFEST)),
        1 => Just(json!(manifest::OCI_INDEX)),
        1 => Just(json!(manifest::DOCKER_LIST)),
        1 => Just(json!(manifest::DOCKER_MANIFEST)),
        1 => Just(json!("application/vnd.oci.image.layer.v1.tar+gzip")),
        1 => Just(json!(1)),
    ];
    let size = prop_oneof![
        30 => any::<u64>().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => Just(json!(1.5)),
        1 => Just(json!("12")),
    ];
    // A field left out, or of the wrong type, spoils the whole manifest: most
    // descriptors are whole (OCI's and Docker's have mediaType, digest and
    // size), so that whole manifests and indexes are read often too.
    let whole = (
        media_type.clone(),
        "[0-9a-f]{64}",
        any::<u32>(),
        prop::option::weighted(
            0.7,
            (word.clone(), word.clone()).prop_map(|(os, a)| json!({"os": os, "architecture": a})),
        ),
    )
        .prop_map(|(m, hex, size, p)| {
            let mut d = json!({"mediaType": m, "digest": format!("sha256:{hex}"), "size": size});
            if let Some(p) = p {
                d["platform"] = p;
            }
            d
        });
    let any_descriptor = (
        prop::option::of(media_type.clone()),
        prop::option::weighted(0.95, digest),
        prop::option::of(size),
        prop::option::weighted(0.8, platform),
    )
        .prop_map(|(m, d, s, p)| {
            let mut o = serde_json::Map::new();
            for (k, v) in [
                ("mediaType", m),
                ("digest", d),
                ("size", s),
                ("platform", p),
            ] {
                if let Some(v) = v {
                    o.insert(k.into(), v);
                }
            }
            Value::Object(o)
        });
    let descriptor = prop_oneof![6 => whole, 1 => any_descriptor];
    let descriptors = prop::collection::vec(descriptor.clone(), 0..6).prop_map(Value::from);
    let top = (
        prop::option::weighted(
            0.95,
            prop_oneof![8 => Just(json!(2)), 1 => Just(json!(1)), 1 => Just(json!("2"))],
        ),
        prop::option::of(media_type),
        prop::option::of(prop_oneof![4 => descriptors.clone(), 1 => Just(json!({}))]),
        prop::option::weighted(0.8, descriptor),
        prop::option::weighted(0.8, descriptors),
    )
        .prop_map(|(v, m, manifests, config, layers)| {
            let mut o = serde_json::Map::new();
            for (k, val) in [
                ("schemaVersion", v),
                ("mediaType", m),
                ("manifests", manifests),
                ("config", config),
                ("layers", layers),
            ] {
                if let Some(val) = val {
                    o.insert(k.into(), val);
                }
            }
            Value::Object(o)
        });
    // Any JSON at all, too.
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::from),
    ];
    let any_json = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z]{0,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![4 => top, 1 => any_json]
}

/// A body: the JSON, the JSON cut short or with a byte changed, or any bytes.
fn manifest_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => manifest_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => (manifest_json(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(v, at, byte)| {
            let mut bytes = serde_json::to_vec(&v).unwrap();
            let i = at.index(bytes.len());
            if byte % 2 == 0 {
                bytes.truncate(i);
            } else {
                bytes[i] = byte;
            }
            bytes
        }),
        1 => prop::collection::vec(any::<u8>(), 0..256),
    ]
}

fn content_type() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(manifest::OCI_INDEX.to_string()),
        Just(manifest::DOCKER_LIST.to_string()),
        Just(manifest::OCI_MANIFEST.to_string()),
        Just(format!("{}; charset=utf-8", manifest::DOCKER_MANIFEST)),
        Just("application/json".to_string()),
        Just(String::new()),
        "[ -~]{0,40}",
    ]
}

fn platform_wanted() -> impl Strategy<Value = Platform> {
    let word = prop_oneof![
        Just("linux"),
        Just("amd64"),
        Just("arm64"),
        Just("v8"),
        Just("")
    ];
    (word.clone(), word.clone(), prop::option::of(word))
        .prop_map(|(os, arch, variant)| manifest::platform(os, arch, variant))
}

#[test]
#[ignore = "fuzzing: run with just fuzz"]
fn manifests_never_panic_and_the_platform_chosen_is_the_one_wanted() {
    let indexes = AtomicU64::new(0);
    let manifests = AtomicU64::new(0);
    let strategy = || (content_type(), manifest_body(), platform_wanted());
    fuzz(
        "manifest",
        u32::MAX,
        strategy,
        |(content_type, body, want)| {
            match manifest::parse(&content_type, &body) {
                Err(_) => {}
                Ok(Parsed::Manifest(m)) => {
                    manifests.fetch_add(1, Ordering::Relaxed);
                    // Every digest that got through was validated: it can name a file.
                    for d in std::iter::once(m.config()).chain(m.layers()) {
                        let digest = manifest::digest(d);
                        prop_assert!(digest.as_ref().is_ok_and(is_sha256), "{}", d.digest());
                    }
                }
                Ok(Parsed::Index(index)) => {
                    indexes.fetch_add(1, Ordering::Relaxed);
                    check_choice(&index, &want)?;
                }
            }
            Ok(())
        },
    );
    let (i, m) = (
        indexes.load(Ordering::Relaxed),
        manifests.load(Ordering::Relaxed),
    );
    eprintln!("fuzz manifest: {i} indexes and {m} manifests were read");
    assert!(
        i > 0 && m > 0,
        "the generator made no valid index or manifest"
    );
}

fn is_sha256(d: &Digest) -> bool {
    let text = d.to_string();
    text.len() == 71
        && text.starts_with("sha256:")
        && text[7..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What `choose` picks is an entry of the index, for the os and architecture
/// wanted, never an attestation; and when it fails, no such entry exists.
fn check_choice(index: &ImageIndex, want: &Platform) -> Result<(), TestCaseError> {
    let eligible = |p: &Platform| {
        p.os() == want.os()
            && p.architecture() == want.architecture()
            && p.os().to_string() != "unknown"
            && p.architecture().to_string() != "unknown"
    };
    match manifest::choose(index.manifests(), want) {
        Ok(chosen) => {
            prop_assert!(index.manifests().iter().any(|d| std::ptr::eq(d, chosen)));
            let p = chosen.platform().as_ref();
            prop_assert!(
                p.is_some_and(eligible),
                "chose {:?} for {}",
                p,
                manifest::platform_name(want)
            );
            prop_assert!(manifest::digest(chosen).as_ref().is_ok_and(is_sha256));
        }
        Err(_) => prop_assert!(
            !index
                .manifests()
                .iter()
                .filter_map(|d| d.platform().as_ref())
                .any(|p| eligible(p)
                    && (p.variant() == want.variant()
                        || p.variant().is_none()
                        || want.variant().is_none())),
            "no manifest chosen for {} in {:?}",
            manifest::platform_name(want),
            index
        ),
    }
    Ok(())
}

#[test]
#[ignore = "fuzzing: run with just fuzz"]
fn a_manifest_over_4_mib_is_refused() {
    // Valid manifests padded (JSON allows any whitespace) to just over the
    // limit are refused; at the limit they are read (as an index, refused
    // for what they are, not for their size).
    let manifest_type = || {
        prop_oneof![
            Just(manifest::OCI_MANIFEST),
            Just(manifest::DOCKER_MANIFEST),
            Just(manifest::OCI_INDEX),
            Just("application/json"),
            Just(""),
        ]
    };
    let strategy = move || (manifest_type(), 0..4096usize, any::<bool>());
    // Each case parses 4 MiB: 200 of them are enough.
    fuzz(
        "manifest-size",
        200,
        strategy,
        |(content_type, over, at_limit)| {
            let body = json!({
                "schemaVersion": 2, "mediaType": manifest::OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": format!("sha256:{}", "0".repeat(64)), "size": 2},
                "layers": []
            });
            let mut bytes = serde_json::to_vec(&body).unwrap();
            let len = if at_limit {
                MAX_MANIFEST as usize
            } else {
                MAX_MANIFEST as usize + 1 + over
            };
            bytes.resize(len, b' ');
            let result = manifest::parse(content_type, &bytes);
            let err = result.err().map(|e| format!("{e:#}")).unwrap_or_default();
            if at_limit && content_type == manifest::OCI_INDEX {
                prop_assert!(
                    err.contains("reading the index"),
                    "{} bytes: {:?}",
                    len,
                    err
                );
            } else if at_limit {
                prop_assert!(err.is_empty(), "{} bytes refused: {}", len, err);
            } else {
                prop_assert!(
                    err.contains("larger than 4 MiB"),
                    "{} bytes: {:?}",
                    len,
                    err
                );
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------
// The extractor

/// How deep the layer's directory is below the top of the sentinel tree: a
/// path can climb at most this many levels (plus its own depth) and still be
/// in the tree.
const LEVELS: usize = 7;

/// A generated tar entry.
#[derive(Clone, Debug)]
enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    HardLink(String),
    Fifo,
}

#[derive(Clone, Debug)]
struct Item {
    name: String,
    kind: Kind,
}

/// The top of the sentinel tree, absolute: absolute names and link targets
/// point into it, never elsewhere on the machine.
fn tree_top() -> PathBuf {
    support::target_dir()
        .join("fuzz-extract")
        .join(std::process::id().to_string())
        .canonicalize()
        .unwrap_or_else(|_| {
            let top = support::target_dir()
                .join("fuzz-extract")
                .join(std::process::id().to_string());
            fs::create_dir_all(&top).unwrap();
            top.canonicalize().unwrap()
        })
}

/// Names: components that collide often (so that later entries meet earlier
/// ones), `..` and `.`, whiteouts good and bad, names of the sentinel tree,
/// and absolute paths into the tree.
fn entry_name(top: String) -> impl Strategy<Value = String> {
    let component = prop_oneof![
        24 => prop_oneof![Just("a"), Just("b"), Just("c"), Just("keep"), Just("d")]
            .prop_map(String::from),
        2 => Just("..".to_string()),
        1 => Just(".".to_string()),
        1 => Just("".to_string()),
        2 => prop_oneof![
            Just(".wh.a"), Just(".wh.b"), Just(".wh.."), Just(".wh..."), Just(".wh."),
            Just(".wh..wh..opq"), Just(".wh..wh.plnk"), Just(".wh.keep")
        ]
        .prop_map(String::from),
        1 => "[a-z.]{1,4}",
    ];
    (
        prop::collection::vec(component, 1..5),
        0..24u8,
        any::<bool>(),
    )
        .prop_map(move |(parts, absolute, dir_slash)| {
            let mut name = parts.join("/");
            if dir_slash {
                name.push('/');
            }
            // Absolute names point deep enough into the tree that four
            // `..` stay in it.
            match absolute {
                0 => format!("{top}/l1/l2/l3/l4/{name}"),
                1 => format!("{top}/l1/l2/l3/l4/l5/l6/{name}"),
                _ => name,
            }
        })
}

/// Link targets: relative climbs of at most LEVELS `..`, names in the
/// layer, and absolute paths into the tree.
fn link_target(top: String) -> impl Strategy<Value = String> {
    (
        0..=LEVELS,
        prop::collection::vec(
            prop_oneof![Just("a"), Just("b"), Just("keep"), Just("d"), Just(".")],
            0..3,
        ),
        0..6u8,
    )
        .prop_map(move |(ups, rest, kind)| {
            let rest = rest.join("/");
            match kind {
                0 => format!("{top}/{rest}"),
                1 => format!("{top}/l1/l2/l3/l4/l5/l6/{rest}"),
                _ => format!("{}{rest}", "../".repeat(ups)),
            }
        })
}

fn item(top: String) -> impl Strategy<Value = Item> {
    let kind = prop_oneof![
        3 => Just(Kind::Dir),
        3 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Kind::File),
        3 => link_target(top.clone()).prop_map(Kind::Symlink),
        2 => prop_oneof![link_target(top.clone()), entry_name(top.clone())].prop_map(Kind::HardLink),
        1 => Just(Kind::Fifo),
    ];
    (entry_name(top), kind).prop_map(|(name, kind)| Item { name, kind })
}

/// A tar of `items`, names and link names written as they are (the tar
/// crate's builder would refuse `..`, as a hostile tool does not), and
/// long ones through GNU long-name entries.
fn tar_of(items: &[Item]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for item in items {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mode(0o755);
        let (kind, data, link): (tar::EntryType, &[u8], Option<&str>) = match &item.kind {
            Kind::Dir => (tar::EntryType::Directory, &[], None),
            Kind::File(bytes) => (tar::EntryType::Regular, bytes, None),
            Kind::Symlink(t) => (tar::EntryType::Symlink, &[], Some(t)),
            Kind::HardLink(t) => (tar::EntryType::Link, &[], Some(t)),
            Kind::Fifo => (tar::EntryType::Fifo, &[], None),
        };
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        if let Some(link) = link {
            if link.len() > 100 {
                long_entry(&mut b, b'K', link);
            } else {
                let field = &mut h.as_old_mut().linkname;
                field.fill(0);
                field[..link.len()].copy_from_slice(link.as_bytes());
            }
        }
        if item.name.len() > 100 {
            long_entry(&mut b, b'L', &item.name);
        } else {
            let field = &mut h.as_old_mut().name;
            field.fill(0);
            field[..item.name.len()].copy_from_slice(item.name.as_bytes());
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A GNU long name (`L`) or long link name (`K`) entry for the next entry.
fn long_entry(b: &mut tar::Builder<Vec<u8>>, kind: u8, text: &str) {
    let mut h = tar::Header::new_gnu();
    let field = &mut h.as_old_mut().name;
    field.fill(0);
    field[..13].copy_from_slice(b"././@LongLink");
    h.set_entry_type(tar::EntryType::new(kind));
    h.set_size(text.len() as u64 + 1);
    h.set_mode(0o644);
    h.set_cksum();
    let mut data = text.as_bytes().to_vec();
    data.push(0);
    b.append(&h, &data[..]).unwrap();
}

/// What is seen of one path of the tree: type, mode, owner, size, link
/// count (a hard link to a sentinel raises it), content and link target.
type Seen = BTreeMap<PathBuf, String>;

fn look(top: &Path, skip: &Path) -> Seen {
    let mut seen = Seen::new();
    let mut stack = vec![top.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path == skip {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap();
            let extra = if meta.file_type().is_symlink() {
                fs::read_link(&path).unwrap().display().to_string()
            } else if meta.is_file() {
                String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned()
            } else {
                String::new()
            };
            let xattrs = xattr_names(&path);
            // A directory's mtime changes when the layer's directory is
            // made again in it; a file's is fixed (see make_tree).
            let mtime = if meta.is_file() { meta.mtime() } else { 0 };
            seen.insert(
                path.strip_prefix(top).unwrap().to_path_buf(),
                format!(
                    "mode {:o} owner {}:{} size {} links {} mtime {mtime} xattrs {xattrs:?} {extra:?}",
                    meta.mode(),
                    meta.uid(),
                    meta.gid(),
                    meta.size(),
                    meta.nlink(),
                ),
            );
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    seen
}

/// llistxattr(2): an extractor that followed a link could set an xattr
/// (the opaque marker) on a sentinel.
fn xattr_names(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: c is NUL-terminated; buf's pointer and length describe one slice.
    let n = unsafe { libc_llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    buf.truncate(n.max(0) as usize);
    buf
}

extern "C" {
    #[link_name = "llistxattr"]
    fn libc_llistxattr(
        path: *const std::ffi::c_char,
        list: *mut std::ffi::c_char,
        size: usize,
    ) -> isize;
}

/// The sentinel tree: at each level l1..l6 a file, a directory with a file,
/// and a symlink; the layer's directory is l1/.../l6/layer.
fn make_tree(top: &Path) -> PathBuf {
    let mut level = top.to_path_buf();
    for i in 1..LEVELS {
        fs::create_dir_all(level.join("d")).unwrap();
        for (file, text) in [
            ("keep", format!("sentinel {i}\n")),
            ("d/keep", format!("in d {i}\n")),
        ] {
            fs::write(level.join(file), text).unwrap();
            let when = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000);
            fs::File::options()
                .write(true)
                .open(level.join(file))
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        std::os::unix::fs::symlink("d", level.join("a")).unwrap();
        level.push(format!("l{i}"));
    }
    fs::create_dir_all(level.join("layer")).unwrap();
    level.join("layer")
}

#[test]
#[ignore = "fuzzing: run with just fuzz"]
fn the_extractor_never_writes_outside_the_layer() {
    support::require_root();
    let top = tree_top();
    _ = fs::remove_dir_all(&top);
    fs::create_dir_all(&top).unwrap();
    let top = top.canonicalize().unwrap();
    let dest = make_tree(&top);
    let before = look(&top, &dest);
    let top_text = top.display().to_string();
    let unpacked = AtomicU64::new(0);
    let refused = AtomicU64::new(0);
    let strategy = || prop::collection::vec(item(top_text), 1..10);
    fuzz("extractor", u32::MAX, strategy, |items| {
        _ = fs::remove_dir_all(&dest);
        fs::create_dir(&dest).unwrap();
        let tar = tar_of(&items);
        // A panic fails the case; an error is a refusal, which is fine.
        match unpack::unpack(&tar[..], &dest) {
            Ok(_) => unpacked.fetch_add(1, Ordering::Relaxed),
            Err(_) => refused.fetch_add(1, Ordering::Relaxed),
        };
        let after = look(&top, &dest);
        if after != before {
            let changed: Vec<_> = after
                .iter()
                .filter(|(k, v)| before.get(*k) != Some(v))
                .map(|(k, v)| format!("{}: {v}", k.display()))
                .chain(
                    before
                        .keys()
                        .filter(|k| !after.contains_key(*k))
                        .map(|k| format!("{}: gone", k.display())),
                )
                .collect();
            // Put the tree back, so that shrinking judges each case alone.
            _ = fs::remove_dir_all(&top);
            fs::create_dir_all(&top).unwrap();
            make_tree(&top);
            prop_assert!(false, "written outside the layer: {:?}", changed);
        }
        Ok(())
    });
    let (u, r) = (
        unpacked.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    );
    eprintln!("fuzz extractor: {u} layers unpacked, {r} refused");
    assert!(u > 0 && r > 0, "the generator made only one kind of layer");
    fs::remove_dir_all(&top).unwrap();
}
