//! Hostile layers for tests/hostile.rs, written block by block (the tar
//! crate's Builder would refuse or fix most of them), and a sandbox that
//! sends each through both `ctr import` and lesson 4 (pushed with skopeo to
//! a writable registry of the sandbox's own), then says what was left.

use std::path::Path;

use super::ctr::{busybox_layer, in_sandbox, sha256_hex, write_layout};
use super::registry::{wait_http, ADDRESS};
use super::{binary, quote, Outcome};

/// A tar archive written block by block.
#[derive(Default)]
pub struct RawTar(pub Vec<u8>);

impl RawTar {
    /// A ustar header: NAME, type FLAG ('0' file, '2' symlink, '5' dir,
    /// '3' char device, 'x' PAX, 'L' GNU long name), the SIZE written in
    /// it, MODE, a link target, and a device's numbers.
    pub fn header(
        &mut self,
        name: &str,
        flag: u8,
        size: u64,
        mode: u32,
        link: &str,
        dev: (u32, u32),
    ) -> &mut Self {
        let mut h = if flag == b'L' {
            tar::Header::new_gnu()
        } else {
            tar::Header::new_ustar()
        };
        let field = &mut h.as_old_mut().name;
        field[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(tar::EntryType::new(flag));
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        if !link.is_empty() {
            h.set_link_name_literal(link).unwrap();
        }
        if flag == b'3' || flag == b'4' {
            h.set_device_major(dev.0).unwrap();
            h.set_device_minor(dev.1).unwrap();
        }
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self
    }

    /// DATA, padded to a whole block.
    pub fn data(&mut self, data: &[u8]) -> &mut Self {
        self.0.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.0.extend(std::iter::repeat(0).take(pad));
        self
    }

    pub fn file(&mut self, name: &str, text: &str) -> &mut Self {
        self.header(name, b'0', text.len() as u64, 0o644, "", (0, 0))
            .data(text.as_bytes())
    }

    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.header(name, b'5', 0, 0o755, "", (0, 0))
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.header(name, b'2', 0, 0o777, target, (0, 0))
    }

    /// A PAX extended header with these records, for the entry after it.
    pub fn pax(&mut self, records: &[(&str, &str)]) -> &mut Self {
        let mut body = Vec::new();
        for (key, value) in records {
            let rest = format!(" {key}={value}\n");
            // The length counts its own digits.
            let mut len = rest.len() + 1;
            while format!("{len}{rest}").len() != len {
                len += 1;
            }
            body.extend_from_slice(format!("{len}{rest}").as_bytes());
        }
        self.header("PaxHeaders/x", b'x', body.len() as u64, 0o644, "", (0, 0))
            .data(&body)
    }

    /// A GNU long name for the entry after it.
    pub fn gnu_long_name(&mut self, name: &str) -> &mut Self {
        let mut body = name.as_bytes().to_vec();
        body.push(0);
        self.header("././@LongLink", b'L', body.len() as u64, 0o644, "", (0, 0))
            .data(&body)
    }

    /// The end-of-archive trailer: two zero blocks.
    pub fn end(&mut self) -> &mut Self {
        self.0.extend(std::iter::repeat(0).take(1024));
        self
    }

    /// The layer (a plain tar is its own diff_id).
    pub fn layer(&self) -> (Vec<u8>, String) {
        (self.0.clone(), format!("sha256:{}", sha256_hex(&self.0)))
    }
}

/// The sandbox's /run/outside: a sentinel tree next to the store, and what
/// it is made of (names, types, modes, sizes, links, mtimes), plus any file
/// named escaped* anywhere under /run outside an image's own files.
const SNAPSHOT: &str = "mkdir -p /run/outside/keep && echo secret > /run/outside/secret\n\
    snap() { (cd /run/outside && find . -printf '%p %y %m %s %n %T@\\n' | sort); \
    find /run -name 'escaped*' -not -path '*/rootfs/*' -not -path '/run/ctr/layers/*' -not -path '/run/cases/*'; }\n\
    before=$(snap)\n";

