//! Registry faults that tests/ctr_pull.rs does not try, through the same
//! proxy (tests/support/ctr_pull_proxy.py): a blob whose connection closes
//! early, and blobs redirected to another host.
mod support;

use support::ctr_pull::{proxy, run, store_left};
use support::registry::{self, Auth, ADDRESS};

const PROXY: &str = "127.0.0.1:5003";
const LOG: &str = "/run/proxy.log";

/// The base layer of library/busybox:latest (1 MB), in shell: `$base`.
const BASE_LAYER: &str = "base=$(curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
     http://$R/v2/library/busybox/manifests/latest | jq -r '.layers[0].digest')";

/// The lines of the proxy's log that fetched the base layer, in shell.
const BASE_GETS: &str = "grep \"GET .*/blobs/$base \" /run/proxy.log | cut -d' ' -f3-";

#[test]
fn a_blob_cut_short_is_resumed_where_it_stopped() {
    // The first GET of the base layer sends 300 kB of its 1 MB, then closes.
    let prelude = format!(
        "{}{BASE_LAYER}\n{}",
        registry::start(Auth::None),
        proxy(PROXY, ADDRESS, LOG, "--truncate $base:1:300000")
    );
    let out = run(
        &prelude,
        &format!(
            "$C pull {PROXY}/library/busybox; echo status=$?\n{BASE_GETS}\n\
             $C run --rm {PROXY}/library/busybox sh -c 'busybox | head -1 | cut -d\" \" -f1'"
        ),
    );
    // Asked again from byte 300000 (the registry answers 206), checked
    // whole against its digest, unpacked, and it runs.
    assert_eq!(
        out.stdout,
        "status=0\n200 auth=no\n206 auth=no range=bytes=300000-\nBusyBox\n\
         store: images=1 layers=1 tmp=0\n",
        "{}",
        out.both()
    );
    assert!(
        out.stderr.contains("the download broke off at 300kB")
            && out.stderr.contains("resuming (try 2 of 5)"),
        "{}",
        out.both()
    );
}

#[test]
fn a_blob_cut_short_every_time_is_never_a_corrupt_layer() {
    // Every GET of the base layer sends 1000 bytes and closes: five tries
    // get 5000 bytes of 1 MB.
    let prelude = format!(
        "{}{BASE_LAYER}\n{}",
        registry::start(Auth::None),
        proxy(PROXY, ADDRESS, LOG, "--truncate $base:99:1000")
    );
    let out = run(
        &prelude,
        &format!(
            "$C pull {PROXY}/library/busybox; echo status=$?\n\
             echo \"gets=$(grep -c \"GET .*/blobs/$base \" {LOG})\"\n\
             echo \"after: images=$($C images | tail -n +2 | wc -l) layers=$(ls /run/ctr/layers | wc -l) tmp=$(ls -A /run/ctr/tmp | wc -l)\"\n\
             $C pull $R/library/busybox >/dev/null; echo again=$?\n\
             $C run --rm $R/library/busybox sh -c 'busybox | head -1 | cut -d\" \" -f1'"
        ),
    );
    // Refused after five tries, nothing kept; the next pull (from the
    // registry itself) fetches the layer whole and it runs.
    assert_eq!(
        out.stdout,
        "status=125\ngets=5\nafter: images=0 layers=0 tmp=0\nagain=0\nBusyBox\n\
         store: images=1 layers=1 tmp=0\n",
        "{}",
        out.both()
    );
    assert!(
        out.stderr
            .contains("the download broke off 5 times, the last at byte 5000")
            && out.stderr.contains("nothing was kept, try again"),
        "{}",
        out.both()
    );
}

#[test]
fn a_stalled_blob_is_resumed_after_the_stall_timeout() {
    // The first GET of the base layer sends 300 kB, then nothing, the
    // connection open (30 s).
    let prelude = format!(
        "{}{BASE_LAYER}\n{}",
        registry::start(Auth::None),
        proxy(PROXY, ADDRESS, LOG, "--stall $base:1:300000")
    );
    let out = run(
        &prelude,
        &format!(
            "start=$(date +%s%N)\n\
             CTR_REGISTRY_TIMEOUT=stall=1 $C pull {PROXY}/library/busybox; echo status=$?\n\
             echo fast=$(( ($(date +%s%N) - start) < 10000000000 ))\n{BASE_GETS}"
        ),
    );
    assert!(
        out.stdout
            .starts_with("status=0\nfast=1\n200 auth=no\n206 auth=no range=bytes=300000-\n"),
        "{}",
        out.both()
    );
    assert!(
        out.stderr.contains("sent nothing for 1 s"),
        "{}",
        out.both()
    );
}

