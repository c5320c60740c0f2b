//! The files docker gives every container, bind-mounted over the image's:
//! /etc/hostname, /etc/hosts (the container's own name and address) and
//! /etc/resolv.conf (the host's, less what the container cannot reach).
//! Pure: the caller reads the host's files and writes the results.

use std::net::Ipv4Addr;

use super::Mode;

pub fn hostname(name: &str) -> String {
    format!("{name}\n")
}

// ANCHOR: hosts
/// docker's /etc/hosts: the loopback names, then the container's address
/// and hostname. With `--network host` the host's own file is used instead.
pub fn hosts(hostname: &str, address: Option<Ipv4Addr>) -> String {
    let mut text = String::from(
        "127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\n\
         ff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    if let Some(address) = address {
        text.push_str(&format!("{address}\t{hostname}\n"));
    }
    text
}
// ANCHOR_END: hosts

// ANCHOR: resolv_conf
/// The container's resolv.conf from the host's. In its own network namespace
/// a nameserver on the host's loopback (systemd-resolved's 127.0.0.53, say)
/// is out of reach: such lines are dropped, and the real servers
/// systemd-resolved lists (`upstream`) used instead; with nothing left,
/// docker's fallback, Google's public servers. `--network host` shares the
/// host's loopback, so it gets the host's file as it is.
pub fn resolv_conf(mode: Mode, host: &str, upstream: Option<&str>) -> String {
    if mode == Mode::Host {
        return host.to_string();
    }
    let reachable = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("nameserver"))
            .map(str::trim)
            .filter(|ns| match ns.parse::<std::net::IpAddr>() {
                Ok(ip) => !ip.is_loopback(),
                Err(_) => false,
            })
            .map(str::to_string)
            .collect()
    };
    let mut servers = reachable(host);
    if servers.is_empty() {
        servers = upstream.map(reachable).unwrap_or_default();
    }
    if servers.is_empty() {
        servers = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    let mut text: String = host
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("search") || l.starts_with("domain") || l.starts_with("options")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    for ns in servers {
        text.push_str(&format!("nameserver {ns}\n"));
    }
    text
}
// ANCHOR_END: resolv_conf

/// `--add-host NAME:IP` lines after docker's /etc/hosts.
pub fn with_hosts(mut hosts: String, extra: &[(String, std::net::IpAddr)]) -> String {
    for (name, ip) in extra {
        hosts.push_str(&format!("{ip}\t{name}\n"));
    }
    hosts
}

/// `--dns`: these servers instead of the host's, its search and options kept.
pub fn with_dns(resolv: String, servers: &[std::net::IpAddr]) -> String {
    if servers.is_empty() {
        return resolv;
    }
    let mut text: String = resolv
        .lines()
        .filter(|l| !l.trim_start().starts_with("nameserver"))
        .map(|l| format!("{l}\n"))
        .collect();
    for ns in servers {
        text.push_str(&format!("nameserver {ns}\n"));
    }
    text
}

/// `--add-host NAME:IP` (or docker's newer NAME=IP) checked.
pub fn parse_host(text: &str) -> anyhow::Result<(String, std::net::IpAddr)> {
    let (name, ip) = text
        .split_once('=')
        .or_else(|| text.split_once(':'))
        .ok_or_else(|| anyhow::anyhow!("--add-host {text}: give NAME:IP, such as db:10.0.0.5"))?;
    let ip = ip
        .trim_matches(|c| c == '[' || c == ']')
        .parse()
        .map_err(|_| anyhow::anyhow!("--add-host {text}: {ip} is not an IP address"))?;
    if name.is_empty() || name.contains(char::is_whitespace) {
        anyhow::bail!("--add-host {text}: {name:?} is not a host name");
    }
    Ok((name.to_string(), ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_hosts_and_servers() {
        let hosts = with_hosts(hosts("web", None), &[parse_host("db:10.0.0.5").unwrap()]);
        assert!(hosts.ends_with("10.0.0.5\tdb\n"), "{hosts}");
        assert_eq!(parse_host("v6=::1").unwrap().1.to_string(), "::1");
        assert!(parse_host("db")
            .unwrap_err()
            .to_string()
            .contains("give NAME:IP"));
        assert!(parse_host("db:nope")
            .unwrap_err()
            .to_string()
            .contains("not an IP address"));
        let resolv = with_dns(
            "search example.com\nnameserver 9.9.9.9\noptions ndots:2\n".into(),
            &["1.1.1.1".parse().unwrap()],
        );
        assert_eq!(
            resolv,
            "search example.com\noptions ndots:2\nnameserver 1.1.1.1\n"
        );
        assert_eq!(
            with_dns("nameserver 9.9.9.9\n".into(), &[]),
            "nameserver 9.9.9.9\n"
        );
    }

    #[test]
    fn hosts_names_the_container() {
        let text = hosts("web", Some(Ipv4Addr::new(10, 201, 0, 2)));
        assert!(text.starts_with("127.0.0.1\tlocalhost\n"), "{text}");
        assert!(text.ends_with("10.201.0.2\tweb\n"), "{text}");
        assert!(!hosts("web", None).contains("web"));
    }

    #[test]
    fn loopback_nameservers_are_replaced() {
        let host = "nameserver 127.0.0.53\noptions edns0\nsearch example.test\n";
        assert_eq!(
            resolv_conf(Mode::Bridge, host, Some("nameserver 192.0.2.1\n")),
            "options edns0\nsearch example.test\nnameserver 192.0.2.1\n"
        );
        assert_eq!(
            resolv_conf(Mode::None, "nameserver ::1\n", None),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(
            resolv_conf(Mode::Bridge, "nameserver 192.0.2.53\n", None),
            "nameserver 192.0.2.53\n"
        );
        assert_eq!(resolv_conf(Mode::Host, host, None), host);
    }
}