/// Starts a writable registry on 127.0.0.1:5000 (storage on /run/reg), with
/// /var/lib on a tmpfs of the sandbox's: skopeo, as root, keeps a cache in
/// /var/lib/containers, which must not land on the host's disk.
fn push_registry() -> String {
    format!(
        "mount -t tmpfs hostile-var-lib /var/lib\n\
         cat > /run/push.yml <<'CONFIG'\n\
         version: 0.1\nlog: {{level: error, accesslog: {{disabled: true}}}}\n\
         storage:\n  filesystem: {{rootdirectory: /run/reg}}\n  maintenance: {{uploadpurging: {{enabled: false}}}}\n\
         http: {{addr: {ADDRESS}}}\nCONFIG\n\
         docker-registry serve /run/push.yml > /run/registry.log 2>&1 &\n{}\n",
        wait_http(ADDRESS, "/v2/")
    )
}

/// One hostile image: a name, and its layers on top of busybox's.
pub struct Case {
    pub name: &'static str,
    pub layers: Vec<(Vec<u8>, String)>,
}

/// Writes each case as an OCI layout under DIR, then, in one sandbox (with
/// busybox imported, `$C` ctr, `$B` lesson 4, extra env ENV for ctr), for
/// each: `ctr import` as `hostile-NAME`, printing `ctr NAME=STATUS` and its
/// output prefixed `ctr NAME: `; a push to the sandbox's registry; lesson 4's
/// pull of `127.0.0.1:5000/hostile/NAME`, printing `lesson NAME=STATUS` and
/// its output prefixed `lesson NAME: `. Then AFTER runs, and the last lines
/// say `outside: unchanged` (or what changed), `ctr images: N` (the images
/// named hostile-*), `ctr tmp: N`, `lesson tmp: N`.
pub fn through_both(dir: &Path, env: &str, cases: &[Case], after: &str) -> Outcome {
    let mut script = format!(
        "B={}\n{SNAPSHOT}{}",
        quote(&binary("step-04-pull").display().to_string()),
        push_registry()
    );
    for case in cases {
        let mut layers = vec![busybox_layer()];
        layers.extend(case.layers.iter().cloned());
        let layout = dir.join(case.name);
        write_layout(&layout, "latest", &layers, &["sh"]);
        let name = case.name;
        let l = quote(&layout.display().to_string());
        script.push_str(&format!(
            "{env} $C import {l} hostile-{name} > /run/log 2>&1; echo \"ctr {name}=$?\"; sed 's/^/ctr {name}: /' /run/log\n\
             skopeo copy --quiet --dest-tls-verify=false oci:{l}:latest docker://127.0.0.1:5000/hostile/{name}:latest \
             || echo \"push {name} failed\"\n\
             $B pull 127.0.0.1:5000/hostile/{name} > /run/log 2>&1; echo \"lesson {name}=$?\"; sed 's/^/lesson {name}: /' /run/log\n"
        ));
    }
    script.push_str(after);
    script.push_str(
        "\n[ \"$(snap)\" = \"$before\" ] && echo 'outside: unchanged' || { echo 'outside: CHANGED'; snap; }\n\
         echo \"ctr images: $($C images | grep -c '^hostile-')\"\n\
         echo \"ctr tmp: $(ls -A /run/ctr/tmp | wc -l)\"\n\
         echo \"lesson tmp: $(ls -A /run/ctr/lessons/04/tmp | wc -l)\"\n",
    );
    in_sandbox(true, &script)
}

/// Asserts that LINE is one of the output's lines.
pub fn has_line(out: &Outcome, line: &str) {
    assert!(
        out.stdout.lines().any(|l| l == line),
        "no line {line:?}:\n{}",
        out.both()
    );
}

/// Asserts that some line of the output contains TEXT.
pub fn says(out: &Outcome, text: &str) {
    assert!(
        out.stdout.contains(text),
        "{text:?} not said:\n{}",
        out.both()
    );
}

/// Asserts the last lines: nothing outside changed, N hostile images in
/// ctr's store, both stores' tmp/ empty.
pub fn left(out: &Outcome, ctr_images: usize) {
    let tail = format!("outside: unchanged\nctr images: {ctr_images}\nctr tmp: 0\nlesson tmp: 0\n");
    assert!(
        out.stdout.ends_with(&tail),
        "want the tail\n{tail}got:\n{}",
        out.both()
    );
}