#[test]
fn blobs_redirected_to_another_host_get_no_authorization() {
    // The token registry on 127.0.0.1; a "CDN" on 127.0.0.2: a registry
    // without auth on the same storage, behind a logging proxy. The proxy in
    // front of the token registry redirects every blob there.
    let prelude = format!(
        "{}\
         sed -e 's/addr: 127.0.0.1:5000/addr: 127.0.0.2:5006/' -e '/^auth:/,$d' /run/registry.yml > /run/cdn.yml\n\
         docker-registry serve /run/cdn.yml > /run/cdn.log 2>&1 &\n\
         {}\n{}{}",
        registry::start(Auth::Token("token")),
        registry::wait_http("127.0.0.2:5006", "/v2/"),
        proxy("127.0.0.2:5004", "127.0.0.2:5006", "/run/cdn-proxy.log", ""),
        proxy(
            PROXY,
            ADDRESS,
            LOG,
            "--redirect /blobs/:http://127.0.0.2:5004"
        ),
    );
    let out = run(
        &prelude,
        &format!(
            "$C pull {PROXY}/library/busybox; echo status=$?\n\
             echo --- registry; cat {LOG}; echo --- cdn; cat /run/cdn-proxy.log; echo ---\n\
             $C run --rm {PROXY}/library/busybox echo redirected"
        ),
    );
    assert_eq!(
        store_left(&out),
        "store: images=1 layers=1 tmp=0",
        "{}",
        out.both()
    );
    assert!(out.stdout.starts_with("status=0\n"), "{}", out.both());
    assert!(out.stdout.contains("---\nredirected\n"), "{}", out.both());
    let section = |name: &str| -> Vec<String> {
        out.stdout
            .split(&format!("--- {name}\n"))
            .nth(1)
            .unwrap_or_default()
            .lines()
            .take_while(|l| !l.starts_with("---"))
            .filter(|l| l.contains("/blobs/"))
            .map(str::to_string)
            .collect()
    };
    let (registry, cdn) = (section("registry"), section("cdn"));
    // The config and the layer: each asked of the registry with the token,
    // redirected, and fetched from the other host without it.
    assert_eq!((registry.len(), cdn.len()), (2, 2), "{}", out.both());
    for (asked, fetched) in registry.iter().zip(&cdn) {
        assert!(asked.ends_with(" 307 auth=yes"), "{}", out.both());
        assert!(fetched.ends_with(" 200 auth=no"), "{}", out.both());
        assert_eq!(
            asked.split(' ').nth(1),
            fetched.split(' ').nth(1),
            "{}",
            out.both()
        );
    }
}

#[test]
fn a_scheme_relative_redirect_goes_to_the_other_host() {
    // `Location: //127.0.0.2:5004/v2/...`: same scheme, another host (RFC
    // 3986 §4.2), as a CDN may answer; a proxy there in front of the same
    // registry logs what it serves.
    let prelude = format!(
        "{}{}{}",
        registry::start(Auth::None),
        proxy("127.0.0.2:5004", ADDRESS, "/run/cdn-proxy.log", ""),
        proxy(PROXY, ADDRESS, LOG, "--redirect /blobs/://127.0.0.2:5004"),
    );
    let out = run(
        &prelude,
        &format!(
            "$C pull {PROXY}/library/busybox; echo status=$?\n\
             echo cdn=$(grep -c ' 200 ' /run/cdn-proxy.log)\n\
             $C run --rm {PROXY}/library/busybox echo from the cdn"
        ),
    );
    // The config and the layer, both from the other host.
    assert!(
        out.stdout.starts_with("status=0\ncdn=2\nfrom the cdn\n"),
        "{}",
        out.both()
    );
}

/// Shell lines that start a "registry" on 127.0.0.1:PORT that accepts every
/// connection and never answers.
fn silent_server(port: u16) -> String {
    format!(
        "python3 -c 'import socket\n\
         s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind((\"127.0.0.1\", {port})); s.listen(64); held = []\n\
         while True: held.append(s.accept())' &\n\
         for i in $(seq 100); do ss -ltn | grep -q 127.0.0.1:{port} && break; sleep 0.05; done\n"
    )
}

#[test]
fn a_registry_that_never_answers_times_out_saying_what() {
    // 5007 accepts and says nothing; 5008's SYNs are dropped (iptables in
    // the sandbox's own network namespace), so connecting hangs.
    let prelude = format!(
        "{}iptables -A INPUT -p tcp --dport 5008 --syn -j DROP\n",
        silent_server(5007)
    );
    let out = run(
        &prelude,
        "for port in 5007 5008; do\n\
           start=$(date +%s%N)\n\
           CTR_REGISTRY_TIMEOUT=1 timeout 30 $C pull 127.0.0.1:$port/library/busybox\n\
           echo \"status=$? fast=$(( ($(date +%s%N) - start) < 10000000000 ))\"\n\
         done\n\
         CTR_REGISTRY_TIMEOUT=soon $C pull 127.0.0.1:5007/library/busybox; echo status=$?",
    );
    assert!(
        out.stdout
            .starts_with("status=125 fast=1\nstatus=125 fast=1\nstatus=125\n"),
        "{}",
        out.both()
    );
    for said in [
        "pulling 127.0.0.1:5007/library/busybox:latest: the registry 127.0.0.1:5007 accepted the \
         connection but sent no answer within 1 s (CTR_REGISTRY_TIMEOUT)",
        "pulling 127.0.0.1:5008/library/busybox:latest: cannot connect to the registry \
         127.0.0.1:5008 within 1 s (CTR_REGISTRY_TIMEOUT)",
        "CTR_REGISTRY_TIMEOUT=\"soon\" is not",
    ] {
        assert!(out.stderr.contains(said), "{said}\n{}", out.both());
    }
}
