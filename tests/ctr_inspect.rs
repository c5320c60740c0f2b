//! `ctr inspect` as scripts use docker's (`--format '{{.State.Status}}'`,
//! the JSON's fields), and the run options that only shape a container's
//! files and record: `--env-file`, `--add-host`, `--dns`, `--label`.
mod support;

use support::ctr_net::ok;

#[test]
fn inspect_shows_dockers_fields_and_takes_a_template() {
    let out = ok(
        false,
        r#"
        printf '# the app\nA=1\nB="two words"\n\nZ\n' > /tmp/app.env
        export Z=from-caller
        $C run -d --name r --restart on-failure:3 -p 8080:80 --env-file /tmp/app.env -e A=2 \
            --add-host db:10.9.9.9 --dns 192.0.2.53 --label team=web -l tier \
            busybox sh -c 'echo "env: $A|$B|$Z"; grep db /etc/hosts; grep nameserver /etc/resolv.conf; exec sleep 600' >/dev/null
        wait_for sh -c "$C logs r | grep -q nameserver"
        $C logs r
        $C inspect r --format '{{.State.Status}}'
        $C inspect -f 'pid {{.State.Pid}} running={{.State.Running}} name={{.Name}} restarts={{.RestartCount}}' r | sed 's/pid [1-9][0-9]* /pid N /'
        $C inspect -f '{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.Config.Labels}}' r
        $C inspect -f '{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}} {{.NetworkSettings.IPAddress}}/{{.NetworkSettings.IPPrefixLen}} via {{.NetworkSettings.Gateway}}' r
        $C inspect -f '{{json .Config.Cmd}}' r
        $C inspect r | jq -r '"json: " + (length | tostring) + " " + .[0].Id[0:12] + " " + .[0].State.StartedAt[0:2] + " " + .[0].State.FinishedAt'
        $C inspect r nosuch >/dev/null 2>/tmp/err; echo "nosuch: $? $(cat /tmp/err)"
        $C inspect -f '{{.State.Nope}}' r 2>&1; echo "bad field: $?"
        $C inspect --type image -f '{{.Os}}/{{.Architecture}} {{len .RootFS.Layers}} layer(s)' busybox
        $C volume create vol >/dev/null
        $C inspect -f '{{.Name}} {{.Driver}}' vol
        $C inspect --type volume -f '{{.Name}}' r 2>&1; echo "r is no volume: $?"
        $C volume rm vol >/dev/null
        $C stop -t 1 r >/dev/null
        $C inspect -f '{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}' r
        $C inspect r | jq -r '"finished: " + .[0].State.FinishedAt[0:2]'
        $C rm r >/dev/null
        $C run --env-file /nope busybox true 2>&1; echo "no file: $?"
        $C run --add-host db busybox true 2>&1; echo "bad host: $?"
    "#,
    );
    let s = &out.stdout;
    for want in [
        "env: 2|\"two words\"|from-caller",
        "10.9.9.9\tdb",
        "nameserver 192.0.2.53",
        "\nrunning\n",
        "pid N running=true name=/r restarts=0",
        "on-failure:3 map[team:web tier:]",
        "8080 10.201.0.2/24 via 10.201.0.1",
        "[\"sh\",\"-c\",",
        "json: 1 ",
        " 20 0001-01-01T00:00:00Z",
        "nosuch: 1 ctr: no such object: nosuch",
        "can't evaluate field Nope",
        "bad field: 125",
        "linux/amd64 1 layer(s)",
        "vol local",
        "ctr: no such object: r\nr is no volume: 1",
        "exited 137 false",
        "finished: 20",
        "ctr: running busybox: --env-file /nope: No such file or directory (os error 2)\nno file: 125",
        "ctr: running busybox: --add-host db: give NAME:IP, such as db:10.0.0.5\nbad host: 125",
    ] {
        assert!(s.contains(want), "{want:?} missing:\n{}", out.both());
    }
}
