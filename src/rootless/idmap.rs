//! Which ids a rootless container gets, as podman decides it (pure): the
//! user's own id becomes root inside, and the user's subordinate range
//! from /etc/subuid (/etc/subgid) follows from 1 up, written by the
//! setuid helpers newuidmap(1) and newgidmap(1) of Debian's `uidmap`. A
//! user with no range gets the single mapping an unprivileged process may
//! write itself (user_namespaces(7)): root inside is the user, and no
//! other id exists.

use std::fmt;

/// One line of a uid_map or gid_map: `count` ids from `inside` in the
/// namespace are `outside`... on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// The ranges of one kind of id (uids or gids), first the user's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Map {
    pub ranges: Vec<Range>,
}

/// Both maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub uid: Map,
    pub gid: Map,
}

// ANCHOR: subordinate
/// The user's subordinate ranges in the text of /etc/subuid or /etc/subgid
/// (subuid(5): `NAME_OR_ID:START:COUNT` a line), as (start, count), in the
/// file's order. A line names the user by login name or by number.
pub fn subordinate(text: &str, name: &str, id: u32) -> Vec<(u32, u32)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.trim().split(':');
            let owner = fields.next()?;
            let start = fields.next()?.parse().ok()?;
            let count: u32 = fields.next()?.parse().ok()?;
            let ours = owner == name || owner.parse() == Ok(id);
            (ours && count > 0 && fields.next().is_none()).then_some((start, count))
        })
        .collect()
}
// ANCHOR_END: subordinate

impl Map {
    // ANCHOR: plan
    /// Root inside is `own`; the subordinate ranges follow from 1 up.
    pub fn plan(own: u32, subordinate: &[(u32, u32)]) -> Map {
        let mut ranges = vec![Range {
            inside: 0,
            outside: own,
            count: 1,
        }];
        let mut next = 1u32;
        for &(start, count) in subordinate {
            // A range holding the user's own id would map it twice.
            if (start..start.saturating_add(count)).contains(&own) {
                continue;
            }
            ranges.push(Range {
                inside: next,
                outside: start,
                count,
            });
            next = next.saturating_add(count);
        }
        Map { ranges }
    }
    // ANCHOR_END: plan

    /// Only the user's own id: what a process may write without a helper.
    pub fn single(&self) -> bool {
        self.ranges.len() == 1
    }

    /// How many ids exist inside.
    pub fn size(&self) -> u64 {
        self.ranges.iter().map(|r| u64::from(r.count)).sum()
    }

    /// The host's id of `inside`, if it is mapped.
    pub fn outside(&self, inside: u32) -> Option<u32> {
        self.ranges.iter().find_map(|r| {
            let offset = inside.checked_sub(r.inside)?;
            (offset < r.count).then(|| r.outside + offset)
        })
    }

    /// A map as /proc/PID/uid_map shows it.
    pub fn parse(text: &str) -> Map {
        let ranges = text
            .lines()
            .filter_map(|line| {
                let mut n = line.split_whitespace().map(|w| w.parse::<u32>().ok());
                Some(Range {
                    inside: n.next()??,
                    outside: n.next()??,
                    count: n.next()??,
                })
            })
            .collect();
        Map { ranges }
    }

    /// The arguments of newuidmap(1)/newgidmap(1) after the program's name:
    /// the PID, then `INSIDE OUTSIDE COUNT` for each range.
    pub fn helper_args(&self, pid: i32) -> Vec<String> {
        let mut args = vec![pid.to_string()];
        for r in &self.ranges {
            args.extend([r.inside, r.outside, r.count].map(|n| n.to_string()));
        }
        args
    }
}

/// The text written to /proc/PID/uid_map (one line a range).
impl fmt::Display for Map {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for r in &self.ranges {
            writeln!(f, "{} {} {}", r.inside, r.outside, r.count)?;
        }
        Ok(())
    }
}

impl Mapping {
    /// The mapping for user `name` (`uid`, `gid`), from the texts of
    /// /etc/subuid and /etc/subgid (empty when a file is missing).
    pub fn plan(name: &str, uid: u32, gid: u32, subuid: &str, subgid: &str) -> Mapping {
        Mapping {
            uid: Map::plan(uid, &subordinate(subuid, name, uid)),
            // subgid(5) names the user too, not a group.
            gid: Map::plan(gid, &subordinate(subgid, name, uid)),
        }
    }
}

/// docker's userns-remap for root (`ctr run --userns`): the container's
/// ids 0..count are the host's start..start+count.
pub fn remap(start: u32, count: u32) -> Map {
    Map {
        ranges: vec![Range {
            inside: 0,
            outside: start,
            count,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBUID: &str = "alice:100000:65536\n1000:200000:65536\nbob:300000:65536\n\
                          broken line\nalice:bad:1\ncarol:400000:0\n";

    #[test]
    fn ranges_by_name_and_by_number() {
        assert_eq!(
            subordinate(SUBUID, "alice", 1000),
            [(100000, 65536), (200000, 65536)]
        );
        assert_eq!(subordinate(SUBUID, "bob", 1001), [(300000, 65536)]);
        assert!(subordinate(SUBUID, "carol", 1002).is_empty());
        assert!(subordinate(SUBUID, "nobody", 65534).is_empty());
        assert!(subordinate("", "alice", 1000).is_empty());
    }

    #[test]
    fn root_inside_is_the_user_and_the_range_follows() {
        let m = Mapping::plan("bob", 1001, 1001, SUBUID, "bob:500000:1000\n");
        assert_eq!(m.uid.to_string(), "0 1001 1\n1 300000 65536\n");
        assert_eq!(m.gid.to_string(), "0 1001 1\n1 500000 1000\n");
        assert_eq!(
            m.uid.helper_args(42),
            ["42", "0", "1001", "1", "1", "300000", "65536"]
        );
        assert_eq!(m.uid.size(), 65537);
        assert_eq!(m.uid.outside(0), Some(1001));
        assert_eq!(m.uid.outside(1), Some(300000));
        assert_eq!(m.uid.outside(65536), Some(365535));
        assert_eq!(m.uid.outside(65537), None);
        assert!(!m.uid.single());
    }

    #[test]
    fn two_ranges_follow_each_other() {
        let m = Map::plan(1000, &[(100000, 10), (200000, 5)]);
        assert_eq!(m.to_string(), "0 1000 1\n1 100000 10\n11 200000 5\n");
        assert_eq!(m.outside(11), Some(200000));
    }

    #[test]
    fn no_range_is_a_single_mapping() {
        let m = Mapping::plan("nobody", 65534, 65534, SUBUID, "");
        assert!(m.uid.single() && m.gid.single());
        assert_eq!(m.uid.to_string(), "0 65534 1\n");
        assert_eq!(m.uid.outside(1), None);
    }

    #[test]
    fn a_range_holding_the_users_own_id_is_left_out() {
        assert!(Map::plan(1000, &[(0, 65536)]).single());
    }

    #[test]
    fn proc_s_text_reads_back() {
        let m = Map::plan(1000, &[(100000, 65536)]);
        let proc = "         0       1000          1\n         1     100000      65536\n";
        assert_eq!(Map::parse(proc), m);
    }

    #[test]
    fn remapped_root() {
        assert_eq!(remap(100000, 65536).to_string(), "0 100000 65536\n");
    }
}
